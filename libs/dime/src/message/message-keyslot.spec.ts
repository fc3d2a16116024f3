import fc from 'fast-check';
import { DimeError } from '../dime.error';
import { aes256CbcDecrypt, aes256CbcEncrypt } from '../primitives';
import { InMemoryKeyAgreement } from '../signer';
import { parseMessageFrame } from './message-chunk';
import { decryptKeyslots, deriveActorKek, encryptKeyslots, openChunkKeys, readKeyslotPlaintext, writeKeyslotPlaintext } from './message-keyslot';
import { VECTOR_ACTORS, vectorActorKeys, vectorKek, vectorMessage2 } from '../../../../test/dime-message.fixture';

describe('keyslots (DIGEST §6.2)', () => {
  it.each(VECTOR_ACTORS)('derives the %s KEK of the vector message equal to vectors.txt', async (actor) => {
    const frame = parseMessageFrame(vectorMessage2());
    const kek = await deriveActorKek(frame, new InMemoryKeyAgreement(vectorActorKeys(actor).secp256k1Private));
    const expected = vectorKek(actor);
    expect(kek.iv.toString('hex')).toBe(expected.iv.toString('hex'));
    expect(kek.key.toString('hex')).toBe(expected.key.toString('hex'));
  });

  it('batch-encrypts keyslots exactly as one AES-256-CBC (no padding) per 64-byte slot', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 12 }),
        fc.uint8Array({ minLength: 64 * 12, maxLength: 64 * 12 }),
        (key, iv, n, bytes) => {
          const kek = { key: Buffer.from(key), iv: Buffer.from(iv) };
          const plain = Buffer.from(bytes.subarray(0, n * 64));
          const batch = encryptKeyslots(kek, plain);
          for (let s = 0; s < n; s++) {
            const one = aes256CbcEncrypt(kek.key, kek.iv, plain.subarray(s * 64, s * 64 + 64));
            expect(batch.subarray(s * 64, s * 64 + 64)).toEqual(one);
            expect(aes256CbcDecrypt(kek.key, kek.iv, one)).toEqual(plain.subarray(s * 64, s * 64 + 64));
          }
          expect(decryptKeyslots(kek, batch)).toEqual(plain);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('stores K and IV as R ‖ (IV xor R) ‖ K', () => {
    const chunkKey = { key: Buffer.alloc(32, 0xaa), iv: Buffer.alloc(16, 0x0f) };
    const slot = Buffer.alloc(64);
    writeKeyslotPlaintext(slot, 0, chunkKey, Buffer.alloc(16, 0xf0));
    expect(slot.subarray(0, 16).every((b) => b === 0xf0)).toBe(true);
    expect(slot.subarray(16, 32).every((b) => b === 0xff)).toBe(true);
    expect(readKeyslotPlaintext(slot, 0)).toEqual(chunkKey);
  });

  it('refuses to open a keyslot the actor does not hold', async () => {
    const frame = parseMessageFrame(vectorMessage2());
    const kek = vectorKek('destination');
    const common = frame.chunks.filter((c) => c.type === 33);
    expect(() => openChunkKeys(kek, common, 'destination')).toThrow(DimeError);
  });

  it('refuses an ephemeral chunk that is not a curve point', async () => {
    const msg = Buffer.from(vectorMessage2());
    msg[6 + 4] = 0x05; // compressed-point prefix must be 02 or 03
    const frame = parseMessageFrame(msg);
    await expect(deriveActorKek(frame, new InMemoryKeyAgreement(vectorActorKeys('recipient').secp256k1Private))).rejects.toMatchObject({
      code: 'BAD_KEY',
    });
  });
});
