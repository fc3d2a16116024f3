import { readVector, readVectorText, vectorHex } from '../../../../test/vectors';
import { DimeError } from '../dime.error';
import { signetFieldSpec } from './signet-field.table';
import { armorSignet, parseSignet, readSignet, serializeSignet } from './signet-codec';
import {
  signetAlternateEncryptionKeys,
  signetEncryptionKey,
  signetField,
  signetFieldText,
  signetId,
  signetNamedField,
  signetSigningKey,
  signetSoks,
} from './signet-fields';

const SIGNET_FILES = [
  'org-origin.signet',
  'org-destination.signet',
  'org-origin-crypto-only.signet',
  'org-destination-crypto-only.signet',
  'user-author.signet',
  'user-recipient.signet',
  'user-author.ssr',
  'user-recipient.ssr',
];

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof DimeError) return err.code;
    throw err;
  }
  return 'no error';
}

/** A binary object: magic, 3-byte length, body. */
function object(magic: number, body: number[] | Buffer): Buffer {
  const b = Buffer.from(body);
  const out = Buffer.alloc(5 + b.length);
  out.writeUInt16BE(magic, 0);
  out.writeUIntBE(b.length, 2, 3);
  b.copy(out, 5);
  return out;
}

const KEY1 = [1, 33, 0x40, ...new Array<number>(32).fill(9)];
const SIG = (fid: number) => [fid, ...new Array<number>(64).fill(fid)];

describe('signet binary and armored forms', () => {
  it.each(SIGNET_FILES)('parses %s and serializes it back byte for byte (binary and armor)', (file) => {
    const bin = readVector(`${file}.bin`);
    const fromBin = parseSignet(bin);
    const fromPem = readSignet(readVectorText(file));
    expect(serializeSignet(fromBin).equals(bin)).toBe(true);
    expect(serializeSignet(fromPem).equals(bin)).toBe(true);
    expect(armorSignet(fromPem)).toBe(readVectorText(file));
    expect(readSignet(bin).fields).toEqual(fromPem.fields);
  });

  it('reads the field layout the vectors README describes', () => {
    const fids = (file: string) => readSignet(readVectorText(file)).fields.map((f) => f.fid);
    expect(fids('org-origin.signet')).toEqual([1, 2, 3, 4, 16, 160, 251, 253, 254, 255]);
    expect(fids('org-destination.signet')).toEqual([1, 3, 4, 16, 160, 251, 253, 254, 255]);
    expect(fids('user-author.signet')).toEqual([1, 2, 5, 6, 16, 253, 254, 255]);
    expect(fids('user-author.ssr')).toEqual([1, 2, 5]);
    expect(readSignet(readVectorText('user-author.ssr')).type).toBe('ssr');
  });

  it('writes SSRs under the ORGANIZATIONAL SIGNET tag, as libdime does', () => {
    expect(armorSignet(readSignet(readVector('user-author.ssr.bin')))).toMatch(/^-----BEGIN ORGANIZATIONAL SIGNET-----\n/);
  });

  it('exposes keys, SOKs, text, named field and identifier of the origin org signet', () => {
    const org = readSignet(readVectorText('org-origin.signet'));
    expect(signetSigningKey(org).equals(vectorHex('org-origin.ed25519.public'))).toBe(true);
    expect(signetEncryptionKey(org).equals(vectorHex('org-origin.secp256k1.public_compressed'))).toBe(true);
    expect(signetSoks(org)).toEqual([{ permissions: 0x03, key: vectorHex('org-origin.sok1.ed25519.public') }]);
    expect(signetFieldText(org, 16)).toBe('Origin Example Org');
    expect(signetFieldText(org, 160)).toBe('https://www.example.org/');
    expect(signetField(org, 251)?.name).toBe('X-Comment');
    expect(signetNamedField(org, 'X-Comment')?.toString()).toBe('test vector ok');
    expect(signetNamedField(org, 'X-Other')).toBeUndefined();
    expect(signetId(org)).toBe('origin.example');
    expect(signetId(readSignet(readVectorText('org-origin-crypto-only.signet')))).toBeNull();
  });

  it('exposes the keys and address of a user signet', () => {
    const user = readSignet(readVectorText('user-recipient.signet'));
    expect(signetSigningKey(user).equals(vectorHex('user-recipient.ed25519.public'))).toBe(true);
    expect(signetEncryptionKey(user).equals(vectorHex('user-recipient.secp256k1.public_compressed'))).toBe(true);
    expect(signetAlternateEncryptionKeys(user)).toEqual([]);
    expect(signetSoks(user)).toEqual([]);
    expect(signetId(user)).toBe('bob@destination.example');
  });

  it('does not alias the parsed input', () => {
    const bin = Buffer.from(readVector('user-author.signet.bin'));
    const signet = parseSignet(bin);
    bin.fill(0);
    expect(serializeSignet(signet).equals(readVector('user-author.signet.bin'))).toBe(true);
  });

  it('returns frozen values', () => {
    const signet = parseSignet(readVector('user-author.signet.bin'));
    expect(Object.isFrozen(signet)).toBe(true);
    expect(Object.isFrozen(signet.fields)).toBe(true);
    expect(Object.isFrozen(signet.fields[0])).toBe(true);
  });
});

