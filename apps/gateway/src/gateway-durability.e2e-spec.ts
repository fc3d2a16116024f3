// Nothing is lost (issue 4, "what must be shown", 2): the whole gateway process under load
// (hundreds of messages from tens of concurrent senders into the submission port, delivered to an
// SMTP sink that records every Message-ID it answered 250 to) while, during the run, the gateway
// is SIGKILLed and restarted (twice), its Redis is killed -9 and restarted empty (every BullMQ job
// lost: the recovery sweeper must re-enqueue from PostgreSQL), and its PostgreSQL is killed -9 and
// restarted (crash recovery). PostgreSQL and Redis are private to this test (test/services).
// Senders behave like MTAs: refused connections, 4xx and broken sessions are retried with the same
// Message-ID; some senders give up after one failed try. At the end:
//   - every message that got a 250 is delivered, and exactly once unless one of its attempts had
//     an unknown outcome (the connection broke after the final dot, before a reply: SMTP's own
//     duplicate window, RFC 1047), which is counted and reported;
//   - no message without a 250 is delivered, unless one of its attempts had an unknown outcome;
//   - duplicates made by the gateway itself (a crash between the sink's 250 and the PostgreSQL
//     update) are counted and reported; none is allowed beyond the gateway SIGKILLs' window.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { SMTPServer } from 'smtp-server';
import { createGatewayToken, removeSpoolDir, startGatewayProcess, type GatewayProcess, type GatewayProcessOptions, type GatewayToken } from '../../../test/gateway/gateway-process';
import { freePort } from '../../../test/postfix/free-port';
import { startPrivatePostgres, type PrivatePostgres } from '../../../test/services/private-postgres';
import { startPrivateRedis, type PrivateRedis } from '../../../test/services/private-redis';
import { sleep, until } from '../../../test/until';

// bounded everywhere: each phase below has its own deadline, and senders stop when the test ends
jest.setTimeout(420_000);

const MESSAGES = 400;
const SENDERS = 30;
/** Every GIVE_UP_EVERY-th message's sender tries once only: a failure is final for it. */
const GIVE_UP_EVERY = 8;
/** A first delivery this close before a gateway SIGKILL may be sent again (the 250 -> UPDATE window, loaded machine). */
const CRASH_WINDOW_MS = 2000;

/** How one SMTP attempt ended, as the sender can know it. */
type AttemptOutcome =
  | 'accepted' // 250 to the final dot
  | 'refused' // a reply other than 250 (e.g. 451), or the connection failed before the final dot was sent
  | 'unknown'; // the final dot was sent, then the connection broke or timed out without a reply

/**
 * One SMTP transaction over a raw socket, tracking whether the final dot went out (a library
 * client hides that, and it decides whether a lost reply may mean "accepted").
 */
function sendOnce(port: number, from: string, to: string, body: Buffer, timeoutMs = 30_000): Promise<{ outcome: AttemptOutcome; reply: string }> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let buffer = '';
    let dotSent = false;
    let done = false;
    const steps = [`EHLO sender.test\r\n`, `MAIL FROM:<${from}>\r\n`, `RCPT TO:<${to}>\r\n`, `DATA\r\n`];
    const expected = [220, 250, 250, 250, 354, 250];
    let step = 0;
    const finish = (outcome: AttemptOutcome, reply: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (outcome === 'accepted') socket.end('QUIT\r\n');
      else socket.destroy();
      resolve({ outcome, reply });
    };
    const timer = setTimeout(() => finish(dotSent ? 'unknown' : 'refused', 'timeout'), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let idx: number;
      while ((idx = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        if (!/^\d{3} /.test(line)) continue; // continuation of a multi-line reply
        const code = Number(line.slice(0, 3));
        if (code !== expected[step]) return finish('refused', line);
        step++;
        if (step <= steps.length) socket.write(steps[step - 1]!);
        else if (step === steps.length + 1) {
          socket.write(body);
          socket.write('.\r\n');
          dotSent = true;
        } else return finish('accepted', line);
      }
    });
    socket.on('error', (err) => finish(dotSent ? 'unknown' : 'refused', err.message));
    socket.on('close', () => finish(dotSent ? 'unknown' : 'refused', 'connection closed'));
  });
}

interface Sent {
  readonly index: number;
  readonly messageId: string;
  attempts: AttemptOutcome[];
}

function messageFor(index: number, runId: string): { messageId: string; body: Buffer } {
  const messageId = `<chaos-${runId}-${index}@example.test>`;
  const text =
    `From: <sender${index % SENDERS}@example.test>\r\nTo: <rcpt${index % 7}@sink.test>\r\nSubject: chaos ${index}\r\n` +
    `Message-ID: ${messageId}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n` +
    `${'line of a durable message body, nothing special about it\r\n'.repeat(20 + (index % 40))}`;
  return { messageId, body: Buffer.from(text, 'latin1') };
}

