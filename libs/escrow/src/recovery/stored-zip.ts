// A minimal ZIP writer and reader for the STORE method (no compression) with CRC-32, written here
// rather than pulled from npm: escrow exports need only entries that any unzip tool opens
// (APPNOTE.TXT 4.3: local headers, central directory, end record). Names are UTF-8 (general
// purpose bit 11). ZIP64 (APPNOTE 4.3.14-4.3.15, 4.5.3) where the classic fields overflow: an
// entry that starts beyond 4 GiB gets a ZIP64 extra field with its offset in the central
// directory, and an archive with 65535 entries or more, or whose central directory starts or ends
// beyond 4 GiB, gets the ZIP64 end record and locator. Each entry stays below 4 GiB (a Buffer).
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readAt } from './fd-io';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as ZIP and zlib use it). */
export function crc32(data: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

const MAX_U32 = 0xffffffff;
const UTF8_FLAG = 0x0800;
// 1980-01-01 00:00 in DOS format: fixed, so the same entries always give the same archive bytes
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

function checkName(name: string): Buffer {
  if (typeof name !== 'string' || name.length === 0 || name.startsWith('/') || name.split('/').some((p) => p === '' || p === '.' || p === '..') || /[\\\0]/.test(name)) {
    throw new RangeError(`"name" is not a safe relative zip entry name: ${JSON.stringify(name)}`);
  }
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > 0xffff) throw new RangeError('"name" is too long');
  return bytes;
}

/**
 * Streaming writer: each add() writes that entry's local header and data to `write` at once (only
 * the small central directory is kept), finish() writes the central directory and end record.
 */
export interface StoredZipWriterOptions {
  /**
   * Offsets and sizes from this value on are written as ZIP64 (default 0xffffffff, as APPNOTE
   * requires). Tests lower it to produce ZIP64 records without writing 4 GiB.
   */
  readonly zip64Threshold?: number;
}

export class StoredZipWriter {
  private readonly central: Buffer[] = [];
  private readonly seen = new Set<string>();
  private offset = 0;
  private count = 0;
  private finished = false;
  private readonly zip64At: number;

  constructor(
    private readonly write: (chunk: Buffer) => void,
    options: StoredZipWriterOptions = {},
  ) {
    this.zip64At = Math.min(MAX_U32, options.zip64Threshold ?? MAX_U32);
  }

