// The escrow-export BullMQ queue and worker: jobs carry the request id only (libs/jobs), their id
// is the natural key (`escrow-export/<request id>`), and a refused export (NOT_APPROVED) fails at
// once without retries. The worker reports the job's progress as records are added.
import { Queue, type QueueEvents, UnrecoverableError, Worker, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { jobIdOf, QUEUES, type EscrowExportJob } from '@lib/jobs';
import { isEscrowError } from '../journal/escrow.error';
import type { EscrowExportResult, EscrowExportService } from './escrow-export.service';
import type { EscrowExportEnqueuer } from './escrow-recovery.service';

export const ESCROW_EXPORT_JOB_OPTIONS: JobsOptions = Object.freeze({
  attempts: 3,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 3600 },
  removeOnFail: true,
});

export class EscrowExportQueue implements EscrowExportEnqueuer {
  readonly queue: Queue<EscrowExportJob['data']>;

  constructor(connection: ConnectionOptions, prefix: string) {
    this.queue = new Queue<EscrowExportJob['data']>(QUEUES.escrowExport, { connection, prefix });
  }

  async enqueueExport(requestId: string): Promise<void> {
    const job: EscrowExportJob = { name: 'escrow-export', data: { requestId } };
    await this.queue.add(job.name, job.data, { ...ESCROW_EXPORT_JOB_OPTIONS, jobId: jobIdOf(job) });
  }

  /**
   * Waits until the export job of a request finishes (through QueueEvents): its result, or the
   * failure reason as an Error. A job that finished and was removed already resolves to null.
   */
  async waitForExport(requestId: string, events: QueueEvents, timeoutMs: number): Promise<EscrowExportResult | null> {
    const job = await this.queue.getJob(jobIdOf({ name: 'escrow-export', data: { requestId } }));
    if (job === undefined) return null;
    return (await job.waitUntilFinished(events, timeoutMs)) as EscrowExportResult;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

/** A worker running escrow-export jobs with the given service; the caller closes it. */
export function createEscrowExportWorker(
  service: Pick<EscrowExportService, 'run'>,
  connection: ConnectionOptions,
  prefix: string,
  onFailed: (requestId: string | undefined, err: Error) => void = () => undefined,
): Worker<EscrowExportJob['data'], EscrowExportResult> {
  const worker = new Worker<EscrowExportJob['data'], EscrowExportResult>(
    QUEUES.escrowExport,
    async (job) => {
      try {
        return await service.run(job.data.requestId, (percent) => job.updateProgress(percent));
      } catch (err) {
        // a refusal (or a shredded/tampered record) is final: retrying cannot make an unapproved
        // request approved; only the archive store's transient failures are retried
        if (isEscrowError(err) && err.code !== 'ARCHIVE_STORE') throw new UnrecoverableError(`${err.code}: ${err.message}`);
        throw err;
      }
    },
    { connection, prefix, concurrency: 1 },
  );
  worker.on('failed', (job, err) => onFailed(job?.data.requestId, err));
  worker.on('error', (err) => onFailed(undefined, err));
  return worker;
}
