// The queries on every message's path, straight on the DataSource's pg pool as named prepared
// statements: PostgreSQL parses and plans each once per connection instead of once per call, and
// no TypeORM query runner is made and released per query (together a third of the gateway's CPU
// under the benchmark). Same SQL, parameters and row types (node-postgres's) as ds.query.
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * Session options of every connection that runs hot statements: plan each execution for its own
 * parameters (`plan_cache_mode = force_custom_plan`; the statement is still parsed once).
 * PostgreSQL otherwise switches a named statement to a generic plan after five executions and keeps
 * it until the tables' statistics change. A generic plan made while the queue tables were small
 * (a fresh install, or a new connection after a quiet night) joins `unnest($1)` against a
 * sequential scan of `recipients`, and with autovacuum off it was never replanned: in the
 * benchmark, 13,000 such scans read 75 million rows, half of PostgreSQL's CPU per message. A custom
 * plan knows the array's length and the table's current size; planning one of these statements
 * costs 0.07-0.18 ms. The statements every message makes (the group-committed ones) run instead
 * on pools of their own that plan each once, with the planner limited to key lookups (hot-pool.ts).
 */
export const HOT_SESSION_OPTIONS = '-c plan_cache_mode=force_custom_plan';

// Statements that find their rows by key test "still open" with these instead of `status IN
// ('pending', 'queued', 'deferred')` and `state = 'queued'`. The sets are the same (both columns
// are NOT NULL with a CHECK of their values), but PostgreSQL cannot match these forms to the
// partial indexes recipients_due and messages_queued, so it looks the rows up by key. Matched, it
// chose a BitmapAnd of the key index with the whole partial index, which it believed small: on a
// busy queue that index holds every open row plus, until a vacuum, a dead entry per status change
// (280 million index entries read in one 15,000-message benchmark run with autovacuum off).
// Used by queue.repository.ts and delivered-recorder.ts.
export const RECIPIENT_OPEN = `status NOT IN ('delivered', 'bounced')`;
/** status = 'pending', by key (as RECIPIENT_OPEN). */
export const RECIPIENT_PENDING = `status NOT IN ('queued', 'deferred', 'delivered', 'bounced')`;
export const MESSAGE_OPEN = `state <> 'done'`;

export async function hotQuery<T = Record<string, unknown>>(ds: DataSource, name: string, text: string, values: readonly unknown[]): Promise<T[]> {
  const pool = (ds.driver as unknown as { master?: Pool }).master;
  if (!pool) return ds.query(text, [...values]);
  return (await pool.query({ name, text, values: [...values] })).rows as T[];
}

// The (route, domain) groups of the messages that a finishing statement's CTE `f` (RETURNING m.id)
// just marked done, one row per group (route and domain NULL for a message without recipients).
// A LATERAL subquery per finished message, because a plain `f LEFT JOIN recipients` let the
// planner hash-join a sequential scan of all of recipients when the table had no statistics
// (autovacuum off, or a new appliance before its first ANALYZE): it then assumes 200 distinct
// message_ids, so a message "has" 1/200 of the table and probing the index per message looks
// dearer. Seen in the gateway benchmark: a third of the 2xx statements scanned the whole table, a
// cost that grew with every message since the last vacuum. The DISTINCT keeps the subquery from
// being flattened back into that join; each run of it is an index scan of recipients_message_id.
export const FINISHED_GROUPS_OF_F = `SELECT f.id, g.route, g.domain FROM f LEFT JOIN LATERAL (
  SELECT DISTINCT x.route, x.domain FROM recipients x WHERE x.message_id = f.id) AS g ON true`;
