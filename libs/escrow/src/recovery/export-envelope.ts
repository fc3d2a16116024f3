// The encryption of an escrow export for its requester (only the requester's private key opens
// it; the gateway keeps no way back in). ECDH-ES with a fresh ephemeral key on the requester's
// curve (P-256 or X25519), HKDF-SHA-256, then AES-256-GCM in 64 KiB segments (the STREAM
// construction: nonce = prefix || segment counter || last flag, so truncation, reordering and
// splicing fail authentication):
//   file   = "DGXENC1\n" || u32be(headerLength) || header (canonical JSON) || segments
//   header = {alg, curve, epk (base64 SPKI), recipient (sha256 of the recipient SPKI), salt, noncePrefix, segmentSize}
//   key    = HKDF-SHA-256(ECDH(epk, recipient), salt, "dime-gateway escrow export v1" || 0x00 || header bytes, 32)
//   each segment: AES-256-GCM(key, noncePrefix(7) || u32be(i) || last(1), AAD = header bytes) -> ciphertext || tag(16)
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, rmSync } from 'node:fs';
import { EscrowError } from '../journal/escrow.error';
import { readAt, writeFully } from './fd-io';

export const EXPORT_MAGIC = Buffer.from('DGXENC1\n', 'ascii');
const ALG = 'ECDH-ES+HKDF-SHA256+A256GCM-STREAM';
const INFO = 'dime-gateway escrow export v1';
const SEGMENT = 65536;
const TAG = 16;
const MAX_HEADER = 4096;
const MAX_U32_SEGMENTS = 0xffffffff;

export type ExportCurve = 'P-256' | 'X25519';

interface EnvelopeHeader {
  readonly alg: typeof ALG;
  readonly curve: ExportCurve;
  readonly epk: string;
  readonly recipient: string;
  readonly salt: string;
  readonly noncePrefix: string;
  readonly segmentSize: number;
}

/** The curve of a recipient key (P-256 or X25519), or INVALID_INPUT. */
export function exportCurveOf(key: KeyObject): ExportCurve {
  if (key.asymmetricKeyType === 'x25519') return 'X25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'P-256';
  throw new EscrowError('INVALID_INPUT', 'an export key must be a P-256 or X25519 public key');
}

/** Parses a recipient public key (PEM or DER SPKI) into its DER SPKI, checking the curve. */
export function parseExportPublicKey(key: string | Uint8Array): Buffer {
  let obj: KeyObject;
  try {
    obj = typeof key === 'string' ? createPublicKey(key) : createPublicKey({ key: Buffer.from(key), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new EscrowError('INVALID_INPUT', 'not a public key in PEM (SPKI) form', { cause });
  }
  if (obj.type !== 'public') throw new EscrowError('INVALID_INPUT', 'expected a public key, got a private one');
  exportCurveOf(obj);
  return obj.export({ format: 'der', type: 'spki' });
}

const fingerprint = (spki: Buffer): string => createHash('sha256').update(spki).digest('hex');

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 7);
  n.writeUInt32BE(index, 7);
  n[11] = last ? 1 : 0;
  return n;
}

function deriveKey(shared: Buffer, salt: Buffer, headerBytes: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, salt, Buffer.concat([Buffer.from(INFO, 'ascii'), Buffer.from([0]), headerBytes]), 32));
}

/**
 * Streaming encryption for the holder of the private key matching recipientSpki (DER): the header
 * goes to `write` at once, then each full segment as data arrives; final() writes the last
 * (short, possibly empty) segment. Memory stays at one segment whatever the archive's size.
 */
export class ExportSealer {
  private readonly key: Buffer;
  private readonly prefix: Buffer;
  private readonly headerBytes: Buffer;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = 0;
  private done = false;

  constructor(
    recipientSpki: Uint8Array,
    private readonly write: (chunk: Buffer) => void,
  ) {
    const spki = parseExportPublicKey(recipientSpki);
    const recipient = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const curve = exportCurveOf(recipient);
    const eph = curve === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
    const salt = randomBytes(32);
    this.prefix = randomBytes(7);
    const header: EnvelopeHeader = {
      alg: ALG,
      curve,
      epk: eph.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
      recipient: fingerprint(spki),
      salt: salt.toString('base64'),
      noncePrefix: this.prefix.toString('base64'),
      segmentSize: SEGMENT,
    };
    this.headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
    this.key = deriveKey(shared, salt, this.headerBytes);
    shared.fill(0);
    const lengthField = Buffer.alloc(4);
    lengthField.writeUInt32BE(this.headerBytes.length);
    this.write(Buffer.concat([EXPORT_MAGIC, lengthField, this.headerBytes]));
  }

