// Thin repository of the durable queue: queries named by intent, no decisions (STYLE.md 7).
// TypeORM types stay inside libs/db; callers get plain records.
import { In, type DataSource } from 'typeorm';
import type { MessageDirection, MessageFormat } from './entities/message.entity';
import { RecipientEntity, type RecipientRoute, type RecipientStatus } from './entities/recipient.entity';
import { FINISHED_GROUPS_OF_F, hotQuery, MESSAGE_OPEN, RECIPIENT_OPEN, RECIPIENT_PENDING } from './hot-query';
import type { HotStatementRunner } from './hot-pool';
import { DEFAULT_COALESCER_OPTIONS, StatementCoalescer, type StatementCoalescerOptions } from './statement-coalescer';

export interface AcceptedMessage {
  id: string;
  queueId: string;
  direction: MessageDirection;
  /** Default 'rfc5322'; 'dime' for a D/MIME message received over DMTP. */
  format?: MessageFormat;
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

interface AcceptedInsert {
  readonly message: AcceptedMessage;
  readonly recipients: readonly AcceptedRecipient[];
  /** The sealed body, stored in spool_bodies by the same statement; undefined: it is in a spool file. */
  readonly sealedBody: Buffer | undefined;
}

export interface QueuedMessage extends AcceptedMessage {
  format: MessageFormat;
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

const MESSAGE_COLUMNS =
  'id, queue_id, direction, format, mail_from, size, sha256, spool_key_id, header_message_id, client_address, client_helo, auth_user, received_at, expires_at, state';
const RECIPIENT_COLUMNS = 'id, message_id, address, domain, route, status, attempts, next_attempt_at, last_reply, delay_notified_at';

const MESSAGE_COLUMNS_OF_M = MESSAGE_COLUMNS.split(', ')
  .map((c) => `m.${c}`)
  .join(', ');
const RECIPIENT_COLUMNS_AS_R = RECIPIENT_COLUMNS.split(', ')
  .map((c) => `r.${c} AS r_${c}`)
  .join(', ');

/** A messages row as node-postgres returns it (bytea -> Buffer, timestamptz -> Date). */
interface RawMessage {
  id: string;
  queue_id: string;
  direction: MessageDirection;
  format: MessageFormat;
  mail_from: string;
  size: number;
  sha256: Buffer;
  spool_key_id: number;
  header_message_id: string | null;
  client_address: string;
  client_helo: string | null;
  auth_user: string | null;
  received_at: Date;
  expires_at: Date;
  state: 'queued' | 'done';
}

interface RawRecipient {
  id: string;
  message_id: string;
  address: string;
  domain: string;
  route: RecipientRoute | null;
  status: RecipientStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_reply: string | null;
  delay_notified_at: Date | null;
}

function fromRawMessage(m: RawMessage): QueuedMessage {
  return {
    id: m.id,
    queueId: m.queue_id,
    direction: m.direction,
    format: m.format,
    mailFrom: m.mail_from,
    size: m.size,
    sha256: m.sha256,
    spoolKeyId: m.spool_key_id,
    headerMessageId: m.header_message_id,
    clientAddress: m.client_address,
    clientHelo: m.client_helo,
    authUser: m.auth_user,
    receivedAt: m.received_at,
    expiresAt: m.expires_at,
    state: m.state,
  };
}

function fromRawRecipient(r: RawRecipient): QueuedRecipient {
  return {
    id: r.id,
    messageId: r.message_id,
    address: r.address,
    domain: r.domain,
    route: r.route,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastReply: r.last_reply,
    delayNotifiedAt: r.delay_notified_at,
  };
}

export interface QueueRepositoryOptions {
  /**
   * Group commit of the statements every message makes (insertAccepted, routeRecipients,
   * finishMessageReturningGroups): see statement-coalescer.ts.
   */
  readonly coalesce?: StatementCoalescerOptions;
  /**
   * Where those group-committed statements run: a HotStatementPool (hot-pool.ts), whose connections
   * plan each statement once. Default: the DataSource's pool, planning each execution.
   */
  readonly batchPool?: HotStatementRunner;
}

/** Connections a QueueRepository's batchPool needs: its three coalesced statements at their most in flight. */
export function batchPoolSize(coalesce: StatementCoalescerOptions = DEFAULT_COALESCER_OPTIONS): number {
  return 3 * coalesce.maxInFlight;
}

/** The messages columns written at acceptance (name, PostgreSQL type, value): one list for the SQL and its parameters. */
const ACCEPTED_MESSAGE_COLUMNS: readonly (readonly [string, string, (m: AcceptedMessage) => unknown])[] = [
  ['id', 'uuid', (m) => m.id],
  ['queue_id', 'text', (m) => m.queueId],
  ['direction', 'text', (m) => m.direction],
  ['mail_from', 'text', (m) => m.mailFrom],
  ['size', 'int', (m) => m.size],
  ['sha256', 'bytea', (m) => m.sha256],
  ['spool_key_id', 'int', (m) => m.spoolKeyId],
  ['header_message_id', 'text', (m) => m.headerMessageId],
  ['client_address', 'text', (m) => m.clientAddress],
  ['client_helo', 'text', (m) => m.clientHelo],
  ['auth_user', 'text', (m) => m.authUser],
  ['received_at', 'timestamptz', (m) => m.receivedAt],
  ['expires_at', 'timestamptz', (m) => m.expiresAt],
  ['format', 'text', (m) => m.format ?? 'rfc5322'],
];

/** Messages from one array per column, their recipients (pending) joined to them. */
const INSERT_ACCEPTED = (() => {
  const names = ACCEPTED_MESSAGE_COLUMNS.map(([name]) => name).join(', ');
  const arrays = ACCEPTED_MESSAGE_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  const r = ACCEPTED_MESSAGE_COLUMNS.length;
  return `WITH m AS (
       INSERT INTO messages (${names}, state)
       SELECT ${names}, 'queued' FROM unnest(${arrays}) AS x(${names})
       RETURNING id)
     , b AS (
       INSERT INTO spool_bodies (message_id, sealed)
       SELECT s.message_id, substring($${r + 5}::bytea FROM s.start FOR s.length)
         FROM unnest($${r + 6}::uuid[], $${r + 7}::int[], $${r + 8}::int[]) AS s(message_id, start, length))
     INSERT INTO recipients (id, message_id, address, domain, status, attempts)
     SELECT r.id, m.id, r.address, r.domain, 'pending', 0
       FROM unnest($${r + 1}::uuid[], $${r + 2}::uuid[], $${r + 3}::text[], $${r + 4}::text[]) AS r(id, message_id, address, domain)
       JOIN m ON m.id = r.message_id`;
})();

type RouteItem = readonly { id: string; route: RecipientRoute }[];
/** A (route, domain) group of a message's recipients: a spool replacement may exist per group. */
export interface SpoolGroup {
  readonly route: RecipientRoute | null;
  readonly domain: string;
}

/**
 * What finishing a message returns: its recipients' distinct groups (what the spool clean-up
 * needs) when that call finished it, null when it did not.
 */
export type FinishedGroups = SpoolGroup[] | null;

/** Records a 2xx for recipients of one message and finishes the message when that made it complete. */
export interface DeliveredMarker {
  /**
   * Open recipients among `ids` (all of message `messageId`) become delivered; if no recipient of
   * the message is still open then, it is marked done as well and its groups are returned (null:
   * not finished by this call, e.g. other recipients are open, or another call finished it).
   */
  markDeliveredAndFinish(messageId: string, ids: readonly string[], reply: string, at: Date): Promise<FinishedGroups>;
}

/**
 * The result of a finishing statement (rows of message id, route, domain) per requested message id,
 * in order. A message named twice (two deliveries of it ending at once) was finished once: the
 * first request gets its groups, the later ones null.
 */
export function finishedGroupsFor(rows: readonly { id: string; route: RecipientRoute | null; domain: string | null }[], messageIds: readonly string[]): FinishedGroups[] {
  const groups = new Map<string, SpoolGroup[]>();
  for (const r of rows) {
    let list = groups.get(r.id);
    if (!list) groups.set(r.id, (list = []));
    if (r.domain !== null) list.push({ route: r.route, domain: r.domain });
  }
  return messageIds.map((id) => {
    const found = groups.get(id);
    if (!found) return null;
    groups.delete(id);
    return found;
  });
}

export class QueueRepository implements DeliveredMarker {
  private readonly inserts: StatementCoalescer<AcceptedInsert, void>;
  private readonly routes: StatementCoalescer<RouteItem, string[]>;
  private readonly finishes: StatementCoalescer<string, FinishedGroups>;
  /** The insert of each message id submitted and not yet sent (for withdrawAccepted). */
  private readonly pendingInserts = new Map<string, AcceptedInsert>();

