// The gateway's LocalSignetSource (DMTP SGNT) is the DimeUserService of @lib/dime-users: the org
// signet for our local domains, the signets of active users. This adapter makes the compiler check
// that the lib still meets the gateway's contract.
import type { DimeUserService } from '@lib/dime-users';
import type { LocalSignetSource } from '../local-signets';

export function localSignetSource(users: DimeUserService): LocalSignetSource {
  return users;
}
