import { readVector, readVectorText } from '../../../test/vectors';
import { armor, dearmor, decodeObjectInput, isArmored, type ArmorTag } from './armor';
import { crc24 } from './crc24';
import { DimeError } from './dime.error';

const ARMORED_VECTORS: readonly [file: string, tag: ArmorTag][] = [
  ['org-origin.keys', 'ORGANIZATIONAL KEY'],
  ['org-destination.keys', 'ORGANIZATIONAL KEY'],
  ['user-author.keys', 'USER KEY'],
  ['user-recipient.keys', 'USER KEY'],
  ['org-origin.ed25519.pem', 'ED25519 PRIVATE KEY'],
  ['org-origin.signet', 'ORGANIZATIONAL SIGNET'],
  ['org-destination.signet', 'ORGANIZATIONAL SIGNET'],
  ['org-origin-crypto-only.signet', 'ORGANIZATIONAL SIGNET'],
  ['org-destination-crypto-only.signet', 'ORGANIZATIONAL SIGNET'],
  ['user-author.signet', 'USER SIGNET'],
  ['user-recipient.signet', 'USER SIGNET'],
  ['user-author.ssr', 'ORGANIZATIONAL SIGNET'],
  ['user-recipient.ssr', 'ORGANIZATIONAL SIGNET'],
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

describe('crc24', () => {
  it('gives the OpenPGP CRC-24 check value for "123456789"', () => {
    expect(crc24(Buffer.from('123456789'))).toBe(0x21cf02);
  });

  it('is the initial value for empty input', () => {
    expect(crc24(new Uint8Array(0))).toBe(0xb704ce);
  });
});

describe('armor / dearmor', () => {
  it.each(ARMORED_VECTORS)('reads %s and re-armors it to exactly the same text', (file, tag) => {
    const text = readVectorText(file);
    const { tag: readTag, bytes } = dearmor(text);
    expect(readTag).toBe(tag);
    expect(armor(tag, bytes)).toBe(text);
  });

  it.each(['org-origin.signet', 'user-author.signet', 'user-author.ssr'])('decodes %s to the bytes of its .bin twin', (file) => {
    const bin = readVector(`${file}.bin`);
    expect(dearmor(readVectorText(file)).bytes.equals(bin)).toBe(true);
  });

  it('wraps base64 at 64 columns and ends with the CRC line, END line and a newline', () => {
    const bytes = Buffer.alloc(100, 7);
    const lines = armor('USER SIGNET', bytes).split('\n');
    const b64 = bytes.toString('base64'); // 136 characters
    expect(lines).toEqual([
      '-----BEGIN USER SIGNET-----',
      b64.slice(0, 64),
      b64.slice(64, 128),
      b64.slice(128),
      expect.stringMatching(/^=[A-Za-z0-9+/]{4}$/),
      '-----END USER SIGNET-----',
      '',
    ]);
  });

  it('accepts CRLF line endings, no final newline and surrounding whitespace', () => {
    const text = readVectorText('org-origin.keys');
    const bytes = dearmor(text).bytes;
    expect(dearmor(text.replace(/\n/g, '\r\n')).bytes.equals(bytes)).toBe(true);
    expect(dearmor(text.trimEnd()).bytes.equals(bytes)).toBe(true);
    expect(dearmor(`\n\n  ${text.replace(/\n/g, '  \n')}\t\n`).bytes.equals(bytes)).toBe(true);
  });

  it('requires the CRC line (BAD_CHECKSUM), like libdime _read_pem_data', () => {
    const text = readVectorText('user-author.keys').replace(/^=.*\n/m, '');
    expect(code(() => dearmor(text))).toBe('BAD_CHECKSUM');
  });

  it('rejects a CRC that does not match the data', () => {
    const text = readVectorText('user-author.keys').replace('=ty47', '=ty48');
    expect(code(() => dearmor(text))).toBe('BAD_CHECKSUM');
  });

  it('rejects data changed under an intact CRC', () => {
    const text = readVectorText('user-author.keys').replace('B90AAEQB', 'B90AAEQC');
    expect(code(() => dearmor(text))).toBe('BAD_CHECKSUM');
  });

  it('rejects mismatched BEGIN/END tags, unknown tags, missing lines and bad base64 (BAD_ARMOR)', () => {
    const text = readVectorText('user-author.keys');
    expect(code(() => dearmor(text.replace('END USER KEY', 'END ORGANIZATIONAL KEY')))).toBe('BAD_ARMOR');
    expect(code(() => dearmor(text.replace(/USER KEY/g, 'PGP MESSAGE')))).toBe('BAD_ARMOR');
    expect(code(() => dearmor(text.replace(/-----END.*\n/, '')))).toBe('BAD_ARMOR');
    expect(code(() => dearmor(text.replace(/-----BEGIN.*\n/, '')))).toBe('BAD_ARMOR');
    expect(code(() => dearmor(text.replace('B90AAEQB', 'B90A*EQB')))).toBe('BAD_ARMOR');
    expect(code(() => dearmor(`junk\n${text}`))).toBe('BAD_ARMOR');
    expect(code(() => dearmor(''))).toBe('BAD_ARMOR');
  });

  it('reports an armor of another kind than expected as WRONG_TYPE', () => {
    expect(code(() => dearmor(readVectorText('user-author.keys'), ['USER SIGNET']))).toBe('WRONG_TYPE');
  });

  it('reads the PRIME SSR tag', () => {
    const bytes = readVector('user-author.ssr.bin');
    expect(dearmor(armor('SIGNET SIGNING REQUEST', bytes)).tag).toBe('SIGNET SIGNING REQUEST');
  });

  it('throws TypeError for non-string text and an unknown tag on write', () => {
    expect(() => dearmor(Buffer.from('x') as unknown as string)).toThrow(TypeError);
    expect(() => armor('PGP MESSAGE' as ArmorTag, Buffer.alloc(1))).toThrow(TypeError);
  });
});

describe('decodeObjectInput', () => {
  const bin = readVector('org-origin.signet.bin');

  it('returns binary input as is', () => {
    expect(isArmored(bin)).toBe(false);
    expect(decodeObjectInput(bin).equals(bin)).toBe(true);
  });

  it('dearmors PEM given as bytes or as a string', () => {
    const pem = readVector('org-origin.signet');
    expect(isArmored(pem)).toBe(true);
    expect(decodeObjectInput(pem).equals(bin)).toBe(true);
    expect(decodeObjectInput(pem.toString('utf8')).equals(bin)).toBe(true);
    expect(decodeObjectInput(Buffer.concat([Buffer.from(' \r\n'), pem])).equals(bin)).toBe(true);
  });

  it('checks the tag of armored input', () => {
    expect(code(() => decodeObjectInput(readVector('org-origin.signet'), ['USER KEY']))).toBe('WRONG_TYPE');
  });
});
