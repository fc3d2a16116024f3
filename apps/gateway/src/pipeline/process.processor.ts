// The `process` job (queue gateway-process): loads an accepted message and its still-pending
// recipients from PostgreSQL and runs the pipeline on them. A redelivered job for a message whose
// recipients were already dispatched does nothing. A message that outlived its queue lifetime
// before it could be processed bounces instead.
import { Worker, type ConnectionOptions } from 'bullmq';
import type { QueueRepository } from '@lib/db';
import { QUEUES, type ProcessJob } from '@lib/jobs';
import type { GatewayLogger } from '../observability/logger';
import type { MessageBodyStore } from './message-body.store';
import type { Pipeline } from './pipeline';
import { PipelineContext } from './pipeline-context';
import { PipelineStepError } from './pipeline-step.error';
import { SpoolError } from '../spool/spool.service';
import type { RecipientBouncer } from './recipient-bouncer';
import type { LocalAcceptance, RecentlyAccepted } from './recently-accepted';

/** A `process` job found no message row while its acceptance (elsewhere) may still commit it. */
export class MessageNotYetVisibleError extends Error {
  override readonly name = 'MessageNotYetVisibleError';
  constructor(readonly messageId: string) {
    super(`message ${messageId} is not in PostgreSQL yet; its acceptance may still be committing`);
  }
}

export class MessageProcessor {
  constructor(
    private readonly queue: QueueRepository,
    private readonly bodies: MessageBodyStore,
    private readonly pipeline: Pipeline,
    private readonly bouncer: RecipientBouncer,
    private readonly logger: GatewayLogger,
    private readonly clock: () => number = Date.now,
    /** What acceptance in this process just wrote (recently-accepted.ts): not read back. */
    private readonly recent?: RecentlyAccepted,
    /**
     * How long a job may find no message row before that means its acceptance failed: twice the
     * longest an acceptance stage may take (gateway.module caps them at 30 s).
     */
    private readonly notYetVisibleMs = 60_000,
  ) {}

  /**
   * `enqueuedAt`: when the job was added. Acceptance adds it while its insert is still on the way,
   * so a job that another gateway process picks up at once may find no row yet: while the job is
   * younger than `notYetVisibleMs` that is retried (BullMQ backoff), after that it means the
   * acceptance failed and the job has nothing to do.
   */
  async process(messageId: string, enqueuedAt?: number): Promise<void> {
    const local: LocalAcceptance = this.recent ? await this.recent.settle(messageId) : { outcome: 'unknown' };
    // this process's acceptance answered 451: its take-back owns the rows, nothing may be delivered
    if (local.outcome === 'failed') return;
    const found = local.outcome === 'accepted' ? local.state : await this.queue.findMessageWithRecipients(messageId);
    if (!found) {
      if (enqueuedAt !== undefined && this.clock() - enqueuedAt < this.notYetVisibleMs) throw new MessageNotYetVisibleError(messageId);
      return;
    }
    if (found.message.state === 'done') return;
    const { message } = found;
    const pending = found.recipients.filter((r) => r.status === 'pending');
    if (pending.length === 0) return;
    const logger = this.logger.child({ queueId: message.queueId });
    if (this.clock() >= message.expiresAt.getTime()) {
      logger.warn('queue lifetime over before processing; bouncing');
      await this.bouncer.bounce(message, pending.map((recipient) => ({ recipient, reply: '554 5.4.7 delivery time expired before the message could be processed' })));
      return;
    }
    try {
      await this.pipeline.run(new PipelineContext(message, pending, logger, (id) => this.bodies.readAccepted(id)));
    } catch (err) {
      if (!(err instanceof PipelineStepError && err.cause instanceof SpoolError && err.cause.code === 'ABORTED')) throw err;
      // its acceptance failed after the insert may have committed and the client got 451: drop it
      if (await this.queue.removeUnprocessed(messageId)) await this.bodies.removeAll(messageId, []);
      logger.warn('acceptance was aborted (451 sent); queue entry dropped without delivery or DSN');
    }
  }

  /** A BullMQ worker running `process` jobs; the caller closes it. `locks`: see GatewayConfig.workers. */
  createWorker(
    connection: ConnectionOptions,
    prefix: string,
    concurrency: number,
    locks: { readonly lockDurationMs: number; readonly stalledIntervalMs: number } = { lockDurationMs: 30_000, stalledIntervalMs: 30_000 },
  ): Worker<ProcessJob['data']> {
    const worker = new Worker<ProcessJob['data']>(QUEUES.process, (job) => this.process(job.data.messageId, job.timestamp), {
      connection,
      prefix,
      concurrency,
      lockDuration: locks.lockDurationMs,
      stalledInterval: locks.stalledIntervalMs,
    });
    worker.on('failed', (job, err) => this.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'process job failed'));
    worker.on('error', (err) => this.logger.error({ err: err.message }, 'process worker error'));
    return worker;
  }
}
