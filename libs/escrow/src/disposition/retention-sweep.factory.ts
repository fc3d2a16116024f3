// Wiring for a process (the gateway): the disposition service, its BullMQ worker and the
// repeatable schedule (RETENTION_SWEEP_EVERY_MS). close() stops the worker and the queue.
import type { ConnectionOptions } from 'bullmq';
import type { AuditSigner } from '@lib/audit';
import { JournalRepository, type DataSource } from '@lib/db';
import type { ArchiveStore } from '../journal/archive-store';
import type { JournalConfig } from '../journal/journal.config';
import type { RetentionAudit } from '../retention/retention.service';
import { DispositionService } from './disposition.service';
import { createRetentionSweepWorker, RetentionSweepQueue } from './retention-sweep.queue';

export interface RetentionSweepRuntime {
  readonly disposition: DispositionService;
  readonly queue: RetentionSweepQueue;
  close(): Promise<void>;
}

export async function startRetentionSweep(
  config: JournalConfig,
  deps: { dataSource: DataSource; store: ArchiveStore; signer: AuditSigner; audit: RetentionAudit },
  redis: { connection: ConnectionOptions; prefix: string },
  onFailed: (err: Error) => void = () => undefined,
): Promise<RetentionSweepRuntime> {
  const disposition = new DispositionService(new JournalRepository(deps.dataSource), deps.store, deps.signer, deps.audit, { batchSize: config.sweepBatchSize });
  const queue = new RetentionSweepQueue(redis.connection, redis.prefix);
  const worker = createRetentionSweepWorker(disposition, redis.connection, redis.prefix, onFailed);
  await queue.schedule(config.sweepEveryMs);
  return {
    disposition,
    queue,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}
