import { readVector, readVectorText, vectorHex } from '../../../test/vectors';
import { armor, dearmor } from './armor';
import { DimeError } from './dime.error';
import {
  armorEd25519PrivateKey,
  armorKeyFile,
  generateKeyFile,
  parseEd25519PrivateKeyPem,
  parseKeyFile,
  readKeyFile,
  serializeKeyFile,
  type KeyFileType,
} from './key-file';
import { secp256k1PublicFromPrivate } from './primitives';

const KEY_VECTORS: readonly [name: string, type: KeyFileType][] = [
  ['org-origin', 'org'],
  ['org-destination', 'org'],
  ['user-author', 'user'],
  ['user-recipient', 'user'],
];

// secp256k1 group order n: scalars must be in 1..n-1.
const SECP256K1_N = Buffer.from('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141', 'hex');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof DimeError) return err.code;
    throw err;
  }
  return 'no error';
}

function binaryOf(name: string): Buffer {
  return dearmor(readVectorText(`${name}.keys`)).bytes;
}

describe('key files', () => {
  it.each(KEY_VECTORS)('reads %s.keys to the seed and scalar of vectors.txt', (name, type) => {
    const keys = readKeyFile(readVectorText(`${name}.keys`));
    expect(keys.type).toBe(type);
    expect(keys.signingSeed.toString('hex')).toBe(vectorHex(`${name}.ed25519.seed`).toString('hex'));
    expect(keys.encryptionPrivateKey.toString('hex')).toBe(vectorHex(`${name}.secp256k1.private`).toString('hex'));
  });

  it.each(KEY_VECTORS)('writes %s.keys back to exactly the same armored text and 73-byte binary', (name) => {
    const keys = readKeyFile(readVector(`${name}.keys`));
    expect(armorKeyFile(keys)).toBe(readVectorText(`${name}.keys`));
    const bin = serializeKeyFile(keys);
    expect(bin).toHaveLength(73);
    expect(bin.equals(binaryOf(name))).toBe(true);
    expect(readKeyFile(bin)).toEqual(keys);
  });

  it('uses field 3 for the org encryption key and field 2 for the user one', () => {
    expect(binaryOf('org-origin')[39]).toBe(3);
    expect(binaryOf('user-author')[39]).toBe(2);
  });

  it('reads the L1 dialect (2-byte encryption key length, 74 bytes)', () => {
    const l2 = binaryOf('user-author');
    const l1 = Buffer.concat([l2.subarray(0, 40), Buffer.from([0x00]), l2.subarray(40)]);
    l1.writeUIntBE(69, 2, 3);
    expect(parseKeyFile(l1)).toEqual(parseKeyFile(l2));
  });

  it("reads keys_generate()'s output with the trailing 00 counted in the length", () => {
    const l2 = binaryOf('org-origin');
    const padded = Buffer.concat([l2, Buffer.from([0x00])]);
    padded.writeUIntBE(69, 2, 3);
    expect(parseKeyFile(padded)).toEqual(parseKeyFile(l2));
    const nonzero = Buffer.from(padded);
    nonzero[73] = 1;
    expect(code(() => parseKeyFile(nonzero))).toBe('MALFORMED');
  });

  it('rejects other magic numbers as WRONG_TYPE', () => {
    expect(code(() => parseKeyFile(readVector('org-origin.signet.bin')))).toBe('WRONG_TYPE');
    expect(code(() => readKeyFile(readVectorText('org-origin.signet')))).toBe('WRONG_TYPE');
  });

  it('rejects truncated input and a length that does not match', () => {
    const bin = binaryOf('user-author');
    for (let n = 0; n < bin.length; n++) expect(code(() => parseKeyFile(bin.subarray(0, n)))).toBe('TRUNCATED');
    expect(code(() => parseKeyFile(Buffer.concat([bin, Buffer.from([1, 2])])))).toBe('MALFORMED');
  });

  it('rejects wrong field ids and sizes as MALFORMED', () => {
    const bin = binaryOf('user-author');
    for (const [offset, value] of [[5, 2], [6, 31], [39, 3], [40, 33]] as const) {
      const bad = Buffer.from(bin);
      bad[offset] = value;
      expect(code(() => parseKeyFile(bad))).toBe('MALFORMED');
    }
  });

  it.each([
    ['zero', Buffer.alloc(32)],
    ['the group order', SECP256K1_N],
    ['all ones', Buffer.alloc(32, 0xff)],
  ])('rejects an encryption scalar of %s as BAD_KEY', (_label, scalar) => {
    const bad = Buffer.from(binaryOf('org-origin'));
    scalar.copy(bad, 41);
    expect(code(() => parseKeyFile(bad))).toBe('BAD_KEY');
    const keys = { ...parseKeyFile(binaryOf('org-origin')), encryptionPrivateKey: scalar };
    expect(code(() => serializeKeyFile(keys))).toBe('BAD_KEY');
  });

  it('does not alias the input buffer', () => {
    const bin = Buffer.from(binaryOf('user-author'));
    const keys = parseKeyFile(bin);
    bin.fill(0);
    expect(keys.signingSeed.toString('hex')).toBe(vectorHex('user-author.ed25519.seed').toString('hex'));
  });

  it.each(['org', 'user'] as const)('generates %s keys that survive a round trip', (type) => {
    const keys = generateKeyFile(type);
    expect(keys.type).toBe(type);
    expect(secp256k1PublicFromPrivate(keys.encryptionPrivateKey)).toHaveLength(33);
    expect(readKeyFile(armorKeyFile(keys))).toEqual(keys);
  });

  it('throws TypeError for an unknown key file type', () => {
    expect(() => generateKeyFile('admin' as KeyFileType)).toThrow(TypeError);
    expect(() => serializeKeyFile({ ...generateKeyFile('org'), type: 'x' as KeyFileType })).toThrow(TypeError);
  });
});

describe('ED25519 PRIVATE KEY (genrec input)', () => {
  it('reads org-origin.ed25519.pem to the origin POK seed and writes it back identically', () => {
    const text = readVectorText('org-origin.ed25519.pem');
    const seed = parseEd25519PrivateKeyPem(text);
    expect(seed.equals(vectorHex('org-origin.ed25519.seed'))).toBe(true);
    expect(armorEd25519PrivateKey(seed)).toBe(text);
  });

  it('rejects a body that is not 32 bytes and other tags', () => {
    expect(code(() => parseEd25519PrivateKeyPem(armor('ED25519 PRIVATE KEY', Buffer.alloc(31))))).toBe('BAD_KEY');
    expect(code(() => parseEd25519PrivateKeyPem(armor('ED25519 PRIVATE KEY', Buffer.alloc(64))))).toBe('BAD_KEY');
    expect(code(() => parseEd25519PrivateKeyPem(readVectorText('user-author.keys')))).toBe('WRONG_TYPE');
  });
});
