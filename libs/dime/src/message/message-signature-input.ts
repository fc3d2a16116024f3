// What each D/MIME message-level signature covers (DIGEST.md §6.5). All inputs are the serialized,
// encrypted chunks (type ‖ len ‖ payload ‖ keyslots); since chunks are in ascending type order,
// every input except the tree signature's is one contiguous slice of the message (views, no copies).
import { sha512 } from '../primitives';
import { ChunkType, MESSAGE_HEADER_LENGTH, endOfChunksThrough } from './message-chunk';
import type { MessageFrame } from './message.types';

const HASH_LENGTH = 64;

/** A chunk's position in the message bytes. */
export interface ChunkSpan {
  type: number;
  offset: number;
  length: number;
}

/**
 * Input of the author tree signature (225): SHA-512 of each chunk from ephemeral through the last
 * attachment. libdime quirk (dmsg_treesig_data_get, DIGEST.md §6.5/§12.1): the destination chunk's
 * hash slot is not advanced past, so the common-headers hash overwrites it and the buffer ends in 64
 * zero bytes; we write (and verify) that buggy form so libdime and we accept each other's messages.
 */
export function treeSignatureInput(message: Buffer, chunks: readonly ChunkSpan[]): Buffer {
  const covered = chunks.filter((c) => c.type < ChunkType.authorTreeSig);
  const out = Buffer.alloc(covered.length * HASH_LENGTH);
  let pos = 0;
  for (const c of covered) {
    sha512(message.subarray(c.offset, c.offset + c.length)).copy(out, pos * HASH_LENGTH);
    if (c.type !== ChunkType.destination) pos++;
  }
  return out;
}

/** Author full signature (226): every chunk from ephemeral through the encrypted tree signature. */
export function authorFullSignatureInput(message: Buffer, frame: MessageFrame): Buffer {
  return message.subarray(MESSAGE_HEADER_LENGTH, endOfChunksThrough(frame, ChunkType.authorTreeSig));
}

/** Origin meta-bounce signature (248): envelope and metadata sections (chunks 2, 4, 5, 33, 34). */
export function originMetaBounceInput(message: Buffer, frame: MessageFrame): Buffer {
  return message.subarray(MESSAGE_HEADER_LENGTH, endOfChunksThrough(frame, ChunkType.otherHeaders));
}

/** Origin display-bounce signature (249): envelope, metadata and display sections (no attachments). */
export function originDisplayBounceInput(message: Buffer, frame: MessageFrame): Buffer {
  return message.subarray(MESSAGE_HEADER_LENGTH, endOfChunksThrough(frame, ChunkType.display));
}

/** Origin full signature (255): every chunk from ephemeral through 249 (whichever are present). */
export function originFullSignatureInput(message: Buffer, frame: MessageFrame): Buffer {
  return message.subarray(MESSAGE_HEADER_LENGTH, endOfChunksThrough(frame, ChunkType.originDisplayBounceSig));
}
