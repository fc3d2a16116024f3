import { DimeError } from '../dime.error';
import { InMemoryKeyAgreement, InMemorySigner } from '../signer';
import type { Signer } from '../signer';
import { ChunkType, parseMessageFrame } from './message-chunk';
import { openMessage } from './message-open';
import { signOrigin } from './message-origin-sign';
import type { OriginSignOptions } from './message.types';
import { vectorActorKeys, vectorMessage1, vectorMessage2 } from '../../../../test/dime-message.fixture';

const origin = vectorActorKeys('origin');
const author = vectorActorKeys('author');

function originOptions(extra: Partial<OriginSignOptions> = {}): OriginSignOptions {
  return { keys: new InMemoryKeyAgreement(origin.secp256k1Private), signer: new InMemorySigner(origin.ed25519Seed), ...extra };
}

const openAsDestination = (message: Buffer) =>
  openMessage(message, {
    actor: 'destination',
    keys: new InMemoryKeyAgreement(vectorActorKeys('destination').secp256k1Private),
    originSigningKey: origin.ed25519Public,
  });

describe('signOrigin', () => {
  it('turns libdime message-1 into message-2 byte for byte', async () => {
    const signed = await signOrigin(vectorMessage1(), originOptions());
    expect(signed.equals(vectorMessage2())).toBe(true);
  });

  it('turns message-1 into message-2 byte for byte after checking the author signatures', async () => {
    const signed = await signOrigin(vectorMessage1(), originOptions({ authorSigningKey: author.ed25519Public }));
    expect(signed.equals(vectorMessage2())).toBe(true);
  });

  it('is idempotent: signing message-2 again yields message-2', async () => {
    expect((await signOrigin(vectorMessage2(), originOptions())).equals(vectorMessage2())).toBe(true);
  });

  it('does not modify its input', async () => {
    const input = vectorMessage1();
    const copy = Buffer.from(input);
    await signOrigin(input, originOptions());
    expect(input.equals(copy)).toBe(true);
  });

  it.each([
    [{ metaBounce: false }, [ChunkType.originMetaBounceSig]],
    [{ displayBounce: false }, [ChunkType.originDisplayBounceSig]],
    [{ metaBounce: false, displayBounce: false }, [ChunkType.originMetaBounceSig, ChunkType.originDisplayBounceSig]],
  ] as const)('deletes the declined bounce signature chunks (%j) and still signs the rest validly', async (flags, deleted) => {
    const signed = await signOrigin(vectorMessage1(), originOptions(flags));
    const types = parseMessageFrame(signed).chunks.map((c) => c.type);
    for (const t of deleted) expect(types).not.toContain(t);
    expect(signed.length).toBe(vectorMessage1().length - 324 * deleted.length);
    const opened = await openAsDestination(signed);
    expect(opened.signatures.originFull).toBe('valid');
    expect(opened.signatures.originMetaBounce).toBe(deleted.includes(ChunkType.originMetaBounceSig as never) ? 'absent' : 'valid');
    expect(opened.signatures.originDisplayBounce).toBe(deleted.includes(ChunkType.originDisplayBounceSig as never) ? 'absent' : 'valid');
  });

  it('refuses a message whose content was altered when given the author signing key', async () => {
    const tampered = Buffer.from(vectorMessage1());
    const common = parseMessageFrame(tampered).chunks.find((c) => c.type === ChunkType.commonHeaders)!;
    tampered[common.offset + 40] = (tampered[common.offset + 40] as number) ^ 1; // a chunk the origin cannot read
    await expect(signOrigin(tampered, originOptions({ authorSigningKey: author.ed25519Public }))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('refuses a message signed by another author key', async () => {
    const other = vectorActorKeys('recipient').ed25519Public;
    await expect(signOrigin(vectorMessage1(), originOptions({ authorSigningKey: other }))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('fails with a DimeError when its key does not open the origin keyslots', async () => {
    const wrongKeys = new InMemoryKeyAgreement(vectorActorKeys('destination').secp256k1Private);
    await expect(signOrigin(vectorMessage1(), originOptions({ keys: wrongKeys }))).rejects.toBeInstanceOf(DimeError);
  });

  it('refuses structurally broken input with a DimeError', async () => {
    await expect(signOrigin(vectorMessage1().subarray(0, 1000), originOptions())).rejects.toBeInstanceOf(DimeError);
    await expect(signOrigin(Buffer.from('not a message'), originOptions())).rejects.toBeInstanceOf(DimeError);
  });

  it('throws TypeError for a signer returning something other than 64 bytes', async () => {
    const bad: Signer = { publicKey: origin.ed25519Public, sign: () => Promise.resolve(new Uint8Array(10)) };
    await expect(signOrigin(vectorMessage1(), originOptions({ signer: bad }))).rejects.toBeInstanceOf(TypeError);
    await expect(signOrigin(vectorMessage1(), { ...originOptions(), signer: undefined as unknown as Signer })).rejects.toBeInstanceOf(TypeError);
  });
});
