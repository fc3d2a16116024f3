import fc from 'fast-check';
import { DimeError } from '../dime.error';
import { InMemoryKeyAgreement } from '../signer';
import { parseMessageFrame } from './message-chunk';
import { decryptPayload, deriveActorKek, openChunkKeys } from './message-keyslot';
import { buildStandardPayload, decodeStandardPayload, paddingLength } from './message-payload';
import { vectorActorKeys, vectorMessage2, vectorPlain } from '../../../../test/dime-message.fixture';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof DimeError) return err.code;
    throw err;
  }
  return undefined;
}

describe('standard payload padding (DIGEST §6.3)', () => {
  it('pads short data up to 256 bytes plus 16 × (r mod (d/16 + 1))', () => {
    // d = 10 + 69 = 79 < 256: 177 + 16 * (r mod 5)
    expect(paddingLength(10, 0)).toBe(177);
    expect(paddingLength(10, 4)).toBe(177 + 64);
    expect(paddingLength(10, 5)).toBe(177);
    expect(paddingLength(10, 255)).toBe(177);
  });

  it('pads longer data to the next block plus 16 × (r mod 16)', () => {
    // d = 200 + 69 = 269: 16 - 13 = 3, plus 16 * (r mod 16)
    expect(paddingLength(200, 0)).toBe(3);
    expect(paddingLength(200, 17)).toBe(19);
    // d a multiple of 16 still gets a full block of padding: 16 - 0 + 16 * 15 = 256
    expect(paddingLength(187, 15)).toBe(256);
  });

  it('writes a 256-byte pad with pad byte 0x00 (pad length mod 256) and decodes it', () => {
    const data = Buffer.alloc(187, 0x61);
    const plain = buildStandardPayload(data, 256);
    expect(plain.length).toBe(69 + 187 + 256);
    expect(plain[68]).toBe(0);
    expect(plain.subarray(69 + 187).every((b) => b === 0)).toBe(true);
    expect(decodeStandardPayload(plain, 't').data).toEqual(data);
  });

  it('lays out sig ‖ data_len(3) ‖ flags ‖ pad byte ‖ data ‖ padding', () => {
    const plain = buildStandardPayload(Buffer.from('hello'), 182);
    expect(plain.length).toBe(256);
    expect(plain.subarray(0, 64).every((b) => b === 0)).toBe(true);
    expect(plain.readUIntBE(64, 3)).toBe(5);
    expect(plain[67]).toBe(0);
    expect(plain[68]).toBe(182);
    expect(plain.subarray(69, 74).toString()).toBe('hello');
    expect(plain.subarray(74).every((b) => b === 182)).toBe(true);
  });

  it('always yields whole AES blocks of at least 256 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 255 }), (n, r) => {
        const total = 69 + n + paddingLength(n, r);
        expect(total % 16).toBe(0);
        expect(total).toBeGreaterThanOrEqual(256);
        expect(paddingLength(n, r)).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a wrong pad byte, a wrong padding byte, nonzero flags and an oversized data length', () => {
    const good = buildStandardPayload(Buffer.from('hello'), 182);
    const padByte = Buffer.from(good);
    padByte[68] = 181;
    expect(codeOf(() => decodeStandardPayload(padByte, 't'))).toBe('BAD_PADDING');
    const padding = Buffer.from(good);
    padding[255] = 0;
    expect(codeOf(() => decodeStandardPayload(padding, 't'))).toBe('BAD_PADDING');
    const flags = Buffer.from(good);
    flags[67] = 1;
    expect(codeOf(() => decodeStandardPayload(flags, 't'))).toBe('UNSUPPORTED');
    const length = Buffer.from(good);
    length.writeUIntBE(188, 64, 3);
    expect(codeOf(() => decodeStandardPayload(length, 't'))).toBe('DECRYPT_FAILED');
  });

  it('decodes the libdime vector chunks: data equals the plaintext files, pad bytes as libdime wrote them', async () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const recipient = vectorActorKeys('recipient');
    const kek = await deriveActorKek(frame, new InMemoryKeyAgreement(recipient.secp256k1Private));
    const content = frame.chunks.filter((c) => [33, 34, 67, 131].includes(c.type));
    const keys = openChunkKeys(kek, content, 'recipient');
    const data = content.map((c, i) => {
      const plain = decryptPayload(keys[i]!, c.payload);
      expect(plain[68]).toBe((plain.length - 69 - plain.readUIntBE(64, 3)) & 0xff);
      return decodeStandardPayload(plain, `chunk ${c.type}`).data;
    });
    const p = vectorPlain();
    expect(data).toEqual([p.commonHeaders, p.otherHeaders, p.display, p.attachment]);
  });
});
