// The gateway's two BullMQ queues and the only way jobs are added to them: with the natural job
// id (libs/jobs jobIdOf), so a re-enqueue by the recovery sweeper, a retried step or a second
// gateway process is a no-op. Finished and failed jobs are removed, so that a later re-enqueue
// of the same id (after a failed job exhausted its attempts) is not blocked by the old one.
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { jobIdOf, QUEUES, type DeliverJob, type ProcessJob } from '@lib/jobs';

/** BullMQ retries of a failing pipeline (unforeseen errors, timeouts); the sweeper takes over after. */
export const PROCESS_JOB_OPTIONS: JobsOptions = Object.freeze({
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: true,
});

/** Delivery outcomes schedule their own retries; these attempts cover unforeseen errors only. */
export const DELIVER_JOB_OPTIONS: JobsOptions = Object.freeze({
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: true,
  removeOnFail: true,
});

export class GatewayQueues {
  readonly process: Queue;
  readonly delivery: Queue;

  constructor(connection: ConnectionOptions, prefix: string) {
    this.process = new Queue(QUEUES.process, { connection, prefix });
    this.delivery = new Queue(QUEUES.delivery, { connection, prefix });
  }

  async addProcess(messageId: string): Promise<void> {
    const job: ProcessJob = { name: 'process', data: { messageId } };
    await this.process.add(job.name, job.data, { ...PROCESS_JOB_OPTIONS, jobId: jobIdOf(job) });
  }

  async addDeliver(data: DeliverJob['data'], delayMs = 0): Promise<void> {
    const job: DeliverJob = { name: 'deliver', data };
    await this.delivery.add(job.name, job.data, { ...DELIVER_JOB_OPTIONS, jobId: jobIdOf(job), delay: Math.max(0, Math.round(delayMs)) });
  }

  async close(): Promise<void> {
    await Promise.all([this.process.close(), this.delivery.close()]);
  }
}
