// PKCS#11 values that pkcs11js 2.1.7 does not define (PKCS#11 v3.0 EdDSA, session states), and the
// DER-encoded curve OIDs used as CKA_EC_PARAMS. Standard values: any conforming module accepts them.
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
export const CKR_CURVE_NOT_SUPPORTED = 0x140;
export const CKS_RO_USER_FUNCTIONS = 1;
export const CKS_RW_USER_FUNCTIONS = 3;

export type HsmCurve = 'ed25519' | 'secp256k1' | 'P-256' | 'P-384';

/** CKA_EC_PARAMS: the namedCurve OID, DER-encoded. */
export const CURVE_PARAMS: Readonly<Record<HsmCurve, Buffer>> = Object.freeze({
  ed25519: Buffer.from('06032b6570', 'hex'), // 1.3.101.112 (RFC 8410)
  secp256k1: Buffer.from('06052b8104000a', 'hex'), // 1.3.132.0.10
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'), // 1.2.840.10045.3.1.7
  'P-384': Buffer.from('06052b81040022', 'hex'), // 1.3.132.0.34
});

/** Byte length of one field element / scalar per curve. */
export const CURVE_FIELD_BYTES: Readonly<Record<HsmCurve, number>> = Object.freeze({
  ed25519: 32,
  secp256k1: 32,
  'P-256': 32,
  'P-384': 48,
});
