// D/MIME chunk encryption (DIGEST.md §6.2): each chunk's payload is AES-256-CBC (no padding) under a
// random key K and IV; each keyslot is `R ‖ (IV xor R) ‖ K` AES-256-CBC-encrypted under an actor's
// KEK. node:crypto is used directly (not primitives.aes256Cbc*) to skip a Buffer.concat copy of
// every payload, and to run all of one actor's keyslots through a single cipher object.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DimeError } from '../dime.error';
import { kekFromSharedSecret, secp256k1IsValidPublic } from '../primitives';
import type { Kek } from '../primitives';
import type { KeyAgreement } from '../signer';
import { ChunkType, KEYSLOT_LENGTH, findChunk, keyslotIndex } from './message-chunk';
import type { DimeActor, MessageChunkFrame, MessageFrame } from './message.types';

export const CHUNK_KEY_LENGTH = 32;
export const CHUNK_IV_LENGTH = 16;

/** The per-chunk AES key and IV carried by every keyslot of that chunk. */
export interface ChunkKey {
  key: Buffer;
  iv: Buffer;
}

export function encryptPayload(chunkKey: ChunkKey, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-cbc', chunkKey.key, chunkKey.iv);
  c.setAutoPadding(false);
  const out = c.update(plaintext);
  c.final();
  return out;
}

export function decryptPayload(chunkKey: ChunkKey, ciphertext: Uint8Array): Buffer {
  if (ciphertext.length % 16 !== 0) throw new DimeError('MALFORMED', 'payload is not a whole number of AES blocks');
  const d = createDecipheriv('aes-256-cbc', chunkKey.key, chunkKey.iv);
  d.setAutoPadding(false);
  const out = d.update(ciphertext);
  d.final();
  return out;
}

/** Writes the plaintext keyslot `R ‖ (IV xor R) ‖ K` at offset. */
export function writeKeyslotPlaintext(out: Uint8Array, offset: number, chunkKey: ChunkKey, r: Uint8Array, rOffset = 0): void {
  for (let i = 0; i < 16; i++) {
    const ri = r[rOffset + i] as number;
    out[offset + i] = ri;
    out[offset + 16 + i] = (chunkKey.iv[i] as number) ^ ri;
  }
  for (let i = 0; i < CHUNK_KEY_LENGTH; i++) out[offset + 32 + i] = chunkKey.key[i] as number;
}

/** K and IV from a decrypted keyslot: IV = slot[16..31] xor slot[0..15], K = slot[32..63]. */
export function readKeyslotPlaintext(plain: Buffer, offset: number): ChunkKey {
  const iv = Buffer.allocUnsafe(CHUNK_IV_LENGTH);
  for (let i = 0; i < 16; i++) iv[i] = (plain[offset + 16 + i] as number) ^ (plain[offset + i] as number);
  return { iv, key: Buffer.from(plain.subarray(offset + 32, offset + 64)) };
}

/**
 * AES-256-CBC-encrypts independent 64-byte keyslots under one KEK (each chain restarts at KEK.iv)
 * and writes slot i at out[targets[i]]. Done block-column-wise through one ECB cipher: 4 cipher
 * calls for all slots instead of one cipher object per slot; bytes move in plain loops, since
 * dozens of 16-byte Buffer.copy calls cost more than the AES itself.
 */
export function encryptKeyslotsInto(kek: Kek, plain: Uint8Array, out: Uint8Array, targets: readonly number[]): void {
  const n = targets.length;
  if (n === 0) return;
  const ecb = createCipheriv('aes-256-ecb', kek.key, null);
  ecb.setAutoPadding(false);
  const column = Buffer.allocUnsafe(n * 16);
  let chain: Uint8Array | null = null; // the previous column's ciphertext; KEK.iv for the first
  for (let b = 0; b < 4; b++) {
    for (let s = 0; s < n; s++) {
      const src = s * KEYSLOT_LENGTH + b * 16;
      const col = s * 16;
      if (chain === null) for (let i = 0; i < 16; i++) column[col + i] = (plain[src + i] as number) ^ (kek.iv[i] as number);
      else for (let i = 0; i < 16; i++) column[col + i] = (plain[src + i] as number) ^ (chain[col + i] as number);
    }
    const enc = ecb.update(column);
    for (let s = 0; s < n; s++) {
      const dst = (targets[s] as number) + b * 16;
      const col = s * 16;
      for (let i = 0; i < 16; i++) out[dst + i] = enc[col + i] as number;
    }
    chain = enc;
  }
  ecb.final();
}

/** encryptKeyslotsInto over consecutive slots: returns the n encrypted slots. */
export function encryptKeyslots(kek: Kek, plain: Buffer): Buffer {
  const out = Buffer.allocUnsafe(plain.length);
  const targets = Array.from({ length: plain.length / KEYSLOT_LENGTH }, (_, i) => i * KEYSLOT_LENGTH);
  encryptKeyslotsInto(kek, plain, out, targets);
  return out;
}

/** Inverse of encryptKeyslots: one ECB pass over all slots, then the CBC xor chain per slot. */
export function decryptKeyslots(kek: Kek, encrypted: Buffer): Buffer {
  if (encrypted.length === 0) return Buffer.alloc(0);
  const ecb = createDecipheriv('aes-256-ecb', kek.key, null);
  ecb.setAutoPadding(false);
  const out = ecb.update(encrypted);
  ecb.final();
  const n = encrypted.length / KEYSLOT_LENGTH;
  for (let s = 0; s < n; s++) {
    const base = s * KEYSLOT_LENGTH;
    for (let i = 0; i < 16; i++) out[base + i] = (out[base + i] as number) ^ (kek.iv[i] as number);
    for (let j = 16; j < KEYSLOT_LENGTH; j++) out[base + j] = (out[base + j] as number) ^ (encrypted[base + j - 16] as number);
  }
  return out;
}

/** The receiving actor's KEK: libdime KDF over ECDH(own key, the message's ephemeral point). One ECDH per call. */
export async function deriveActorKek(frame: MessageFrame, keys: KeyAgreement): Promise<Kek> {
  const ephemeral = findChunk(frame, ChunkType.ephemeral);
  if (!ephemeral) throw new DimeError('MISSING_FIELD', 'message lacks the ephemeral chunk');
  if (!secp256k1IsValidPublic(ephemeral.payload)) throw new DimeError('BAD_KEY', 'ephemeral chunk is not a valid secp256k1 point');
  const shared = await keys.deriveSharedSecret(ephemeral.payload);
  if (!(shared instanceof Uint8Array) || shared.length !== 32) {
    throw new TypeError('"keys.deriveSharedSecret" must resolve to a 32-byte Uint8Array');
  }
  return kekFromSharedSecret(shared);
}

/** Opens the actor's keyslot of each chunk (all in one batch); every chunk must carry one for the actor. */
export function openChunkKeys(kek: Kek, chunks: readonly MessageChunkFrame[], actor: DimeActor): ChunkKey[] {
  const encrypted = Buffer.allocUnsafe(chunks.length * KEYSLOT_LENGTH);
  chunks.forEach((c, i) => {
    const slot = c.keyslots[keyslotIndex(c.type, actor)];
    if (!slot) throw new DimeError('NOT_VISIBLE', `the ${actor} has no keyslot in chunk type ${c.type}`);
    slot.copy(encrypted, i * KEYSLOT_LENGTH);
  });
  const plain = decryptKeyslots(kek, encrypted);
  return chunks.map((_, i) => readKeyslotPlaintext(plain, i * KEYSLOT_LENGTH));
}
