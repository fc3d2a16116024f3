// Base64 as DIME uses it: standard alphabet; fingerprints, POKs and tls= signatures without padding.
import { DimeError } from './dime.error';

const STD = /^[A-Za-z0-9+/]*={0,2}$/;

export function base64NoPad(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/** Strict decode of standard base64 (padding optional); rejects other characters. */
export function decodeBase64(text: string, what: string, code: 'MALFORMED' | 'BAD_ARMOR' | 'BAD_RECORD' = 'MALFORMED'): Buffer {
  if (!STD.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new DimeError(code, `${what}: not valid base64`);
  }
  return Buffer.from(text, 'base64');
}
