// The body of the escrow-export job: for an approved request only (checked here, in SQL, and
// again by the triggers when the export is recorded), unwrap each record's key in the HSM (through
// the journal's EscrowRecordSource), put the original messages as EML files in a STORE zip with a
// manifest (record ids, sha256 of each message, request id, approvers), encrypt the archive for
// the requester's public key, streamed to a temporary file in the export directory that is renamed
// once complete, record and audit it. An audit entry is appended BEFORE the first record key is
// unwrapped, so no content is ever revealed without a trace; the plaintext never touches the disk
// and memory holds one message and one 64 KiB segment at a time.
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EscrowRepository, EscrowRequestRecord } from '@lib/db';
import { EscrowError } from '../journal/escrow.error';
import type { EscrowRecordSource } from './escrow-record-source';
import type { EscrowAuditLog } from './escrow-recovery.service';
import { checkUuid } from './escrow-recovery.service';
import { ExportSealer } from './export-envelope';
import { writeFully } from './fd-io';
import { StoredZipWriter } from './stored-zip';

export const ESCROW_EXPORT_FORMAT = 'dime-gateway-escrow-export/1';
export const EXPORT_FILE_SUFFIX = '.dgx';

export interface EscrowExportManifest {
  readonly format: typeof ESCROW_EXPORT_FORMAT;
  readonly requestId: string;
  readonly case: string;
  readonly requester: string;
  readonly requiredApprovals: number;
  readonly approvers: readonly { readonly name: string; readonly at: string }[];
  readonly scope: { readonly custodianDomain: string | null; readonly from: string | null; readonly to: string | null; readonly recordIds: number };
  readonly createdAt: string;
  readonly records: readonly { readonly id: string; readonly file: string; readonly sha256: string; readonly size: number }[];
}

export interface EscrowExportResult {
  readonly requestId: string;
  readonly file: string;
  /** Hex SHA-256 of the encrypted file. */
  readonly fileSha256: string;
  readonly records: number;
}

export interface EscrowExportOptions {
  readonly exportDir: string;
  readonly clock?: () => Date;
}

/**
 * The path of one export attempt's encrypted archive: named by the request and by the export's own
 * id (escrow_exports.id), so two attempts (a stalled job run twice) never overwrite each other and
 * the recorded export names exactly its file.
 */
export function exportFilePath(exportDir: string, requestId: string, exportId: string): string {
  return join(exportDir, `${checkUuid(requestId)}.${checkUuid(exportId, 'export id')}${EXPORT_FILE_SUFFIX}`);
}

export class EscrowExportService {
  private readonly clock: () => Date;

  constructor(
    private readonly repository: EscrowRepository,
    private readonly records: EscrowRecordSource,
    private readonly audit: EscrowAuditLog,
    private readonly options: EscrowExportOptions,
  ) {
    if (typeof options.exportDir !== 'string' || !options.exportDir.startsWith('/')) throw new RangeError('"exportDir" expected an absolute path');
    this.clock = options.clock ?? (() => new Date());
  }

  /** Refusal: audited, then NOT_APPROVED (the job does not retry it). */
  private async refuse(request: EscrowRequestRecord | null, id: string, reason: string): Promise<never> {
    await this.audit.record({
      actor: request ? request.requester : 'system:escrow-export',
      action: 'escrow.export',
      objectType: 'escrow-request',
      objectId: id,
      outcome: 'denied',
      details: { reason },
    });
    throw new EscrowError('NOT_APPROVED', `escrow export of ${id} refused: ${reason}`);
  }