  private segment(data: Buffer, last: boolean): void {
    if (this.index >= MAX_U32_SEGMENTS) throw new RangeError('an export has at most 2^32 - 1 segments');
    const c = createCipheriv('aes-256-gcm', this.key, nonce(this.prefix, this.index++, last));
    c.setAAD(this.headerBytes);
    this.write(Buffer.concat([c.update(data), c.final(), c.getAuthTag()]));
  }

  update(data: Uint8Array): void {
    if (this.done) throw new Error('ExportSealer: update after final');
    if (data.byteLength === 0) return;
    this.pending.push(Buffer.from(data));
    this.pendingBytes += data.byteLength;
    // a full segment is written only once more data follows it: the last segment stays short
    if (this.pendingBytes > SEGMENT) {
      const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      let off = 0;
      while (all.length - off > SEGMENT) {
        this.segment(all.subarray(off, off + SEGMENT), false);
        off += SEGMENT;
      }
      const rest = Buffer.from(all.subarray(off));
      all.fill(0);
      this.pending = [rest];
      this.pendingBytes = rest.length;
    }
  }

  final(): void {
    if (this.done) return;
    this.done = true;
    try {
      const all = Buffer.concat(this.pending);
      if (all.length === SEGMENT) {
        this.segment(all, false);
        this.segment(Buffer.alloc(0), true);
      } else {
        this.segment(all, true);
      }
      all.fill(0);
      for (const p of this.pending) p.fill(0);
      this.pending = [];
    } finally {
      this.key.fill(0);
    }
  }
}

/** Encrypts plaintext (in memory) for the holder of the private key matching recipientSpki (DER). */
export function sealExport(plaintext: Uint8Array, recipientSpki: Uint8Array): Buffer {
  const out: Buffer[] = [];
  const sealer = new ExportSealer(recipientSpki, (chunk) => out.push(chunk));
  sealer.update(plaintext);
  sealer.final();
  return Buffer.concat(out);
}


const bad = (message: string, cause?: unknown): EscrowError => new EscrowError('BAD_EXPORT_FILE', message, cause === undefined ? undefined : { cause });

function parseHeader(file: Buffer): { header: EnvelopeHeader; headerBytes: Buffer; body: Buffer } {
  if (file.length < EXPORT_MAGIC.length + 4 || !file.subarray(0, EXPORT_MAGIC.length).equals(EXPORT_MAGIC)) throw bad('not an escrow export (bad magic)');
  const len = file.readUInt32BE(EXPORT_MAGIC.length);
  const start = EXPORT_MAGIC.length + 4;
  if (len < 2 || len > MAX_HEADER || start + len > file.length) throw bad('escrow export header is truncated or too long');
  const headerBytes = file.subarray(start, start + len);
  let header: EnvelopeHeader;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as EnvelopeHeader;
  } catch (cause) {
    throw bad('escrow export header is not JSON', cause);
  }
  if (
    typeof header !== 'object' ||
    header === null ||
    header.alg !== ALG ||
    (header.curve !== 'P-256' && header.curve !== 'X25519') ||
    typeof header.epk !== 'string' ||
    typeof header.recipient !== 'string' ||
    typeof header.salt !== 'string' ||
    typeof header.noncePrefix !== 'string' ||
    header.segmentSize !== SEGMENT
  ) {
    throw bad('escrow export header has unknown fields or values');
  }
  return { header, headerBytes, body: file.subarray(start + len) };
}

/** The recipient fingerprint (hex sha256 of the SPKI) an export file is encrypted to. */
export function exportRecipientOf(file: Uint8Array): string {
  return parseHeader(Buffer.from(file.buffer, file.byteOffset, file.byteLength)).header.recipient;
}

