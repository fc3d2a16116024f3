// The stack's floor, as a child process of bench/stack-floor-bench.ts: the least relay that the
// issue's design allows, built from the gateway's own parts and nothing else. It answers SMTP with
// the gateway's smtp-server front (GatewaySmtpServer: no 100 ms greeting delay, no reverse lookup),
// keeps nothing but a Map of bodies in memory, and delivers with the gateway's SMTP client
// (sendSmtpTransaction: cached sessions to the next hop). FLOOR_LEVEL adds, cumulatively, what the
// design requires before the 250:
//   relay  nothing durable: 250 once the data is read, then delivery
//   spool  + the encrypted, fsynced spool file (SpoolService), removed after delivery
//   db     + one row per message in PostgreSQL (autocommit INSERT), marked done after delivery
//   queue  + a BullMQ job carrying the id (added at once with the INSERT); a Worker delivers it
//   "queue, body in db"  as queue, with the sealed body inserted by the row's statement (a second
//          table, one commit) instead of a spool file, and deleted with the "done" update
// No policy, classification, journal hook, metrics, logs, timeouts, retries, DSNs, TLS policy,
// group commit or recovery: whatever the product spends beyond the `queue` level is its own.
// Prints "floor ready <port>" on stdout once listening.
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Pool } from 'pg';
import { sendSmtpTransaction } from '../apps/gateway/src/delivery/smtp-transaction';
import { GatewaySmtpServer } from '../apps/gateway/src/smtp/gateway-smtp-server';
import { SpoolKeyring } from '../apps/gateway/src/spool/spool-keyring';
import { SpoolService } from '../apps/gateway/src/spool/spool.service';

export const FLOOR_LEVELS = ['relay', 'spool', 'db', 'queue', 'queue, body in db'] as const;
export type FloorLevel = (typeof FLOOR_LEVELS)[number];

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new RangeError(`${name} is not set`);
  return v;
}

interface Held {
  readonly from: string;
  readonly to: readonly string[];
  readonly body: Buffer;
}

async function main(): Promise<void> {
  const level = env('FLOOR_LEVEL') as FloorLevel;
  const bodyInDb = level === 'queue, body in db';
  const rank = bodyInDb ? 3 : FLOOR_LEVELS.indexOf(level);
  if (rank < 0) throw new RangeError(`FLOOR_LEVEL must be one of ${FLOOR_LEVELS.join(', ')}`);
  const sinkPort = Number(env('FLOOR_SINK_PORT'));
  // the gateway's spool: it writes the file, or (body in db) only seals the bytes, as acceptance does
  const sealer = rank >= 1 ? new SpoolService(env('FLOOR_SPOOL_DIR'), SpoolKeyring.fromKeys(new Map([[1, randomBytes(32)]]), 1)) : undefined;
  const spool = bodyInDb ? undefined : sealer;
  const pool = rank >= 2 ? new Pool({ host: env('PGHOST'), port: Number(env('PGPORT')), user: env('PGUSER'), database: env('PGDATABASE'), max: 20 }) : undefined;
  if (pool) {
    await pool.query('CREATE TABLE IF NOT EXISTS floor_messages (id uuid PRIMARY KEY, mail_from text NOT NULL, recipients text[] NOT NULL, done boolean NOT NULL DEFAULT false)');
    await pool.query('CREATE TABLE IF NOT EXISTS floor_bodies (id uuid PRIMARY KEY, body bytea NOT NULL)');
    await pool.query('ALTER TABLE floor_bodies ALTER COLUMN body SET STORAGE EXTERNAL');
  }
  // one queue per level: the relays run side by side on one Redis, and a Worker takes only its own relay's jobs
  const queueName = `floor-${level.replace(/\W+/g, '-')}`;
  const connection = { host: '127.0.0.1', port: Number(process.env['FLOOR_REDIS_PORT'] ?? 0), maxRetriesPerRequest: null };
  const queue = rank >= 3 ? new Queue(queueName, { connection }) : undefined;
  const held = new Map<string, Held>();

  // one array for every delivery: the SMTP client caches sessions per next hop *and* trust anchors,
  // which it tells apart by the array's identity (a new [] per call would open a session per message)
  const trustedCa: readonly string[] = [];
  const deliver = async (id: string): Promise<void> => {
    const m = held.get(id);
    if (!m) throw new Error(`no message ${id}`);
    const result = await sendSmtpTransaction({
      hop: { host: '127.0.0.1', port: sinkPort, name: 'sink.test' },
      ehloName: 'floor.test',
      tlsPolicy: 'opportunistic',
      trustedCa,
      connectTimeoutMs: 30_000,
      commandTimeoutMs: 60_000,
      mailFrom: m.from,
      recipients: m.to,
      body: m.body,
      onAccepted: async () => {
        if (pool && bodyInDb) await pool.query({ name: 'done-body', text: 'WITH d AS (DELETE FROM floor_bodies WHERE id = $1) UPDATE floor_messages SET done = true WHERE id = $1', values: [id] });
        else if (pool) await pool.query({ name: 'done', text: 'UPDATE floor_messages SET done = true WHERE id = $1', values: [id] });
      },
    });
    if (result.kind !== 'completed' || result.outcomes.some((o) => o.code >= 300)) throw new Error(`delivery of ${id} failed: ${JSON.stringify(result)}`);
    held.delete(id);
    if (spool) await spool.remove(id);
  };
  const worker = queue
    ? new Worker(queueName, async (job) => deliver((job.data as { id: string }).id), { connection, concurrency: 100 })
    : undefined;
  worker?.on('failed', (_job, err) => process.stderr.write(`${err.message}\n`));

  const server = new GatewaySmtpServer({
    secure: false,
    hideSTARTTLS: true,
    authOptional: true,
    size: 10 * 1024 * 1024,
    maxClients: 1000,
    onData: (stream, session, cb) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        const id = randomUUID();
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const to = session.envelope.rcptTo.map((r) => r.address);
        held.set(id, { from, to, body });
        const durable = async () => {
          if (spool) await spool.write(id, body);
          await Promise.all([
            bodyInDb
              ? pool?.query({ name: 'insert-body', text: 'WITH b AS (INSERT INTO floor_bodies (id, body) VALUES ($1, $4)) INSERT INTO floor_messages (id, mail_from, recipients) VALUES ($1, $2, $3)', values: [id, from, to, sealer!.seal(id, body).sealed] })
              : pool?.query({ name: 'insert', text: 'INSERT INTO floor_messages (id, mail_from, recipients) VALUES ($1, $2, $3)', values: [id, from, to] }),
            queue?.add('process', { id }, { jobId: id, removeOnComplete: true, removeOnFail: true }),
          ]);
        };
        durable().then(
          () => {
            cb(null, `2.0.0 queued as ${id}`);
            if (!queue) deliver(id).catch((err: Error) => process.stderr.write(`${err.message}\n`));
          },
          (err: Error) => {
            held.delete(id);
            cb(Object.assign(new Error(`4.3.0 ${err.message}`), { responseCode: 451 }));
          },
        );
      });
    },
  });
  server.on('error', (err) => process.stderr.write(`smtp: ${err.message}\n`));
  await new Promise<void>((resolve) => server.listen(Number(env('FLOOR_PORT')), '127.0.0.1', resolve));
  process.stdout.write(`floor ready ${env('FLOOR_PORT')}\n`);
  const stop = () => {
    server.close(() => undefined);
    void Promise.allSettled([worker?.close(), queue?.close(), pool?.end()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
