// Records "the next hop answered 2xx" for recipients, over a small pg pool of its own. Between that
// reply and this UPDATE reaching PostgreSQL, a crash of the gateway sends the message again, so
// the UPDATE must leave as soon as the reply is parsed: the pool is opened before any delivery
// (warm) and serves nothing else, so no acceptance transaction or pipeline query stands between a
// 2xx and a free connection (the shared TypeORM pool made deliveries queue behind them).
import type { Pool } from 'pg';
import type { DbConfig } from './db.config';
import { FINISHED_GROUPS_OF_F, MESSAGE_OPEN, RECIPIENT_OPEN } from './hot-query';
import { HotStatementPool } from './hot-pool';
import { finishedGroupsFor, type DeliveredMarker, type FinishedGroups } from './queue.repository';
import type { RecipientRoute } from './entities/recipient.entity';
import { StatementCoalescer } from './statement-coalescer';

// Synchronous commit stays on (the server default), on purpose. If the gateway dies after sending
// this autocommit UPDATE, PostgreSQL still executes and commits it (it does not look for the
// client before committing), so the wait for the WAL flush is outside the duplicate window of a
// gateway crash and `synchronous_commit = off` would not shrink it. It would instead open a new
// one: a PostgreSQL crash would forget marks it had acknowledged and the message would be sent
// again. What the durability e2e measured instead (400 messages, loaded 2-core machine): the
// commit took ~85 ms while acceptance traffic ran, so a few busy connections made the next 2xx
// wait for one (p90 213 ms with 4); hence a pool sized for the 250s of one commit time, not
// asynchronous commits.
//
// Every 2xx recorded since the last UPDATE left, in one (group commit, statement-coalescer.ts):
// one row per recipient, each with its own reply and time. "Still open" is RECIPIENT_OPEN, so that
// the rows are found by key, not through the partial index recipients_due (hot-query.ts).
const MARK_DELIVERED = `UPDATE recipients AS r
    SET status = 'delivered', last_reply = v.reply, delivered_at = v.at, attempts = r.attempts + 1, next_attempt_at = NULL
   FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v(id, reply, at)
  WHERE r.id = v.id AND r.${RECIPIENT_OPEN}`;

// The same marks, and in the same statement the finish of every message they complete (what
// QueueRepository.finishMessageReturningGroups does next otherwise): for most messages, one
// recipient domain delivered in one transaction, that is one statement and one commit less. All
// parts of a statement see one snapshot, taken before the marks: a recipient of this batch counts
// as final here, any other must already be final in the snapshot. Final states never go back, so a
// message finished here is complete; one whose other recipients are marked by a concurrent
// statement may be finished by neither, and the caller then runs the separate finish, after its
// own marks committed (as before). The last SELECT returns the finished messages' groups (their
// spool bodies go with them: a trigger, migration SpoolBodies), looked up per finished message
// (FINISHED_GROUPS_OF_F).
const MARK_DELIVERED_FINISHING = `WITH d AS (${MARK_DELIVERED}
  RETURNING r.message_id),
f AS (
  UPDATE messages AS m SET state = 'done'
   WHERE m.id IN (SELECT message_id FROM d) AND m.${MESSAGE_OPEN}
     AND NOT EXISTS (SELECT 1 FROM recipients x WHERE x.message_id = m.id AND x.${RECIPIENT_OPEN} AND x.id <> ALL($1::uuid[]))
  RETURNING m.id)
${FINISHED_GROUPS_OF_F}`;

interface Delivered {
  /** The message of every recipient in `ids`. */
  readonly messageId: string;
  readonly ids: readonly string[];
  readonly reply: string;
  readonly at: Date;
}

export interface DeliveredRecorderOptions {
  /** Connections kept open (at least 1). */
  readonly size: number;
  readonly applicationName?: string;
  /**
   * UPDATEs in flight at most; 2xx replies that arrive meanwhile leave together as one UPDATE when
   * one ends (default: half the pool, at least 1). A 2xx thus never waits for more than one commit.
   */
  readonly maxInFlight?: number;
}

export class DeliveredRecorder implements DeliveredMarker {
  /** Its own connections, which plan MARK_DELIVERED_FINISHING once each (hot-pool.ts). */
  private readonly statements: HotStatementPool;
  private readonly marks: StatementCoalescer<Delivered, FinishedGroups>;

  constructor(config: DbConfig, options: DeliveredRecorderOptions) {
    const size = Math.max(1, options.size);
    this.statements = new HotStatementPool(config, {
      size,
      applicationName: options.applicationName ?? 'dime-gateway-delivered',
      // kept open: a connection opened after a 2xx would be in the window
      min: size,
      // a hung server fails the call, which the caller retries; the UPDATE is idempotent
      queryTimeoutMs: 30_000,
    });
    this.marks = new StatementCoalescer<Delivered, FinishedGroups>(
      async (items) => {
        const rows = items.flatMap((d) => d.ids.map((id) => ({ id, reply: d.reply, at: d.at })));
        const result = await this.statements.query<{ id: string; route: RecipientRoute | null; domain: string | null }>('dr_mark_delivered_finishing', MARK_DELIVERED_FINISHING, [
          rows.map((r) => r.id),
          rows.map((r) => r.reply),
          rows.map((r) => r.at),
        ]);
        // a message named by two items (two transactions of it ending at once): the first gets its groups
        return finishedGroupsFor(result, items.map((d) => d.messageId));
      },
      { maxInFlight: options.maxInFlight ?? Math.max(1, Math.floor(size / 2)), maxBatch: 256 },
    );
  }

  /** The pg pool of its connections (tests look at their settings and plans). */
  get pool(): Pool {
    return this.statements.pool;
  }

  /** Opens every connection now (before deliveries start); failures are left to the first use. */
  warm(): Promise<void> {
    return this.statements.warm();
  }

  /** DeliveredMarker in one statement (see MARK_DELIVERED_FINISHING). */
  async markDeliveredAndFinish(messageId: string, ids: readonly string[], reply: string, at: Date): Promise<FinishedGroups> {
    if (ids.length === 0) return null;
    return this.marks.submit({ messageId, ids: [...ids], reply, at });
  }

  close(): Promise<void> {
    return this.statements.close();
  }
}
