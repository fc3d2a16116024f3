// The disposition sweep as a BullMQ repeatable job (queue `compliance-retention-sweep`, libs/jobs):
// one job scheduler fires every RETENTION_SWEEP_EVERY_MS; operators can trigger a run now. The
// worker reports progress ({reviewQueued, shredded, certificates, blobsDeleted}); concurrency 1,
// and the sweep itself is safe to overlap or retry.
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { jobIdOf, QUEUES, type RetentionSweepJob } from '@lib/jobs';
import type { DispositionService, SweepResult } from './disposition.service';

const SCHEDULER_ID = 'retention-sweep';

export class RetentionSweepQueue {
  readonly queue: Queue<RetentionSweepJob['data']>;

  constructor(connection: ConnectionOptions, prefix: string) {
    this.queue = new Queue<RetentionSweepJob['data']>(QUEUES.retentionSweep, { connection, prefix });
  }

  /** Installs (or updates) the repeatable sweep; everyMs 0 removes it. */
  async schedule(everyMs: number): Promise<void> {
    if (everyMs <= 0) {
      await this.queue.removeJobScheduler(SCHEDULER_ID);
      return;
    }
    const job: RetentionSweepJob = { name: 'retention-sweep', data: { run: 'repeat' } };
    await this.queue.upsertJobScheduler(SCHEDULER_ID, { every: everyMs }, { name: job.name, data: job.data, opts: { removeOnComplete: 100, removeOnFail: 100 } });
  }

  /** One run now (operator-triggered); returns its job id. */
  async runNow(): Promise<string> {
    const job: RetentionSweepJob = { name: 'retention-sweep', data: { run: randomUUID() } };
    const jobId = jobIdOf(job);
    await this.queue.add(job.name, job.data, { jobId, attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: 100, removeOnFail: 100 });
    return jobId;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

/** The worker running sweeps; the caller closes it. */
export function createRetentionSweepWorker(
  service: Pick<DispositionService, 'sweep'>,
  connection: ConnectionOptions,
  prefix: string,
  onFailed: (err: Error) => void = () => undefined,
): Worker<RetentionSweepJob['data'], SweepResult> {
  const worker = new Worker<RetentionSweepJob['data'], SweepResult>(
    QUEUES.retentionSweep,
    (job) => service.sweep((p) => job.updateProgress({ ...p })),
    { connection, prefix, concurrency: 1, lockDuration: 60_000 },
  );
  worker.on('failed', (_job, err) => onFailed(err));
  worker.on('error', (err) => onFailed(err));
  return worker;
}
