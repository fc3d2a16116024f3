// Step `dispatch`: makes the pipeline's decisions durable, in an order that never lets a delivery
// job run ahead of what it needs: replacement bytes to the spool, then routes (recipients
// 'pending' -> 'queued' in PostgreSQL), then one `deliver` job per (route, domain), then the
// bounces of refused recipients. A crash anywhere in between is repaired by re-running the
// pipeline (recipients still 'pending') or by the recovery sweeper (recipients 'queued').
import type { QueueRepository } from '@lib/db';
import type { FirstAttemptDispatcher } from '../delivery/first-attempt.dispatcher';
import type { MessageBodyStore } from './message-body.store';
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';
import type { RecipientBouncer } from './recipient-bouncer';

export class DispatchStep implements PipelineStep {
  readonly name = 'dispatch';

  constructor(
    readonly timeoutMs: number,
    private readonly queue: QueueRepository,
    private readonly bodies: MessageBodyStore,
    /**
     * GatewayQueues, or a FirstAttemptDispatcher (delivery/) that makes first attempts at once in
     * this process; the latter is also told the routed group, so it need not read it back.
     */
    private readonly queues: Pick<FirstAttemptDispatcher, 'addDeliver'>,
    private readonly bouncer: RecipientBouncer,
  ) {}

  async run(ctx: PipelineContext): Promise<void> {
    const { message } = ctx;
    const groups = ctx.groups();
    for (const g of groups) {
      const bytes = ctx.bodyOf(g);
      if (bytes !== undefined) await this.bodies.writeVariant(message.id, g.route, g.domain, bytes);
    }
    const routed = new Set(await this.queue.routeRecipients(groups.flatMap((g) => g.recipients.map((r) => ({ id: r.id, route: g.route })))));
    for (const g of groups) {
      // the group as it now is in PostgreSQL, when this run routed all of it; a recipient another
      // run of this job routed first may be in an attempt already: the attempt then reads the state
      const mine = g.recipients.every((r) => routed.has(r.id));
      const known = mine ? { message, recipients: g.recipients.map((r) => ({ ...r, route: g.route, status: 'queued' as const })) } : undefined;
      await this.queues.addDeliver({ messageId: message.id, route: g.route, domain: g.domain, attempt: 1, variant: ctx.bodyOf(g) !== undefined }, 0, known);
    }
    const rejections = ctx.rejections;
    if (rejections.length > 0) await this.bouncer.bounce(message, rejections);
    ctx.logger.info({ groups: groups.map((g) => `${g.route}/${g.domain}:${g.recipients.length}`), rejected: rejections.length }, 'dispatched');
  }
}
