// Bounces and delay notices for recipients: builds the RFC 3464 report (dsn.builder.ts) with the
// original headers only, queues it as a new message from the null sender to the original
// envelope sender, and records the recipients' new state. A message from the null sender (itself
// a bounce) is never bounced: its recipients are marked and the notice dropped with a log line.
// DSN ids derive from (message, recipients, kind), so a retried job queues the same DSN once.
import type { QueuedMessage, QueuedRecipient, QueueRepository } from '@lib/db';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import type { MessageBodyStore } from '../pipeline/message-body.store';
import type { RecipientBouncer } from '../pipeline/recipient-bouncer';
import { nameBasedUuid } from '../pipeline/name-based-uuid';
import { headerEnd } from '../pipeline/policy.step';
import { buildDsn, type DsnAction } from './dsn.builder';
import type { LocalMessageEnqueuer } from './local-message.enqueuer';
import type { MessageFinisher } from './message-finisher';

export interface RecipientReport {
  readonly recipient: QueuedRecipient;
  readonly reply: string;
  readonly remoteMta?: string | undefined;
}

export class DsnService implements RecipientBouncer {
  constructor(
    private readonly queue: QueueRepository,
    private readonly bodies: MessageBodyStore,
    private readonly enqueuer: LocalMessageEnqueuer,
    private readonly finisher: MessageFinisher,
    private readonly hostname: string,
    private readonly logger: GatewayLogger,
    private readonly metrics: GatewayMetrics | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Marks the recipients bounced, sends one failure DSN for them and finishes the message if complete. */
  async bounce(message: QueuedMessage, reports: readonly RecipientReport[]): Promise<void> {
    if (reports.length === 0) return;
    const log = this.logger.child({ queueId: message.queueId });
    // the DSN is queued before the recipients are marked, so a crash in between repeats it (same id) rather than losing it
    await this.notify(message, reports, 'failed', log);
    const now = new Date(this.clock());
    for (const [reply, ids] of byReply(reports)) await this.queue.markBounced(ids, reply, now);
    for (const r of reports) this.metrics?.bounced.inc({ route: r.recipient.route ?? 'none' });
    log.info({ recipients: reports.map((r) => r.recipient.address), reply: reports[0]!.reply }, 'bounced');
    await this.finisher.finishIfComplete(message);
  }

  /** Sends one delay notice for the recipients (action=delayed) and records that it was sent. */
  async delayNotice(message: QueuedMessage, reports: readonly RecipientReport[], willRetryUntil: Date): Promise<void> {
    if (reports.length === 0) return;
    const log = this.logger.child({ queueId: message.queueId });
    await this.notify(message, reports, 'delayed', log, willRetryUntil);
    await this.queue.markDelayNotified(reports.map((r) => r.recipient.id), new Date(this.clock()));
    log.info({ recipients: reports.map((r) => r.recipient.address) }, 'delay notice sent');
  }

  private async notify(message: QueuedMessage, reports: readonly RecipientReport[], action: DsnAction, log: GatewayLogger, willRetryUntil?: Date): Promise<void> {
    if (message.mailFrom === '') {
      log.info({ action, recipients: reports.map((r) => r.recipient.address) }, 'no DSN for a message from the null sender');
      return;
    }
    const ids = reports.map((r) => r.recipient.id).sort();
    const dsnId = nameBasedUuid(`dime-gateway dsn/${action}/${message.id}/${ids.join(',')}`);
    let headers: Uint8Array | undefined;
    try {
      const body = await this.bodies.readAccepted(message.id);
      headers = body.subarray(0, headerEnd(body));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'original headers unreadable; DSN without them');
    }
    const bytes = buildDsn({
      reportingMta: this.hostname,
      to: message.mailFrom,
      dsnId,
      originalQueueId: message.queueId,
      arrivalDate: message.receivedAt,
      date: new Date(this.clock()),
      recipients: reports.map((r) => ({ address: r.recipient.address, action, reply: r.reply, remoteMta: r.remoteMta })),
      originalHeaders: headers,
      willRetryUntil,
    });
    await this.enqueuer.enqueue({ id: dsnId, mailFrom: '', recipients: [message.mailFrom], bytes, headerMessageId: `<${dsnId}@${this.hostname}>` });
  }
}

function byReply(reports: readonly RecipientReport[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of reports) {
    const ids = out.get(r.reply);
    if (ids) ids.push(r.recipient.id);
    else out.set(r.reply, [r.recipient.id]);
  }
  return out;
}
