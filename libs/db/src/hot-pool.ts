// A small pg pool of its own for the group-committed statements every message makes (one for the
// QueueRepository's insert at acceptance, routing claim and finish; one inside the 2xx recorder,
// delivered-recorder.ts), whose connections keep ONE plan per statement instead of planning each
// execution.
//
// Planning was a third of PostgreSQL's CPU per message: force_custom_plan (hot-query.ts) plans each
// execution anew, 0.07-0.18 ms for these statements, at 0.5-1.25 statements per message. A generic
// plan is made once per connection, but with the tables' statistics of that moment: made on a
// small queue it joined `unnest($1)` against a sequential scan of recipients and, with autovacuum
// off, kept doing so at any size (hot-query.ts tells that story). On these connections the planner
// may therefore use nothing but index scans and nested loops, which is the right plan for every
// statement sent here at any table size: each finds its rows by key. That would be wrong for the
// rest of the gateway's queries (a journal search through a GIN index needs a bitmap scan, a report
// may need a hash join), so those stay on the shared pool with custom plans, and only statements
// written for this pool (hot-plans.medium-spec.ts checks their plans) may be sent here.
import { Pool } from 'pg';
import type { DbConfig } from './db.config';

export const HOT_GENERIC_SESSION_OPTIONS = [
  'plan_cache_mode=force_generic_plan',
  'enable_seqscan=off',
  'enable_bitmapscan=off',
  'enable_hashjoin=off',
  'enable_mergejoin=off',
]
  .map((o) => `-c ${o}`)
  .join(' ');

/** Runs one named statement (prepared once per connection) and returns its rows. */
export interface HotStatementRunner {
  query<T = Record<string, unknown>>(name: string, text: string, values: readonly unknown[]): Promise<T[]>;
}

export interface HotStatementPoolOptions {
  /** Connections at most (at least 1): the statements that may run at once. */
  readonly size: number;
  readonly applicationName: string;
  /** Kept open even when idle (default 0); the 2xx recorder keeps all of its connections. */
  readonly min?: number;
  /** A statement that takes longer fails (ms; default none: the callers' own timeouts apply). */
  readonly queryTimeoutMs?: number;
}

export class HotStatementPool implements HotStatementRunner {
  /** The pg pool (tests look at its connections' settings and plans). */
  readonly pool: Pool;
  private closed: Promise<void> | undefined;

  constructor(config: DbConfig, options: HotStatementPoolOptions) {
    const size = Math.max(1, options.size);
    const min = Math.min(size, Math.max(0, options.min ?? 0));
    this.pool = new Pool({
      host: config.host,
      port: config.port,
      database: config.database,
      user: config.user,
      password: config.password.reveal(),
      application_name: options.applicationName,
      options: HOT_GENERIC_SESSION_OPTIONS,
      max: size,
      min,
      // a kept connection is never closed for idleness; the others after 30 s
      idleTimeoutMillis: min === size ? 0 : 30_000,
      connectionTimeoutMillis: 5000,
      ...(options.queryTimeoutMs !== undefined ? { query_timeout: options.queryTimeoutMs } : {}),
      keepAlive: true,
    });
    // a pooled connection lost while idle (server restart) is dropped by the pool; not fatal
    this.pool.on('error', () => undefined);
  }

  async query<T = Record<string, unknown>>(name: string, text: string, values: readonly unknown[]): Promise<T[]> {
    return (await this.pool.query({ name, text, values: [...values] })).rows as T[];
  }

  /** Opens every connection now; failures are left to the first use. */
  async warm(): Promise<void> {
    const clients = [];
    try {
      for (let i = 0; i < (this.pool.options.max ?? 1); i++) clients.push(await this.pool.connect());
    } finally {
      for (const c of clients) c.release();
    }
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end();
    return this.closed;
  }
}
