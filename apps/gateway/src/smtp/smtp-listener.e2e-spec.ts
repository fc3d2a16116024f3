// The listeners on real sockets with durable acceptance against real services: PostgreSQL (fresh
// database, real migrations), Redis (own queue prefix), a SoftHSM token holding the spool KEK.
// STARTTLS here uses a throw-away software certificate (this jest process has no HSM engine config);
// gateway.e2e-spec.ts runs the whole gateway with the HSM-held TLS key.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { openDatabase, QueueRepository, SpoolKeyRepository, type DataSource } from '@lib/db';
import { HsmKeystore, keyLabel } from '@lib/hsm';
import { jobIdOf, QUEUES } from '@lib/jobs';
import { createTestDatabase, type TestDatabase } from '../../../../test/database';
import { SmtpDialog } from '../../../../test/gateway/smtp-dialog';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../../test/hsm/softhsm-token';
import { AcceptanceService, type ProcessEnqueuer } from '../acceptance/acceptance.service';
import { gatewayConfigFromEnv, type GatewayConfig } from '../gateway.config';
import { createLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { SpoolKeyring } from '../spool/spool-keyring';
import { SpoolService } from '../spool/spool.service';
import { SmtpListener } from './smtp-listener';
import { hashPassword, SubmissionAuthFile } from './submission-auth';

jest.setTimeout(60_000);

const prefix = `t-listener-${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let ds: DataSource;
let token: TestToken;
let keystore: HsmKeystore;
let queue: Queue;
let queues: QueueRepository;
let spool: SpoolService;
let spoolDir: string;
let certPem: string;
let keyPem: string;
const metrics = new GatewayMetrics();
const listeners: SmtpListener[] = [];
let inbound: number;
let submissionOpen: number;
let submissionAuth: number;
let failing: number;
const latencies: number[] = [];

function config(env: Record<string, string>): GatewayConfig {
  return gatewayConfigFromEnv({
    ...token.env,
    ORG_DOMAIN: 'example.test',
    LOCAL_DOMAINS: 'example.test,example.org',
    GATEWAY_HOSTNAME: 'gw.example.test',
    MAX_MESSAGE_SIZE: '64k',
    MAX_RECIPIENTS: '5',
    ...env,
  });
}

async function startListener(name: 'smtp' | 'submission', cfg: GatewayConfig, enqueuer: ProcessEnqueuer, auth?: SubmissionAuthFile): Promise<number> {
  const logger = createLogger({ level: 'silent' });
  const acceptance = new AcceptanceService({ hostname: cfg.hostname, queueLifetimeMs: cfg.delivery.queueLifetimeMs, stageTimeoutMs: 5000 }, spool, queues, enqueuer, metrics, logger);
  const listener = new SmtpListener({
    name,
    config: cfg,
    acceptor: {
      accept: async (req) => {
        const started = performance.now();
        const r = await acceptance.accept(req);
        latencies.push(performance.now() - started);
        return r;
      },
    },
    metrics,
    logger,
    tls: { key: keyPem, cert: certPem },
    ...(auth ? { auth } : {}),
  });
  listeners.push(listener);
  return listener.listen(0, '127.0.0.1');
}

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
  queues = new QueueRepository(ds);
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  await keystore.ensureKey('user-kek');
  spoolDir = mkdtempSync(join(tmpdir(), 'gw-spool-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(spoolDir, 'k.pem'), '-out', join(spoolDir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'pipe' });
  certPem = readFileSync(join(spoolDir, 'c.pem'), 'utf8');
  keyPem = readFileSync(join(spoolDir, 'k.pem'), 'utf8');
  spool = new SpoolService(spoolDir, await SpoolKeyring.load(new SpoolKeyRepository(ds), keystore, keyLabel('user-kek')));
  queue = new Queue(QUEUES.process, { connection: { host: '127.0.0.1', port: 6379 }, prefix });
  const enqueuer: ProcessEnqueuer = {
    addProcess: async (messageId) => {
      const job = { name: 'process' as const, data: { messageId } };
      await queue.add(job.name, job.data, { jobId: jobIdOf(job) });
    },
  };
  const authFile = join(spoolDir, 'auth');
  writeFileSync(authFile, `legacy:${await hashPassword('correct horse', { N: 1024, r: 8, p: 1 })}\n`);
  inbound = await startListener('smtp', config({}), enqueuer);
  submissionOpen = await startListener('submission', config({ SUBMISSION_NETWORKS: '127.0.0.0/8' }), enqueuer);
  submissionAuth = await startListener('submission', config({ SUBMISSION_NETWORKS: '192.0.2.0/24', SUBMISSION_AUTH_FILE: authFile }), enqueuer, SubmissionAuthFile.load(authFile));
  failing = await startListener('smtp', config({}), { addProcess: () => Promise.reject(new Error('redis is down')) });
});

afterAll(async () => {
  await Promise.all(listeners.map((l) => l.drain(1000)));
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  await ds?.destroy();
  await db?.drop();
  keystore?.close();
  token?.cleanup();
});

async function open(port: number): Promise<SmtpDialog> {
  const { dialog, greeting } = await SmtpDialog.open(port);
  expect(greeting.code).toBe(220);
  return dialog;
}

const MESSAGE = 'From: a@sender.test\r\nTo: u@example.test\r\nSubject: hello secret-subject-7\r\nMessage-ID: <m1@sender.test>\r\n\r\nbody line secret-body-7\r\n';

function queueIdOf(line: string): string {
  const m = /^250 2\.0\.0 Ok: queued as ([0-9A-F]{16})$/.exec(line);
  if (!m) throw new Error(`not a queued reply: ${line}`);
  return m[1]!;
}

async function messageByQueueId(queueId: string): Promise<{ id: string; direction: string; header_message_id: string | null; auth_user: string | null; mail_from: string }> {
  const rows = await ds.query('SELECT id, direction, header_message_id, auth_user, mail_from FROM messages WHERE queue_id = $1', [queueId]);
  return rows[0];
}

describe('inbound SMTP listener', () => {
  it('greets at once, without smtp-server\'s 100 ms pause', async () => {
    const { dialog, greeting, greetingMs } = await SmtpDialog.open(inbound);
    expect(greeting.line).toMatch(/^220 gw\.example\.test ESMTP/);
    expect(greetingMs).toBeLessThan(60);
    await dialog.quit();
  });

  it('has the message spooled encrypted, in PostgreSQL and as a process job when it answers 250', async () => {
    const d = await open(inbound);
    const reply = await d.send('a@sender.test', ['u@example.test', 'v@EXAMPLE.org'], MESSAGE, 'mx.sender.test');
    const queueId = queueIdOf(reply.line);
    // checked right after the 250, before anything else could have written them
    const msg = await messageByQueueId(queueId);
    expect(msg).toMatchObject({ direction: 'inbound', header_message_id: '<m1@sender.test>', mail_from: 'a@sender.test', auth_user: null });
    const rcpts = await queues.findRecipientsOfMessage(msg.id);
    expect(rcpts.map((r) => [r.address, r.domain, r.status])).toEqual([
      ['u@example.test', 'example.test', 'pending'],
      ['v@example.org', 'example.org', 'pending'],
    ]);
    const job = await queue.getJob(jobIdOf({ name: 'process', data: { messageId: msg.id } }));
    expect(job?.data).toEqual({ messageId: msg.id });
    const file = join(spoolDir, msg.id.slice(0, 2), `${msg.id}.msg`);
    const raw = readFileSync(file);
    expect(raw.includes(Buffer.from('secret-body-7'))).toBe(false);
    expect(raw.includes(Buffer.from('secret-subject-7'))).toBe(false);
    const stored = (await spool.read(msg.id)).toString('latin1');
    expect(stored).toMatch(new RegExp(`^Received: from mx\\.sender\\.test \\(127\\.0\\.0\\.1\\)\\r\\n\\tby gw\\.example\\.test with ESMTP id ${queueId};\\r\\n\\t\\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000\\r\\n`));
    expect(stored.slice(stored.indexOf('From: '))).toBe(MESSAGE);
    await d.quit();
  });

  it('keeps broken MIME byte for byte (it is bytes, not MIME, that the gateway checks)', async () => {
    const broken = 'Content-Type: multipart/mixed; boundary="never-closed"\r\nSubject: =?bogus?Q?\r\n\r\n--never-closed\r\nContent-Type: text/plain; charset=nope\r\n\r\n\xe9\xff 8-bit bytes\r\n.leading dot line\r\n';
    const d = await open(inbound);
    const reply = await d.send('', ['u@example.test'], broken);
    const msg = await messageByQueueId(queueIdOf(reply.line));
    expect(msg.mail_from).toBe('');
    const stored = await spool.read(msg.id);
    expect(stored.subarray(stored.indexOf('Content-Type')).equals(Buffer.from(broken, 'latin1'))).toBe(true);
    await d.quit();
  });

  const relayTricks: Array<[string, number, string]> = [
    ['<user@foreign.test>', 550, '5.7.1'],
    ['<user%foreign.test@example.test>', 550, '5.7.1'],
    ['<@example.test:user@foreign.test>', 550, '5.7.1'],
    ['<@example.test,@relay.test:user@foreign.test>', 550, '5.7.1'],
    ['<"user@foreign.test"@example.test>', 550, '5.7.1'],
    ['<foreign.test!user@example.test>', 550, '5.7.1'],
    ['<user>', 504, '5.5.2'],
    ['<user@foreign.test@example.test>', 501, '5.1.3'],
    ['<user@example.test.>', 501, '5.1.3'],
    ['<user@[127.0.0.1]>', 550, '5.7.1'],
    ['<user@example.test]>', 550, '5.7.1'],
    ['<user@sub.example.test>', 550, '5.7.1'],
    ['user@example.test', 501, '5.1.3'],
  ];

  it.each(relayTricks)('refuses RCPT TO:%s from outside with %i %s and keeps the session usable', async (rcpt, code, enhanced) => {
    const d = await open(inbound);
    await d.cmd('EHLO attacker.test');
    expect((await d.cmd('MAIL FROM:<x@attacker.test>')).code).toBe(250);
    const r = await d.cmd(`RCPT TO:${rcpt}`);
    expect(r.code).toBe(code);
    expect(r.line.startsWith(`${code} ${enhanced} `)).toBe(true);
    expect((await d.cmd('RCPT TO:<u@example.test>')).code).toBe(250);
    await d.quit();
  });

  it('accepts RCPT TO:<postmaster> as the postmaster of the organisation (RFC 5321 4.5.1)', async () => {
    const d = await open(inbound);
    await d.cmd('EHLO c.test');
    await d.cmd('MAIL FROM:<a@sender.test>');
    expect((await d.cmd('RCPT TO:<Postmaster>')).line).toBe('250 2.1.5 Accepted');
    const [, final] = await d.data('Subject: hi\r\n\r\nx\r\n');
    const rcpts = await queues.findRecipientsOfMessage((await messageByQueueId(queueIdOf(final.line))).id);
    expect(rcpts.map((r) => r.address)).toEqual(['postmaster@example.test']);
    await d.quit();
  });

  it.each([
    ['a line over the limit', `Subject: x\r\n\r\n${'y'.repeat(999)}\r\n`, '500 5.5.2 Line too long'],
    ['a NUL byte', 'Subject: x\r\n\r\nnul\x00byte\r\n', '554 5.6.0 NUL bytes are not allowed'],
    ['a bare LF', 'Subject: x\r\n\r\nbare\nLF\r\n', '554 5.6.0 bare LF not allowed'],
    ['a bare LF dot line (SMTP smuggling)', 'Subject: x\r\n\r\nsmuggle\n.\nMAIL FROM:<evil@attacker.test>\r\n', '554 5.6.0 bare LF not allowed'],
    ['a bare CR', 'Subject: x\r\n\r\nbare\rCR\r\n', '554 5.6.0 bare CR not allowed'],
    ['an oversized message', `Subject: x\r\n\r\n${`${'z'.repeat(900)}\r\n`.repeat(80)}`, '552 5.3.4 Message size exceeds fixed limit of 65536 bytes'],
  ])('refuses %s after DATA with a precise reply, stores nothing and serves the next message', async (_what, message, expected) => {
    const before = await ds.query('SELECT count(*)::int AS n FROM messages');
    const d = await open(inbound);
    const reply = await d.send('a@sender.test', ['u@example.test'], message);
    expect(reply.line.startsWith(expected)).toBe(true);
    expect((await ds.query('SELECT count(*)::int AS n FROM messages'))[0].n).toBe(before[0].n);
    await d.cmd('MAIL FROM:<a@sender.test>');
    await d.cmd('RCPT TO:<u@example.test>');
    const [, ok] = await d.data(MESSAGE);
    expect(ok.code).toBe(250);
    await d.quit();
  });

  it('refuses a declared SIZE over the limit at MAIL FROM', async () => {
    const d = await open(inbound);
    const ehlo = await d.cmd('EHLO c.test');
    expect(ehlo.lines.some((l) => /^250[- ]SIZE 65536$/.test(l))).toBe(true);
    expect((await d.cmd('MAIL FROM:<a@sender.test> SIZE=70000')).line).toMatch(/^552 5\.3\.4 /);
    await d.quit();
  });

  it('answers 452 4.5.3 beyond MAX_RECIPIENTS and accepts the message for the first ones', async () => {
    const d = await open(inbound);
    await d.cmd('EHLO c.test');
    await d.cmd('MAIL FROM:<a@sender.test>');
    for (let i = 0; i < 5; i++) expect((await d.cmd(`RCPT TO:<r${i}@example.test>`)).code).toBe(250);
    expect((await d.cmd('RCPT TO:<r5@example.test>')).line).toMatch(/^452 4\.5\.3 /);
    const [, final] = await d.data(MESSAGE);
    expect((await queues.findRecipientsOfMessage((await messageByQueueId(queueIdOf(final.line))).id)).length).toBe(5);
    await d.quit();
  });

  it('answers unknown commands and bad sequences precisely and offers neither AUTH nor SMTPUTF8', async () => {
    const d = await open(inbound);
    expect((await d.cmd('FOO bar')).line).toBe('500 5.5.2 Error: command not recognized');
    expect((await d.cmd('XCLIENT ADDR=1.2.3.4')).line).toBe('500 5.5.2 Error: command not recognized');
    expect((await d.cmd('MAIL FROM:<a@sender.test>')).code).toBe(503);
    const ehlo = await d.cmd('EHLO c.test');
    expect(ehlo.lines).toContain('250-STARTTLS');
    expect(ehlo.text).not.toMatch(/AUTH|SMTPUTF8/);
    expect((await d.cmd('AUTH PLAIN AGxlZ2FjeQBjb3JyZWN0IGhvcnNl')).line).toBe('500 5.5.2 Error: command not recognized');
    expect((await d.cmd('RCPT TO:<u@example.test>')).code).toBe(503);
    expect((await d.cmd('DATA')).code).toBe(503);
    await d.quit();
  });

  it('survives pipelining abuse: a thousand commands in one write, then serves normally', async () => {
    const d = await open(inbound);
    d.write(`EHLO c.test\r\n${'NOOP\r\nRSET\r\n'.repeat(500)}MAIL FROM:<a@sender.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n${MESSAGE}.\r\n`);
    const replies = [];
    for (let i = 0; i < 1 + 1000 + 4; i++) replies.push(await d.read());
    expect(replies.slice(1, 1001).every((r) => r.code === 250)).toBe(true);
    expect(replies[1003]!.code).toBe(354);
    expect(replies[1004]!.line).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await d.quit();
    const next = await open(inbound);
    expect((await next.send('a@sender.test', ['u@example.test'], MESSAGE)).code).toBe(250);
    await next.quit();
  });

  it('answers 451 4.3.0 when the job cannot be enqueued, and leaves no spool file or rows behind', async () => {
    const before = await ds.query('SELECT count(*)::int AS n FROM messages');
    const filesBefore = readdirSync(spoolDir, { recursive: true }).filter((f) => String(f).endsWith('.msg')).length;
    const d = await open(failing);
    const reply = await d.send('a@sender.test', ['u@example.test'], MESSAGE);
    expect(reply.line).toBe('451 4.3.0 Requested action aborted: local error in processing, try again later');
    expect((await ds.query('SELECT count(*)::int AS n FROM messages'))[0].n).toBe(before[0].n);
    expect(readdirSync(spoolDir, { recursive: true }).filter((f) => String(f).endsWith('.msg')).length).toBe(filesBefore);
    await d.quit();
  });

  it('completes STARTTLS and records ESMTPS in the Received header', async () => {
    const d = await open(inbound);
    await d.cmd('EHLO c.test');
    expect((await d.starttls(certPem)).code).toBe(220);
    const reply = await d.send('a@sender.test', ['u@example.test'], MESSAGE);
    const msg = await messageByQueueId(queueIdOf(reply.line));
    expect((await spool.read(msg.id)).toString()).toMatch(/with ESMTPS id /);
    await d.quit();
  });
});

describe('submission listener', () => {
  it('relays anywhere for a client in SUBMISSION_NETWORKS and records the message as outbound', async () => {
    const d = await open(submissionOpen);
    const reply = await d.send('user@example.test', ['someone@elsewhere.test'], MESSAGE);
    const msg = await messageByQueueId(queueIdOf(reply.line));
    expect(msg.direction).toBe('outbound');
    expect((await queues.findRecipientsOfMessage(msg.id)).map((r) => r.domain)).toEqual(['elsewhere.test']);
    await d.quit();
  });

  it('still requires a valid reverse path', async () => {
    const d = await open(submissionOpen);
    await d.cmd('EHLO c.test');
    expect((await d.cmd('MAIL FROM:<user@example.test.>')).code).toBe(501);
    expect((await d.cmd('MAIL FROM:<user>')).code).toBe(504);
    await d.quit();
  });

  it('refuses a client outside the networks without AUTH, and AUTH without TLS', async () => {
    const d = await open(submissionAuth);
    const ehlo = await d.cmd('EHLO c.test');
    expect(ehlo.text).not.toMatch(/AUTH/);
    expect((await d.cmd('MAIL FROM:<user@example.test>')).line).toBe('530 5.7.0 Authentication required');
    expect((await d.cmd('AUTH PLAIN AGxlZ2FjeQBjb3JyZWN0IGhvcnNl')).line).toBe('530 5.7.0 Must issue a STARTTLS command first');
    await d.quit();
  });

  it('accepts AUTH PLAIN and LOGIN over TLS, refuses a wrong password, and records ESMTPSA and the user', async () => {
    const d = await open(submissionAuth);
    await d.cmd('EHLO c.test');
    await d.starttls(certPem);
    const ehlo = await d.cmd('EHLO c.test');
    expect(ehlo.lines).toContain('250-AUTH PLAIN LOGIN');
    expect((await d.cmd(`AUTH PLAIN ${Buffer.from('\0legacy\0wrong').toString('base64')}`)).line).toMatch(/^535 5\.7\.8 /);
    expect((await d.cmd(`AUTH PLAIN ${Buffer.from('\0legacy\0correct horse').toString('base64')}`)).code).toBe(235);
    expect((await d.cmd('MAIL FROM:<user@example.test>')).code).toBe(250);
    expect((await d.cmd('RCPT TO:<someone@elsewhere.test>')).code).toBe(250);
    const [, final] = await d.data(MESSAGE);
    const msg = await messageByQueueId(queueIdOf(final.line));
    expect(msg.auth_user).toBe('legacy');
    expect((await spool.read(msg.id)).toString()).toMatch(/with ESMTPSA id /);
    await d.quit();

    const login = await open(submissionAuth);
    await login.cmd('EHLO c.test');
    await login.starttls(certPem);
    await login.cmd('EHLO c.test');
    expect((await login.cmd('AUTH LOGIN')).code).toBe(334);
    expect((await login.cmd(Buffer.from('legacy').toString('base64'))).code).toBe(334);
    expect((await login.cmd(Buffer.from('correct horse').toString('base64'))).code).toBe(235);
    await login.quit();
  });
});

describe('graceful drain', () => {
  it('closes idle sessions with 421, lets a session inside DATA finish with 250 and then QUIT, refuses new connections', async () => {
    const cfg = config({});
    const enqueuer: ProcessEnqueuer = { addProcess: async () => undefined };
    const port = await startListener('smtp', cfg, enqueuer);
    const listener = listeners[listeners.length - 1]!;
    const idle = await open(port);
    await idle.cmd('EHLO idle.test');
    /** A session inside DATA, its message half sent. */
    const inData = async (name: string) => {
      const session = await open(port);
      await session.cmd(`EHLO ${name}.test`);
      await session.cmd(`MAIL FROM:<${name}@sender.test>`);
      await session.cmd('RCPT TO:<u@example.test>');
      expect((await session.cmd('DATA')).code).toBe(354);
      session.write(`Subject: in flight (${name})\r\n\r\nfirst half\r\n`);
      return session;
    };
    const busy = await inData('busy');
    const quiet = await inData('quiet');
    const drained = listener.drain(10_000);
    const idleReply = await idle.read();
    expect(idleReply.line).toBe('421 4.3.2 Service shutting down, try again later');
    await new Promise((r) => setTimeout(r, 200));
    busy.write('second half\r\n.\r\n');
    expect((await busy.read()).line).toMatch(/^250 2\.0\.0 Ok: queued as /);
    // longer than the drain's 50 ms poll, shorter than DRAIN_IDLE_MS: the QUIT is still answered
    await new Promise((r) => setTimeout(r, 120));
    expect((await busy.cmd('QUIT')).code).toBe(221);
    // a session that stays silent after its 250 gets the unsolicited 421
    quiet.write('second half\r\n.\r\n');
    expect((await quiet.read()).line).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect((await quiet.read()).line).toBe('421 4.3.2 Service shutting down, try again later');
    await drained;
    await expect(SmtpDialog.open(port)).rejects.toThrow(/ECONNREFUSED/);
  });
});

afterAll(() => {
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]?.toFixed(2);
  process.stdout.write(`accept latency over ${sorted.length} messages: p50 ${pct(50)} ms, p99 ${pct(99)} ms\n`);
});