  add(entryName: string, content: Uint8Array): void {
    if (this.finished) throw new Error('StoredZipWriter: add after finish');
    const name = checkName(entryName);
    if (this.seen.has(entryName)) throw new RangeError(`duplicate zip entry name ${JSON.stringify(entryName)}`);
    const data = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    if (data.length >= MAX_U32) throw new RangeError('a zip entry stays below 4 GiB');
    if (this.offset + 30 + name.length + data.length > Number.MAX_SAFE_INTEGER) throw new RangeError('zip archive too large');
    this.seen.add(entryName);
    this.count++;
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(UTF8_FLAG, 6);
    local.writeUInt16LE(0, 8); // STORE
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    this.write(Buffer.concat([local, name]));
    if (data.length > 0) this.write(data);

    // an entry starting beyond 4 GiB: its offset goes in a ZIP64 extra field
    const zip64 = this.offset >= this.zip64At;
    const extra = zip64 ? Buffer.alloc(12) : Buffer.alloc(0);
    if (zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(8, 2);
      extra.writeBigUInt64LE(BigInt(this.offset), 4);
    }
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE((3 << 8) | (zip64 ? 45 : 20), 4); // made by: Unix, 2.0 (4.5 with ZIP64)
    cd.writeUInt16LE(zip64 ? 45 : 20, 6);
    cd.writeUInt16LE(UTF8_FLAG, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt16LE(DOS_TIME, 12);
    cd.writeUInt16LE(DOS_DATE, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(extra.length, 30);
    cd.writeUInt16LE(0, 32); // comment
    cd.writeUInt16LE(0, 34); // disk
    cd.writeUInt16LE(0, 36); // internal attributes
    cd.writeUInt32LE((0o100600 << 16) >>> 0, 38); // external: regular file, rw-------
    cd.writeUInt32LE(zip64 ? MAX_U32 : this.offset, 42);
    this.central.push(cd, name, extra);
    this.offset += local.length + name.length + data.length;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const cdStart = this.offset;
    const cdSize = this.central.reduce((n, b) => n + b.length, 0);
    const zip64 = this.count >= 0xffff || cdStart >= this.zip64At || cdSize >= this.zip64At;
    const tail: Buffer[] = [];
    if (zip64) {
      // ZIP64 end of central directory record, then its locator (APPNOTE 4.3.14, 4.3.15)
      const record = Buffer.alloc(56);
      record.writeUInt32LE(0x06064b50, 0);
      record.writeBigUInt64LE(44n, 4); // size of the rest of the record
      record.writeUInt16LE((3 << 8) | 45, 12);
      record.writeUInt16LE(45, 14);
      record.writeUInt32LE(0, 16);
      record.writeUInt32LE(0, 20);
      record.writeBigUInt64LE(BigInt(this.count), 24);
      record.writeBigUInt64LE(BigInt(this.count), 32);
      record.writeBigUInt64LE(BigInt(cdSize), 40);
      record.writeBigUInt64LE(BigInt(cdStart), 48);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeUInt32LE(0, 4);
      locator.writeBigUInt64LE(BigInt(cdStart + cdSize), 8);
      locator.writeUInt32LE(1, 16);
      tail.push(record, locator);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(0, 4);
    end.writeUInt16LE(0, 6);
    end.writeUInt16LE(zip64 ? 0xffff : this.count, 8);
    end.writeUInt16LE(zip64 ? 0xffff : this.count, 10);
    end.writeUInt32LE(zip64 ? MAX_U32 : cdSize, 12);
    end.writeUInt32LE(zip64 ? MAX_U32 : cdStart, 16);
    end.writeUInt16LE(0, 20);
    this.write(Buffer.concat([...this.central, ...tail, end]));
  }
}

/** The archive as a list of buffers (concatenate or write them in order). */
export function writeStoredZip(entries: readonly ZipEntry[]): Buffer[] {
  const out: Buffer[] = [];
  const writer = new StoredZipWriter((chunk) => out.push(chunk));
  for (const e of entries) writer.add(e.name, e.data);
  writer.finish();
  return out;
}

/** Where an entry's data lies in a STORE-only zip, as its central directory and local header say. */
export interface StoredZipIndexEntry {
  readonly name: string;
  /** Offset of the entry's data in the archive. */
  readonly offset: number;
  readonly size: number;
  readonly crc: number;
}

/** Random access to an archive's bytes: a buffer in memory, or a file read piece by piece. */
interface ByteSource {
  readonly size: number;
  read(position: number, length: number): Buffer;
}

/** A little-endian u64 field as a safe integer. */
function u64(b: Buffer, at: number, what: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`zip ${what} too large`);
  return Number(v);
}

/** The local header offset from an entry's ZIP64 extra field (its values come in APPNOTE 4.5.3's order). */
function zip64Offset(extra: Buffer, hasUncompressed: boolean, hasCompressed: boolean, name: string): number {
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      const at = p + 4 + (hasUncompressed ? 8 : 0) + (hasCompressed ? 8 : 0);
      if (at + 8 > p + 4 + len || at + 8 > extra.length) break;
      return u64(extra, at, `entry ${JSON.stringify(name)} offset`);
    }
    p += 4 + len;
  }
  throw new RangeError(`zip entry ${JSON.stringify(name)}: offset marked ZIP64 without a ZIP64 extra field`);
}

/**
 * The entries of a STORE-only zip (as written above) through its central directory, checking every
 * entry's local header and bounds; not the data nor its CRC. Throws RangeError on anything else.
 */
