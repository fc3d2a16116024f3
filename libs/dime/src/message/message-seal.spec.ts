import { createHash } from 'node:crypto';
import { DimeError } from '../dime.error';
import { ed25519Verify } from '../primitives';
import { InMemoryKeyAgreement, InMemorySigner } from '../signer';
import type { Signer } from '../signer';
import { ChunkType, parseMessageFrame } from './message-chunk';
import { decryptPayload, deriveActorKek, openChunkKeys } from './message-keyslot';
import { openMessage } from './message-open';
import { signOrigin } from './message-origin-sign';
import { sealMessage } from './message-seal';
import type { DimeActor, SealInput } from './message.types';
import { VECTOR_ACTORS, VECTOR_NAMES, vectorActorKeys, vectorPlain } from '../../../../test/dime-message.fixture';

const keys = Object.fromEntries(VECTOR_ACTORS.map((a) => [a, vectorActorKeys(a)])) as Record<DimeActor, ReturnType<typeof vectorActorKeys>>;
const agreement = (actor: DimeActor): InMemoryKeyAgreement => new InMemoryKeyAgreement(keys[actor].secp256k1Private);

/** Deterministic randomness for tests: SHA-512 in counter mode over a seed. */
function seededRandom(seed: string): (n: number) => Buffer {
  let counter = 0;
  return (n) => {
    const parts: Buffer[] = [];
    for (let have = 0; have < n; have += 64) parts.push(createHash('sha512').update(`${seed}/${counter++}`).digest());
    return Buffer.concat(parts).subarray(0, n);
  };
}

function sealInput(overrides: Partial<SealInput> = {}): SealInput {
  const p = vectorPlain();
  return {
    author: {
      address: VECTOR_NAMES.author,
      signetFingerprint: keys.author.fingerprint,
      encryptionKey: keys.author.secp256k1Public,
      signer: new InMemorySigner(keys.author.ed25519Seed),
    },
    origin: { domain: VECTOR_NAMES.origin, signetFingerprint: keys.origin.fingerprint, encryptionKey: keys.origin.secp256k1Public },
    destination: {
      domain: VECTOR_NAMES.destination,
      signetFingerprint: keys.destination.fingerprint,
      encryptionKey: keys.destination.secp256k1Public,
    },
    recipient: {
      address: VECTOR_NAMES.recipient,
      signetFingerprint: keys.recipient.fingerprint,
      encryptionKey: keys.recipient.secp256k1Public,
    },
    commonHeaders: p.commonHeaders,
    otherHeaders: p.otherHeaders,
    display: [p.display, Buffer.from('second display chunk\r\n')],
    attachments: [p.attachment],
    ...overrides,
  };
}

const originSign = (message: Buffer): Promise<Buffer> =>
  signOrigin(message, { keys: agreement('origin'), signer: new InMemorySigner(keys.origin.ed25519Seed), authorSigningKey: keys.author.ed25519Public });

