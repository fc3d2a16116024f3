// The author's step (DIGEST.md §6): build a D/MIME message as libdime's encryptor does — ephemeral
// key, envelope and content chunks (each author-signed, padded, AES-256-CBC under its own key,
// keyslotted per §6.1), the author tree and full signatures, and the three origin signature chunks
// holding 64 zero bytes for the origin to fill (signOrigin). The message is laid out once into one
// buffer: every size is known before any encryption, so signature inputs are views of it.
import { DimeError } from '../dime.error';
import { assertBytes } from '../bytes';
import { kekFromSharedSecret, randomBytes, secp256k1Ecdh, secp256k1PublicFromPrivate } from '../primitives';
import type { Kek } from '../primitives';
import {
  CHUNK_HEADER_LENGTH,
  ChunkType,
  EPHEMERAL_LENGTH,
  KEYSLOT_LENGTH,
  MESSAGE_HEADER_LENGTH,
  SIGNATURE_LENGTH,
  chunkTypeInfo,
  writeChunkHeader,
  writeMessageHeader,
} from './message-chunk';
import { CHUNK_IV_LENGTH, CHUNK_KEY_LENGTH, encryptKeyslotsInto, encryptPayload, writeKeyslotPlaintext } from './message-keyslot';
import type { ChunkKey } from './message-keyslot';
import { buildStandardPayload, paddingLength } from './message-payload';
import { formatDestinationEnvelope, formatOriginEnvelope } from './message-envelope';
import { treeSignatureInput } from './message-signature-input';
import type { ChunkSpan } from './message-signature-input';
import { DIME_ACTORS } from './message.types';
import type { DimeActor, SealInput } from './message.types';

const MAX_MESSAGE_BODY = 0xffffffff;

interface PlannedChunk extends ChunkSpan {
  payloadLength: number;
  chunkKey: ChunkKey;
  /** Standard payload plaintext (standard chunks only). */
  plain?: Buffer;
}

