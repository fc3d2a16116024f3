import { readVector, readVectorText, vectorHex, vectorValue } from '../../../../test/vectors';
import { ed25519Generate } from '../primitives';
import { DimeError } from '../dime.error';
import { parseSignet, readSignet, serializeSignet } from './signet-codec';
import { buildSignet, SIGNET_MAX_SIZE, type Signet } from './signet';
import { splitSignet } from './signet-split';
import { signetStructureState, validateSignet, validateSignetBytes, type SignetAnchor, type SignetState } from './signet-validate';

const orgOrigin = readSignet(readVectorText('org-origin.signet'));
const orgDestination = readSignet(readVectorText('org-destination.signet'));
const originPoks = { poks: [vectorHex('org-origin.ed25519.public')] };
const destinationPoks = { poks: [vectorHex('org-destination.ed25519.public')] };

/** Every vector signet, the anchor it validates against and the state libdime gives it. */
const CASES: readonly [file: string, anchor: SignetAnchor, state: SignetState][] = [
  ['org-origin.signet', originPoks, 'ID'],
  ['org-destination.signet', destinationPoks, 'ID'],
  ['org-origin-crypto-only.signet', originPoks, 'CRYPTO'],
  ['org-destination-crypto-only.signet', destinationPoks, 'CRYPTO'],
  ['user-author.signet', { orgSignet: orgOrigin }, 'ID'],
  ['user-recipient.signet', { orgSignet: orgDestination }, 'ID'],
  ['user-author.ssr', { none: true }, 'SSR'],
  ['user-recipient.ssr', { none: true }, 'SSR'],
];

function body(magic: number, fields: number[]): Buffer {
  const out = Buffer.alloc(5 + fields.length);
  out.writeUInt16BE(magic, 0);
  out.writeUIntBE(fields.length, 2, 3);
  Buffer.from(fields).copy(out, 5);
  return out;
}

describe('validateSignet on the libdime vectors', () => {
  it('agrees with vectors.txt: all four final signets are SS_ID', () => {
    for (const name of ['org-origin', 'org-destination', 'user-author', 'user-recipient']) expect(vectorValue(`validate.${name}`)).toBe('SS_ID');
  });

  it.each(CASES)('%s validates to its state', (file, anchor, state) => {
    expect(validateSignet(readSignet(readVectorText(file)), anchor)).toBe(state);
    expect(validateSignetBytes(readVector(`${file}.bin`), anchor)).toBe(state);
    expect(validateSignetBytes(readVectorText(file), anchor)).toBe(state);
  });

  it.each(['org-origin', 'org-destination'])('%s validates against its own POK with anchor none', (name) => {
    expect(validateSignet(readSignet(readVectorText(`${name}.signet`)), { none: true })).toBe('ID');
  });

  it.each([
    ['org-origin.signet', originPoks],
    ['org-destination.signet', destinationPoks],
    ['user-author.signet', { orgSignet: orgOrigin }],
    ['user-recipient.signet', { orgSignet: orgDestination }],
  ] as const)('the full view of %s validates to FULL, the crypto view to CRYPTO', (file, anchor) => {
    const signet = readSignet(readVectorText(file));
    expect(validateSignet(splitSignet(signet, 'full'), anchor)).toBe('FULL');
    expect(validateSignet(splitSignet(signet, 'crypto'), anchor)).toBe('CRYPTO');
  });

  it('accepts the matching POK among several from the DNS record', () => {
    expect(validateSignet(orgOrigin, { poks: [ed25519Generate().publicKey, vectorHex('org-origin.ed25519.public')] })).toBe('ID');
  });

  it('gives INVALID for a wrong POK, the wrong org signet, or no usable anchor', () => {
    expect(validateSignet(orgOrigin, destinationPoks)).toBe('INVALID');
    expect(validateSignet(orgOrigin, { poks: [] })).toBe('INVALID');
    expect(validateSignet(orgOrigin, { orgSignet: orgOrigin })).toBe('INVALID');
    const author = readSignet(readVectorText('user-author.signet'));
    expect(validateSignet(author, { orgSignet: orgDestination })).toBe('INVALID');
    expect(validateSignet(author, { none: true })).toBe('INVALID');
    expect(validateSignet(author, { orgSignet: author })).toBe('INVALID');
    expect(validateSignet(author, { poks: [vectorHex('org-origin.ed25519.public')] })).toBe('ID');
  });

  it('a signature that verified once does not pass over other fields or with another key (verifications are remembered)', () => {
    const bin = readVector('org-origin.signet.bin');
    expect(validateSignetBytes(bin, originPoks)).toBe('ID');
    expect(validateSignetBytes(bin, originPoks)).toBe('ID');
    // one bit of a signed field below every signature, the signatures untouched
    const altered = Buffer.from(bin);
    altered.writeUInt8(altered.readUInt8(40) ^ 0x01, 40);
    expect(['INVALID', 'MALFORMED']).toContain(validateSignetBytes(altered, originPoks));
    expect(validateSignetBytes(bin, destinationPoks)).toBe('INVALID');
  });

  it('gives INVALID when a later signature is broken even though earlier ones hold', () => {
    const bin = Buffer.from(readVector('org-origin.signet.bin'));
    const last = bin.length - 1;
    bin.writeUInt8(bin.readUInt8(last) ^ 0x40, last);
    expect(validateSignetBytes(bin, originPoks)).toBe('INVALID');
    expect(validateSignet(splitSignet(parseSignet(bin), 'full'), originPoks)).toBe('FULL');
  });
});

