// The plans of the statements on every message's path, against a real PostgreSQL whose queue
// already holds 20,000 finished messages, without statistics and then with them: each statement
// finds its rows by key (no sequential scan of messages or recipients, and not through the partial
// indexes recipients_due or messages_queued, which a busy queue bloats). Statements on the shared
// pool are planned per execution for their own parameters (HOT_SESSION_OPTIONS); the group-committed
// ones run on pools of their own (hot-pool.ts) whose connections plan each statement once, and
// their generic plans are checked as such. And the start-up warning when nothing vacuums the queue
// tables.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool, QueryConfig } from 'pg';
import { autovacuumWarnings, DeliveredRecorder, HotStatementPool, openDatabase, QueueRepository, type DataSource } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../test/database';

let db: TestDatabase;
let ds: DataSource;
let queue: QueueRepository;
let recorder: DeliveredRecorder;
let batchPool: HotStatementPool;
let spoolKeyId: number;

/** A named statement as sent, and the pool it went through (planned per execution, or once). */
const captured: { name: string; text: string; values: unknown[]; pool: Pool; plans: 'custom' | 'generic' }[] = [];

/** Records every named (hot) statement that goes through `pool` (they all pass a config object). */
function capture(pool: Pool, plans: 'custom' | 'generic'): void {
  const query = pool.query.bind(pool) as (config: QueryConfig) => Promise<unknown>;
  Object.assign(pool, {
    query: (config: QueryConfig) => {
      if (config.name) captured.push({ name: config.name, text: config.text, values: [...(config.values ?? [])], pool, plans });
      return query(config);
    },
  });
}

/** The plan `statement` runs with: custom (planned for these values) or the generic one of its pool's sessions. */
async function planOf(statement: (typeof captured)[number]): Promise<PlanNode> {
  const explain = async (client: { query: Pool['query'] }, text: string, values: unknown[] = []): Promise<PlanNode> => {
    const result = await client.query({ text, values });
    return (result.rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]!.Plan;
  };
  // unnamed: planned for these parameter values, as force_custom_plan plans the named one
  if (statement.plans === 'custom') return explain(statement.pool, `EXPLAIN (FORMAT JSON) ${statement.text}`, statement.values);
  // prepared on a connection of its own pool (force_generic_plan + its planner settings); EXPLAIN
  // EXECUTE takes no bind parameters, so the values go as literals, in the text form PostgreSQL
  // gives them (arrays as node-postgres sends them)
  const client = await statement.pool.connect();
  try {
    await client.query(`PREPARE hot_plan_check AS ${statement.text}`);
    const args: string[] = [];
    for (const value of statement.values) {
      if (value === null || value === undefined) {
        args.push('NULL');
        continue;
      }
      const text = await client.query<{ t: string }>({ text: Buffer.isBuffer(value) ? 'SELECT $1::bytea::text AS t' : 'SELECT $1::text AS t', values: [value] });
      args.push(client.escapeLiteral(text.rows[0]!.t));
    }
    return await explain(client, `EXPLAIN (FORMAT JSON) EXECUTE hot_plan_check(${args.join(', ')})`);
  } finally {
    await client.query('DEALLOCATE hot_plan_check').catch(() => undefined);
    client.release();
  }
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
  batchPool = new HotStatementPool(db.config, { size: 2, applicationName: 'hot-plans-queue' });
  queue = new QueueRepository(ds, { batchPool });
  recorder = new DeliveredRecorder(db.config, { size: 2, applicationName: 'hot-plans-test' });
  await recorder.warm();
  const keys: { id: number }[] = await ds.query(`INSERT INTO spool_keys (wrapped_key, kek_label) VALUES ($1, 'kek') RETURNING id`, [randomBytes(40)]);
  spoolKeyId = keys[0]!.id;
  // a queue with history: 20,000 finished messages, one delivered recipient each
  await ds.query(`
    WITH m AS (
      INSERT INTO messages (id, queue_id, direction, mail_from, size, sha256, spool_key_id, client_address, received_at, expires_at, state)
      SELECT gen_random_uuid(), 'H' || g, 'outbound', 'a@example.test', 100, decode(repeat('00', 32), 'hex'), $1, '127.0.0.1', now(), now() + interval '5 days', 'done'
        FROM generate_series(1, 20000) AS g
      RETURNING id)
    INSERT INTO recipients (id, message_id, address, domain, route, status, attempts, delivered_at)
    SELECT gen_random_uuid(), m.id, 'r@remote.test', 'remote.test', 'remote', 'delivered', 1, now() FROM m`, [spoolKeyId]);
  // no ANALYZE here: the plans are checked first without statistics (autovacuum off, or a new
  // appliance before its first ANALYZE), then with them
});

