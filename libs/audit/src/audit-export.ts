// Export of the whole trail as JSON Lines over one database snapshot: a header (format, key
// fingerprint), every entry in order with each checkpoint right after the entry it covers, and a
// seal signed now by the audit key over the last entry, the entry count and the last checkpoint,
// which is how the verifier detects a truncated tail (docs/audit.md).
import type { AuditCheckpointRecord, AuditEntryRecord, AuditRepository } from '@lib/db';
import { AUDIT_CANONICALIZATION, AUDIT_GENESIS_HASH, publicKeyFingerprint, sealSigningInput } from './audit-chain';
import type { AuditSigner } from './audit-signer';
import {
  AUDIT_EXPORT_FORMAT,
  type AuditExportCheckpoint,
  type AuditExportEntry,
  type AuditExportHeader,
  type AuditExportSeal,
  type AuditJson,
} from './audit.types';

export interface AuditExportSummary {
  readonly entries: number;
  readonly checkpoints: number;
  readonly lastSeq: number;
  readonly publicKeyFingerprint: string;
}

const BATCH = 2000;

export function exportEntryLine(e: AuditEntryRecord): AuditExportEntry {
  return {
    type: 'entry',
    seq: e.seq,
    time: e.time.toISOString(),
    actor: e.actor,
    actorAddress: e.actorAddress,
    action: e.action,
    objectType: e.objectType,
    objectId: e.objectId,
    outcome: e.outcome,
    details: e.details as AuditJson,
    prevHash: e.prevHash.toString('hex'),
    hash: e.hash.toString('hex'),
  };
}

export function exportCheckpointLine(c: AuditCheckpointRecord): AuditExportCheckpoint {
  return {
    type: 'checkpoint',
    seq: c.seq,
    hash: c.hash.toString('hex'),
    time: c.time.toISOString(),
    prevCheckpointSeq: c.prevCheckpointSeq,
    interval: c.interval,
    signature: c.signature.toString('base64'),
  };
}

export async function writeAuditExport(
  repository: AuditRepository,
  signer: AuditSigner,
  write: (line: string) => void | Promise<void>,
  clock: () => Date = () => new Date(),
): Promise<AuditExportSummary> {
  const fingerprint = publicKeyFingerprint(await signer.publicKeySpki());
  return repository.readSnapshot(async (reader) => {
    const { head } = await reader.state();
    const upTo = head?.seq ?? 0;
    const exportedAt = new Date(clock().toISOString());
    const header: AuditExportHeader = {
      type: 'header',
      format: AUDIT_EXPORT_FORMAT,
      hashAlgorithm: 'sha256',
      canonicalization: AUDIT_CANONICALIZATION,
      genesis: AUDIT_GENESIS_HASH.toString('hex'),
      keyLabel: signer.keyLabel,
      publicKeyFingerprint: fingerprint,
      exportedAt: exportedAt.toISOString(),
    };
    await write(JSON.stringify(header));

    let entries = 0;
    let checkpoints = 0;
    let lastCheckpointSeq = 0;
    let afterEntry = 0;
    let afterCheckpoint = 0;
    let pending: AuditCheckpointRecord[] = [];
    let cpIndex = 0;
    for (;;) {
      const batch = await reader.entriesAfter(afterEntry, upTo, BATCH);
      if (batch.length === 0) break;
      let out = '';
      for (const e of batch) {
        out += `${JSON.stringify(exportEntryLine(e))}\n`;
        entries++;
        for (;;) {
          if (cpIndex >= pending.length) {
            pending = await reader.checkpointsAfter(afterCheckpoint, upTo, BATCH);
            cpIndex = 0;
            if (pending.length === 0) break;
          }
          const cp = pending[cpIndex] as AuditCheckpointRecord;
          if (cp.seq > e.seq) break;
          // seq <= e.seq: checkpoints only ever cover existing entries, so seq === e.seq here
          out += `${JSON.stringify(exportCheckpointLine(cp))}\n`;
          checkpoints++;
          lastCheckpointSeq = cp.seq;
          afterCheckpoint = cp.seq;
          cpIndex++;
        }
      }
      await write(out.slice(0, -1));
      afterEntry = (batch[batch.length - 1] as AuditEntryRecord).seq;
    }

    const sealHash = head?.hash ?? AUDIT_GENESIS_HASH;
    const signature = await signer.sign(sealSigningInput({ seq: upTo, hash: sealHash, entries, lastCheckpointSeq, exportedAtMs: exportedAt.getTime() }));
    const seal: AuditExportSeal = {
      type: 'seal',
      seq: upTo,
      hash: sealHash.toString('hex'),
      entries,
      lastCheckpointSeq,
      exportedAt: exportedAt.toISOString(),
      signature: signature.toString('base64'),
    };
    await write(JSON.stringify(seal));
    return { entries, checkpoints, lastSeq: upTo, publicKeyFingerprint: fingerprint };
  });
}
