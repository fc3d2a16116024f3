// Thin repository of the durable queue: queries named by intent, no decisions (STYLE.md 7).
// TypeORM types stay inside libs/db; callers get plain records.
import { In, type DataSource, type EntityManager } from 'typeorm';
import { MessageEntity, type MessageDirection } from './entities/message.entity';
import { RecipientEntity, type RecipientRoute, type RecipientStatus } from './entities/recipient.entity';

export interface AcceptedMessage {
  id: string;
  queueId: string;
  direction: MessageDirection;
  mailFrom: string;
  size: number;
  sha256: Buffer;
  spoolKeyId: number;
  headerMessageId: string | null;
  clientAddress: string;
  clientHelo: string | null;
  authUser: string | null;
  receivedAt: Date;
  expiresAt: Date;
}

export interface AcceptedRecipient {
  id: string;
  address: string;
  domain: string;
}

export interface QueuedMessage extends AcceptedMessage {
  state: 'queued' | 'done';
}

export interface QueuedRecipient {
  id: string;
  messageId: string;
  address: string;
  domain: string;
  route: RecipientRoute | null;
  status: RecipientStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastReply: string | null;
  delayNotifiedAt: Date | null;
}

const OPEN_STATUSES: RecipientStatus[] = ['pending', 'queued', 'deferred'];

function toRecipient(r: RecipientEntity): QueuedRecipient {
  return {
    id: r.id,
    messageId: r.messageId,
    address: r.address,
    domain: r.domain,
    route: r.route,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    lastReply: r.lastReply,
    delayNotifiedAt: r.delayNotifiedAt,
  };
}

function toMessage(m: MessageEntity): QueuedMessage {
  return {
    id: m.id,
    queueId: m.queueId,
    direction: m.direction,
    mailFrom: m.mailFrom,
    size: m.size,
    sha256: m.sha256,
    spoolKeyId: m.spoolKeyId,
    headerMessageId: m.headerMessageId,
    clientAddress: m.clientAddress,
    clientHelo: m.clientHelo,
    authUser: m.authUser,
    receivedAt: m.receivedAt,
    expiresAt: m.expiresAt,
    state: m.state,
  };
}

export class QueueRepository {
  constructor(private readonly ds: DataSource) {}

  /** The message and all its recipients, in one transaction (status 'pending'). */
  async insertAccepted(message: AcceptedMessage, recipients: readonly AcceptedRecipient[]): Promise<void> {
    await this.ds.transaction(async (em: EntityManager) => {
      await em.insert(MessageEntity, { ...message, state: 'queued' });
      await em.insert(
        RecipientEntity,
        recipients.map((r) => ({ ...r, messageId: message.id, status: 'pending' as const, attempts: 0 })),
      );
    });
  }

  /**
   * Undoes insertAccepted when the acceptance failed after it (the client got 451 and will retry):
   * deletes the message and its recipients if no recipient has left 'pending'. True if deleted.
   */
  async removeUnprocessed(messageId: string): Promise<boolean> {
    const result = await this.ds.query(
      `DELETE FROM messages WHERE id = $1 AND state = 'queued'
          AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = $1 AND status <> 'pending')
        RETURNING id`,
      [messageId],
    );
    const rows = Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result;
    return Array.isArray(rows) && rows.length > 0;
  }

  async findMessage(id: string): Promise<QueuedMessage | null> {
    const m = await this.ds.getRepository(MessageEntity).findOneBy({ id });
    return m ? toMessage(m) : null;
  }

  async findRecipientsOfMessage(messageId: string): Promise<QueuedRecipient[]> {
    const rows = await this.ds.getRepository(RecipientEntity).find({ where: { messageId }, order: { address: 'ASC' } });
    return rows.map(toRecipient);
  }

  /** Pipeline classification result: route each recipient and queue it for delivery. */
  async routeRecipients(routes: readonly { id: string; route: RecipientRoute }[]): Promise<void> {
    await this.ds.transaction(async (em) => {
      for (const r of routes) {
        await em.update(RecipientEntity, { id: r.id, status: 'pending' }, { route: r.route, status: 'queued' });
      }
    });
  }

  async markDelivered(ids: readonly string[], reply: string, at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.ds
      .createQueryBuilder()
      .update(RecipientEntity)
      .set({ status: 'delivered', lastReply: reply, deliveredAt: at, attempts: () => 'attempts + 1', nextAttemptAt: null })
      .where({ id: In([...ids]), status: In(OPEN_STATUSES) })
      .execute();
  }

  async markDeferred(ids: readonly string[], reply: string, nextAttemptAt: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.ds
      .createQueryBuilder()
      .update(RecipientEntity)
      .set({ status: 'deferred', lastReply: reply, nextAttemptAt, attempts: () => 'attempts + 1' })
      .where({ id: In([...ids]), status: In(OPEN_STATUSES) })
      .execute();
  }

  async markBounced(ids: readonly string[], reply: string, at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.ds
      .createQueryBuilder()
      .update(RecipientEntity)
      .set({ status: 'bounced', lastReply: reply, bouncedAt: at, nextAttemptAt: null })
      .where({ id: In([...ids]), status: In(OPEN_STATUSES) })
      .execute();
  }

  async markDelayNotified(ids: readonly string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.ds.getRepository(RecipientEntity).update({ id: In([...ids]) }, { delayNotifiedAt: at });
  }

  /** Marks the message done when none of its recipients is still open; true if it did. */
  async finishMessageIfComplete(messageId: string): Promise<boolean> {
    const result = await this.ds.query(
      `UPDATE messages SET state = 'done'
        WHERE id = $1 AND state = 'queued'
          AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = $1 AND status IN ('pending', 'queued', 'deferred'))
        RETURNING id`,
      [messageId],
    );
    const rows = Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result;
    return Array.isArray(rows) && rows.length > 0;
  }

  /** Open recipients whose next attempt is due (or never scheduled): recovery after Redis loss or a crash. */
  async findDueRecipients(now: Date, limit: number): Promise<QueuedRecipient[]> {
    const rows = await this.ds
      .getRepository(RecipientEntity)
      .createQueryBuilder('r')
      .where('r.status IN (:...open)', { open: OPEN_STATUSES })
      .andWhere('(r.next_attempt_at IS NULL OR r.next_attempt_at <= :now)', { now })
      .orderBy('r.next_attempt_at', 'ASC', 'NULLS FIRST')
      .limit(limit)
      .getMany();
    return rows.map(toRecipient);
  }

  /** Open recipient counts by status (queue depth for metrics and the admin API). */
  async countOpenByStatus(): Promise<Record<'pending' | 'queued' | 'deferred', number>> {
    const rows: { status: string; n: string }[] = await this.ds.query(
      `SELECT status, count(*) AS n FROM recipients WHERE status IN ('pending', 'queued', 'deferred') GROUP BY status`,
    );
    const out = { pending: 0, queued: 0, deferred: 0 };
    for (const r of rows) if (r.status in out) out[r.status as keyof typeof out] = Number(r.n);
    return out;
  }
}