describe('tampering', () => {
  it.each(CASES)('no single-byte change of %s validates to its state, and nothing but DimeError is thrown', (file, anchor, state) => {
    const bin = readVector(`${file}.bin`);
    const seen = new Set<SignetState>();
    for (let i = 0; i < bin.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const tampered = Buffer.from(bin);
        tampered.writeUInt8(tampered.readUInt8(i) ^ flip, i);
        const result = validateSignetBytes(tampered, anchor);
        seen.add(result);
        expect([i, flip, result]).not.toEqual([i, flip, state]);
        try {
          validateSignet(parseSignet(tampered), anchor);
        } catch (err) {
          expect(err).toBeInstanceOf(DimeError);
        }
      }
    }
    expect(seen.has('MALFORMED')).toBe(true);
    expect(seen.has('INVALID')).toBe(true);
  });
});

describe('structure states', () => {
  const crypto = readSignet(readVectorText('org-origin-crypto-only.signet'));

  it('is INCOMPLETE when a required field below the highest signature is missing', () => {
    const withoutEncryptionKey = buildSignet('org', crypto.fields.filter((f) => f.fid !== 3));
    expect(signetStructureState(withoutEncryptionKey)).toBe('INCOMPLETE');
    expect(validateSignet(withoutEncryptionKey, originPoks)).toBe('INCOMPLETE');
    // 255 present but no 254/253.
    const idOnly = buildSignet('org', [...crypto.fields, ...orgOrigin.fields.filter((f) => f.fid === 255)]);
    expect(signetStructureState(idOnly)).toBe('INCOMPLETE');
  });

  it('is INCOMPLETE without any signature', () => {
    expect(signetStructureState(buildSignet('org', crypto.fields.slice(0, 3)))).toBe('INCOMPLETE');
    expect(validateSignetBytes(body(1776, []), { none: true })).toBe('INCOMPLETE');
    expect(validateSignetBytes(body(1215, []), { none: true })).toBe('INCOMPLETE');
  });

  it('is MALFORMED when a key field is not in its libdime encoding', () => {
    const badKey = buildSignet('org', [{ fid: 1, data: Buffer.alloc(33, 0x41) }, ...crypto.fields.slice(1)]);
    expect(signetStructureState(badKey)).toBe('MALFORMED');
    const badEncryption = buildSignet('org', crypto.fields.map((f) => (f.fid === 3 ? { fid: 3, data: Buffer.alloc(32, 2) } : f)));
    expect(validateSignet(badEncryption, originPoks)).toBe('MALFORMED');
  });

  it('is MALFORMED for a hand-built signet that breaks the field rules', () => {
    const unordered: Signet = { type: 'org', fields: [crypto.fields[2]!, crypto.fields[0]!] };
    expect(signetStructureState(unordered)).toBe('MALFORMED');
    expect(() => serializeSignet(unordered)).toThrow(expect.objectContaining({ code: 'FIELD_ORDER' }));
  });

  it('validateSignetBytes gives MALFORMED for unparseable input and OVERFLOW above SIGNET_MAX_SIZE', () => {
    expect(validateSignetBytes(Buffer.from([6, 0xf0, 0]), originPoks)).toBe('MALFORMED');
    expect(validateSignetBytes(body(1776, [5, 1, 1]), originPoks)).toBe('MALFORMED');
    expect(validateSignetBytes('not a signet', originPoks)).toBe('MALFORMED');
    expect(validateSignetBytes(readVectorText('user-author.keys'), originPoks)).toBe('MALFORMED');
    expect(validateSignetBytes(Buffer.alloc(SIGNET_MAX_SIZE + 1), originPoks)).toBe('OVERFLOW');
  });

  it('throws TypeError for a malformed anchor', () => {
    expect(() => validateSignet(orgOrigin, {} as SignetAnchor)).toThrow(TypeError);
    expect(() => validateSignet(orgOrigin, { poks: ['x'] } as unknown as SignetAnchor)).toThrow(TypeError);
  });
});
