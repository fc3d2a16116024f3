// The D/MIME "standard payload" (DIGEST.md §6.3), the plaintext of every content and envelope chunk:
// `sig(64) ‖ data_len(3) ‖ flags(1) ‖ pad_byte(1) ‖ data ‖ padding`, sig = the author's Ed25519
// signature over everything after it. Padding follows libdime's default algorithm.
import { DimeError } from '../dime.error';
import { MAX_CHUNK_PAYLOAD, SIGNATURE_LENGTH } from './message-chunk';

/** sig(64) + data_len(3) + flags(1) + pad_byte(1). */
export const STANDARD_HEADER_LENGTH = 69;
/** libdime's MINIMUM_PAYLOAD_SIZE: short payloads are padded up to at least this. */
export const MINIMUM_PAYLOAD_LENGTH = 256;
export const MAX_STANDARD_DATA = MAX_CHUNK_PAYLOAD - STANDARD_HEADER_LENGTH - 256;

/**
 * libdime's default padding (dmsg_chunk_padlen_get) for dataLength bytes and one random byte r:
 * the payload becomes a multiple of 16, at least 256 bytes, plus a random number of extra blocks.
 */
export function paddingLength(dataLength: number, r: number): number {
  const d = dataLength + STANDARD_HEADER_LENGTH;
  if (d < MINIMUM_PAYLOAD_LENGTH) return MINIMUM_PAYLOAD_LENGTH - d + 16 * (r % (Math.floor(d / 16) + 1));
  return 16 - (d % 16) + 16 * (r % 16);
}

/**
 * Lays out a standard payload plaintext (signature left zero for the caller to fill) and returns it.
 * The pad byte is the pad length mod 256: libdime writes a 256-byte pad as 0x00 (DIGEST.md §6.3, §12.5).
 */
export function buildStandardPayload(data: Uint8Array, padLength: number): Buffer {
  const length = STANDARD_HEADER_LENGTH + data.length + padLength;
  if (data.length > MAX_STANDARD_DATA || length > MAX_CHUNK_PAYLOAD) {
    throw new DimeError('TOO_LARGE', `chunk data of ${data.length} bytes exceeds the 3-byte chunk length`);
  }
  const out = Buffer.allocUnsafe(length);
  out.fill(0, 0, SIGNATURE_LENGTH);
  out.writeUIntBE(data.length, SIGNATURE_LENGTH, 3);
  out[67] = 0; // flags: libdime implements none usefully, we write none
  const padByte = padLength & 0xff;
  out[68] = padByte;
  out.set(data, STANDARD_HEADER_LENGTH);
  out.fill(padByte, STANDARD_HEADER_LENGTH + data.length);
  return out;
}

export interface DecodedStandardPayload {
  /** The author's Ed25519 signature over `signed`. */
  signature: Buffer;
  /** Everything after the signature (what the signature covers). */
  signed: Buffer;
  data: Buffer;
}

/** Checks and splits a decrypted standard payload; views into plain, no copies. */
export function decodeStandardPayload(plain: Buffer, what: string): DecodedStandardPayload {
  if (plain.length < STANDARD_HEADER_LENGTH) throw new DimeError('DECRYPT_FAILED', `${what}: payload shorter than its header`);
  const dataLength = plain.readUIntBE(SIGNATURE_LENGTH, 3);
  if (STANDARD_HEADER_LENGTH + dataLength > plain.length) {
    throw new DimeError('DECRYPT_FAILED', `${what}: data length ${dataLength} exceeds the payload (wrong key or tampered)`);
  }
  const flags = plain[67] as number;
  if (flags !== 0) throw new DimeError('UNSUPPORTED', `${what}: chunk flags 0x${flags.toString(16)} are not supported`);
  const dataEnd = STANDARD_HEADER_LENGTH + dataLength;
  const padByte = plain[68] as number;
  // The decoder derives the pad length from the sizes and checks the pad byte against it (mod 256).
  if (padByte !== ((plain.length - dataEnd) & 0xff)) throw new DimeError('BAD_PADDING', `${what}: pad byte does not match the pad length`);
  for (let i = dataEnd; i < plain.length; i++) {
    if (plain[i] !== padByte) throw new DimeError('BAD_PADDING', `${what}: padding bytes differ from the pad byte`);
  }
  return {
    signature: plain.subarray(0, SIGNATURE_LENGTH),
    signed: plain.subarray(SIGNATURE_LENGTH),
    data: plain.subarray(STANDARD_HEADER_LENGTH, dataEnd),
  };
}