export async function sealMessage(input: SealInput): Promise<Buffer> {
  checkSealInput(input);
  const random = input.random ?? randomBytes;
  const signer = input.author.signer;

  const contents: [number, Uint8Array][] = [
    [
      ChunkType.origin,
      formatOriginEnvelope({
        author: input.author.address,
        authorSignet: input.author.signetFingerprint,
        destination: input.destination.domain,
        destinationSignet: input.destination.signetFingerprint,
      }),
    ],
    [
      ChunkType.destination,
      formatDestinationEnvelope({
        recipient: input.recipient.address,
        recipientSignet: input.recipient.signetFingerprint,
        origin: input.origin.domain,
        originSignet: input.origin.signetFingerprint,
      }),
    ],
    [ChunkType.commonHeaders, input.commonHeaders],
    [ChunkType.otherHeaders, input.otherHeaders],
    ...input.display.map((d): [number, Uint8Array] => [ChunkType.display, d]),
    ...(input.attachments ?? []).map((d): [number, Uint8Array] => [ChunkType.attachment, d]),
  ];
  const signatureTypes = [
    ChunkType.authorTreeSig,
    ChunkType.authorFullSig,
    ChunkType.originMetaBounceSig,
    ChunkType.originDisplayBounceSig,
    ChunkType.originFullSig,
  ];

  // All randomness in one draw: ephemeral scalar, per-chunk K ‖ IV, one pad byte per standard chunk,
  // 16-byte R per keyslot.
  const encryptedCount = contents.length + signatureTypes.length;
  const slotCount = [...contents.map(([type]) => type), ...signatureTypes].reduce((n, t) => n + chunkTypeInfo(t).actors.length, 0);
  const keyMaterialLength = encryptedCount * (CHUNK_KEY_LENGTH + CHUNK_IV_LENGTH) + contents.length;
  const randomness = takeRandom(random, 32 + keyMaterialLength + slotCount * 16);
  const keyMaterial = randomness.subarray(32, 32 + keyMaterialLength);
  const slotRandom = randomness.subarray(32 + keyMaterialLength);

  // One ephemeral secp256k1 key per message; KEK per actor = libdime KDF over ECDH with its signet key.
  const { privateKey: ephemeralPrivate, publicKey: ephemeralPublic } = ephemeralKey(randomness.subarray(0, 32), random);
  const keks: Record<DimeActor, Kek> = {
    author: kekFromSharedSecret(secp256k1Ecdh(ephemeralPrivate, input.author.encryptionKey)),
    origin: kekFromSharedSecret(secp256k1Ecdh(ephemeralPrivate, input.origin.encryptionKey)),
    destination: kekFromSharedSecret(secp256k1Ecdh(ephemeralPrivate, input.destination.encryptionKey)),
    recipient: kekFromSharedSecret(secp256k1Ecdh(ephemeralPrivate, input.recipient.encryptionKey)),
  };
  ephemeralPrivate.fill(0);
  randomness.fill(0, 0, 32);

  // Plan: payload sizes (padding drawn now), chunk keys, offsets.
  let km = 0;
  const nextChunkKey = (): ChunkKey => {
    const key = keyMaterial.subarray(km, km + CHUNK_KEY_LENGTH);
    const iv = keyMaterial.subarray(km + CHUNK_KEY_LENGTH, km + CHUNK_KEY_LENGTH + CHUNK_IV_LENGTH);
    km += CHUNK_KEY_LENGTH + CHUNK_IV_LENGTH;
    return { key, iv };
  };
  const padRandom = keyMaterial.subarray(encryptedCount * (CHUNK_KEY_LENGTH + CHUNK_IV_LENGTH));

  let offset = MESSAGE_HEADER_LENGTH;
  const plan = (type: number, payloadLength: number, plain?: Buffer): PlannedChunk => {
    const length = CHUNK_HEADER_LENGTH + payloadLength + KEYSLOT_LENGTH * chunkTypeInfo(type).actors.length;
    const chunk: PlannedChunk = { type, offset, length, payloadLength, chunkKey: nextChunkKey(), ...(plain ? { plain } : {}) };
    offset += length;
    return chunk;
  };
  const ephemeralSpan: ChunkSpan = { type: ChunkType.ephemeral, offset, length: CHUNK_HEADER_LENGTH + EPHEMERAL_LENGTH };
  offset += ephemeralSpan.length;
  const standard = contents.map(([type, data], i) => {
    const plain = buildStandardPayload(data, paddingLength(data.length, padRandom[i] as number));
    return plan(type, plain.length, plain);
  });
  const [treeSig, fullSig, ...originSigs] = signatureTypes.map((type) => plan(type, SIGNATURE_LENGTH)) as [
    PlannedChunk,
    PlannedChunk,
    ...PlannedChunk[],
  ];
  if (offset - MESSAGE_HEADER_LENGTH > MAX_MESSAGE_BODY) throw new DimeError('TOO_LARGE', 'message exceeds the 4-byte length');

  // The author signs every standard payload (everything after its 64-byte signature) at once.
  const chunkSigs = await Promise.all(standard.map((c) => signer.sign(c.plain!.subarray(SIGNATURE_LENGTH))));

  const out = Buffer.allocUnsafe(offset);
  writeMessageHeader(out, offset - MESSAGE_HEADER_LENGTH);
  writeChunkHeader(out, ephemeralSpan.offset, ChunkType.ephemeral, EPHEMERAL_LENGTH);
  ephemeralPublic.copy(out, ephemeralSpan.offset + CHUNK_HEADER_LENGTH);

  const all = [...standard, treeSig, fullSig, ...originSigs];
  writeKeyslots(out, all, keks, slotRandom);
  standard.forEach((c, i) => {
    const plain = c.plain!;
    plain.set(checkSignature(chunkSigs[i]), 0);
    writeChunk(out, c, plain);
  });

  // Tree signature over the chunk hashes (libdime's buggy layout), then the full signature over
  // everything through the encrypted tree-signature chunk.
  const spans: ChunkSpan[] = [ephemeralSpan, ...standard];
  writeChunk(out, treeSig, checkSignature(await signer.sign(treeSignatureInput(out, spans))));
  const fullInput = out.subarray(MESSAGE_HEADER_LENGTH, treeSig.offset + treeSig.length); // = authorFullSignatureInput
  writeChunk(out, fullSig, checkSignature(await signer.sign(fullInput)));
  const zeros = Buffer.alloc(SIGNATURE_LENGTH);
  for (const c of originSigs) writeChunk(out, c, zeros);
  return out;
}