  private readonly batchPool: HotStatementRunner | undefined;

  constructor(
    private readonly ds: DataSource,
    options: QueueRepositoryOptions = {},
  ) {
    this.batchPool = options.batchPool;
    this.inserts = new StatementCoalescer((items) => this.insertAcceptedBatch(items), options.coalesce);
    this.routes = new StatementCoalescer((items) => this.routeRecipientsBatch(items), options.coalesce);
    this.finishes = new StatementCoalescer((ids) => this.finishBatch(ids), options.coalesce);
  }

  /** A named prepared statement on the pool (hot-query.ts). */
  private hot<T = Record<string, unknown>>(name: string, text: string, values: readonly unknown[]): Promise<T[]> {
    return hotQuery<T>(this.ds, name, text, values);
  }

  /** A coalesced statement: on the batch pool when there is one (planned once per connection), else as hot(). */
  private batch<T = Record<string, unknown>>(name: string, text: string, values: readonly unknown[]): Promise<T[]> {
    return this.batchPool ? this.batchPool.query<T>(name, text, values) : this.hot<T>(name, text, values);
  }

  /**
   * The message, all its recipients (status 'pending') and, when given, its sealed spool body
   * (spool_bodies) in ONE statement: atomic like a
   * transaction, but one round trip instead of four (BEGIN, two INSERTs, COMMIT) on the path
   * to the 250. The recipients' foreign key is checked at the end of the statement, when the
   * message row inserted by the CTE is visible. Concurrent calls share a statement (group commit).
   */
  async insertAccepted(message: AcceptedMessage, recipients: readonly AcceptedRecipient[], sealedBody?: Buffer): Promise<void> {
    const item: AcceptedInsert = { message, recipients, sealedBody };
    this.pendingInserts.set(message.id, item);
    try {
      await this.inserts.submit(item);
    } finally {
      if (this.pendingInserts.get(message.id) === item) this.pendingInserts.delete(message.id);
    }
  }