/** An SMTP sink recording, for every Message-ID, how many times it answered 250 to it. */
async function startSink(): Promise<{ port: number; deliveries: Map<string, number>; times: Map<string, number[]>; total: () => number; close(): Promise<void> }> {
  const deliveries = new Map<string, number>();
  const times = new Map<string, number[]>();
  let total = 0;
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    maxClients: 500,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const head = Buffer.concat(chunks).toString('latin1');
        const id = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(head)?.[1] ?? `(none ${total})`;
        // recorded as the 250 goes out: from here on the message counts as delivered
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        times.set(id, [...(times.get(id) ?? []), Date.now()]);
        total++;
        cb(null);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, deliveries, times, total: () => total, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let token: GatewayToken;
let pg: PrivatePostgres;
let redis: PrivateRedis;
let sink: Awaited<ReturnType<typeof startSink>>;
let options: GatewayProcessOptions;
let gateway: GatewayProcess | undefined;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  [token, pg, redis, sink] = await Promise.all([createGatewayToken(), startPrivatePostgres(), startPrivateRedis(), startSink()]);
  const db = await pg.createDatabase('gateway_chaos');
  const [smtpPort, submissionPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  options = {
    token,
    db,
    redis: { port: redis.port },
    // fixed ports: a restarted gateway listens where the senders retry
    env: {
      SMTP_PORT: String(smtpPort),
      SUBMISSION_PORT: String(submissionPort),
      METRICS_PORT: String(metricsPort),
      STATIC_ROUTES: `sink.test=127.0.0.1:${sink.port}`,
      // DSNs to local senders (none expected) would reach the sink too, and be counted there
      LEGACY_HOST: '127.0.0.1',
      LEGACY_PORT: String(sink.port),
      LEGACY_TLS_POLICY: 'opportunistic',
      RETRY_BASE: '1s',
      RETRY_MAX: '3s',
      RECOVERY_INTERVAL: '2s',
      STEP_TIMEOUT: '10s',
      SMTP_CONNECT_TIMEOUT: '3s',
      SMTP_COMMAND_TIMEOUT: '15s',
      SHUTDOWN_GRACE: '5s',
      DB_POOL_SIZE: '20',
      // the crash window's duplicates shrink with a larger warm pool for 2xx marks (see the end of the test)
      DELIVERED_POOL_SIZE: '10',
    },
  };
});

afterAll(async () => {
  for (const g of gateways) if (g.running()) await g.crash();
  if (gateways[0]) removeSpoolDir(gateways[0].spoolDir);
  await sink?.close();
  await redis?.destroy();
  await pg?.destroy();
  token?.cleanup();
});

async function startGateway(): Promise<GatewayProcess> {
  const g = await startGatewayProcess({ ...options, ...(gateways[0] ? { queuePrefix: gateways[0].queuePrefix, spoolDir: gateways[0].spoolDir } : {}) });
  gateways.push(g);
  if (!g.ready) throw new Error(`gateway did not start:\n${g.output().slice(-4000)}`);
  return g;
}

