// The cryptographic primitives DIME uses (DIGEST.md §1): Ed25519, secp256k1 ECDH (x-coordinate),
// AES-256-CBC without padding, SHA-512 and libdime's KEK derivation. node:crypto throughout, except
// secp256k1 ECDH through libsecp256k1 (the `secp256k1` binding), ~14x faster than OpenSSL 3.0 here.
import * as crypto from 'node:crypto';
import * as secp from 'secp256k1';
import { DimeError } from './dime.error';
import { assertBytes, toBuffer } from './bytes';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;
export const SECP256K1_PRIVATE_LENGTH = 32;
export const SECP256K1_PUBLIC_LENGTH = 33;

export function sha512(...parts: Uint8Array[]): Buffer {
  // One-shot hashing skips the Hash object (a stream) that createHash builds: cheaper per call.
  if (parts.length === 1) return crypto.hash('sha512', parts[0] as Uint8Array, 'buffer');
  const h = crypto.createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function randomBytes(n: number): Buffer {
  return crypto.randomBytes(n);
}

// ---------------------------------------------------------------- Ed25519

export function ed25519PrivateKeyObject(seed: Uint8Array): crypto.KeyObject {
  assertBytes(seed, 'seed');
  if (seed.length !== ED25519_SEED_LENGTH) throw new DimeError('BAD_KEY', `Ed25519 seed must be 32 bytes, got ${seed.length}`);
  // JWK, not PKCS#8 DER: OpenSSL 3's DER decoder chain costs ~370 µs per key here, the raw import
  // behind JWK ~40 µs (a user key is unwrapped and imported for every message it signs). Node
  // derives the public key from `d` and does not read `x`, which it only requires to be a string.
  return crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: toBuffer(seed).toString('base64url'), x: '' }, format: 'jwk' });
}

const publicKeyCache = new Map<string, crypto.KeyObject>();

/** Public KeyObject for a raw 32-byte Ed25519 key; cached, since verification is hot. */
export function ed25519PublicKeyObject(publicKey: Uint8Array): crypto.KeyObject {
  assertBytes(publicKey, 'publicKey');
  if (publicKey.length !== ED25519_PUBLIC_LENGTH) {
    throw new DimeError('BAD_KEY', `Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
  }
  const id = toBuffer(publicKey).toString('hex');
  let key = publicKeyCache.get(id);
  if (!key) {
    try {
      key = crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    } catch {
      throw new DimeError('BAD_KEY', 'not a valid Ed25519 public key');
    }
    if (publicKeyCache.size > 4096) publicKeyCache.clear();
    publicKeyCache.set(id, key);
  }
  return key;
}

export function ed25519PublicFromSeed(seed: Uint8Array): Buffer {
  return ed25519PublicOf(ed25519PrivateKeyObject(seed));
}

/** The raw 32-byte public key of a software Ed25519 private key (never an HSM-provider key). */
export function ed25519PublicOf(privateKey: crypto.KeyObject): Buffer {
  const { x } = privateKey.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new DimeError('BAD_KEY', 'not an Ed25519 private key');
  return Buffer.from(x, 'base64url');
}

export function ed25519Verify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  try {
    return crypto.verify(null, data, ed25519PublicKeyObject(publicKey), signature);
  } catch (err) {
    if (err instanceof DimeError) throw err;
    return false;
  }
}

export function ed25519Generate(): { seed: Buffer; publicKey: Buffer } {
  const seed = crypto.randomBytes(32);
  return { seed, publicKey: ed25519PublicFromSeed(seed) };
}

// ---------------------------------------------------------------- secp256k1

export function secp256k1PublicFromPrivate(privateKey: Uint8Array): Buffer {
  assertBytes(privateKey, 'privateKey');
  if (privateKey.length !== SECP256K1_PRIVATE_LENGTH || !secp.privateKeyVerify(privateKey)) {
    throw new DimeError('BAD_KEY', 'not a valid secp256k1 private key');
  }
  return Buffer.from(secp.publicKeyCreate(privateKey, true));
}

export function secp256k1IsValidPublic(publicKey: Uint8Array): boolean {
  return publicKey.length === SECP256K1_PUBLIC_LENGTH && secp.publicKeyVerify(publicKey);
}

export function secp256k1Generate(): { privateKey: Buffer; publicKey: Buffer } {
  for (;;) {
    const privateKey = crypto.randomBytes(32);
    if (secp.privateKeyVerify(privateKey)) return { privateKey, publicKey: Buffer.from(secp.publicKeyCreate(privateKey, true)) };
  }
}

const ecdhXOnly: secp.ecdhOptions = { hashfn: (x: Uint8Array) => x };

/** ECDH on secp256k1: the 32-byte x-coordinate of privateKey * publicKey (what OpenSSL's ECDH_compute_key returns). */
export function secp256k1Ecdh(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  assertBytes(privateKey, 'privateKey');
  assertBytes(publicKey, 'publicKey');
  if (publicKey.length !== SECP256K1_PUBLIC_LENGTH) throw new DimeError('BAD_KEY', 'not a valid compressed secp256k1 public key');
  if (privateKey.length !== SECP256K1_PRIVATE_LENGTH) throw new DimeError('BAD_KEY', `a secp256k1 private key is ${SECP256K1_PRIVATE_LENGTH} bytes (left-padded), got ${privateKey.length}`);
  const out = Buffer.alloc(32);
  try {
    // libsecp256k1 parses (and so validates) the point itself: no separate publicKeyVerify pass.
    secp.ecdh(publicKey, privateKey, ecdhXOnly, out);
  } catch {
    throw new DimeError('BAD_KEY', 'secp256k1 ECDH failed (invalid public point or private key)');
  }
  return out;
}

// ---------------------------------------------------------------- AES-256-CBC (no padding)

export function aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  if (plaintext.length % 16 !== 0) throw new RangeError('"plaintext" length must be a multiple of 16');
  const c = crypto.createCipheriv('aes-256-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(plaintext), c.final()]);
}

export function aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  if (ciphertext.length % 16 !== 0) throw new DimeError('MALFORMED', 'ciphertext length is not a multiple of 16');
  const d = crypto.createDecipheriv('aes-256-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(ciphertext), d.final()]);
}

// ---------------------------------------------------------------- libdime KEK

export interface Kek {
  readonly iv: Buffer; // 16 bytes
  readonly key: Buffer; // 32 bytes
}

/** libdime KDF (DIGEST.md §1): h = SHA-512(ECDH-x); iv[i] = h[i] ^ h[i+16]; key = h[32..63]. */
export function kekFromSharedSecret(sharedX: Uint8Array): Kek {
  const h = sha512(sharedX);
  const iv = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) iv[i] = (h[i] as number) ^ (h[i + 16] as number);
  return { iv, key: h.subarray(32, 64) };
}
