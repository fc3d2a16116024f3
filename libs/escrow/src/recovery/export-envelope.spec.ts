// The requester envelope of escrow exports: P-256 and X25519 recipients, segment boundaries, and
// failure (BAD_EXPORT_FILE) for another key, a flipped bit, truncation, reordered segments.
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isEscrowError } from '../journal/escrow.error';
import { ExportSealer, exportRecipientOf, openExport, parseExportPublicKey, sealExport } from './export-envelope';

const SEGMENT = 65536;

function pair(kind: 'p256' | 'x25519'): { priv: KeyObject; spki: Buffer } {
  const { privateKey } = kind === 'p256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('x25519');
  return { priv: privateKey, spki: createPublicKey(privateKey).export({ format: 'der', type: 'spki' }) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isEscrowError(err) ? err.code : `other: ${String(err)}`;
  }
  return 'no error';
}

describe('export envelope', () => {
  it.each(['p256', 'x25519'] as const)('round-trips for a %s recipient at every segment boundary', (kind) => {
    const { priv, spki } = pair(kind);
    for (const n of [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 3 * SEGMENT + 17]) {
      const plain = randomBytes(n);
      const sealed = sealExport(plain, spki);
      expect(openExport(sealed, priv).equals(plain)).toBe(true);
      expect(sealed.includes(plain.subarray(0, 32)) && n >= 32).toBe(false);
    }
  });

  it('streams: any split of the input into updates gives an archive that opens to the same bytes', () => {
    const { priv, spki } = pair('p256');
    const plain = randomBytes(5 * SEGMENT + 123);
    for (const sizes of [[1], [SEGMENT], [SEGMENT + 1, 7], [3 * SEGMENT, 1, SEGMENT - 1], [100_000]]) {
      const out: Buffer[] = [];
      const sealer = new ExportSealer(spki, (chunk) => out.push(chunk));
      let off = 0;
      for (let i = 0; off < plain.length; i++) {
        const n = sizes[i % sizes.length] as number;
        sealer.update(plain.subarray(off, off + n));
        off += n;
      }
      sealer.final();
      expect(openExport(Buffer.concat(out), priv).equals(plain)).toBe(true);
    }
  });

  it('names its recipient and opens only with that key', () => {
    const a = pair('p256');
    const b = pair('p256');
    const sealed = sealExport(Buffer.from('secret'), a.spki);
    expect(exportRecipientOf(sealed)).toMatch(/^[0-9a-f]{64}$/);
    expect(code(() => openExport(sealed, b.priv))).toBe('BAD_EXPORT_FILE');
  });

  it('fails authentication on a flipped bit, truncation or reordered segments', () => {
    const { priv, spki } = pair('x25519');
    const sealed = sealExport(randomBytes(3 * SEGMENT + 5), spki);
    const flipped = Buffer.from(sealed);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 100) ^ 0x01, flipped.length - 100);
    expect(code(() => openExport(flipped, priv))).toBe('BAD_EXPORT_FILE');
    // cut at a segment boundary: the former middle segment is not marked last
    const headerEnd = sealed.length - (3 * (SEGMENT + 16) + 5 + 16);
    expect(code(() => openExport(sealed.subarray(0, headerEnd + 2 * (SEGMENT + 16)), priv))).toBe('BAD_EXPORT_FILE');
    expect(code(() => openExport(sealed.subarray(0, sealed.length - 1), priv))).toBe('BAD_EXPORT_FILE');
    const seg = (i: number) => sealed.subarray(headerEnd + i * (SEGMENT + 16), headerEnd + (i + 1) * (SEGMENT + 16));
    const swapped = Buffer.concat([sealed.subarray(0, headerEnd), seg(1), seg(0), sealed.subarray(headerEnd + 2 * (SEGMENT + 16))]);
    expect(code(() => openExport(swapped, priv))).toBe('BAD_EXPORT_FILE');
    // a changed header (here: the recipient field) is refused too
    const header = Buffer.from(sealed);
    const at = header.indexOf('"recipient":"') + 13;
    header[at] = header[at] === 0x30 ? 0x31 : 0x30;
    expect(code(() => openExport(header, priv))).toBe('BAD_EXPORT_FILE');
    expect(code(() => openExport(Buffer.from('DGXENC1\nxx'), priv))).toBe('BAD_EXPORT_FILE');
  });

  it('accepts only P-256 and X25519 public keys', () => {
    expect(parseExportPublicKey(createPublicKey(pair('p256').priv).export({ format: 'pem', type: 'spki' }) as string)).toBeInstanceOf(Buffer);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }) as string;
    expect(code(() => parseExportPublicKey(rsa))).toBe('INVALID_INPUT');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'pem', type: 'spki' }) as string;
    expect(code(() => parseExportPublicKey(p384))).toBe('INVALID_INPUT');
    expect(code(() => parseExportPublicKey('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n'))).toBe('INVALID_INPUT');
  });
});