/** Chunk header and encrypted payload (keyslots are written separately, in one batch per actor). */
function writeChunk(out: Buffer, chunk: PlannedChunk, plain: Uint8Array): void {
  writeChunkHeader(out, chunk.offset, chunk.type, chunk.payloadLength);
  encryptPayload(chunk.chunkKey, plain).copy(out, chunk.offset + CHUNK_HEADER_LENGTH);
}

/** Every actor's keyslots of every chunk: plaintext `R ‖ IV^R ‖ K`, encrypted in one batch per actor. */
function writeKeyslots(out: Buffer, chunks: readonly PlannedChunk[], keks: Record<DimeActor, Kek>, rs: Buffer): void {
  const plain = Buffer.allocUnsafe(chunks.length * KEYSLOT_LENGTH);
  let r = 0;
  for (const actor of DIME_ACTORS) {
    const targets: number[] = [];
    for (const c of chunks) {
      const index = chunkTypeInfo(c.type).actors.indexOf(actor);
      if (index < 0) continue;
      writeKeyslotPlaintext(plain, targets.length * KEYSLOT_LENGTH, c.chunkKey, rs, r);
      r += 16;
      targets.push(c.offset + CHUNK_HEADER_LENGTH + c.payloadLength + index * KEYSLOT_LENGTH);
    }
    encryptKeyslotsInto(keks[actor], plain, out, targets);
  }
  plain.fill(0);
}

/** The ephemeral key from the first 32 random bytes; if not a valid scalar (p ~ 2^-128), draw again. */
function ephemeralKey(first: Buffer, random: (n: number) => Buffer): { privateKey: Buffer; publicKey: Buffer } {
  let candidate = first;
  for (let attempt = 0; attempt < 64; attempt++) {
    const privateKey = Buffer.from(candidate);
    try {
      return { privateKey, publicKey: secp256k1PublicFromPrivate(privateKey) };
    } catch (err) {
      if (!(err instanceof DimeError)) throw err;
    }
    candidate = takeRandom(random, 32);
  }
  throw new RangeError('"random" keeps returning invalid secp256k1 scalars');
}

function takeRandom(random: (n: number) => Buffer, n: number): Buffer {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) throw new TypeError(`"random" must return ${n} bytes`);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
}

function checkSignature(sig: Uint8Array | undefined): Uint8Array {
  if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_LENGTH) {
    throw new TypeError('"author.signer.sign" must resolve to a 64-byte Uint8Array');
  }
  return sig;
}

function checkSealInput(input: SealInput): void {
  if (typeof input !== 'object' || input === null) throw new TypeError('"input" expected an object');
  for (const actor of DIME_ACTORS) {
    const party = input[actor] as { encryptionKey?: unknown } | undefined;
    if (typeof party !== 'object' || party === null) throw new TypeError(`"input.${actor}" expected an object`);
    assertBytes(party.encryptionKey, `input.${actor}.encryptionKey`);
  }
  if (typeof input.author.signer?.sign !== 'function') throw new TypeError('"input.author.signer" expected a Signer');
  assertBytes(input.commonHeaders, 'input.commonHeaders');
  assertBytes(input.otherHeaders, 'input.otherHeaders');
  if (!Array.isArray(input.display)) throw new TypeError('"input.display" expected an array of Uint8Array');
  if (input.attachments !== undefined && !Array.isArray(input.attachments)) throw new TypeError('"input.attachments" expected an array');
  input.display.forEach((d, i) => assertBytes(d, `input.display[${i}]`));
  (input.attachments ?? []).forEach((d, i) => assertBytes(d, `input.attachments[${i}]`));
  if (input.random !== undefined && typeof input.random !== 'function') throw new TypeError('"input.random" expected a function');

  // libdime cannot build a chunk without data, nor a message without other headers or display.
  if (input.commonHeaders.length === 0) throw new DimeError('MISSING_FIELD', 'common headers must not be empty');
  if (input.otherHeaders.length === 0) throw new DimeError('MISSING_FIELD', 'other headers must not be empty (libdime requires the chunk)');
  if (input.display.length === 0) throw new DimeError('MISSING_FIELD', 'at least one display chunk is required');
  if (input.display.some((d) => d.length === 0)) throw new DimeError('MALFORMED', 'display chunks must not be empty');
  if ((input.attachments ?? []).some((d) => d.length === 0)) throw new DimeError('MALFORMED', 'attachment chunks must not be empty');
}