afterAll(async () => {
  await recorder?.close();
  await batchPool?.close();
  await ds?.destroy();
  await db?.drop();
});

const PLANNER_SETTINGS = `SELECT current_setting('plan_cache_mode') AS plans, current_setting('enable_seqscan') AS seqscan, current_setting('enable_bitmapscan') AS bitmapscan,
  current_setting('enable_hashjoin') AS hashjoin, current_setting('enable_mergejoin') AS mergejoin`;

it('plans per execution on the shared pool, once per connection with key lookups only on the pools of the group-committed statements', async () => {
  expect((await ds.query(PLANNER_SETTINGS))[0]).toEqual({ plans: 'force_custom_plan', seqscan: 'on', bitmapscan: 'on', hashjoin: 'on', mergejoin: 'on' });
  for (const pool of [recorder.pool, batchPool.pool]) {
    expect((await pool.query(PLANNER_SETTINGS)).rows[0]).toEqual({ plans: 'force_generic_plan', seqscan: 'off', bitmapscan: 'off', hashjoin: 'off', mergejoin: 'off' });
  }
});

it('finds the rows of every statement on a message path by key', async () => {
  capture((ds.driver as unknown as { master: Pool }).master, 'custom');
  capture(recorder.pool, 'generic');
  capture(batchPool.pool, 'generic');
  const now = new Date();
  const lifecycle = async (recipients: number, end: (ids: string[], id: string) => Promise<void>): Promise<string> => {
    const id = randomUUID();
    const ids = Array.from({ length: recipients }, () => randomUUID());
    await queue.insertAccepted(
      { id, queueId: randomBytes(6).toString('hex'), direction: 'outbound', mailFrom: 'a@example.test', size: 1, sha256: randomBytes(32), spoolKeyId, headerMessageId: null, clientAddress: '127.0.0.1', clientHelo: null, authUser: null, receivedAt: now, expiresAt: new Date(now.getTime() + 86400_000) },
      ids.map((r, i) => ({ id: r, address: `r${i}@x.test`, domain: 'x.test' })),
    );
    await queue.findMessageWithRecipients(id);
    await queue.findMessage(id);
    await queue.findRecipientsOfMessage(id);
    await queue.routeRecipients(ids.map((r) => ({ id: r, route: 'remote' as const })));
    await end(ids, id);
    await queue.finishMessageReturningGroups(id);
    await queue.finishMessageIfComplete(id);
    return id;
  };
  await lifecycle(2, async (ids, id) => {
    await queue.markDeferred(ids, '451 later', new Date(now.getTime() + 60_000));
    await recorder.markDeliveredAndFinish(id, [ids[0]!], '250 ok', now);
    await queue.markDelivered([ids[1]!], '250 ok', now);
  });
  // the mark that completes the message finishes it in the same statement
  await lifecycle(1, (ids, id) => recorder.markDeliveredAndFinish(id, ids, '250 ok', now).then(() => undefined));
  await lifecycle(3, (ids) => queue.markBounced(ids, '550 no', now));
  await queue.removeUnprocessed(await lifecycle(1, async () => undefined));
  // marks that complete several messages at once leave as one statement (group commit), which
  // then finishes them all: without statistics the planner hash-joined its groups' lookup with a
  // sequential scan of recipients once a batch finished more than a few messages
  const batch = await Promise.all(
    Array.from({ length: 24 }, async () => {
      const id = randomUUID();
      const rid = randomUUID();
      await queue.insertAccepted(
        { id, queueId: randomBytes(6).toString('hex'), direction: 'outbound', mailFrom: 'a@example.test', size: 1, sha256: randomBytes(32), spoolKeyId, headerMessageId: null, clientAddress: '127.0.0.1', clientHelo: null, authUser: null, receivedAt: now, expiresAt: new Date(now.getTime() + 86400_000) },
        [{ id: rid, address: 'r@x.test', domain: 'x.test' }],
      );
      await queue.routeRecipients([{ id: rid, route: 'remote' }]);
      return { id, rid };
    }),
  );
  const [half, rest] = [batch.slice(0, 12), batch.slice(12)];
  const finished = await Promise.all(half.map((m) => recorder.markDeliveredAndFinish(m.id, [m.rid], '250 ok', now)));
  expect(finished).toEqual(half.map(() => [{ route: 'remote', domain: 'x.test' }]));
  await queue.markDelivered(rest.map((m) => m.rid), '250 ok', now);
  expect(await Promise.all(rest.map((m) => queue.finishMessageReturningGroups(m.id)))).toEqual(rest.map(() => [{ route: 'remote', domain: 'x.test' }]));
  expect(captured.filter((c) => c.name === 'dr_mark_delivered_finishing').some((c) => (c.values[0] as string[]).length === 12)).toBe(true);
  expect(captured.filter((c) => c.name === 'dq_finish_groups_batch').some((c) => (c.values[0] as string[]).length === 12)).toBe(true);

  const names = new Set(captured.map((c) => c.name));
  for (const expected of ['dq_insert_accepted_batch', 'dq_route_recipients_returning', 'dq_mark_deferred', 'dq_mark_delivered', 'dq_mark_bounced', 'dr_mark_delivered_finishing', 'dq_finish_groups_batch', 'dq_finish', 'dq_remove_unprocessed']) {
    expect(names).toContain(expected);
  }
  // the group-committed statements ran on the pools that plan them once
  const generic = new Set(captured.filter((c) => c.plans === 'generic').map((c) => c.name));
  expect([...generic].sort()).toEqual(['dq_finish_groups_batch', 'dq_insert_accepted_batch', 'dq_route_recipients_returning', 'dr_mark_delivered_finishing']);
  expect(captured.filter((c) => c.plans === 'custom' && generic.has(c.name))).toEqual([]);
  const statements = [...captured];
  const check = async (statistics: string, statement: (typeof captured)[number]): Promise<void> => {
    const bad = nodesOf(await planOf(statement))
      .filter((n) => (n['Node Type'] === 'Seq Scan' && ['messages', 'recipients'].includes(n['Relation Name'] ?? '')) || ['recipients_due', 'messages_queued'].includes(n['Index Name'] ?? ''))
      .map((n) => `${n['Node Type']} ${n['Index Name'] ?? n['Relation Name']}`);
    expect({ statement: statement.name, statistics, bad }).toEqual({ statement: statement.name, statistics, bad: [] });
  };
  for (const statistics of ['none', 'analyzed']) {
    if (statistics === 'analyzed') await ds.query('ANALYZE messages, recipients');
    for (const statement of statements) await check(statistics, statement);
  }
  // a generic plan is kept for the connection's life: made on an empty queue (a fresh install),
  // it must still be the one for a full one
  const empty = await createTestDatabase();
  await (await openDatabase(empty.config)).destroy(); // migrated, nothing in it
  const emptyPool = new HotStatementPool(empty.config, { size: 1, applicationName: 'hot-plans-empty' });
  try {
    for (const statement of statements.filter((c) => c.plans === 'generic')) await check('empty queue', { ...statement, pool: emptyPool.pool });
  } finally {
    await emptyPool.close();
    await empty.drop();
  }
});

it('warns when nothing vacuums the queue tables: autovacuum off, or disabled on one of them', async () => {
  const settings: { autovacuum: string; track_counts: string }[] = await ds.query(`SELECT current_setting('autovacuum') AS autovacuum, current_setting('track_counts') AS track_counts`);
  const serverOff = settings[0]!.autovacuum !== 'on' || settings[0]!.track_counts !== 'on';
  const before = await autovacuumWarnings(ds);
  expect(before).toHaveLength(serverOff ? 1 : 0);
  if (serverOff) expect(before[0]).toMatch(/^PostgreSQL autovacuum is off .*VACUUM ANALYZE messages, recipients/);
  await ds.query('ALTER TABLE recipients SET (autovacuum_enabled = false)');
  try {
    const after = await autovacuumWarnings(ds);
    expect(after.slice(before.length)).toEqual([
      'autovacuum is disabled on table recipients (autovacuum_enabled = false): it will grow with dead rows; ALTER TABLE recipients RESET (autovacuum_enabled)',
    ]);
  } finally {
    await ds.query('ALTER TABLE recipients RESET (autovacuum_enabled)');
  }
  expect(await autovacuumWarnings(ds)).toEqual(before);
});