/** The segment key of an export for the requester's private key, checking that it is the one the export names. */
function exportKey(header: EnvelopeHeader, headerBytes: Buffer, privateKeyPem: string | KeyObject): { key: Buffer; prefix: Buffer } {
  let privateKey: KeyObject;
  try {
    privateKey = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  } catch (cause) {
    throw new EscrowError('INVALID_INPUT', 'not a private key in PEM form', { cause });
  }
  if (privateKey.type !== 'private') throw new EscrowError('INVALID_INPUT', 'expected a private key');
  const ownSpki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  if (fingerprint(ownSpki) !== header.recipient) throw bad('this export is encrypted to another key');
  let epk: KeyObject;
  let shared: Buffer;
  try {
    epk = createPublicKey({ key: Buffer.from(header.epk, 'base64'), format: 'der', type: 'spki' });
    if (exportCurveOf(epk) !== header.curve) throw new Error('curve mismatch');
    shared = diffieHellman({ privateKey, publicKey: epk });
  } catch (cause) {
    throw bad('escrow export has an unusable ephemeral key', cause);
  }
  const salt = Buffer.from(header.salt, 'base64');
  const prefix = Buffer.from(header.noncePrefix, 'base64');
  if (salt.length !== 32 || prefix.length !== 7) throw bad('escrow export header has a bad salt or nonce prefix');
  const key = deriveKey(shared, salt, headerBytes);
  shared.fill(0);
  return { key, prefix };
}

/**
 * Decrypts the segments of a body of `bodySize` bytes, read by `read(offset, length)`, handing each
 * authenticated plaintext to `out` in order. A segment is the last one when fewer than a full
 * segment's bytes remain, so truncation at a segment boundary fails (the last flag is in the nonce).
 */
function openSegments(key: Buffer, prefix: Buffer, headerBytes: Buffer, bodySize: number, read: (offset: number, length: number) => Buffer, out: (plain: Buffer) => void): void {
  let off = 0;
  for (let i = 0; ; i++) {
    const remaining = bodySize - off;
    const last = remaining < SEGMENT + TAG;
    if (remaining < TAG) throw bad('escrow export is truncated');
    const len = last ? remaining : SEGMENT + TAG;
    const seg = read(off, len);
    const d = createDecipheriv('aes-256-gcm', key, nonce(prefix, i, last));
    d.setAAD(headerBytes);
    d.setAuthTag(seg.subarray(seg.length - TAG));
    let plain: Buffer;
    try {
      plain = Buffer.concat([d.update(seg.subarray(0, seg.length - TAG)), d.final()]);
    } catch (cause) {
      throw bad(`escrow export segment ${i} failed authentication (tampered or truncated)`, cause);
    }
    out(plain);
    off += len;
    if (last) return;
  }
}

/** Decrypts an export (in memory) with the requester's private key (PEM). BAD_EXPORT_FILE on any failure. */
export function openExport(file: Uint8Array, privateKeyPem: string | KeyObject): Buffer {
  const { header, headerBytes, body } = parseHeader(Buffer.from(file.buffer, file.byteOffset, file.byteLength));
  const { key, prefix } = exportKey(header, headerBytes, privateKeyPem);
  const out: Buffer[] = [];
  try {
    openSegments(key, prefix, headerBytes, body.length, (offset, length) => body.subarray(offset, offset + length), (plain) => out.push(plain));
  } finally {
    key.fill(0);
  }
  return Buffer.concat(out);
}

/**
 * Decrypts the export file at `inPath` into a new file at `outPath` (mode 0600; refused if it
 * exists), one segment at a time: memory stays at one segment whatever the export's size. A
 * failure anywhere (wrong key, tampered or truncated segment) removes what was written, so no
 * partly decrypted archive is left behind. Returns the plaintext size.
 */
export function openExportFile(inPath: string, privateKeyPem: string | KeyObject, outPath: string): number {
  let input: number;
  try {
    input = openSync(inPath, 'r');
  } catch (cause) {
    throw new EscrowError('INVALID_INPUT', `cannot read the escrow export "${inPath}": ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
  try {
    const size = fstatSync(input).size;
    const read = (position: number, length: number): Buffer => {
      const buf = readAt(input, position, length);
      if (buf.length < length) throw bad('escrow export is truncated');
      return buf;
    };
    const head = read(0, Math.min(size, EXPORT_MAGIC.length + 4 + MAX_HEADER));
    const { header, headerBytes, body } = parseHeader(head);
    const bodyStart = head.length - body.length;
    const { key, prefix } = exportKey(header, headerBytes, privateKeyPem);
    let output: number | undefined;
    let written = 0;
    try {
      output = openSync(outPath, 'wx', 0o600);
      const fd = output;
      openSegments(key, prefix, headerBytes, size - bodyStart, (offset, length) => read(bodyStart + offset, length), (plain) => {
        writeFully(fd, plain);
        written += plain.length;
        plain.fill(0);
      });
      fsyncSync(fd);
      closeSync(fd);
      output = undefined;
      return written;
    } catch (err) {
      if (output !== undefined) {
        closeSync(output);
        rmSync(outPath, { force: true });
      }
      throw err;
    } finally {
      key.fill(0);
    }
  } finally {
    closeSync(input);
  }
}
