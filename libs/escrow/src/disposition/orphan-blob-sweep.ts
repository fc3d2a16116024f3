// Archive blobs that no journal record names: a journal attempt that wrote its blob and then failed
// to insert the record (PostgreSQL down, a timeout) leaves one behind, unreadable ciphertext whose
// record key was never stored, and an interrupted put of the file store leaves a temporary file.
// The sweep lists the journal's blobs, asks PostgreSQL which keys records name (shredded records
// included: their blobs are the disposition's), and deletes the rest once they are older than the
// grace period, which must outlast any journal attempt still between its put and its insert.
// A blob the store refuses to delete (S3 Object Lock in COMPLIANCE mode until the retention date
// the failed attempt gave it) is counted as locked and tried again by a later sweep. The sweep is
// recorded in the audit trail with its counts.
import type { AuditService } from '@lib/audit';
import type { JournalRepository } from '@lib/db';
import type { ArchiveStore, ArchivedBlob } from '../journal/archive-store';

/** Default grace period: far beyond a journal attempt's step timeout. */
export const ORPHAN_GRACE_MS = 60 * 60_000;
const BATCH = 500;

export interface OrphanSweepOptions {
  /** Blobs younger than this are left alone (default ORPHAN_GRACE_MS). */
  readonly graceMs?: number;
  /** Count, delete nothing. */
  readonly dryRun?: boolean;
  readonly actor?: string;
}

export interface OrphanSweepResult {
  /** Blobs listed under the journal prefix. */
  readonly scanned: number;
  /** Of those, blobs no record names and older than the grace period. */
  readonly orphans: number;
  readonly deleted: number;
  /** Orphans the store would not delete (retention lock); a later sweep tries again. */
  readonly locked: number;
  /** Unnamed blobs still inside the grace period. */
  readonly young: number;
  readonly keys: readonly string[];
}

export class OrphanBlobSweep {
  constructor(
    private readonly store: ArchiveStore,
    private readonly journal: Pick<JournalRepository, 'blobKeysInUse'>,
    private readonly audit: Pick<AuditService, 'record'>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async sweep(options: OrphanSweepOptions = {}): Promise<OrphanSweepResult> {
    const graceMs = options.graceMs ?? ORPHAN_GRACE_MS;
    if (!Number.isFinite(graceMs) || graceMs < 0) throw new RangeError('"graceMs" must be a non-negative number');
    const cutoff = this.clock().getTime() - graceMs;
    let scanned = 0;
    let young = 0;
    let deleted = 0;
    let locked = 0;
    const orphans: string[] = [];
    let batch: ArchivedBlob[] = [];
    const flush = async (): Promise<void> => {
      const inUse = await this.journal.blobKeysInUse(batch.map((b) => b.key));
      for (const blob of batch) {
        if (inUse.has(blob.key)) continue;
        if (blob.modifiedAt.getTime() > cutoff) {
          young++;
          continue;
        }
        orphans.push(blob.key);
        if (options.dryRun) continue;
        try {
          await this.store.delete(blob.key);
          deleted++;
        } catch {
          locked++;
        }
      }
      batch = [];
    };
    for await (const blob of this.store.list('journal/')) {
      scanned++;
      batch.push(blob);
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    await this.audit.record({
      actor: options.actor ?? 'system:retention-sweep',
      action: options.dryRun ? 'journal.orphans.check' : 'journal.orphans.sweep',
      objectType: 'archive',
      outcome: 'success',
      details: { scanned, orphans: orphans.length, deleted, locked, young, graceSeconds: Math.round(graceMs / 1000) },
    });
    return { scanned, orphans: orphans.length, deleted, locked, young, keys: orphans };
  }
}
