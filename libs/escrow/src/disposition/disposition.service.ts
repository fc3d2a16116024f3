// The retention sweep: (1) records past retention whose policy says `review` are queued for
// disposition review; (2) records past retention, not under an active legal hold and not awaiting
// review are crypto-shredded in batches: one transaction per batch destroys the wrapped keys and
// stores the HSM-signed certificate of exactly those records (nothing is shredded uncertified);
// (3) their blobs are deleted from the archive store (retried by later sweeps if a delete fails:
// the content is unrecoverable once the key is gone). Safe to run concurrently (SKIP LOCKED) and to retry.
import { randomUUID } from 'node:crypto';
import type { AuditSigner } from '@lib/audit';
import type { DispositionCertificateRecord, JournalRepository } from '@lib/db';
import type { ArchiveStore } from '../journal/archive-store';
import { translateTriggerError, type RetentionAudit } from '../retention/retention.service';
import { buildCertificate, certificateFile, certificateSigningInput, certificateText, type SignedDispositionCertificate } from './disposition-certificate';

export interface SweepProgress {
  readonly reviewQueued: number;
  readonly shredded: number;
  readonly certificates: number;
  readonly blobsDeleted: number;
}

export interface SweepResult extends SweepProgress {
  readonly certificateIds: readonly string[];
  readonly blobDeleteFailures: number;
}

export interface DispositionOptions {
  /** Records per certificate (and per transaction). */
  readonly batchSize: number;
  readonly clock?: () => Date;
  /** Stop after this many records in one sweep (the rest waits for the next run); default unlimited. */
  readonly maxRecordsPerSweep?: number;
  /** Parallel blob deletions. */
  readonly deleteConcurrency?: number;
}

export class DispositionService {
  private readonly clock: () => Date;

  constructor(
    private readonly journal: JournalRepository,
    private readonly store: ArchiveStore,
    private readonly signer: AuditSigner,
    private readonly audit: RetentionAudit,
    private readonly options: DispositionOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new RangeError('"batchSize" expected a positive integer');
    this.clock = options.clock ?? (() => new Date());
  }

  async sweep(onProgress: (p: SweepProgress) => void | Promise<void> = () => undefined): Promise<SweepResult> {
    const max = this.options.maxRecordsPerSweep ?? Number.MAX_SAFE_INTEGER;
    let reviewQueued = 0;
    let shredded = 0;
    let blobsDeleted = 0;
    let blobDeleteFailures = 0;
    const certificateIds: string[] = [];
    const progress = (): SweepProgress => ({ reviewQueued, shredded, certificates: certificateIds.length, blobsDeleted });

    for (;;) {
      const queued = await this.journal.queueDueForReview(this.clock(), this.options.batchSize);
      reviewQueued += queued.length;
      if (queued.length < this.options.batchSize) break;
    }
    if (reviewQueued > 0) {
      await this.audit.record({
        actor: 'system:retention-sweep',
        action: 'retention.review.queue',
        objectType: 'journal-records',
        outcome: 'success',
        details: { records: reviewQueued },
      });
    }
    await onProgress(progress());

    while (shredded < max) {
      const certificateId = randomUUID();
      const limit = Math.min(this.options.batchSize, max - shredded);
      const records = await translateTriggerError(() =>
        this.journal.shredDueBatch(this.clock(), limit, certificateId, (rs) => this.certify(certificateId, rs)),
      );
      if (records.length === 0) break;
      shredded += records.length;
      certificateIds.push(certificateId);
      await this.audit.record({
        actor: 'system:retention-sweep',
        action: 'retention.dispose',
        objectType: 'disposition-certificate',
        objectId: certificateId,
        outcome: 'success',
        details: { records: records.length },
      });
      const deleted = await this.deleteBlobs();
      blobsDeleted += deleted.deleted;
      blobDeleteFailures += deleted.failed;
      await onProgress(progress());
      if (records.length < limit) break;
    }
    // blobs left over by an earlier sweep's failed deletes
    const leftover = await this.deleteBlobs();
    blobsDeleted += leftover.deleted;
    blobDeleteFailures += leftover.failed;
    await onProgress(progress());
    return { ...progress(), certificateIds, blobDeleteFailures };
  }

  private async certify(id: string, records: Parameters<typeof buildCertificate>[3]): Promise<DispositionCertificateRecord> {
    const issuedAt = this.clock();
    const certificate = buildCertificate(id, issuedAt, this.signer.keyLabel, records);
    const text = certificateText(certificate);
    const signature = await this.signer.sign(certificateSigningInput(text));
    return {
      id,
      issuedAt,
      recordCount: certificate.count,
      journaledFrom: certificate.journaledFrom === null ? null : new Date(certificate.journaledFrom),
      journaledTo: certificate.journaledTo === null ? null : new Date(certificate.journaledTo),
      keyLabel: this.signer.keyLabel,
      certificate: text,
      signature,
    };
  }

  private async deleteBlobs(): Promise<{ deleted: number; failed: number }> {
    let deleted = 0;
    let failed = 0;
    const concurrency = this.options.deleteConcurrency ?? 8;
    for (;;) {
      const batch = await this.journal.findBlobsToDelete(this.options.batchSize);
      if (batch.length === 0) break;
      const done: string[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < batch.length; i = next++) {
          const b = batch[i];
          if (b === undefined) continue;
          try {
            await this.store.delete(b.blobKey);
            done.push(b.id);
          } catch {
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
      await this.journal.markBlobsDeleted(done);
      deleted += done.length;
      if (done.length < batch.length || batch.length < this.options.batchSize) break;
    }
    return { deleted, failed };
  }

  /** A stored certificate as the exportable signed file. */
  async certificate(id: string): Promise<SignedDispositionCertificate | null> {
    const c = await this.journal.findCertificate(id);
    return c === null ? null : certificateFile(c.certificate, c.signature, c.keyLabel);
  }
}
