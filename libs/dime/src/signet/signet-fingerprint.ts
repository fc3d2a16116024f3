// Signet fingerprints (DIGEST.md §4.4): unpadded base64 of SHA-512 over the serialized fields up
// to and including a cut-off field, header excluded. 'crypto' (4 org / 6 user) is what message
// envelopes carry, 'full' cuts at 253, 'id' takes everything, 'ssr' cuts at 5 (user signets, SSRs).
import { base64NoPad } from '../base64';
import { DimeError } from '../dime.error';
import { sha512 } from '../primitives';
import { SignetFid, SIGNET_MAX_FID } from './signet-field.table';
import { checkSignet, serializedUpTo, type Signet } from './signet';
import { signetViewCutoff } from './signet-split';

export type SignetFingerprintKind = 'crypto' | 'full' | 'id' | 'ssr';

function cutoff(signet: Signet, kind: SignetFingerprintKind): number {
  switch (kind) {
    case 'crypto':
    case 'full':
      return signetViewCutoff(signet.type, kind);
    case 'id':
      if (signet.type === 'ssr') throw new DimeError('WRONG_TYPE', 'an SSR has no ID fingerprint');
      return SIGNET_MAX_FID;
    case 'ssr':
      if (signet.type === 'org') throw new DimeError('WRONG_TYPE', 'an org signet has no SSR fingerprint');
      return SignetFid.USER_SSR_SIG;
    default:
      throw new TypeError(`"kind" expected 'crypto', 'full', 'id' or 'ssr', got ${String(kind)}`);
  }
}

/** The raw 64-byte SHA-512 behind signetFingerprint. */
export function signetFingerprintBytes(signet: Signet, kind: SignetFingerprintKind): Buffer {
  checkSignet(signet);
  return sha512(serializedUpTo(signet, cutoff(signet, kind)));
}

/** The 86-character fingerprint libdime prints and message envelopes carry. */
export function signetFingerprint(signet: Signet, kind: SignetFingerprintKind): string {
  return base64NoPad(signetFingerprintBytes(signet, kind));
}