  /**
   * For an acceptance that gave up (timeout) while its insert still waited for a group commit:
   * takes the insert back before it is sent, so the row certainly never exists. False when the
   * insert was already sent (it may commit: removeUnprocessed decides) or was never made.
   */
  withdrawAccepted(messageId: string): boolean {
    const item = this.pendingInserts.get(messageId);
    if (!item) return false;
    const withdrawn = this.inserts.withdraw(item, new Error(`the insert of ${messageId} was withdrawn before it was sent`));
    if (withdrawn) this.pendingInserts.delete(messageId);
    return withdrawn;
  }

  /**
   * One or several insertAccepted in one statement: the messages from arrays, their recipients
   * joined to them (a message and its recipients are thus in the table together or not at all).
   */
  private async insertAcceptedBatch(items: readonly AcceptedInsert[]): Promise<void[]> {
    const rcpts = items.flatMap((i) => i.recipients.map((r) => ({ ...r, messageId: i.message.id })));
    // the bodies as ONE bytea parameter (node-postgres sends a Buffer in binary; a bytea[] array
    // would go as hex text, twice the bytes, encoded here and parsed there) cut by start/length
    const bodies = items.flatMap((i) => (i.sealedBody ? [{ id: i.message.id, sealed: i.sealedBody }] : []));
    const starts: number[] = [];
    let next = 1;
    for (const b of bodies) {
      starts.push(next);
      next += b.sealed.length;
    }
    await this.batch('dq_insert_accepted_batch', INSERT_ACCEPTED, [
      ...ACCEPTED_MESSAGE_COLUMNS.map(([, , value]) => items.map((i) => value(i.message))),
      rcpts.map((r) => r.id),
      rcpts.map((r) => r.messageId),
      rcpts.map((r) => r.address),
      rcpts.map((r) => r.domain),
      Buffer.concat(bodies.map((b) => b.sealed)),
      bodies.map((b) => b.id),
      starts,
      bodies.map((b) => b.sealed.length),
    ]);
    return items.map(() => undefined);
  }