describe('signet parse errors', () => {
  it('rejects an expected type that does not match (WRONG_TYPE)', () => {
    expect(code(() => parseSignet(readVector('user-author.ssr.bin'), 'user'))).toBe('WRONG_TYPE');
    expect(code(() => readSignet(readVectorText('org-origin.signet'), 'user'))).toBe('WRONG_TYPE');
    expect(parseSignet(readVector('user-author.ssr.bin'), 'ssr').type).toBe('ssr');
  });

  it('rejects other objects (key files, messages) as WRONG_TYPE', () => {
    expect(code(() => readSignet(readVector('message-1-from-author.dmsg')))).toBe('WRONG_TYPE');
    expect(code(() => parseSignet(object(1952, [])))).toBe('WRONG_TYPE');
  });

  it('rejects every truncation of a signet as TRUNCATED', () => {
    const bin = readVector('org-origin.signet.bin');
    for (let n = 0; n < bin.length; n++) expect(code(() => parseSignet(bin.subarray(0, n)))).toBe('TRUNCATED');
  });

  it('rejects a header length shorter than the data (MALFORMED) or fields running past it (TRUNCATED)', () => {
    const bin = readVector('user-author.signet.bin');
    expect(code(() => parseSignet(Buffer.concat([bin, Buffer.from([16])])))).toBe('MALFORMED');
    const cut = Buffer.from(bin.subarray(0, bin.length - 10));
    cut.writeUIntBE(cut.length - 5, 2, 3);
    expect(code(() => parseSignet(cut))).toBe('TRUNCATED');
  });

  it('rejects fields out of ascending order (FIELD_ORDER)', () => {
    expect(code(() => parseSignet(object(1776, [16, 1, 65, ...KEY1])))).toBe('FIELD_ORDER');
  });

  it('rejects a repeated unique field and a non-consecutive repeat (DUPLICATE_FIELD)', () => {
    expect(code(() => parseSignet(object(1776, [...KEY1, ...KEY1])))).toBe('DUPLICATE_FIELD');
    expect(code(() => parseSignet(object(1776, [21, 1, 65, 22, 1, 66, 21, 1, 67])))).toBe('DUPLICATE_FIELD');
    expect(code(() => parseSignet(object(1789, [...SIG(5), ...SIG(5)])))).toBe('DUPLICATE_FIELD');
  });

  it('accepts consecutive repeats of repeatable fields (SOKs, phone numbers, 251)', () => {
    const signet = parseSignet(object(1776, [2, 1, 3, 2, 1, 4, 21, 1, 65, 21, 1, 66, 251, 1, 65, 0, 1, 120, 251, 1, 66, 0, 0]));
    expect(signet.fields.map((f) => f.fid)).toEqual([2, 2, 21, 21, 251, 251]);
    expect(signet.fields.map((f) => f.name)).toEqual([undefined, undefined, undefined, undefined, 'A', 'B']);
  });

  it.each([
    [1776, 0],
    [1776, 5],
    [1776, 15],
    [1789, 7],
    [1789, 15],
    [1215, 6],
    [1215, 16],
    [1215, 253],
  ])('rejects fid %#: type %i field %i, undefined for the type (UNKNOWN_FIELD)', (magic, fid) => {
    expect(code(() => parseSignet(object(magic, [fid, 1, 65])))).toBe('UNKNOWN_FIELD');
  });

  it('reads the size prefix width each fid defines (1, 2, 3 bytes, named, fixed 64)', () => {
    const signet = parseSignet(
      object(1789, [...SIG(5), 93, 2, 65, 66, 160, 0, 1, 67, 202, 0, 1, 68, 202, 0, 0, 251, 2, 78, 78, 0, 1, 69, 252, 0, 0, 2, 1, 2, ...SIG(253)]),
    );
    expect(signet.fields.map((f) => [f.fid, f.data.length])).toEqual([
      [5, 64],
      [93, 2],
      [160, 1],
      [202, 1],
      [202, 0],
      [251, 1],
      [252, 2],
      [253, 64],
    ]);
  });

  it('follows the libdime tables for the fids that matter', () => {
    expect(signetFieldSpec('org', 2)).toMatchObject({ sizeWidth: 1, unique: false, required: false });
    expect(signetFieldSpec('org', 3)).toMatchObject({ sizeWidth: 1, unique: true, required: true });
    expect(signetFieldSpec('org', 4)).toMatchObject({ sizeWidth: 0, fixedSize: 64, required: true });
    expect(signetFieldSpec('org', 159)).toMatchObject({ sizeWidth: 1 });
    expect(signetFieldSpec('org', 161)).toMatchObject({ sizeWidth: 2 });
    expect(signetFieldSpec('org', 252)).toMatchObject({ sizeWidth: 3, label: 'Photo' });
    expect(signetFieldSpec('org', 254)).toMatchObject({ sizeWidth: 1, required: true });
    expect(signetFieldSpec('user', 4)).toMatchObject({ sizeWidth: 0, required: false, label: 'Custody' });
    expect(signetFieldSpec('user', 202)).toMatchObject({ unique: false, label: 'Endorsements' });
    expect(signetFieldSpec('user', 93)).toMatchObject({ label: 'Supported-Codecs' });
    expect(signetFieldSpec('ssr', 5)).toMatchObject({ required: true });
    for (const fid of [0, 5, 6, 15]) expect(signetFieldSpec('org', fid)).toBeUndefined();
    for (const fid of [0, 7, 15]) expect(signetFieldSpec('user', fid)).toBeUndefined();
    for (let fid = 6; fid <= 255; fid++) expect(signetFieldSpec('ssr', fid)).toBeUndefined();
  });

  it('throws TypeError for non-byte input', () => {
    expect(() => parseSignet('BvAA' as unknown as Uint8Array)).toThrow(TypeError);
  });
});
