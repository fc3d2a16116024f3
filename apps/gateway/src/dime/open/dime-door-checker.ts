// The DMTP listener's question before it says 250 (contract dime-inbound.ts): the full verification
// of DimeMessageVerifier (destination and recipient opens, origin and author signatures), so nothing
// unverified is accepted; a pass is remembered for the inbound opener (DoorVerdictMemo). A refusal is the precise reply line; anything unforeseen is 451 (fail closed).
import type { DimeDoorCheck, DimeDoorCheckInput, DimeDoorVerdict } from '../dime-inbound';
import { DimeOpenError } from './dime-open.error';
import type { DimeMessageVerifier } from './dime-message-verifier';
import type { DoorVerdictMemo } from './door-verdict-memo';

const TRANSIENT = '451 4.3.0 temporary failure, try again later';

export class DimeDoorChecker implements DimeDoorCheck {
  constructor(
    private readonly verifier: DimeMessageVerifier,
    /** Where a pass is left for the inbound opener of this process (door-verdict-memo.ts). */
    private readonly memo?: DoorVerdictMemo,
  ) {}

  async check(input: DimeDoorCheckInput): Promise<DimeDoorVerdict> {
    try {
      const verified = await this.verifier.verify({
        message: input.message,
        originDomain: input.originDomain,
        destinationDomain: input.destinationDomain,
        ...(input.signal ? { signal: input.signal } : {}),
      });
      this.memo?.remember(input.message, input.originDomain, verified);
      return { ok: true, recipient: verified.recipient, author: verified.author };
    } catch (err) {
      if (err instanceof DimeOpenError) return { ok: false, reply: err.reply };
      return { ok: false, reply: TRANSIENT };
    }
  }
}
