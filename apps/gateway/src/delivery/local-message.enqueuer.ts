// Accepts a message the gateway itself writes (DSNs) into the queue exactly as the listeners do:
// spool (encrypted, fsynced) -> PostgreSQL (message + recipients 'pending') -> `process` job.
// Idempotent by message id: enqueueing the same DSN twice (a retried delivery job) queues it once.
import { randomUUID } from 'node:crypto';
import type { AcceptedMessage, QueueRepository } from '@lib/db';
import type { GatewayQueues } from '../pipeline/gateway-queues';
import type { SpoolService } from '../spool/spool.service';

export interface LocalMessage {
  /** A UUID chosen by the caller (derive it from what the message is about to make it idempotent). */
  readonly id: string;
  /** '' for the null sender. */
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly bytes: Buffer;
  readonly headerMessageId: string | null;
}

export interface LocalMessageSettings {
  readonly hostname: string;
  readonly localDomains: readonly string[];
  readonly queueLifetimeMs: number;
}

/** The 16-hex-digit queue id printed in logs and replies, derived from the message id. */
export function queueIdOf(messageId: string): string {
  return messageId.replace(/-/g, '').slice(0, 16).toUpperCase();
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export class LocalMessageEnqueuer {
  private readonly local: ReadonlySet<string>;

  constructor(
    private readonly queue: QueueRepository,
    private readonly spool: SpoolService,
    private readonly queues: GatewayQueues,
    private readonly settings: LocalMessageSettings,
    private readonly clock: () => number = Date.now,
  ) {
    this.local = new Set(settings.localDomains.map((d) => d.toLowerCase()));
  }

  async enqueue(m: LocalMessage): Promise<void> {
    if (m.recipients.length === 0) throw new RangeError('"recipients" expected at least one address');
    if (!(await this.queue.findMessage(m.id))) {
      const { keyId, sha256 } = await this.spool.write(m.id, m.bytes);
      const now = this.clock();
      const message: AcceptedMessage = {
        id: m.id,
        queueId: queueIdOf(m.id),
        // a notice to one of the organisation's own addresses travels like inbound mail
        direction: m.recipients.every((r) => this.local.has(domainOf(r))) ? 'inbound' : 'outbound',
        mailFrom: m.mailFrom,
        size: m.bytes.length,
        sha256,
        spoolKeyId: keyId,
        headerMessageId: m.headerMessageId,
        clientAddress: '127.0.0.1',
        clientHelo: this.settings.hostname,
        authUser: null,
        receivedAt: new Date(now),
        expiresAt: new Date(now + this.settings.queueLifetimeMs),
      };
      try {
        await this.queue.insertAccepted(
          message,
          m.recipients.map((address) => ({ id: randomUUID(), address, domain: domainOf(address) })),
        );
      } catch (err) {
        // a concurrent enqueue of the same id won (unique_violation): the message is queued once
        if ((err as { code?: string }).code !== '23505' && !(await this.queue.findMessage(m.id))) throw err;
      }
    }
    await this.queues.addProcess(m.id);
  }
}
