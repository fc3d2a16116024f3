import { createHash } from 'node:crypto';
import { DimeError } from '../dime.error';
import { ed25519Verify } from '../primitives';
import { InMemoryKeyAgreement } from '../signer';
import { ChunkType, parseMessageFrame } from './message-chunk';
import { decryptPayload, deriveActorKek, openChunkKeys } from './message-keyslot';
import { openMessage } from './message-open';
import { treeSignatureInput } from './message-signature-input';
import type { DimeActor, OpenedMessage } from './message.types';
import { vectorValue } from '../../../../test/vectors';
import { VECTOR_ACTORS, vectorActorKeys, vectorMessage1, vectorMessage2, vectorPlain } from '../../../../test/dime-message.fixture';

const authorSigningKey = vectorActorKeys('author').ed25519Public;
const originSigningKey = vectorActorKeys('origin').ed25519Public;
const keysOf = (actor: DimeActor): InMemoryKeyAgreement => new InMemoryKeyAgreement(vectorActorKeys(actor).secp256k1Private);

function openAs(actor: DimeActor, message = vectorMessage2(), extra: { strict?: boolean } = {}): Promise<OpenedMessage> {
  return openMessage(message, { actor, keys: keysOf(actor), authorSigningKey, originSigningKey, ...extra });
}