  /** The sealed spool body stored with the message (insertAccepted), undefined when there is none. */
  async findSpoolBody(messageId: string): Promise<Buffer | undefined> {
    const rows = await this.hot<{ sealed: Buffer }>('dq_spool_body', 'SELECT sealed FROM spool_bodies WHERE message_id = $1', [messageId]);
    return rows[0]?.sealed;
  }

  /**
   * Undoes insertAccepted when the acceptance failed after it (the client got 451 and will retry):
   * deletes the message and its recipients if no recipient has left 'pending'. True if deleted.
   */
  async removeUnprocessed(messageId: string): Promise<boolean> {
    const rows = await this.hot(
      'dq_remove_unprocessed',
      `DELETE FROM messages WHERE id = $1 AND ${MESSAGE_OPEN}
          AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = $1 AND status <> 'pending')
        RETURNING id`,
      [messageId],
    );
    return rows.length > 0;
  }

  // The hot lookups and updates below are plain SQL (TypeORM's query building cost more CPU per
  // message than the round trip itself) run by hot(): named prepared statements on the pool.
  async findMessage(id: string): Promise<QueuedMessage | null> {
    const rows: RawMessage[] = await this.hot('dq_find_message', `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`, [id]);
    return rows[0] ? fromRawMessage(rows[0]) : null;
  }

  /**
   * findMessage and findRecipientsOfMessage in one round trip (a LEFT JOIN: the message's columns
   * repeat on each recipient row, which costs less than a second query): null if there is no such
   * message. Recipients ordered by address like findRecipientsOfMessage.
   */
  async findMessageWithRecipients(id: string): Promise<{ message: QueuedMessage; recipients: QueuedRecipient[] } | null> {
    const rows: (RawMessage & { [K in keyof RawRecipient as `r_${K}`]: RawRecipient[K] | null })[] = await this.hot(
      'dq_find_message_with_recipients',
      `SELECT ${MESSAGE_COLUMNS_OF_M}, ${RECIPIENT_COLUMNS_AS_R}
         FROM messages m LEFT JOIN recipients r ON r.message_id = m.id
        WHERE m.id = $1
        ORDER BY r.address ASC`,
      [id],
    );
    const first = rows[0];
    if (!first) return null;
    const recipients: QueuedRecipient[] = [];
    for (const row of rows) {
      if (row.r_id === null) continue; // LEFT JOIN: a message without recipients
      recipients.push(
        fromRawRecipient({
          id: row.r_id,
          message_id: row.r_message_id!,
          address: row.r_address!,
          domain: row.r_domain!,
          route: row.r_route,
          status: row.r_status!,
          attempts: row.r_attempts!,
          next_attempt_at: row.r_next_attempt_at,
          last_reply: row.r_last_reply,
          delay_notified_at: row.r_delay_notified_at,
        }),
      );
    }
    return { message: fromRawMessage(first), recipients };
  }

  async findRecipientsOfMessage(messageId: string): Promise<QueuedRecipient[]> {
    const rows: RawRecipient[] = await this.hot('dq_find_recipients', `SELECT ${RECIPIENT_COLUMNS} FROM recipients WHERE message_id = $1 ORDER BY address ASC`, [messageId]);
    return rows.map(fromRawRecipient);
  }

  /**
   * Pipeline classification result: pending recipients become 'queued' on their route (one
   * statement, shared by concurrent calls); returns the ids this call changed (others were no
   * longer pending, or another call of the same statement changed them first).
   */
  async routeRecipients(routes: readonly { id: string; route: RecipientRoute }[]): Promise<string[]> {
    if (routes.length === 0) return [];
    return this.routes.submit(routes);
  }

  private async routeRecipientsBatch(items: readonly RouteItem[]): Promise<string[][]> {
    // a recipient named by two calls (two runs of one message's job) counts for the first only, and
    // so must its route: an UPDATE ... FROM that joins a row twice applies whichever match the plan
    // meets first, so only the first naming of each recipient is sent
    const named = new Set<string>();
    const routes = items.flat().filter((r) => !named.has(r.id) && named.add(r.id));
    const rows: { id: string }[] = await this.batch(
      'dq_route_recipients_returning',
      `UPDATE recipients AS r SET route = v.route, status = 'queued'
         FROM unnest($1::uuid[], $2::text[]) AS v(id, route)
        WHERE r.id = v.id AND r.${RECIPIENT_PENDING}
        RETURNING r.id`,
      [routes.map((r) => r.id), routes.map((r) => r.route)],
    );
    const changed = new Set(rows.map((r) => r.id));
    return items.map((item) => item.filter((r) => changed.delete(r.id)).map((r) => r.id));
  }

