// Wiring for a process (the gateway, the admin API, the operator CLI): escrow recovery, its export
// queue/worker and escrow reports from the recovery config, the HSM keystore, the runtime pool,
// the archive store and the audit service. The gateway's wiring is one call plus close().
import type { ConnectionOptions, Worker } from 'bullmq';
import { HsmAuditSigner, type AuditService } from '@lib/audit';
import { EscrowRepository, JournalRepository, type DataSource } from '@lib/db';
import { keyLabel, type HsmKeystore } from '@lib/hsm';
import type { ArchiveStore } from '../journal/archive-store';
import { BlindIndexer } from '../journal/blind-index';
import { EscrowReportService } from '../reports/escrow-report.service';
import { EscrowExportService } from './escrow-export.service';
import { createEscrowExportWorker, EscrowExportQueue } from './escrow-export.queue';
import type { EscrowRecoveryConfig } from './escrow-recovery.config';
import { EscrowRecoveryService } from './escrow-recovery.service';
import { JournalRecordSource } from './journal-record-source';

export interface EscrowRecoveryWiring {
  readonly config: EscrowRecoveryConfig;
  readonly dataSource: DataSource;
  readonly keystore: HsmKeystore;
  readonly store: ArchiveStore;
  readonly audit: AuditService;
  /** BullMQ (Redis) connection and key prefix (JobsConfig). */
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  /** Share the journal's indexer (its cache); a new one with no cache otherwise. */
  readonly indexer?: BlindIndexer;
  /** Run an escrow-export worker in this process (default false). */
  readonly runWorker?: boolean;
  /** Run the expiry sweep every this many ms (default: not scheduled). */
  readonly expirySweepMs?: number;
  readonly onError?: (err: unknown) => void;
  readonly clock?: () => Date;
}

export interface EscrowRecovery {
  readonly service: EscrowRecoveryService;
  readonly exporter: EscrowExportService;
  readonly queue: EscrowExportQueue;
  readonly reports: EscrowReportService;
  readonly repository: EscrowRepository;
  readonly worker: Worker | null;
  close(): Promise<void>;
}

export function createEscrowRecovery(w: EscrowRecoveryWiring): EscrowRecovery {
  const repository = new EscrowRepository(w.dataSource);
  const indexer = w.indexer ?? new BlindIndexer(w.keystore, keyLabel('blind-index'), 0);
  const source = new JournalRecordSource(new JournalRepository(w.dataSource), indexer, w.keystore, w.store);
  const queue = new EscrowExportQueue(w.connection, w.prefix);
  const clock = w.clock;
  const service = new EscrowRecoveryService(repository, source, w.audit, queue, {
    requiredApprovals: w.config.requiredApprovals,
    requestTtlMs: w.config.requestTtlMs,
    ...(clock ? { clock } : {}),
  });
  const exporter = new EscrowExportService(repository, source, w.audit, { exportDir: w.config.exportDir, ...(clock ? { clock } : {}) });
  const reports = new EscrowReportService(repository, new HsmAuditSigner(w.keystore, keyLabel('audit-signing')), clock, w.audit);
  const onError = w.onError ?? (() => undefined);
  const worker = w.runWorker ? createEscrowExportWorker(exporter, w.connection, w.prefix, (_id, err) => onError(err)) : null;
  if (w.expirySweepMs !== undefined && w.expirySweepMs > 0) service.startExpirySweep(w.expirySweepMs, onError);
  return {
    service,
    exporter,
    queue,
    reports,
    repository,
    worker,
    close: async () => {
      service.stopExpirySweep();
      await worker?.close();
      await queue.close();
    },
  };
}
