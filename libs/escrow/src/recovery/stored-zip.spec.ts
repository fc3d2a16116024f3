// The STORE-only zip writer/reader: CRC-32 as zlib computes it, a byte-exact round trip, the
// layout unzip tools rely on, and refusal of unsafe names and corrupted entries.
import { crc32 as zlibCrc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { crc32, readStoredZip, StoredZipWriter, writeStoredZip } from './stored-zip';

describe('stored zip', () => {
  it('computes CRC-32 like zlib', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    for (const n of [0, 1, 7, 1000, 70_000]) {
      const data = randomBytes(n);
      expect(crc32(data)).toBe(zlibCrc32(data));
    }
  });

  it('round-trips entries byte for byte, with a central directory and end record', () => {
    const entries = [
      { name: 'messages/a.eml', data: Buffer.from('Subject: a\r\n\r\nA\r\n') },
      { name: 'messages/b.eml', data: randomBytes(100_000) },
      { name: 'manifest.json', data: Buffer.from('{}') },
      { name: 'empty', data: Buffer.alloc(0) },
    ];
    const zip = Buffer.concat(writeStoredZip(entries));
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    expect(zip.readUInt32LE(zip.length - 22)).toBe(0x06054b50);
    expect(zip.readUInt16LE(zip.length - 22 + 10)).toBe(4);
    const back = readStoredZip(zip);
    expect(back.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    back.forEach((e, i) => expect(Buffer.from(e.data).equals(entries[i]?.data as Buffer)).toBe(true));
    // deterministic: same entries, same bytes
    expect(Buffer.concat(writeStoredZip(entries)).equals(zip)).toBe(true);
  });

  it('refuses unsafe or duplicate names', () => {
    for (const name of ['/etc/passwd', '../x', 'a/../../x', 'a//b', '', 'a\\b']) {
      expect(() => writeStoredZip([{ name, data: Buffer.alloc(1) }])).toThrow(RangeError);
    }
    expect(() => writeStoredZip([{ name: 'a', data: Buffer.alloc(1) }, { name: 'a', data: Buffer.alloc(1) }])).toThrow(/duplicate/);
  });

  it('detects a corrupted entry by its CRC-32 and a truncated archive', () => {
    const zip = Buffer.concat(writeStoredZip([{ name: 'm.eml', data: Buffer.from('hello world') }]));
    const bad = Buffer.from(zip);
    const at = 30 + 'm.eml'.length + 2;
    bad.writeUInt8(bad.readUInt8(at) ^ 1, at);
    expect(() => readStoredZip(bad)).toThrow(/CRC-32/);
    expect(() => readStoredZip(zip.subarray(0, zip.length - 30))).toThrow(RangeError);
    expect(() => readStoredZip(Buffer.from('not a zip at all, definitely not'))).toThrow(/not a zip/);
  });
});

describe('stored zip, ZIP64', () => {
  it('writes the ZIP64 end record for 65535 entries or more, and reads every entry back', () => {
    const entries = Array.from({ length: 70_000 }, (_, i) => ({ name: `m/${i}.eml`, data: Buffer.from(`message ${i}\r\n`) }));
    const zip = Buffer.concat(writeStoredZip(entries));
    // the classic end record says "see ZIP64"; the ZIP64 record and its locator come before it
    expect(zip.readUInt16LE(zip.length - 22 + 10)).toBe(0xffff);
    expect(zip.readUInt32LE(zip.length - 22 + 16)).toBe(0xffffffff);
    expect(zip.readUInt32LE(zip.length - 22 - 20)).toBe(0x07064b50);
    expect(zip.readUInt32LE(zip.length - 22 - 20 - 56)).toBe(0x06064b50);
    const back = readStoredZip(zip);
    expect(back).toHaveLength(70_000);
    expect(back[69_999]!.name).toBe('m/69999.eml');
    expect(Buffer.from(back[12_345]!.data).toString()).toBe('message 12345\r\n');
  });

  it('moves offsets at or past the threshold into ZIP64 extra fields, and reads them back', () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `e${i}`, data: randomBytes(100 + i) }));
    const parts: Buffer[] = [];
    const writer = new StoredZipWriter((c) => parts.push(c), { zip64Threshold: 150 });
    for (const e of entries) writer.add(e.name, e.data);
    writer.finish();
    const zip = Buffer.concat(parts);
    const back = readStoredZip(zip);
    back.forEach((e, i) => expect(Buffer.from(e.data).equals(entries[i]!.data)).toBe(true));
    // the central directory is past the threshold too: ZIP64 end record
    expect(zip.readUInt32LE(zip.length - 22 - 20)).toBe(0x07064b50);
    // an entry whose offset says ZIP64 but carries no ZIP64 extra field is refused
    const cdStart = Number(zip.readBigUInt64LE(zip.length - 22 - 20 - 56 + 48));
    const broken = Buffer.from(zip);
    let p = cdStart;
    for (let i = 0; i < 4; i++) p += 46 + broken.readUInt16LE(p + 28) + broken.readUInt16LE(p + 30);
    expect(broken.readUInt16LE(p + 30)).toBe(12); // the fifth entry has the extra field
    broken.writeUInt16LE(0x9999, p + 46 + broken.readUInt16LE(p + 28)); // its id no longer says ZIP64
    expect(() => readStoredZip(broken)).toThrow(/without a ZIP64 extra field/);
  });
});
