// D/MIME message framing (DIGEST.md §6.1): `1847 ‖ len(4) ‖ chunks`, each chunk
// `type(1) ‖ payload_len(3) ‖ payload ‖ 64-byte keyslot × n`, n and the slot order fixed per type.
// parseMessageFrame is the one structural parser: it never decrypts and returns views, not copies.
import { DimeError } from '../dime.error';
import { assertBytes, toBuffer } from '../bytes';
import type { DimeActor, MessageChunkFrame, MessageFrame } from './message.types';

export const MESSAGE_MAGIC = 1847;
/** libdime's message tracing block: defined, never produced; its bytes are covered by no signature. */
export const TRACING_MAGIC = 1837;
export const MESSAGE_HEADER_LENGTH = 6;
export const CHUNK_HEADER_LENGTH = 4;
export const KEYSLOT_LENGTH = 64;
export const SIGNATURE_LENGTH = 64;
export const EPHEMERAL_LENGTH = 33;
export const MAX_CHUNK_PAYLOAD = 0xffffff;

export const ChunkType = {
  ephemeral: 2,
  alternate: 3,
  origin: 4,
  destination: 5,
  commonHeaders: 33,
  otherHeaders: 34,
  display: 67,
  attachment: 131,
  authorTreeSig: 225,
  authorFullSig: 226,
  originMetaBounceSig: 248,
  originDisplayBounceSig: 249,
  originFullSig: 255,
} as const;

export type ChunkPayloadKind = 'ephemeral' | 'standard' | 'signature';

interface ChunkTypeInfo {
  readonly kind: ChunkPayloadKind;
  /** Actors holding a keyslot, in wire order (author, origin, destination, recipient subset). */
  readonly actors: readonly DimeActor[];
  /** May appear more than once (consecutively). */
  readonly repeatable: boolean;
}

const A: DimeActor = 'author';
const O: DimeActor = 'origin';
const D: DimeActor = 'destination';
const R: DimeActor = 'recipient';

/** DIGEST.md §6.1 table. Type 3 (alternate) is defined but unimplemented in libdime: refused as UNSUPPORTED. */
export const CHUNK_TYPES: ReadonlyMap<number, ChunkTypeInfo> = new Map<number, ChunkTypeInfo>([
  [ChunkType.ephemeral, { kind: 'ephemeral', actors: [], repeatable: false }],
  [ChunkType.origin, { kind: 'standard', actors: [A, O, R], repeatable: false }],
  [ChunkType.destination, { kind: 'standard', actors: [A, D, R], repeatable: false }],
  [ChunkType.commonHeaders, { kind: 'standard', actors: [A, R], repeatable: false }],
  [ChunkType.otherHeaders, { kind: 'standard', actors: [A, R], repeatable: false }],
  [ChunkType.display, { kind: 'standard', actors: [A, R], repeatable: true }],
  [ChunkType.attachment, { kind: 'standard', actors: [A, R], repeatable: true }],
  [ChunkType.authorTreeSig, { kind: 'signature', actors: [A, O, R], repeatable: false }],
  [ChunkType.authorFullSig, { kind: 'signature', actors: [A, O, R], repeatable: false }],
  [ChunkType.originMetaBounceSig, { kind: 'signature', actors: [A, O, D, R], repeatable: false }],
  [ChunkType.originDisplayBounceSig, { kind: 'signature', actors: [A, O, D, R], repeatable: false }],
  [ChunkType.originFullSig, { kind: 'signature', actors: [A, O, D, R], repeatable: false }],
]);

/** Chunks a received message must carry ("state COMPLETE" in libdime). */
export const REQUIRED_CHUNK_TYPES: readonly number[] = [
  ChunkType.ephemeral,
  ChunkType.origin,
  ChunkType.destination,
  ChunkType.commonHeaders,
  ChunkType.authorTreeSig,
  ChunkType.authorFullSig,
  ChunkType.originFullSig,
];

export function chunkTypeInfo(type: number): ChunkTypeInfo {
  const info = CHUNK_TYPES.get(type);
  if (!info) throw new DimeError('UNKNOWN_FIELD', `chunk type ${type} is not defined`);
  return info;
}

/** Index of the actor's keyslot in chunks of this type, or -1 if the actor has none. */
export function keyslotIndex(type: number, actor: DimeActor): number {
  return chunkTypeInfo(type).actors.indexOf(actor);
}

/** Serialized chunk length for a payload of the given size. */
export function chunkLength(type: number, payloadLength: number): number {
  return CHUNK_HEADER_LENGTH + payloadLength + KEYSLOT_LENGTH * chunkTypeInfo(type).actors.length;
}