  /** Runs the export of one request. progress(0..100) is reported as records are added. */
  async run(rawId: string, progress: (percent: number) => Promise<void> | void = () => undefined): Promise<EscrowExportResult> {
    const id = checkUuid(rawId);
    const now = this.clock();
    const current = await this.repository.findRequest(id);
    if (current === null) return this.refuse(null, id, 'no such request');
    if (current.status === 'approved' && current.expiresAt.getTime() <= now.getTime()) {
      const expired = await this.repository.expireDue(now, id);
      for (const r of expired) {
        await this.audit.record({ actor: 'system:escrow', action: 'escrow.request.expire', objectType: 'escrow-request', objectId: r.id, outcome: 'success', details: { expiresAt: r.expiresAt.toISOString() } });
      }
    }
    // the SQL check: approved, unexpired, quorum of distinct approvers other than the requester
    const request = await this.repository.findExportableRequest(id, now);
    if (request === null) return this.refuse(current, id, `request is ${(await this.repository.findRequest(id))?.status ?? current.status}, not approved by its quorum`);
    const approvals = (await this.repository.listApprovals(id)).filter((a) => a.decision === 'approve' && a.approver !== request.requester);
    if (new Set(approvals.map((a) => a.approver)).size < request.requiredApprovals) return this.refuse(request, id, 'fewer distinct approvals than required');
    const requester = await this.repository.findPrincipal(request.requester);
    if (requester === null || requester.publicKey === null) return this.refuse(request, id, 'requester has no public key');
    const recipientSpki = requester.publicKey;

    const recordIds = await this.records.findRecordIds({
      custodianIndex: request.custodianIndex,
      from: request.dateFrom,
      to: request.dateTo,
      recordIds: request.recordIds,
    });
    await this.audit.record({
      actor: request.requester,
      action: 'escrow.export.start',
      objectType: 'escrow-request',
      objectId: id,
      outcome: 'success',
      details: { records: recordIds.length, approvers: approvals.map((a) => a.approver) },
    });

    // streamed: record -> zip entry -> encrypted segments -> temporary file (fsynced, renamed);
    // memory holds one message and one segment, never the archive
    mkdirSync(this.options.exportDir, { recursive: true, mode: 0o700 });
    const exportId = randomUUID();
    const path = exportFilePath(this.options.exportDir, id, exportId);
    const tmp = `${path}.partial-${process.pid}-${randomUUID()}`;
    const fd = openSync(tmp, 'wx', 0o600);
    const fileHash = createHash('sha256');
    let closed = false;
    let manifest: EscrowExportManifest;
    try {
      const sealer = new ExportSealer(recipientSpki, (chunk) => {
        fileHash.update(chunk);
        writeFully(fd, chunk);
      });
      const zip = new StoredZipWriter((chunk) => sealer.update(chunk));
      const manifestRecords: EscrowExportManifest['records'][number][] = [];
      await progress(0);
      for (let i = 0; i < recordIds.length; i++) {
        const recordId = recordIds[i] as string;
        const message = await this.records.openRecord(recordId);
        try {
          const file = `messages/${recordId}.eml`;
          zip.add(file, message);
          manifestRecords.push({ id: recordId, file, sha256: createHash('sha256').update(message).digest('hex'), size: message.length });
        } finally {
          message.fill(0);
        }
        if ((i + 1) % 50 === 0 || i + 1 === recordIds.length) await progress(Math.floor(((i + 1) * 95) / recordIds.length));
      }
      manifest = {
        format: ESCROW_EXPORT_FORMAT,
        requestId: id,
        case: request.caseRef,
        requester: request.requester,
        requiredApprovals: request.requiredApprovals,
        approvers: approvals.map((a) => ({ name: a.approver, at: a.decidedAt.toISOString() })),
        scope: {
          custodianDomain: request.custodianDomain,
          from: request.dateFrom?.toISOString() ?? null,
          to: request.dateTo?.toISOString() ?? null,
          recordIds: request.recordIds?.length ?? 0,
        },
        createdAt: now.toISOString(),
        records: manifestRecords,
      };
      zip.add('manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'));
      zip.finish();
      sealer.final();
      fsyncSync(fd);
      closeSync(fd);
      closed = true;
      renameSync(tmp, path);
    } catch (err) {
      if (!closed) closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    const fileSha256 = fileHash.digest();

    const recorded = await this.repository.recordExport(
      { id: exportId, requestId: id, fileSha256, manifest, recordCount: recordIds.length, exportedBy: request.requester, exportedAt: this.clock() },
      this.clock(),
    );
    if (!recorded) {
      // another attempt recorded its own file first, or the request stopped being exportable: ours goes
      rmSync(path, { force: true });
      return this.refuse(request, id, 'request stopped being exportable during the export');
    }
    await this.audit.record({
      actor: request.requester,
      action: 'escrow.export',
      objectType: 'escrow-request',
      objectId: id,
      outcome: 'success',
      details: { records: recordIds.length, fileSha256: fileSha256.toString('hex') },
    });
    await progress(100);
    return { requestId: id, file: path, fileSha256: fileSha256.toString('hex'), records: recordIds.length };
  }
}
