// DIME key files (DIGEST.md §3): the private halves of a signet, `magic(2) ‖ len(3) ‖ 01 20 seed ‖
// E 20 scalar`, magic 1952 with E = 3 for organizations, 2013 with E = 2 for users. Written in the
// magma-libdime (L2) dialect, 73 bytes; read also in the L1 and keys_generate() variants.
import { armor, dearmor, decodeObjectInput, type ArmorTag } from './armor';
import { assertBytes, ByteReader, toBuffer } from './bytes';
import { DimeError } from './dime.error';
import {
  ED25519_SEED_LENGTH,
  ed25519Generate,
  SECP256K1_PRIVATE_LENGTH,
  secp256k1Generate,
  secp256k1PublicFromPrivate,
} from './primitives';

export type KeyFileType = 'org' | 'user';

export interface DimeKeys {
  readonly type: KeyFileType;
  /** 32-byte Ed25519 seed: the POK (org) or the user signing key. */
  readonly signingSeed: Buffer;
  /** 32-byte big-endian secp256k1 private scalar. */
  readonly encryptionPrivateKey: Buffer;
}

export const ORG_KEYS_MAGIC = 1952;
export const USER_KEYS_MAGIC = 2013;
const HEADER_SIZE = 5;
const SIGNING_FID = 1;
const L2_BODY_SIZE = 2 + ED25519_SEED_LENGTH + 2 + SECP256K1_PRIVATE_LENGTH; // 68

const KEY_FILE_FORMATS = {
  org: { magic: ORG_KEYS_MAGIC, encryptionFid: 3, tag: 'ORGANIZATIONAL KEY' },
  user: { magic: USER_KEYS_MAGIC, encryptionFid: 2, tag: 'USER KEY' },
} as const satisfies Record<KeyFileType, { magic: number; encryptionFid: number; tag: ArmorTag }>;

const KEY_FILE_TAGS: readonly ArmorTag[] = ['ORGANIZATIONAL KEY', 'USER KEY'];

function typeOfMagic(magic: number): KeyFileType {
  if (magic === ORG_KEYS_MAGIC) return 'org';
  if (magic === USER_KEYS_MAGIC) return 'user';
  throw new DimeError('WRONG_TYPE', `key file: magic ${magic} is not a DIME key file`);
}

function checkKeys(signingSeed: Uint8Array, encryptionPrivateKey: Uint8Array): void {
  if (signingSeed.length !== ED25519_SEED_LENGTH) throw new DimeError('BAD_KEY', `key file: signing seed must be 32 bytes, got ${signingSeed.length}`);
  // Throws BAD_KEY for a zero or out-of-range scalar.
  secp256k1PublicFromPrivate(encryptionPrivateKey);
}

/** Parse a binary key file (L2; also L1's 2-byte encryption-key length and keys_generate()'s trailing 00). */
export function parseKeyFile(bytes: Uint8Array): DimeKeys {
  assertBytes(bytes, 'bytes');
  const r = new ByteReader(bytes, 'key file');
  const type = typeOfMagic(r.uint(2));
  const length = r.uint(3);
  if (length > r.remaining) throw new DimeError('TRUNCATED', `key file: header announces ${length} bytes, ${r.remaining} present`);
  if (length < r.remaining) throw new DimeError('MALFORMED', `key file: ${r.remaining - length} byte(s) after the announced length`);

  if (r.uint(1) !== SIGNING_FID) throw new DimeError('MALFORMED', 'key file: signing key field (1) missing');
  if (r.uint(1) !== ED25519_SEED_LENGTH) throw new DimeError('MALFORMED', 'key file: signing key must be 32 bytes');
  const signingSeed = Buffer.from(r.bytes(ED25519_SEED_LENGTH));

  const { encryptionFid } = KEY_FILE_FORMATS[type];
  if (r.uint(1) !== encryptionFid) throw new DimeError('MALFORMED', `key file: encryption key field (${encryptionFid}) missing`);
  // L1 writes a 2-byte length (00 20) where L2 writes one byte (20) (DIGEST.md §3).
  let size = r.uint(1);
  if (size === 0) size = r.uint(1);
  if (size !== SECP256K1_PRIVATE_LENGTH) throw new DimeError('MALFORMED', 'key file: encryption key must be 32 bytes');
  const encryptionPrivateKey = Buffer.from(r.bytes(SECP256K1_PRIVATE_LENGTH));
  // L2 keys_generate() allocates one byte too many and counts a trailing 00 in the length (DIGEST.md §3).
  if (r.remaining === 1 && r.peekUint8() === 0) r.uint(1);
  if (!r.done) throw new DimeError('MALFORMED', 'key file: unexpected bytes after the encryption key');

  checkKeys(signingSeed, encryptionPrivateKey);
  return { type, signingSeed, encryptionPrivateKey };
}

/** The 73-byte L2 key file. */
export function serializeKeyFile(keys: DimeKeys): Buffer {
  const format = KEY_FILE_FORMATS[keys?.type];
  if (!format) throw new TypeError(`"keys.type" expected 'org' or 'user', got ${String(keys?.type)}`);
  assertBytes(keys.signingSeed, 'keys.signingSeed');
  assertBytes(keys.encryptionPrivateKey, 'keys.encryptionPrivateKey');
  checkKeys(keys.signingSeed, keys.encryptionPrivateKey);
  const out = Buffer.alloc(HEADER_SIZE + L2_BODY_SIZE);
  out.writeUInt16BE(format.magic, 0);
  out.writeUIntBE(L2_BODY_SIZE, 2, 3);
  out[5] = SIGNING_FID;
  out[6] = ED25519_SEED_LENGTH;
  out.set(keys.signingSeed, 7);
  out[39] = format.encryptionFid;
  out[40] = SECP256K1_PRIVATE_LENGTH;
  out.set(keys.encryptionPrivateKey, 41);
  return out;
}

/** The key file as libdime's PEM ("ORGANIZATIONAL KEY" / "USER KEY"). */
export function armorKeyFile(keys: DimeKeys): string {
  const bytes = serializeKeyFile(keys);
  try {
    return armor(KEY_FILE_FORMATS[keys.type].tag, bytes);
  } finally {
    bytes.fill(0);
  }
}

/** A key file given as PEM text or raw binary. */
export function readKeyFile(input: Uint8Array | string): DimeKeys {
  return parseKeyFile(decodeObjectInput(input, KEY_FILE_TAGS));
}

/** Fresh random keys for a new organization or user. */
export function generateKeyFile(type: KeyFileType): DimeKeys {
  if (!KEY_FILE_FORMATS[type]) throw new TypeError(`"type" expected 'org' or 'user', got ${String(type)}`);
  return { type, signingSeed: ed25519Generate().seed, encryptionPrivateKey: secp256k1Generate().privateKey };
}

/** genrec's POK input: PEM "ED25519 PRIVATE KEY" whose body is the bare 32-byte seed (DIGEST.md §3). */
export function parseEd25519PrivateKeyPem(text: string): Buffer {
  const { bytes } = dearmor(text, ['ED25519 PRIVATE KEY']);
  if (bytes.length !== ED25519_SEED_LENGTH) throw new DimeError('BAD_KEY', `Ed25519 private key must be 32 bytes, got ${bytes.length}`);
  return bytes;
}

/** The inverse of parseEd25519PrivateKeyPem. */
export function armorEd25519PrivateKey(seed: Uint8Array): string {
  assertBytes(seed, 'seed');
  if (seed.length !== ED25519_SEED_LENGTH) throw new DimeError('BAD_KEY', `Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return armor('ED25519 PRIVATE KEY', toBuffer(seed));
}