function indexStoredZip(src: ByteSource): StoredZipIndexEntry[] {
  if (src.size < 22) throw new RangeError('not a zip archive: too short');
  // the end record has no comment in archives this writer makes; accept a comment anyway
  const tailStart = Math.max(0, src.size - 22 - 0xffff);
  const tail = src.read(tailStart, src.size - tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = tailStart + i;
      break;
    }
  }
  if (eocd < 0) throw new RangeError('not a zip archive: no end of central directory');
  const end = src.read(eocd, 22);
  let count = end.readUInt16LE(10);
  let cdSize = end.readUInt32LE(12);
  let cdStart = end.readUInt32LE(16);
  let cdLimit = eocd;
  // ZIP64: a locator right before the end record points to the ZIP64 end record
  const locator = eocd >= 20 ? src.read(eocd - 20, 20) : undefined;
  if (locator?.readUInt32LE(0) === 0x07064b50) {
    const at = u64(locator, 8, 'ZIP64 end record offset');
    if (at + 56 > eocd - 20) throw new RangeError('zip ZIP64 end record out of bounds');
    const record = src.read(at, 56);
    if (record.readUInt32LE(0) !== 0x06064b50) throw new RangeError('zip ZIP64 end record is malformed');
    count = u64(record, 32, 'entry count');
    cdSize = u64(record, 40, 'central directory size');
    cdStart = u64(record, 48, 'central directory offset');
    cdLimit = at;
  }
  if (cdStart + cdSize > cdLimit) throw new RangeError('zip central directory out of bounds');
  const b = src.read(cdStart, cdSize);
  let p = 0;
  const entries: StoredZipIndexEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > b.length || b.readUInt32LE(p) !== 0x02014b50) throw new RangeError(`zip central directory entry ${i} is malformed`);
    const method = b.readUInt16LE(p + 10);
    const crc = b.readUInt32LE(p + 16);
    const size = b.readUInt32LE(p + 20);
    const usize = b.readUInt32LE(p + 24);
    const nameLen = b.readUInt16LE(p + 28);
    const extraLen = b.readUInt16LE(p + 30);
    const commentLen = b.readUInt16LE(p + 32);
    let localOffset = b.readUInt32LE(p + 42);
    if (p + 46 + nameLen + extraLen > b.length) throw new RangeError(`zip central directory entry ${i} is malformed`);
    const name = b.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    if (localOffset === MAX_U32) localOffset = zip64Offset(b.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), size === MAX_U32, usize === MAX_U32, name);
    p += 46 + nameLen + extraLen + commentLen;
    if (method !== 0 || size !== usize) throw new RangeError(`zip entry ${JSON.stringify(name)} is compressed (only STORE is read)`);
    checkName(name);
    if (localOffset + 30 > src.size) throw new RangeError(`zip entry ${JSON.stringify(name)}: bad local header`);
    const local = src.read(localOffset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new RangeError(`zip entry ${JSON.stringify(name)}: bad local header`);
    const offset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (offset + size > src.size) throw new RangeError(`zip entry ${JSON.stringify(name)} out of bounds`);
    entries.push({ name, offset, size, crc });
  }
  return entries;
}

/**
 * Reads a STORE-only zip (as written above) through its central directory, checking every
 * entry's local header, sizes and CRC-32. Throws RangeError on anything else.
 */
export function readStoredZip(zip: Uint8Array): ZipEntry[] {
  const b = Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
  return indexStoredZip({ size: b.length, read: (position, length) => b.subarray(position, position + length) }).map((e) => {
    const data = b.subarray(e.offset, e.offset + e.size);
    if (crc32(data) !== e.crc) throw new RangeError(`zip entry ${JSON.stringify(e.name)}: CRC-32 mismatch`);
    return { name: e.name, data };
  });
}

const FILE_CHUNK = 1 << 20;

/**
 * A STORE-only zip read from a file piece by piece (an escrow export may be far larger than
 * memory): the index at open, then each entry's data in chunks of at most 1 MiB.
 */
export class StoredZipFile {
  readonly entries: readonly StoredZipIndexEntry[];

  private constructor(private readonly fd: number) {
    const size = fstatSync(fd).size;
    this.entries = indexStoredZip({ size, read: (position, length) => this.readAt(position, length) });
  }

  /** Opens and indexes the archive at `path` (RangeError if it is not one this reader takes). */
  static open(path: string): StoredZipFile {
    const fd = openSync(path, 'r');
    try {
      return new StoredZipFile(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private readAt(position: number, length: number): Buffer {
    const out = readAt(this.fd, position, length);
    if (out.length < length) throw new RangeError('zip archive ended early');
    return out;
  }

  /** The entry's data in order, chunk by chunk; RangeError at the end if its CRC-32 does not match. */
  *chunks(entry: StoredZipIndexEntry): Generator<Buffer> {
    let crc = 0;
    for (let off = 0; off < entry.size; off += FILE_CHUNK) {
      const chunk = this.readAt(entry.offset + off, Math.min(FILE_CHUNK, entry.size - off));
      crc = crc32(chunk, crc);
      yield chunk;
    }
    if (crc !== entry.crc) throw new RangeError(`zip entry ${JSON.stringify(entry.name)}: CRC-32 mismatch`);
  }

  close(): void {
    closeSync(this.fd);
  }
}
