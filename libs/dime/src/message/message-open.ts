// Opening a D/MIME message as one of its four actors (DIGEST.md §6): decrypt the chunks this actor
// holds keyslots for (§6.1 table), check their padding, and verify every signature it can see with
// the public keys supplied. One ECDH per call; all keyslots of the actor opened in one batch.
import { DimeError } from '../dime.error';
import { assertBytes, toBuffer } from '../bytes';
import { ed25519PublicKeyObject, ed25519Verify } from '../primitives';
import { ChunkType, assertRequiredChunks, chunkTypeInfo, findChunk, keyslotIndex, parseMessageFrame } from './message-chunk';
import { decryptPayload, deriveActorKek, openChunkKeys } from './message-keyslot';
import { decodeStandardPayload } from './message-payload';
import { parseDestinationEnvelope, parseOriginEnvelope } from './message-envelope';
import {
  authorFullSignatureInput,
  originDisplayBounceInput,
  originFullSignatureInput,
  originMetaBounceInput,
  treeSignatureInput,
} from './message-signature-input';
import { DIME_ACTORS } from './message.types';
import type { MessageSignatureName, OpenOptions, OpenedMessage, SignatureStatus } from './message.types';

export async function openMessage(message: Uint8Array, options: OpenOptions): Promise<OpenedMessage> {
  assertBytes(message, 'message');
  checkOpenOptions(options);
  const { actor, authorSigningKey, originSigningKey } = options;
  const strict = options.strict ?? true;
  const bytes = toBuffer(message);
  const frame = parseMessageFrame(bytes);
  assertRequiredChunks(frame);

  const kek = await deriveActorKek(frame, options.keys);
  const visible = frame.chunks.filter((c) => c.type !== ChunkType.ephemeral && keyslotIndex(c.type, actor) >= 0);
  const chunkKeys = openChunkKeys(kek, visible, actor);

  const opened: OpenedMessage = {
    actor,
    origin: null,
    destination: null,
    commonHeaders: null,
    otherHeaders: null,
    display: [],
    attachments: [],
    signatures: {
      authorTree: 'not-visible',
      authorFull: 'not-visible',
      originMetaBounce: 'absent',
      originDisplayBounce: 'absent',
      originFull: 'not-visible',
    },
    chunkSignatures: 'not-visible',
  };
  const signatures = new Map<number, Buffer>();
  const invalidChunks: number[] = [];
  let standardChunks = 0;

  visible.forEach((chunk, i) => {
    const plain = decryptPayload(chunkKeys[i]!, chunk.payload);
    if (chunkTypeInfo(chunk.type).kind === 'signature') {
      signatures.set(chunk.type, plain);
      return;
    }
    const decoded = decodeStandardPayload(plain, `chunk ${chunk.type}`);
    standardChunks++;
    if (authorSigningKey && !ed25519Verify(authorSigningKey, decoded.signed, decoded.signature)) invalidChunks.push(chunk.type);
    switch (chunk.type) {
      case ChunkType.origin:
        opened.origin = parseOriginEnvelope(decoded.data);
        break;
      case ChunkType.destination:
        opened.destination = parseDestinationEnvelope(decoded.data);
        break;
      case ChunkType.commonHeaders:
        opened.commonHeaders = decoded.data;
        break;
      case ChunkType.otherHeaders:
        opened.otherHeaders = decoded.data;
        break;
      case ChunkType.display:
        opened.display.push(decoded.data);
        break;
      case ChunkType.attachment:
        opened.attachments.push(decoded.data);
        break;
    }
  });

  if (standardChunks > 0) {
    opened.chunkSignatures = !authorSigningKey ? 'unverified' : invalidChunks.length ? 'invalid' : 'valid';
  }
  const check = (type: number, key: Uint8Array | undefined, input: () => Buffer): SignatureStatus => {
    if (!findChunk(frame, type)) return 'absent';
    const sig = signatures.get(type);
    if (!sig) return 'not-visible';
    if (!key) return 'unverified';
    return ed25519Verify(key, input(), sig) ? 'valid' : 'invalid';
  };
  opened.signatures = {
    authorTree: check(ChunkType.authorTreeSig, authorSigningKey, () => treeSignatureInput(bytes, frame.chunks)),
    authorFull: check(ChunkType.authorFullSig, authorSigningKey, () => authorFullSignatureInput(bytes, frame)),
    originMetaBounce: check(ChunkType.originMetaBounceSig, originSigningKey, () => originMetaBounceInput(bytes, frame)),
    originDisplayBounce: check(ChunkType.originDisplayBounceSig, originSigningKey, () => originDisplayBounceInput(bytes, frame)),
    originFull: check(ChunkType.originFullSig, originSigningKey, () => originFullSignatureInput(bytes, frame)),
  };

  if (strict) {
    const bad: string[] = (Object.keys(opened.signatures) as MessageSignatureName[]).filter((k) => opened.signatures[k] === 'invalid');
    bad.push(...invalidChunks.map((t) => `chunk ${t}`));
    if (bad.length) throw new DimeError('BAD_SIGNATURE', `invalid signature(s): ${bad.join(', ')}`);
  }
  return opened;
}

function checkOpenOptions(options: OpenOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('"options" expected an object');
  if (!DIME_ACTORS.includes(options.actor)) throw new RangeError(`"options.actor" must be one of ${DIME_ACTORS.join(', ')}`);
  if (typeof options.keys?.deriveSharedSecret !== 'function') throw new TypeError('"options.keys" expected a KeyAgreement');
  if (options.authorSigningKey !== undefined) {
    assertBytes(options.authorSigningKey, 'options.authorSigningKey');
    ed25519PublicKeyObject(options.authorSigningKey); // BAD_KEY now rather than mid-way
  }
  if (options.originSigningKey !== undefined) {
    assertBytes(options.originSigningKey, 'options.originSigningKey');
    ed25519PublicKeyObject(options.originSigningKey);
  }
  if (options.strict !== undefined && typeof options.strict !== 'boolean') throw new TypeError('"options.strict" expected boolean');
}
