// Where `dispatch` sends a group's first delivery attempt: straight into the delivery service in
// this process when a slot is free, else (and for every later attempt) a `deliver` job as before.
// The direct path saves a BullMQ job per message (an add, a fetch and a completion in Redis) and
// the job's own read of the message; the gateway benchmark measured ~2 Redis scripts and one
// PostgreSQL round trip less per message.
//
// Nothing durable changes: dispatch calls this only after the recipients are 'queued' in
// PostgreSQL, and a queued recipient without a job is what the recovery sweeper re-enqueues (at
// boot and every RECOVERY_INTERVAL), so a crash during a direct attempt leaves the same state as a
// crash during a deliver job: the attempt runs again, and a 2xx recorded before the crash is not
// sent twice (DeliveryService skips recipients already final or past the attempt, one job per group
// at a time). A direct attempt that throws (not a delivery verdict: those are recorded and retried
// by DeliveryService itself) becomes a `deliver` job after the deliver queue's first backoff, as a
// failed job would have been retried. The process job does not wait for the attempt: a slow
// destination never holds the pipeline's slots.
import type { QueuedMessage, QueuedRecipient } from '@lib/db';
import type { DeliverJob } from '@lib/jobs';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayQueues } from '../pipeline/gateway-queues';

type DeliverJobData = DeliverJob['data'];

/**
 * What dispatch knows of the group it just routed: the message and the group's recipients as they
 * now are in PostgreSQL ('queued', this route). A direct attempt that finds the group free uses it
 * instead of reading both back (DeliveryService.deliver); never carried by a job.
 */
export interface RoutedGroup {
  readonly message: QueuedMessage;
  readonly recipients: readonly QueuedRecipient[];
}

/** The retry delay of a direct attempt that threw (DELIVER_JOB_OPTIONS' first backoff). */
export const DIRECT_RETRY_DELAY_MS = 2000;

export class FirstAttemptDispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly queues: Pick<GatewayQueues, 'addDeliver'>,
    /** Runs one delivery attempt (DeliveryService.deliver); bound late, the service is made after the pipeline. */
    private readonly deliver: (job: DeliverJobData, routed?: RoutedGroup) => Promise<void>,
    /** Direct attempts in flight at most; beyond, first attempts are `deliver` jobs. 0 disables the direct path. */
    private readonly limit: number,
    private readonly logger: GatewayLogger,
  ) {}

  /** Direct attempts running now. */
  get running(): number {
    return this.inFlight.size;
  }

  /** Same contract as GatewayQueues.addDeliver: resolves once the attempt is started or enqueued. */
  async addDeliver(data: DeliverJobData, delayMs = 0, routed?: RoutedGroup): Promise<void> {
    if (this.stopped || delayMs > 0 || data.attempt !== 1 || this.inFlight.size >= this.limit) {
      await this.queues.addDeliver(data, delayMs);
      return;
    }
    const run: Promise<void> = this.deliver(data, routed)
      .catch(async (err: unknown) => {
        this.logger.warn({ messageId: data.messageId, route: data.route, domain: data.domain, err: err instanceof Error ? err.message : String(err) }, 'direct delivery attempt failed; retrying as a deliver job');
        // if this fails too, the recovery sweeper finds the recipients still queued
        await this.queues.addDeliver(data, DIRECT_RETRY_DELAY_MS);
      })
      .catch((err: unknown) => this.logger.error({ messageId: data.messageId, err: err instanceof Error ? err.message : String(err) }, 'could not enqueue the retry of a direct delivery; the recovery sweep will'))
      .finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  /** No new direct attempts; resolves when those running have ended (graceful shutdown, before the recorder closes). */
  async drain(): Promise<void> {
    this.stopped = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
