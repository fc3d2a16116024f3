// Views of a signet cut after a signature (libdime sgnt_signet_crypto_split / full_split,
// DIGEST.md §4.5): the crypto view (up to field 4 org / 6 user) is what message envelopes name;
// the full view (up to 253) is what libdime's DMTP resolver accepts (state FULL, DIGEST.md §8).
import { DimeError } from '../dime.error';
import { SignetFid, type SignetType } from './signet-field.table';
import { checkSignet, truncateSignet, type Signet } from './signet';

export type SignetView = 'crypto' | 'full';

/** The last fid kept by a view of this signet type. */
export function signetViewCutoff(type: SignetType, view: SignetView): number {
  if (type === 'ssr') throw new DimeError('WRONG_TYPE', 'an SSR has no crypto or full view');
  if (view === 'full') return SignetFid.FULL_SIG;
  if (view === 'crypto') return type === 'org' ? SignetFid.ORG_CRYPTO_SIG : SignetFid.USER_CRYPTO_SIG;
  throw new TypeError(`"view" expected 'crypto' or 'full', got ${String(view)}`);
}

/** A new signet with the fields up to and including the view's signature (header length fixed). */
export function splitSignet(signet: Signet, view: SignetView): Signet {
  checkSignet(signet);
  return truncateSignet(signet, signetViewCutoff(signet.type, view));
}
