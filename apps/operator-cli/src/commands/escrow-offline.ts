// The offline escrow subcommands: `escrow decrypt` (the requester's private key opens an export)
// and `report verify` (the audit public key checks a report's detached signature). They need no
// database, HSM or Redis; loaded only when used.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MboxWriter, openExport, openExportFile, StoredZipFile, verifyEscrowReport, writeFully, type EscrowExportManifest } from '@lib/escrow';
import { OperatorInputError, OperatorUsageError } from '../operator-cli.error';
import { checkReadable, createNewFile, readInput, writeOut } from '../operator-io';
import { parseOptions } from './audit.command';
import { positionalsAtMost, required } from './escrow-options';

/** The largest manifest.json read (it lists ids and hashes: ~200 bytes a record). */
const MAX_MANIFEST = 64 * 1024 * 1024;

/**
 * `escrow decrypt FILE --key PRIVATE.pem --out DIR [--mbox MBOX]`: offline; checks every message
 * against the manifest. The export is decrypted segment by segment into a temporary archive inside
 * DIR and read back entry by entry, so memory stays small whatever the export's size; nothing is
 * written out before every segment authenticated and every entry's CRC-32 matched. With --mbox,
 * the messages are also written as one mboxrd file (mbox.ts) for review tools, when every message
 * matched the manifest.
 */
export function decrypt(argv: readonly string[]): number {
  const p = parseOptions(argv, ['key', 'out', 'mbox']);
  const file = p.positionals[0];
  if (file === undefined) throw new OperatorUsageError('missing FILE (escrow decrypt FILE --key PRIVATE.pem --out DIR [--mbox MBOX])');
  positionalsAtMost(p.positionals, 1);
  const key = readInput(required(p.options, 'key', 'PRIVATE.pem'), 'private key').toString('utf8');
  const dir = required(p.options, 'out', 'DIR');
  const mbox = p.options.get('mbox');
  if (mbox === '') throw new OperatorUsageError('--mbox needs a file name');
  if (file !== '-') checkReadable(file, 'escrow export');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const plainZip = join(dir, `.escrow-export-${process.pid}-${randomBytes(4).toString('hex')}.zip.partial`);
  try {
    // standard input cannot be read twice or at offsets: it is taken in memory
    if (file === '-') writeFileSync(plainZip, openExport(readInput(file, 'escrow export'), key), { flag: 'wx', mode: 0o600 });
    else openExportFile(file, key, plainZip);
    const zip = StoredZipFile.open(plainZip);
    try {
      return extract(zip, dir, mbox);
    } finally {
      zip.close();
    }
  } finally {
    rmSync(plainZip, { force: true });
  }
}

function extract(zip: StoredZipFile, dir: string, mbox: string | undefined): number {
  const manifestEntry = zip.entries.find((e) => e.name === 'manifest.json');
  if (manifestEntry === undefined) throw new OperatorInputError('the export has no manifest.json');
  if (manifestEntry.size > MAX_MANIFEST) throw new OperatorInputError(`the export's manifest.json is over ${MAX_MANIFEST} bytes`);
  const manifest = JSON.parse(Buffer.concat([...zip.chunks(manifestEntry)]).toString('utf8')) as EscrowExportManifest;
  // first pass: every entry's CRC-32 (chunks() throws on a mismatch) and SHA-256, before writing anything
  const digests = new Map<string, string>();
  for (const e of zip.entries) {
    const hash = createHash('sha256');
    for (const chunk of zip.chunks(e)) hash.update(chunk);
    digests.set(e.name, hash.digest('hex'));
  }
  const mismatches = manifest.records.filter((r) => digests.get(r.file) !== r.sha256).map((r) => r.id);
  for (const e of zip.entries) {
    const path = join(dir, e.name);
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
    const fd = createNewFile(path);
    try {
      for (const chunk of zip.chunks(e)) writeFully(fd, chunk);
    } finally {
      closeSync(fd);
    }
  }
  const ok = mismatches.length === 0;
  // the mbox is a view of checked messages only: with a mismatch, none is written
  if (ok && mbox !== undefined) writeMbox(zip, manifest, mbox);
  writeOut(`${JSON.stringify({ ok, requestId: manifest.requestId, case: manifest.case, records: manifest.records.length, dir, mismatches, ...(mbox !== undefined ? { mbox: ok ? mbox : null } : {}) })}\n`);
  return ok ? 0 : 1;
}

/** The manifest's messages, in its order, as one mboxrd file (created, never overwritten; 0600). */
function writeMbox(zip: StoredZipFile, manifest: EscrowExportManifest, path: string): void {
  const fd = createNewFile(path);
  let written = false;
  try {
    const pending: Buffer[] = [];
    let size = 0;
    const flush = (): void => {
      if (size === 0) return;
      writeFully(fd, Buffer.concat(pending, size));
      pending.length = 0;
      size = 0;
    };
    const writer = new MboxWriter((piece) => {
      pending.push(piece);
      size += piece.length;
      if (size >= 1024 * 1024) flush();
    });
    const byName = new Map(zip.entries.map((e) => [e.name, e]));
    const at = new Date(manifest.createdAt);
    for (const record of manifest.records) {
      const entry = byName.get(record.file);
      if (entry === undefined) throw new OperatorInputError(`the export has no ${record.file}`);
      writer.begin(`escrow@${manifest.requestId}`, Number.isNaN(at.getTime()) ? new Date(0) : at);
      for (const chunk of zip.chunks(entry)) writer.write(chunk);
      writer.end();
    }
    flush();
    written = true;
  } finally {
    closeSync(fd);
    if (!written) rmSync(path, { force: true });
  }
}

/** `report verify FILE --sig SIG --key PEM`: offline; exit 0 only when the signature verifies. */
export function verifyReport(argv: readonly string[]): number {
  const p = parseOptions(argv, ['sig', 'key']);
  const file = p.positionals[0];
  if (file === undefined) throw new OperatorUsageError('missing FILE (report verify FILE --sig SIG --key AUDIT_PUBLIC_KEY.pem)');
  positionalsAtMost(p.positionals, 1);
  const sig = readInput(required(p.options, 'sig', 'SIG'), 'signature').toString('utf8');
  const key = readInput(required(p.options, 'key', 'AUDIT_PUBLIC_KEY.pem'), 'public key').toString('utf8');
  const result = verifyEscrowReport(readInput(file, 'report'), sig, key);
  writeOut(`${JSON.stringify(result)}\n`);
  return result.ok ? 0 : 1;
}

