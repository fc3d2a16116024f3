// PostgreSQL is the source of truth; Redis holds only job ids and may lose them (restart without
// persistence, crash between a commit and an enqueue). Every RECOVERY_INTERVAL, and at boot, the
// sweeper re-enqueues the jobs of every open recipient that is due: 'pending' -> its `process`
// job, 'queued'/'deferred' -> the `deliver` job of its next attempt. Job ids are natural keys, so
// jobs that still exist are not duplicated, and several gateway processes may sweep at once.
// It also finishes messages whose recipients are all final but which a crash left unfinished
// (their spool files would otherwise stay forever), and refreshes the queue depth gauge.
import type { QueueRepository } from '@lib/db';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import type { GatewayQueues } from '../pipeline/gateway-queues';
import type { DeliverJobData } from './delivery.service';
import type { MessageFinisher } from './message-finisher';

export interface SweepResult {
  readonly processJobs: number;
  readonly deliverJobs: number;
  readonly finished: number;
}

export class RecoverySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly queue: QueueRepository,
    private readonly queues: GatewayQueues,
    private readonly logger: GatewayLogger,
    private readonly metrics: GatewayMetrics | undefined,
    private readonly clock: () => number = Date.now,
    private readonly batch = 5000,
    private readonly finisher?: MessageFinisher,
  ) {}

  async sweep(): Promise<SweepResult> {
    const due = await this.queue.findDueRecipients(new Date(this.clock()), this.batch);
    const processIds = new Set<string>();
    const deliver = new Map<string, DeliverJobData>();
    for (const r of due) {
      if (r.status === 'pending' || r.route === null) {
        processIds.add(r.messageId);
        continue;
      }
      const key = `${r.messageId}/${r.route}/${r.domain}`;
      const attempt = r.attempts + 1;
      const seen = deliver.get(key);
      if (!seen || seen.attempt < attempt) deliver.set(key, { messageId: r.messageId, route: r.route, domain: r.domain, attempt });
    }
    for (const id of processIds) await this.queues.addProcess(id);
    for (const data of deliver.values()) await this.queues.addDeliver(data);
    let finished = 0;
    if (this.finisher) {
      for (const id of await this.queue.findCompleteUnfinishedMessageIds(this.batch)) {
        if (await this.finisher.finishIfComplete({ id })) finished++;
      }
    }
    await this.refreshDepth();
    const result = { processJobs: processIds.size, deliverJobs: deliver.size, finished };
    if (due.length > 0 || finished > 0) this.logger.debug(result, 'recovery sweep');
    return result;
  }

  async refreshDepth(): Promise<void> {
    if (!this.metrics) return;
    const counts = await this.queue.countOpenByStatus();
    for (const [status, n] of Object.entries(counts)) this.metrics.queueDepth.set({ status }, n);
  }

  /** Sweeps now and then every `intervalMs`; overlapping sweeps are skipped. */
  start(intervalMs: number): void {
    if (this.timer) return;
    const tick = () => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'recovery sweep failed'))
        .finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