describe('openMessage on the libdime vector message', () => {
  // DIGEST §6.1: origin chunk A,O,R; destination chunk A,D,R; content A,R; author sigs A,O,R; origin sigs all.
  const visibility: Record<DimeActor, { origin: boolean; destination: boolean; content: boolean; authorSigs: boolean }> = {
    author: { origin: true, destination: true, content: true, authorSigs: true },
    origin: { origin: true, destination: false, content: false, authorSigs: true },
    destination: { origin: false, destination: true, content: false, authorSigs: false },
    recipient: { origin: true, destination: true, content: true, authorSigs: true },
  };

  it.each(VECTOR_ACTORS)('opens message-2 as the %s with exactly the §6.1 visibility and every visible signature valid', async (actor) => {
    const opened = await openAs(actor);
    const v = visibility[actor];
    expect(opened.actor).toBe(actor);
    expect(opened.origin !== null).toBe(v.origin);
    expect(opened.destination !== null).toBe(v.destination);
    expect(opened.commonHeaders !== null).toBe(v.content);
    expect(opened.otherHeaders !== null).toBe(v.content);
    expect(opened.display).toHaveLength(v.content ? 1 : 0);
    expect(opened.attachments).toHaveLength(v.content ? 1 : 0);
    const authorSig = v.authorSigs ? 'valid' : 'not-visible';
    expect(opened.signatures).toEqual({
      authorTree: authorSig,
      authorFull: authorSig,
      originMetaBounce: 'valid',
      originDisplayBounce: 'valid',
      originFull: 'valid',
    });
    expect(opened.chunkSignatures).toBe('valid');
  });

  it('gives the destination the recipient and origin that libdime showed it (vectors.txt destination.sees.*)', async () => {
    const { destination } = await openAs('destination');
    expect(destination).toEqual({
      recipient: vectorValue('destination.sees.recipient'),
      recipientSignet: vectorActorKeys('recipient').fingerprint,
      origin: vectorValue('destination.sees.origin'),
      originSignet: vectorActorKeys('origin').fingerprint,
    });
  });

  it('gives the recipient the envelope libdime showed it (vectors.txt recipient.sees.*)', async () => {
    const opened = await openAs('recipient');
    expect(opened.origin).toEqual({
      author: vectorValue('recipient.sees.author'),
      authorSignet: vectorActorKeys('author').fingerprint,
      destination: vectorValue('recipient.sees.destination'),
      destinationSignet: vectorActorKeys('destination').fingerprint,
    });
    expect(opened.destination?.recipient).toBe(vectorValue('recipient.sees.recipient'));
    expect(opened.destination?.origin).toBe(vectorValue('recipient.sees.origin'));
  });

  it.each(['author', 'recipient'] as const)('gives the %s the exact plaintext chunks (plain-*.txt)', async (actor) => {
    const opened = await openAs(actor);
    const p = vectorPlain();
    expect(opened.commonHeaders).toEqual(p.commonHeaders);
    expect(opened.otherHeaders).toEqual(p.otherHeaders);
    expect(opened.display).toEqual([p.display]);
    expect(opened.attachments).toEqual([p.attachment]);
  });

  it('reports signatures as unverified when no public keys are supplied', async () => {
    const opened = await openMessage(vectorMessage2(), { actor: 'recipient', keys: keysOf('recipient') });
    expect(Object.values(opened.signatures)).toEqual(Array(5).fill('unverified'));
    expect(opened.chunkSignatures).toBe('unverified');
  });

  it('verifies the tree signature only in libdime buggy form (destination hash overwritten, 64 zero bytes at the end)', async () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const kek = await deriveActorKek(frame, keysOf('recipient'));
    const treeChunk = frame.chunks.find((c) => c.type === ChunkType.authorTreeSig)!;
    const [treeKey] = openChunkKeys(kek, [treeChunk], 'recipient');
    const sig = decryptPayload(treeKey!, treeChunk.payload);

    const hashes = frame.chunks
      .filter((c) => c.type < ChunkType.authorTreeSig)
      .map((c) => createHash('sha512').update(msg.subarray(c.offset, c.offset + c.length)).digest());
    const correct = Buffer.concat(hashes);
    const buggy = Buffer.concat([hashes[0]!, hashes[1]!, ...hashes.slice(3), Buffer.alloc(64)]);
    expect(treeSignatureInput(msg, frame.chunks)).toEqual(buggy);
    expect(ed25519Verify(authorSigningKey, buggy, sig)).toBe(true);
    expect(ed25519Verify(authorSigningKey, correct, sig)).toBe(false);
  });

  it('refuses message-1 (origin signatures still zero) in strict mode and reports them invalid otherwise', async () => {
    await expect(openAs('recipient', vectorMessage1())).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    const opened = await openAs('recipient', vectorMessage1(), { strict: false });
    expect(opened.signatures).toEqual({
      authorTree: 'valid',
      authorFull: 'valid',
      originMetaBounce: 'invalid',
      originDisplayBounce: 'invalid',
      originFull: 'invalid',
    });
  });

  it('names the failing signatures when the wrong author key is supplied', async () => {
    const wrong = vectorActorKeys('recipient').ed25519Public;
    const attempt = openMessage(vectorMessage2(), { actor: 'recipient', keys: keysOf('recipient'), authorSigningKey: wrong });
    await expect(attempt).rejects.toThrow(/authorTree, authorFull, chunk 4/);
    const opened = await openMessage(vectorMessage2(), { actor: 'origin', keys: keysOf('origin'), authorSigningKey: wrong, strict: false });
    expect(opened.chunkSignatures).toBe('invalid');
  });

  it.each([
    ['recipient', 'destination'],
    ['origin', 'author'],
    ['destination', 'recipient'],
    ['author', 'origin'],
  ] as const)('fails with a DimeError when opening as the %s with the %s key', async (actor, wrongKeyOf) => {
    const attempt = openMessage(vectorMessage2(), { actor, keys: keysOf(wrongKeyOf) });
    await expect(attempt).rejects.toBeInstanceOf(DimeError);
  });

  it('refuses a message missing a required chunk with MISSING_FIELD', async () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const full = frame.chunks.find((c) => c.type === ChunkType.originFullSig)!;
    const cut = Buffer.from(msg.subarray(0, full.offset));
    cut.writeUInt32BE(cut.length - 6, 2);
    await expect(openAs('recipient', cut)).rejects.toMatchObject({ code: 'MISSING_FIELD' });
  });

  it('throws TypeError/RangeError for programmer errors', async () => {
    await expect(openMessage('x' as unknown as Uint8Array, { actor: 'recipient', keys: keysOf('recipient') })).rejects.toBeInstanceOf(TypeError);
    await expect(openMessage(vectorMessage2(), { actor: 'sender' as DimeActor, keys: keysOf('recipient') })).rejects.toBeInstanceOf(RangeError);
    await expect(openMessage(vectorMessage2(), { actor: 'recipient', keys: {} as InMemoryKeyAgreement })).rejects.toBeInstanceOf(TypeError);
  });
});
