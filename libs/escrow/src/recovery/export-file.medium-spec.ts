// Escrow exports opened from files (the offline `escrow decrypt` path): decrypted segment by
// segment to a file and read back entry by entry, byte-identical to the in-memory path; a
// tampered, truncated or foreign export leaves no output behind; a corrupted entry is found by
// its CRC-32 while streaming.
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEscrowError } from '../journal/escrow.error';
import { ExportSealer, openExport, openExportFile } from './export-envelope';
import { StoredZipFile, StoredZipWriter, readStoredZip } from './stored-zip';

const SEGMENT = 65536;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'escrow-export-file-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recipient() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { priv: privateKey, spki: createPublicKey(privateKey).export({ format: 'der', type: 'spki' }) };
}

/** A zip of the entries, sealed to spki as the export job writes it (streaming), to a file. */
function sealedZipFile(name: string, entries: { name: string; data: Buffer }[], spki: Buffer): { path: string; zip: Buffer } {
  const sealed: Buffer[] = [];
  const zipParts: Buffer[] = [];
  const sealer = new ExportSealer(spki, (c) => sealed.push(c));
  const writer = new StoredZipWriter((c) => {
    zipParts.push(c);
    sealer.update(c);
  });
  for (const e of entries) writer.add(e.name, e.data);
  writer.finish();
  sealer.final();
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(sealed));
  return { path, zip: Buffer.concat(zipParts) };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isEscrowError(err) ? err.code : err instanceof RangeError ? `RangeError: ${err.message}` : `other: ${String(err)}`;
  }
  return 'no error';
}

