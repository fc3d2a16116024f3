// What SGNT/VRFY/HIST serve of a local signet (docs/dmtp.md §6): the FULL view (cut after field 253,
// no 254/255), the only state libdime's resolver accepts (DIGEST.md §8), and which fingerprints
// name a signet (crypto, full and ID: a FINGERPRINT= parameter may give any of them).
import { parseSignet, serializeSignet, signetFingerprint, SignetFid, signetField, splitSignet, type Signet } from '@lib/dime';

/** The signet as served: FULL view when it has a full signature, else as it is (crypto state). */
export function servedSignet(signet: Signet): Buffer {
  return serializeSignet(signetField(signet, SignetFid.FULL_SIG) ? splitSignet(signet, 'full') : signet);
}

/** The crypto, full and ID fingerprints of a signet. */
export function signetFingerprints(signet: Signet): Set<string> {
  return new Set([signetFingerprint(signet, 'crypto'), signetFingerprint(signet, 'full'), signetFingerprint(signet, 'id')]);
}

/** Parses a local signet (our own data: a parse failure is a bug or corruption, thrown as is). */
export function localSignet(bytes: Uint8Array): Signet {
  return parseSignet(bytes);
}