  async markDelivered(ids: readonly string[], reply: string, at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.hot(
      'dq_mark_delivered',
      `UPDATE recipients SET status = 'delivered', last_reply = $2, delivered_at = $3, attempts = attempts + 1, next_attempt_at = NULL
        WHERE id = ANY($1::uuid[]) AND ${RECIPIENT_OPEN}`,
      [[...ids], reply, at],
    );
  }

  /** DeliveredMarker in two statements (the DeliveredRecorder does it in one). */
  async markDeliveredAndFinish(messageId: string, ids: readonly string[], reply: string, at: Date): Promise<FinishedGroups> {
    if (ids.length === 0) return null;
    await this.markDelivered(ids, reply, at);
    return this.finishMessageReturningGroups(messageId);
  }

  async markDeferred(ids: readonly string[], reply: string, nextAttemptAt: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.hot(
      'dq_mark_deferred',
      `UPDATE recipients SET status = 'deferred', last_reply = $2, next_attempt_at = $3, attempts = attempts + 1
        WHERE id = ANY($1::uuid[]) AND ${RECIPIENT_OPEN}`,
      [[...ids], reply, nextAttemptAt],
    );
  }

  async markBounced(ids: readonly string[], reply: string, at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.hot(
      'dq_mark_bounced',
      `UPDATE recipients SET status = 'bounced', last_reply = $2, bounced_at = $3, next_attempt_at = NULL
        WHERE id = ANY($1::uuid[]) AND ${RECIPIENT_OPEN}`,
      [[...ids], reply, at],
    );
  }

  async markDelayNotified(ids: readonly string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.ds.getRepository(RecipientEntity).update({ id: In([...ids]) }, { delayNotifiedAt: at });
  }

  /** Marks the message done when none of its recipients is still open; true if it did. */
  async finishMessageIfComplete(messageId: string): Promise<boolean> {
    const rows = await this.hot(
      'dq_finish',
      `UPDATE messages SET state = 'done'
        WHERE id = $1 AND ${MESSAGE_OPEN}
          AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = $1 AND ${RECIPIENT_OPEN})
        RETURNING id`,
      [messageId],
    );
    return rows.length > 0;
  }

  /**
   * finishMessageIfComplete that also returns, when it finished the message, its recipients'
   * distinct (route, domain) groups (what the spool clean-up needs), in the same round trip;
   * null when the message was not finished by this call. Concurrent calls share a statement.
   */
  async finishMessageReturningGroups(messageId: string): Promise<FinishedGroups> {
    return this.finishes.submit(messageId);
  }

  private async finishBatch(ids: readonly string[]): Promise<FinishedGroups[]> {
    const rows: { id: string; route: RecipientRoute | null; domain: string | null }[] = await this.batch(
      'dq_finish_groups_batch',
      `WITH f AS (
         UPDATE messages AS m SET state = 'done'
          WHERE m.id = ANY($1::uuid[]) AND m.${MESSAGE_OPEN}
            AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = m.id AND ${RECIPIENT_OPEN})
          RETURNING m.id)
       ${FINISHED_GROUPS_OF_F}`,
      [[...ids]],
    );
    return finishedGroupsFor(rows, ids);
  }

  /**
   * Messages still 'queued' although none of their recipients is open: a process died between the
   * last recipient's final mark and finishing the message. Recovery finishes them.
   */
  async findCompleteUnfinishedMessageIds(limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.ds.query(
      `SELECT m.id FROM messages m
        WHERE m.state = 'queued'
          AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status IN ('pending', 'queued', 'deferred'))
        LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  /** Open recipients whose next attempt is due (or never scheduled): recovery after Redis loss or a crash. */
  async findDueRecipients(now: Date, limit: number): Promise<QueuedRecipient[]> {
    const rows: RawRecipient[] = await this.ds.query(
      `SELECT ${RECIPIENT_COLUMNS} FROM recipients
        WHERE status IN ('pending', 'queued', 'deferred') AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
        ORDER BY next_attempt_at ASC NULLS FIRST
        LIMIT $2`,
      [now, limit],
    );
    return rows.map(fromRawRecipient);
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