it(`loses nothing and delivers once: ${MESSAGES} messages from ${SENDERS} senders through gateway SIGKILLs, a Redis kill -9 and a PostgreSQL kill -9`, async () => {
  const runId = randomBytes(3).toString('hex');
  gateway = await startGateway();
  const port = gateway.ports.submission;
  const sent: Sent[] = [];
  let next = 0;
  let acceptedCount = 0;
  const events: string[] = [];
  const gatewayKills: number[] = [];
  const t0 = Date.now();
  const note = (what: string) => events.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what} (accepted ${acceptedCount}, sink ${sink.total()})`);

  // set when the test body ends (also on failure): senders still running stop instead of retrying for minutes
  let stopped = false;
  const sender = async () => {
    for (;;) {
      if (stopped) return;
      const index = next++;
      if (index >= MESSAGES) return;
      const { messageId, body } = messageFor(index, runId);
      const record: Sent = { index, messageId, attempts: [] };
      sent.push(record);
      const patient = index % GIVE_UP_EVERY !== 0;
      const deadline = Date.now() + 120_000;
      for (;;) {
        const { outcome } = await sendOnce(port, `sender${index % SENDERS}@example.test`, `rcpt${index % 7}@sink.test`, body);
        record.attempts.push(outcome);
        if (outcome === 'accepted') {
          acceptedCount++;
          break;
        }
        if (!patient || stopped || Date.now() > deadline) break;
        await sleep(300 + Math.random() * 500);
      }
    }
  };

  const director = async () => {
    await until('100 accepted', () => acceptedCount >= 100, 120_000, 20);
    note('SIGKILL gateway');
    gatewayKills.push(Date.now());
    await gateway!.crash();
    await sleep(1000);
    gateway = await startGateway();
    note('gateway restarted');

    await until('200 accepted', () => acceptedCount >= 200, 120_000, 20);
    note('kill -9 Redis');
    await redis.kill();
    await sleep(2000);
    await redis.start();
    note('Redis restarted (empty)');

    await until('280 accepted', () => acceptedCount >= 280, 120_000, 20);
    note('kill -9 PostgreSQL');
    const pgKilledAt = Date.now();
    await pg.kill();
    await sleep(2000);
    await pg.start();
    note('PostgreSQL restarted (crash recovery)');
    // 2xx replies the gateway got while PostgreSQL was down wait in memory for their UPDATE; a
    // SIGKILL before they land would send those messages again (a crash inside the outage, not
    // the gateway's window). They must land promptly once PostgreSQL is back: wait for it, then kill.
    const acknowledged = [...sink.times].filter(([, t]) => t[0]! >= pgKilledAt - 5000).map(([id]) => id);
    await until(
      'every delivery the sink acknowledged recorded in PostgreSQL after its restart',
      async () => {
        const probe = new Client({ host: '127.0.0.1', port: pg.port, user: 'postgres', database: 'gateway_chaos' });
        try {
          await probe.connect();
          const open = await probe.query(
            `SELECT count(*)::int AS n FROM recipients r JOIN messages m ON m.id = r.message_id WHERE m.header_message_id = ANY($1) AND r.status <> 'delivered'`,
            [acknowledged],
          );
          return open.rows[0].n === 0;
        } catch {
          return false; // still recovering
        } finally {
          await probe.end().catch(() => undefined);
        }
      },
      60_000,
      100,
    );
    note(`${acknowledged.length} deliveries acknowledged around the outage recorded`);

    await until('340 accepted', () => acceptedCount >= 340, 120_000, 20);
    note('SIGKILL gateway');
    gatewayKills.push(Date.now());
    await gateway!.crash();
    gateway = await startGateway();
    note('gateway restarted');
  };

  const sql = new Client({ host: '127.0.0.1', port: pg.port, user: 'postgres', database: 'gateway_chaos' });
  try {
    await Promise.all([director(), ...Array.from({ length: SENDERS }, () => sender())]);
    note('senders done');

    const accepted = sent.filter((s) => s.attempts.includes('accepted'));
    await sql.connect();
    // every accepted message reaches the sink, and PostgreSQL has nothing open any more
    await until(
      'every accepted message delivered and no open recipient',
      async () => {
        if (!accepted.every((s) => sink.deliveries.has(s.messageId))) return false;
        const open = await sql.query(`SELECT count(*)::int AS n FROM recipients WHERE status IN ('pending', 'queued', 'deferred')`);
        return open.rows[0].n === 0;
      },
      150_000,
      500,
    );
    note('all delivered');
    const states = (await sql.query(`SELECT status, count(*)::int AS n FROM recipients GROUP BY status ORDER BY status`)).rows;
    const messagesOpen = (await sql.query(`SELECT count(*)::int AS n FROM messages WHERE state <> 'done'`)).rows[0].n;
    // a graceful stop: nothing in flight can deliver after this
    expect(await gateway!.stop(20_000)).toEqual({ code: 0, signal: null });
    note('gateway stopped');

    const deliveredTimes = (s: Sent) => sink.deliveries.get(s.messageId) ?? 0;
    const unknown = (s: Sent) => s.attempts.filter((a) => a === 'unknown').length;
    const lost = accepted.filter((s) => deliveredTimes(s) === 0);
    // a duplicate an unknown-outcome attempt explains (the sender retried a message it could not know was accepted)
    const senderDuplicates = sent.filter((s) => deliveredTimes(s) > 1 && deliveredTimes(s) <= (s.attempts.includes('accepted') ? 1 : 0) + unknown(s));
    const duplicates = sent.filter((s) => deliveredTimes(s) > (s.attempts.includes('accepted') ? 1 : 0) + unknown(s) && s.attempts.includes('accepted'));
    // the one window the gateway cannot close: SIGKILL after the sink's 250 reached it and before
    // PostgreSQL recorded it (first delivery shortly before a kill; the restarted gateway sends again)
    // (kill times are taken just before the signal is sent: a 250 may still go out a moment after)
    const inCrashWindow = (s: Sent) => {
      const first = sink.times.get(s.messageId)?.[0] ?? 0;
      return gatewayKills.some((k) => first > k - CRASH_WINDOW_MS && first <= k + 1000);
    };
    const crashWindowDuplicates = duplicates.filter(inCrashWindow);
    const gatewayDuplicates = duplicates.filter((s) => !inCrashWindow(s));
    const neverAccepted = sent.filter((s) => !s.attempts.includes('accepted'));
    const deliveredWithout250 = neverAccepted.filter((s) => deliveredTimes(s) > unknown(s));
    const foreign = [...sink.deliveries.keys()].filter((id) => !id.startsWith(`<chaos-${runId}-`));
    const attempts = sent.reduce((n, s) => n + s.attempts.length, 0);

    process.stdout.write(
      [
        `durability run ${runId}: ${sent.length} messages, ${attempts} SMTP attempts, ${accepted.length} got 250, ${neverAccepted.length} never did`,
        `  unknown-outcome attempts: ${sent.reduce((n, s) => n + unknown(s), 0)}; refused attempts: ${sent.reduce((n, s) => n + s.attempts.filter((a) => a === 'refused').length, 0)}`,
        `  sink: ${sink.total()} deliveries; lost ${lost.length}; duplicates explained by unknown outcomes ${senderDuplicates.length}; duplicates from a SIGKILL between the sink's 250 and the database update ${crashWindowDuplicates.length}; other gateway duplicates ${gatewayDuplicates.length}; delivered without 250 ${deliveredWithout250.length}; other messages (DSNs) ${foreign.length}`,
        `  recipients by status: ${JSON.stringify(states)}; messages not done: ${messagesOpen}`,
        ...events.map((e) => `  ${e}`),
      ].join('\n') + '\n',
    );

    if (lost.length + deliveredWithout250.length + gatewayDuplicates.length + foreign.length > 0) {
      // keep the evidence: every gateway process's log and the message ids in question
      const dir = mkdtempSync(join(tmpdir(), `gateway-durability-${runId}-`));
      gateways.forEach((g, i) => writeFileSync(join(dir, `gateway-${i}.log`), g.output()));
      writeFileSync(join(dir, 'report.json'), JSON.stringify({ crashWindowDuplicates: crashWindowDuplicates.map((s) => ({ ...s, times: sink.times.get(s.messageId) })), events, gatewayKills, lost, deliveredWithout250, gatewayDuplicates: gatewayDuplicates.map((s) => ({ ...s, times: sink.times.get(s.messageId) })) }, null, 2));
      process.stdout.write(`  logs kept in ${dir}\n`);
    }
    expect(sent).toHaveLength(MESSAGES);
    expect(accepted.length).toBeGreaterThan(MESSAGES * 0.8);
    expect(lost.map((s) => s.messageId)).toEqual([]);
    expect(deliveredWithout250.map((s) => s.messageId)).toEqual([]);
    expect(gatewayDuplicates.map((s) => `${s.messageId} x${deliveredTimes(s)}`)).toEqual([]);
    // measured and reported, not hidden (deliveries in flight at the kill whose 250 had arrived and
    // whose UPDATE had not committed yet: no SMTP client can close that window, RFC 1047): 0-15 per
    // run before the 250s had a warm pool of their own, 0-1 since with DELIVERED_POOL_SIZE=10 on a
    // loaded 2-core machine (8 with 4 connections); 0-19 with first attempts straight from the
    // process job and reused connections (more deliveries in flight at a kill; 19 at load 15).
    // Bounded by the deliveries in flight at the two kills, far below DELIVERY_CONCURRENCY x 2.
    expect(crashWindowDuplicates.length).toBeLessThanOrEqual(30);
    expect(foreign).toEqual([]);
    expect(messagesOpen).toBe(0);
    expect(states.filter((r: { status: string }) => r.status !== 'delivered')).toEqual([]);
  } catch (err) {
    // a run that stalls (e.g. a wait above times out) keeps its evidence too: the timeline and every gateway's log
    const dir = mkdtempSync(join(tmpdir(), `gateway-durability-${runId}-failed-`));
    gateways.forEach((g, i) => writeFileSync(join(dir, `gateway-${i}.log`), g.output()));
    writeFileSync(join(dir, 'events.txt'), `${events.join('\n')}\n`);
    process.stdout.write(`durability run ${runId} failed: ${(err as Error).message}\n${events.map((e) => `  ${e}`).join('\n')}\n  logs kept in ${dir}\n`);
    const last = gateways.at(-1);
    if (last) process.stdout.write(`  last gateway (${last.running() ? 'running' : 'exited'}), its last lines:\n${last.output().split('\n').slice(-15).join('\n')}\n`);
    throw err;
  } finally {
    stopped = true;
    await sql.end().catch(() => undefined);
  }
});