describe('escrow export files', () => {
  it('decrypts to a file byte for byte as the in-memory path does, and reads its entries in chunks', () => {
    const { priv, spki } = recipient();
    const entries = [
      { name: 'manifest.json', data: Buffer.from('{"records":[]}') },
      { name: 'messages/big.eml', data: randomBytes(3 * 1024 * 1024 + 5) }, // several read chunks and segments
      { name: 'messages/empty.eml', data: Buffer.alloc(0) },
      { name: 'messages/exact.eml', data: randomBytes(SEGMENT) },
    ];
    const { path, zip } = sealedZipFile('ok.dgx', entries, spki);
    const out = join(dir, 'ok.zip');
    expect(openExportFile(path, priv, out)).toBe(zip.length);
    const plain = readFileSync(out);
    expect(plain.equals(zip)).toBe(true);
    expect(plain.equals(openExport(readFileSync(path), priv))).toBe(true);

    const file = StoredZipFile.open(out);
    try {
      expect(file.entries.map((e) => [e.name, e.size])).toEqual(entries.map((e) => [e.name, e.data.length]));
      for (const [i, e] of file.entries.entries()) {
        const chunks = [...file.chunks(e)];
        expect(chunks.every((c) => c.length <= 1024 * 1024)).toBe(true);
        expect(Buffer.concat(chunks).equals(entries[i]!.data)).toBe(true);
      }
    } finally {
      file.close();
    }
    // the same index as the in-memory reader
    expect(readStoredZip(plain).map((e) => e.name)).toEqual(file.entries.map((e) => e.name));
    // an existing output is never overwritten
    expect(() => openExportFile(path, priv, out)).toThrow(/EEXIST/);
  });

  it('leaves no output when a segment is tampered with, the file is cut short or the key is another', () => {
    const { priv, spki } = recipient();
    const { path } = sealedZipFile('t.dgx', [{ name: 'a.eml', data: randomBytes(4 * SEGMENT) }], spki);
    const sealed = readFileSync(path);

    const tampered = Buffer.from(sealed);
    const at = tampered.length - 3 * SEGMENT;
    tampered[at] = tampered[at]! ^ 1; // inside a middle segment: earlier ones already decrypted
    writeFileSync(join(dir, 'tampered.dgx'), tampered);
    expect(codeOf(() => openExportFile(join(dir, 'tampered.dgx'), priv, join(dir, 'tampered.zip')))).toBe('BAD_EXPORT_FILE');
    expect(existsSync(join(dir, 'tampered.zip'))).toBe(false);

    writeFileSync(join(dir, 'cut.dgx'), sealed.subarray(0, sealed.length - SEGMENT));
    expect(codeOf(() => openExportFile(join(dir, 'cut.dgx'), priv, join(dir, 'cut.zip')))).toBe('BAD_EXPORT_FILE');
    expect(existsSync(join(dir, 'cut.zip'))).toBe(false);

    expect(codeOf(() => openExportFile(path, recipient().priv, join(dir, 'other.zip')))).toBe('BAD_EXPORT_FILE');
    expect(existsSync(join(dir, 'other.zip'))).toBe(false);

    writeFileSync(join(dir, 'junk.dgx'), 'not an export');
    expect(codeOf(() => openExportFile(join(dir, 'junk.dgx'), priv, join(dir, 'junk.zip')))).toBe('BAD_EXPORT_FILE');
    expect(codeOf(() => openExportFile(join(dir, 'missing.dgx'), priv, join(dir, 'missing.zip')))).toBe('INVALID_INPUT');
  });

  it('finds a corrupted entry by its CRC-32 while streaming it, and refuses what is not a zip', () => {
    const data = randomBytes(2 * 1024 * 1024);
    const zip = Buffer.concat([...(() => {
      const parts: Buffer[] = [];
      const w = new StoredZipWriter((c) => parts.push(c));
      w.add('x.eml', data);
      w.finish();
      return parts;
    })()]);
    const at = 30 + 'x.eml'.length + 1_500_000;
    zip[at] = zip[at]! ^ 0x80;
    writeFileSync(join(dir, 'bad.zip'), zip);
    const file = StoredZipFile.open(join(dir, 'bad.zip'));
    try {
      expect(() => [...file.chunks(file.entries[0]!)]).toThrow(/CRC-32 mismatch/);
    } finally {
      file.close();
    }
    writeFileSync(join(dir, 'nozip.zip'), randomBytes(1000));
    expect(() => StoredZipFile.open(join(dir, 'nozip.zip'))).toThrow(/not a zip/);
  });

  it('writes ZIP64 archives that an independent reader (Python zipfile) opens and checks', () => {
    const big = Array.from({ length: 66_000 }, (_, i) => ({ name: `m/${i}.eml`, data: Buffer.from(`message ${i}\r\n`) }));
    const small = Array.from({ length: 4 }, (_, i) => ({ name: `e${i}.eml`, data: randomBytes(1000 + i) }));
    for (const [file, entries, options] of [
      ['many.zip', big, {}],
      ['offsets.zip', small, { zip64Threshold: 1500 }],
    ] as const) {
      const parts: Buffer[] = [];
      const writer = new StoredZipWriter((c) => parts.push(c), options);
      for (const e of entries) writer.add(e.name, e.data);
      writer.finish();
      const path = join(dir, file);
      writeFileSync(path, Buffer.concat(parts));
      // testzip() reads every entry through the central directory and checks its CRC-32
      const py = spawnSync('python3', ['-c', 'import hashlib,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nn=z.namelist()\nprint(len(n), hashlib.sha256(z.read(n[-1])).hexdigest())', path], { encoding: 'utf8' });
      expect(py.stderr).toBe('');
      const last = entries[entries.length - 1]!;
      expect(py.stdout.trim()).toBe(`${entries.length} ${createHash('sha256').update(last.data).digest('hex')}`);
      const read = StoredZipFile.open(path);
      try {
        expect(read.entries).toHaveLength(entries.length);
        expect(Buffer.concat([...read.chunks(read.entries[read.entries.length - 1]!)]).equals(last.data)).toBe(true);
      } finally {
        read.close();
      }
    }
  });
});
