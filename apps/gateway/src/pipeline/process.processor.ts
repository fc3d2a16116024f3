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
import type { RecentlyAccepted } from './recently-accepted';

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
  ) {}

  async process(messageId: string): Promise<void> {
    const found = this.recent?.take(messageId) ?? (await this.queue.findMessageWithRecipients(messageId));
    if (!found || found.message.state === 'done') return;
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
    const worker = new Worker<ProcessJob['data']>(QUEUES.process, (job) => this.process(job.data.messageId), {
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
