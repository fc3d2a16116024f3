// The offline escrow subcommands: `escrow decrypt` (the requester's private key opens an export)
// and `report verify` (the audit public key checks a report's detached signature). They need no
// database, HSM or Redis; loaded only when used.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openExport, readStoredZip, verifyEscrowReport, type EscrowExportManifest } from '@lib/escrow';
import { OperatorInputError, OperatorUsageError } from '../operator-cli.error';
import { readInput, writeOut } from '../operator-io';
import { parseOptions } from './audit.command';
import { positionalsAtMost, required } from './escrow-options';

/** `escrow decrypt FILE --key PRIVATE.pem --out DIR`: offline; checks every message against the manifest. */
export function decrypt(argv: readonly string[]): number {
  const p = parseOptions(argv, ['key', 'out']);
  const file = p.positionals[0];
  if (file === undefined) throw new OperatorUsageError('missing FILE (escrow decrypt FILE --key PRIVATE.pem --out DIR)');
  positionalsAtMost(p.positionals, 1);
  const key = readInput(required(p.options, 'key', 'PRIVATE.pem'), 'private key').toString('utf8');
  const dir = required(p.options, 'out', 'DIR');
  const entries = readStoredZip(openExport(readInput(file, 'escrow export'), key));
  const manifestEntry = entries.find((e) => e.name === 'manifest.json');
  if (manifestEntry === undefined) throw new OperatorInputError('the export has no manifest.json');
  const manifest = JSON.parse(Buffer.from(manifestEntry.data).toString('utf8')) as EscrowExportManifest;
  const mismatches: string[] = [];
  for (const r of manifest.records) {
    const e = entries.find((x) => x.name === r.file);
    if (e === undefined || createHash('sha256').update(e.data).digest('hex') !== r.sha256) mismatches.push(r.id);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const e of entries) {
    const path = join(dir, e.name);
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, e.data, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      throw new OperatorInputError(`cannot write "${path}": ${(err as NodeJS.ErrnoException).code ?? 'unwritable'}`);
    }
  }
  writeOut(`${JSON.stringify({ ok: mismatches.length === 0, requestId: manifest.requestId, case: manifest.case, records: manifest.records.length, dir, mismatches })}\n`);
  return mismatches.length === 0 ? 0 : 1;
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