describe('sealMessage', () => {
  it('emits the chunks in ascending order, each standard payload padded to whole blocks of at least 256 bytes', async () => {
    const frame = parseMessageFrame(await sealMessage(sealInput()));
    expect(frame.chunks.map((c) => c.type)).toEqual([2, 4, 5, 33, 34, 67, 67, 131, 225, 226, 248, 249, 255]);
    for (const c of frame.chunks.filter((c) => c.type > 2 && c.type < 225)) {
      expect(c.payload.length % 16).toBe(0);
      expect(c.payload.length).toBeGreaterThanOrEqual(256);
    }
  });

  it.each(VECTOR_ACTORS)('seals a message that, once origin-signed, opens as the %s with every visible signature valid', async (actor) => {
    const input = sealInput();
    const message = await originSign(await sealMessage(input));
    const opened = await openMessage(message, {
      actor,
      keys: agreement(actor),
      authorSigningKey: keys.author.ed25519Public,
      originSigningKey: keys.origin.ed25519Public,
    });
    const seesContent = actor === 'author' || actor === 'recipient';
    expect(opened.commonHeaders).toEqual(seesContent ? input.commonHeaders : null);
    expect(opened.otherHeaders).toEqual(seesContent ? input.otherHeaders : null);
    expect(opened.display).toEqual(seesContent ? input.display : []);
    expect(opened.attachments).toEqual(seesContent ? input.attachments : []);
    expect(opened.origin).toEqual(
      actor === 'destination'
        ? null
        : { author: VECTOR_NAMES.author, authorSignet: keys.author.fingerprint, destination: VECTOR_NAMES.destination, destinationSignet: keys.destination.fingerprint },
    );
    expect(opened.destination).toEqual(
      actor === 'origin'
        ? null
        : { recipient: VECTOR_NAMES.recipient, recipientSignet: keys.recipient.fingerprint, origin: VECTOR_NAMES.origin, originSignet: keys.origin.fingerprint },
    );
    expect(Object.values(opened.signatures).every((s) => s === 'valid' || (actor === 'destination' && s === 'not-visible'))).toBe(true);
    expect(opened.chunkSignatures).toBe('valid');
  });

  it('fills the origin signature chunks with 64 zero bytes readable by all four actors', async () => {
    const message = await sealMessage(sealInput());
    const frame = parseMessageFrame(message);
    const originSigs = frame.chunks.filter((c) => c.type >= 248);
    expect(originSigs.map((c) => c.keyslots.length)).toEqual([4, 4, 4]);
    for (const actor of VECTOR_ACTORS) {
      const kek = await deriveActorKek(frame, agreement(actor));
      const chunkKeys = openChunkKeys(kek, originSigs, actor);
      originSigs.forEach((c, i) => expect(decryptPayload(chunkKeys[i]!, c.payload)).toEqual(Buffer.alloc(64)));
    }
  });

  it('writes the tree signature in libdime buggy form (destination hash overwritten, 64 zero bytes at the end)', async () => {
    const message = await sealMessage(sealInput());
    const frame = parseMessageFrame(message);
    const kek = await deriveActorKek(frame, agreement('recipient'));
    const tree = frame.chunks.find((c) => c.type === ChunkType.authorTreeSig)!;
    const sig = decryptPayload(openChunkKeys(kek, [tree], 'recipient')[0]!, tree.payload);
    const hashes = frame.chunks
      .filter((c) => c.type < ChunkType.authorTreeSig)
      .map((c) => createHash('sha512').update(message.subarray(c.offset, c.offset + c.length)).digest());
    const buggy = Buffer.concat([hashes[0]!, hashes[1]!, ...hashes.slice(3), Buffer.alloc(64)]);
    expect(ed25519Verify(keys.author.ed25519Public, buggy, sig)).toBe(true);
    expect(ed25519Verify(keys.author.ed25519Public, Buffer.concat(hashes), sig)).toBe(false);
  });

  it('leaves neither subject, body nor either address readable in the message bytes', async () => {
    const input = sealInput({ display: [Buffer.from('The launch code is swordfish.\r\n')] });
    const bytes = await originSign(await sealMessage(input));
    for (const secret of ['DIME interop test vector', 'swordfish', VECTOR_NAMES.author, VECTOR_NAMES.recipient, 'alice', 'bob@']) {
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
  });

  it('is deterministic for a given randomness source and differs across sources', async () => {
    const a = await sealMessage(sealInput({ random: seededRandom('a') }));
    const again = await sealMessage(sealInput({ random: seededRandom('a') }));
    const b = await sealMessage(sealInput({ random: seededRandom('b') }));
    expect(a.equals(again)).toBe(true);
    expect(a.equals(b)).toBe(false);
  });

  it('works with an asynchronous signer (e.g. an HSM)', async () => {
    const inner = new InMemorySigner(keys.author.ed25519Seed);
    const slow: Signer = {
      publicKey: inner.publicKey,
      sign: (data) => new Promise((resolve) => setTimeout(() => resolve(inner.signSync(data)), 1)),
    };
    const message = await originSign(await sealMessage(sealInput({ author: { ...sealInput().author, signer: slow } })));
    const opened = await openMessage(message, { actor: 'recipient', keys: agreement('recipient'), authorSigningKey: keys.author.ed25519Public });
    expect(opened.signatures.authorFull).toBe('valid');
  });

  it('refuses what libdime cannot build: empty other headers, no display chunk, empty chunks', async () => {
    await expect(sealMessage(sealInput({ otherHeaders: Buffer.alloc(0) }))).rejects.toMatchObject({ code: 'MISSING_FIELD' });
    await expect(sealMessage(sealInput({ commonHeaders: Buffer.alloc(0) }))).rejects.toMatchObject({ code: 'MISSING_FIELD' });
    await expect(sealMessage(sealInput({ display: [] }))).rejects.toMatchObject({ code: 'MISSING_FIELD' });
    await expect(sealMessage(sealInput({ display: [Buffer.alloc(0)] }))).rejects.toMatchObject({ code: 'MALFORMED' });
    await expect(sealMessage(sealInput({ attachments: [Buffer.alloc(0)] }))).rejects.toMatchObject({ code: 'MALFORMED' });
  });

  it('refuses invalid encryption keys and envelope values that would break the chunk text', async () => {
    const base = sealInput();
    await expect(sealMessage({ ...base, recipient: { ...base.recipient, encryptionKey: Buffer.alloc(33, 5) } })).rejects.toMatchObject({
      code: 'BAD_KEY',
    });
    await expect(sealMessage({ ...base, recipient: { ...base.recipient, address: 'bob>\r\nX: y' } })).rejects.toMatchObject({ code: 'MALFORMED' });
    await expect(sealMessage({ ...base, origin: { ...base.origin, signetFingerprint: 'abc]' } })).rejects.toBeInstanceOf(DimeError);
  });

  it('throws TypeError for arguments of the wrong type', async () => {
    await expect(sealMessage(sealInput({ commonHeaders: 'Date: x' as unknown as Uint8Array }))).rejects.toBeInstanceOf(TypeError);
    await expect(sealMessage(sealInput({ display: 'body' as unknown as Uint8Array[] }))).rejects.toBeInstanceOf(TypeError);
    await expect(sealMessage(null as unknown as SealInput)).rejects.toBeInstanceOf(TypeError);
  });
});
