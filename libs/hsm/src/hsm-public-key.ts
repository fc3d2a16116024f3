// Public halves of HSM key pairs as node:crypto sees them: PKCS#11 gives CKA_EC_POINT (a DER
// OCTET STRING around the point on SoftHSM and most modules; a few return the bare point) or
// CKA_MODULUS/CKA_PUBLIC_EXPONENT; we turn them into KeyObjects / SPKI for verification and X.509.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { HsmError } from './hsm.error';
import type { HsmKeyAlgorithm } from './hsm-key-roles';

export interface HsmPublicKey {
  readonly label: string;
  readonly algorithm: HsmKeyAlgorithm;
  /**
   * Ed25519: the raw 32 bytes. EC: the uncompressed point (0x04 || x || y).
   * RSA: the modulus (big-endian).
   */
  readonly raw: Buffer;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Buffer;
  readonly keyObject: KeyObject;
}

const POINT_BYTES: Readonly<Record<string, number>> = { ed25519: 32, secp256k1: 65, 'P-256': 65, 'P-384': 97 };

/** Unwrap CKA_EC_POINT into the bare point, accepting both the DER-wrapped and the bare form. */
export function ecPointFromAttribute(value: Buffer, curve: string): Buffer {
  const expected = POINT_BYTES[curve];
  if (expected === undefined) throw new RangeError(`"curve" unknown: ${curve}`);
  if (value.length === expected) return value;
  if (value[0] === 0x04) {
    const short = value[1];
    if (short === expected && value.length === expected + 2) return value.subarray(2);
    if (short === 0x81 && value[2] === expected && value.length === expected + 3) return value.subarray(3);
  }
  throw new HsmError('DEVICE_ERROR', `unexpected CKA_EC_POINT of ${value.length} bytes for ${curve}`);
}

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

export function publicKeyObject(algorithm: HsmKeyAlgorithm, raw: Buffer, exponent?: Buffer): KeyObject {
  switch (algorithm.type) {
    case 'ed25519':
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(raw) }, format: 'jwk' });
    case 'ec': {
      const half = (raw.length - 1) / 2;
      return createPublicKey({
        key: { kty: 'EC', crv: algorithm.curve, x: b64u(raw.subarray(1, 1 + half)), y: b64u(raw.subarray(1 + half)) },
        format: 'jwk',
      });
    }
    case 'rsa':
      if (exponent === undefined) throw new RangeError('"exponent" required for RSA');
      return createPublicKey({ key: { kty: 'RSA', n: b64u(raw), e: b64u(exponent) }, format: 'jwk' });
    default:
      throw new RangeError(`"algorithm" ${algorithm.type} has no public key`);
  }
}
