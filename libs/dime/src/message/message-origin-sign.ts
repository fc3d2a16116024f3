// The origin org's step (DIGEST.md §6.5): check what it can see of the author's message, then
// overwrite the zero-filled origin signature chunks (248, 249, 255) in place with real signatures,
// encrypted under the K/IV recovered from its own keyslot, so every other keyslot stays valid and
// the length does not change. A bounce signature the caller declines is deleted.
import { DimeError } from '../dime.error';
import { assertBytes, toBuffer } from '../bytes';
import { ed25519PublicKeyObject, ed25519Verify } from '../primitives';
import type { Signer } from '../signer';
import {
  ChunkType,
  MESSAGE_HEADER_LENGTH,
  SIGNATURE_LENGTH,
  assertRequiredChunks,
  keyslotIndex,
  parseMessageFrame,
  writeMessageHeader,
} from './message-chunk';
import { decryptPayload, deriveActorKek, encryptPayload, openChunkKeys } from './message-keyslot';
import type { ChunkKey } from './message-keyslot';
import { decodeStandardPayload } from './message-payload';
import { parseOriginEnvelope } from './message-envelope';
import {
  authorFullSignatureInput,
  originDisplayBounceInput,
  originFullSignatureInput,
  originMetaBounceInput,
  treeSignatureInput,
} from './message-signature-input';
import type { MessageFrame, OriginSignOptions } from './message.types';

export async function signOrigin(message: Uint8Array, origin: OriginSignOptions): Promise<Buffer> {
  assertBytes(message, 'message');
  checkOriginOptions(origin);
  const src = toBuffer(message);
  const frame = parseMessageFrame(src);
  assertRequiredChunks(frame);

  const kek = await deriveActorKek(frame, origin.keys);
  const mine = frame.chunks.filter((c) => keyslotIndex(c.type, 'origin') >= 0);
  const chunkKeys = openChunkKeys(kek, mine, 'origin');
  const keyOf = new Map<number, ChunkKey>(mine.map((c, i) => [c.type, chunkKeys[i]!]));

  // What the origin can check: its envelope chunk decodes (so its key is right and the payload is
  // sound) and, given the author's signing key, the chunk and author signatures verify.
  const envelopeChunk = mine.find((c) => c.type === ChunkType.origin)!;
  const envelope = decodeStandardPayload(decryptPayload(keyOf.get(ChunkType.origin)!, envelopeChunk.payload), 'origin chunk');
  parseOriginEnvelope(envelope.data);
  if (origin.authorSigningKey) {
    const key = origin.authorSigningKey;
    const sigOf = (type: number): Buffer => decryptPayload(keyOf.get(type)!, mine.find((c) => c.type === type)!.payload);
    if (!ed25519Verify(key, envelope.signed, envelope.signature)) throw new DimeError('BAD_SIGNATURE', 'origin chunk: author signature invalid');
    if (!ed25519Verify(key, treeSignatureInput(src, frame.chunks), sigOf(ChunkType.authorTreeSig))) {
      throw new DimeError('BAD_SIGNATURE', 'author tree signature invalid');
    }
    if (!ed25519Verify(key, authorFullSignatureInput(src, frame), sigOf(ChunkType.authorFullSig))) {
      throw new DimeError('BAD_SIGNATURE', 'author full signature invalid');
    }
  }

  // Declined bounce signatures are deleted (DIGEST §6.5). libdime itself only ever deletes 248: its
  // 249 branch is dead code that leaves 64 zero bytes, which a strict verifier would reject.
  const drop = new Set<number>();
  if (origin.metaBounce === false) drop.add(ChunkType.originMetaBounceSig);
  if (origin.displayBounce === false) drop.add(ChunkType.originDisplayBounceSig);
  const out = copyWithout(src, frame, drop);
  const outFrame = parseMessageFrame(out); // headers only: cheap, and its views point into `out`

  const writeSignature = async (type: number, input: Buffer): Promise<void> => {
    const chunk = outFrame.chunks.find((c) => c.type === type);
    if (!chunk) return; // libdime signs only the origin chunks the author emitted
    const sig = await origin.signer.sign(input);
    if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_LENGTH) {
      throw new TypeError('"origin.signer.sign" must resolve to a 64-byte Uint8Array');
    }
    encryptPayload(keyOf.get(type)!, sig).copy(chunk.payload);
  };
  // 248 and 249 cover only chunks before them, so both sign at once; 255 then covers both.
  await Promise.all([
    writeSignature(ChunkType.originMetaBounceSig, originMetaBounceInput(out, outFrame)),
    writeSignature(ChunkType.originDisplayBounceSig, originDisplayBounceInput(out, outFrame)),
  ]);
  await writeSignature(ChunkType.originFullSig, originFullSignatureInput(out, outFrame));
  return out;
}

/** A fresh copy of the message without the chunks of the given types (header length fixed). */
function copyWithout(src: Buffer, frame: MessageFrame, drop: ReadonlySet<number>): Buffer {
  if (!drop.size) return Buffer.from(src);
  const kept = frame.chunks.filter((c) => !drop.has(c.type));
  const body = kept.reduce((n, c) => n + c.length, 0);
  const out = Buffer.allocUnsafe(MESSAGE_HEADER_LENGTH + body);
  writeMessageHeader(out, body);
  let pos = MESSAGE_HEADER_LENGTH;
  for (const c of kept) pos += src.copy(out, pos, c.offset, c.offset + c.length);
  return out;
}

function checkOriginOptions(origin: OriginSignOptions): void {
  if (typeof origin !== 'object' || origin === null) throw new TypeError('"origin" expected an object');
  if (typeof origin.keys?.deriveSharedSecret !== 'function') throw new TypeError('"origin.keys" expected a KeyAgreement');
  if (typeof (origin.signer as Signer | undefined)?.sign !== 'function') throw new TypeError('"origin.signer" expected a Signer');
  for (const flag of ['metaBounce', 'displayBounce'] as const) {
    if (origin[flag] !== undefined && typeof origin[flag] !== 'boolean') throw new TypeError(`"origin.${flag}" expected boolean`);
  }
  if (origin.authorSigningKey !== undefined) {
    assertBytes(origin.authorSigningKey, 'origin.authorSigningKey');
    ed25519PublicKeyObject(origin.authorSigningKey);
  }
}