/** Structural parse of a D/MIME message: framing, chunk order, sizes. No decryption. */
export function parseMessageFrame(bytes: Uint8Array): MessageFrame {
  assertBytes(bytes, 'bytes');
  const buf = toBuffer(bytes);
  if (buf.length < MESSAGE_HEADER_LENGTH) throw new DimeError('TRUNCATED', 'message shorter than its 6-byte header');
  const magic = buf.readUInt16BE(0);
  if (magic === TRACING_MAGIC) throw new DimeError('UNSUPPORTED', 'message tracing blocks are not supported');
  if (magic !== MESSAGE_MAGIC) throw new DimeError('WRONG_TYPE', `not a D/MIME message (magic ${magic})`);
  const declared = buf.readUInt32BE(2);
  if (declared > buf.length - MESSAGE_HEADER_LENGTH) {
    throw new DimeError('TRUNCATED', `message declares ${declared} bytes of chunks, ${buf.length - MESSAGE_HEADER_LENGTH} present`);
  }
  if (declared < buf.length - MESSAGE_HEADER_LENGTH) throw new DimeError('MALFORMED', 'trailing bytes after the message');

  const chunks: MessageChunkFrame[] = [];
  let pos = MESSAGE_HEADER_LENGTH;
  let lastType = -1;
  while (pos < buf.length) {
    if (buf.length - pos < CHUNK_HEADER_LENGTH) throw new DimeError('TRUNCATED', `chunk header at offset ${pos} is cut short`);
    const type = buf[pos] as number;
    if (type === ChunkType.alternate) throw new DimeError('UNSUPPORTED', 'alternate chunks (type 3) are not supported');
    const info = chunkTypeInfo(type);
    if (type < lastType) throw new DimeError('FIELD_ORDER', `chunk type ${type} after ${lastType}`);
    if (type === lastType && !info.repeatable) throw new DimeError('DUPLICATE_FIELD', `chunk type ${type} repeated`);
    lastType = type;

    const payloadLength = buf.readUIntBE(pos + 1, 3);
    checkPayloadLength(type, info.kind, payloadLength);
    const length = CHUNK_HEADER_LENGTH + payloadLength + KEYSLOT_LENGTH * info.actors.length;
    if (length > buf.length - pos) throw new DimeError('TRUNCATED', `chunk type ${type} at offset ${pos} runs past the end`);

    chunks.push(new ChunkView(buf, type, pos, length, payloadLength, info.actors.length));
    pos += length;
  }
  return { chunks };
}

/** A framed chunk; keyslot views are made on first use (most callers need one slot, or none). */
class ChunkView implements MessageChunkFrame {
  readonly payload: Buffer;
  private slots: Buffer[] | undefined;

  constructor(
    private readonly bytes: Buffer,
    readonly type: number,
    readonly offset: number,
    readonly length: number,
    payloadLength: number,
    private readonly slotCount: number,
  ) {
    this.payload = bytes.subarray(offset + CHUNK_HEADER_LENGTH, offset + CHUNK_HEADER_LENGTH + payloadLength);
  }

  get keyslots(): Buffer[] {
    if (!this.slots) {
      const start = this.offset + CHUNK_HEADER_LENGTH + this.payload.length;
      this.slots = Array.from({ length: this.slotCount }, (_, i) =>
        this.bytes.subarray(start + i * KEYSLOT_LENGTH, start + (i + 1) * KEYSLOT_LENGTH),
      );
    }
    return this.slots;
  }
}

function checkPayloadLength(type: number, kind: ChunkPayloadKind, length: number): void {
  if (kind === 'ephemeral' && length !== EPHEMERAL_LENGTH) {
    throw new DimeError('MALFORMED', `ephemeral chunk must hold ${EPHEMERAL_LENGTH} bytes, has ${length}`);
  }
  if (kind === 'signature' && length !== SIGNATURE_LENGTH) {
    throw new DimeError('MALFORMED', `signature chunk ${type} must hold ${SIGNATURE_LENGTH} bytes, has ${length}`);
  }
  // AES-256-CBC without padding: whole blocks, at least the 69-byte standard header (so >= 80).
  if (kind === 'standard' && (length % 16 !== 0 || length < 80)) {
    throw new DimeError('MALFORMED', `chunk ${type} payload length ${length} is not a whole number of AES blocks >= 80`);
  }
}

/** The first chunk of a type, if present. */
export function findChunk(frame: MessageFrame, type: number): MessageChunkFrame | undefined {
  return frame.chunks.find((c) => c.type === type);
}

export function assertRequiredChunks(frame: MessageFrame): void {
  for (const type of REQUIRED_CHUNK_TYPES) {
    if (!findChunk(frame, type)) throw new DimeError('MISSING_FIELD', `message lacks required chunk type ${type}`);
  }
}

/**
 * End offset (exclusive) of the last chunk whose type is <= maxType. Chunks are in ascending type
 * order, so libdime's "serialize these sections" inputs are the slice [6, end).
 */
export function endOfChunksThrough(frame: MessageFrame, maxType: number): number {
  let end = MESSAGE_HEADER_LENGTH;
  for (const c of frame.chunks) {
    if (c.type > maxType) break;
    end = c.offset + c.length;
  }
  return end;
}

/** Writes a chunk header (type, 3-byte payload length) at offset. */
export function writeChunkHeader(out: Buffer, offset: number, type: number, payloadLength: number): void {
  if (payloadLength > MAX_CHUNK_PAYLOAD) throw new DimeError('TOO_LARGE', `chunk payload of ${payloadLength} bytes exceeds 2^24-1`);
  out[offset] = type;
  out.writeUIntBE(payloadLength, offset + 1, 3);
}

/** Writes the 6-byte message header for a body of bodyLength bytes. */
export function writeMessageHeader(out: Buffer, bodyLength: number): void {
  out.writeUInt16BE(MESSAGE_MAGIC, 0);
  out.writeUInt32BE(bodyLength, 2);
}
