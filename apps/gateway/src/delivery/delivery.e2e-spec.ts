// Pipeline and delivery end to end: real PostgreSQL (fresh database), real Redis (own prefix),
// real SMTP peers on 127.0.0.1 reached through STATIC_ROUTES, the real encrypted spool.
// Short RETRY_BASE / DELAY_NOTICE_AFTER / QUEUE_LIFETIME make retries, notices and expiry fast.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainPolicyRepository, openDatabase, QueueRepository, type DataSource, type QueuedRecipient } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../../test/database';
import { selfSignedCert, startSmtpPeer, type ReceivedMessage, type SmtpPeer } from '../../../../test/gateway-delivery/smtp-peer.fixture';
import { gatewayConfigFromEnv, type GatewayConfig } from '../gateway.config';
import { createLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { SpoolKeyring } from '../spool/spool-keyring';
import { SpoolService } from '../spool/spool.service';
import { createDeliveryRuntime, type DeliveryRuntime } from './delivery.module';
import { queueIdOf } from './local-message.enqueuer';

jest.setTimeout(30_000);

let db: TestDatabase;
let ds: DataSource;
let queue: QueueRepository;
let spool: SpoolService;
let spoolDir: string;
let spoolKeyId: number;
let config: GatewayConfig;
let runtime: DeliveryRuntime;
const metrics = new GatewayMetrics();
const peers: Record<'legacy' | 'remote' | 'notls' | 'verifiedOk' | 'verifiedBad' | 'wrongName', SmtpPeer> = {} as never;
const retryOnce = new Set<string>();

const BODY_MARKER = 'BODY-ONLY-TEXT-7f3a';

function messageBytes(subject: string, extraHeaders = ''): Buffer {
  return Buffer.from(
    `From: Alice <alice@org.test>\r\nTo: someone\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@org.test>\r\n${extraHeaders}MIME-Version: 1.0\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n` +
      `${BODY_MARKER} grüße\r\n.a line starting with a dot\r\n..two dots\r\n\r\nend\r\n`,
    'utf8',
  );
}

async function accept(mailFrom: string, recipients: string[], bytes: Buffer): Promise<string> {
  const id = randomUUID();
  await runtime.enqueuer.enqueue({ id, mailFrom, recipients, bytes, headerMessageId: null });
  return id;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function recipientsOf(id: string): Promise<QueuedRecipient[]> {
  return queue.findRecipientsOfMessage(id);
}

async function untilFinal(id: string): Promise<QueuedRecipient[]> {
  return waitFor(`final recipients of ${id}`, async () => {
    const rs = await recipientsOf(id);
    return rs.every((r) => r.status === 'delivered' || r.status === 'bounced') && (await queue.findMessage(id))?.state === 'done' && rs;
  });
}

function dsnsAbout(subject: string): ReceivedMessage[] {
  return peers.legacy.received.filter((m) => m.mailFrom === '' && m.body.toString('utf8').includes(`Subject: ${subject}\r\n`));
}

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
  queue = new QueueRepository(ds);
  const rows: { id: number }[] = await ds.query(`INSERT INTO spool_keys (wrapped_key, kek_label) VALUES ($1, 'test-kek') RETURNING id`, [randomBytes(40)]);
  spoolKeyId = rows[0]!.id;
  spoolDir = mkdtempSync(join(tmpdir(), 'delivery-spool-'));
  spool = new SpoolService(spoolDir, SpoolKeyring.fromKeys(new Map([[spoolKeyId, randomBytes(32)]]), spoolKeyId));

  const [trusted, untrusted, wrongName] = await Promise.all([
    selfSignedCert('IP:127.0.0.1'),
    selfSignedCert('IP:127.0.0.1'),
    selfSignedCert('DNS:other.test'),
  ]);
  const caFile = join(spoolDir, 'ca.pem');
  writeFileSync(caFile, trusted.cert + wrongName.cert);

  peers.legacy = await startSmtpPeer();
  peers.remote = await startSmtpPeer({
    tls: trusted,
    onRcpt: (a) => {
      if (a.startsWith('nobody@')) return [550, '5.1.1 <nobody>: no such user'];
      if (a.startsWith('slow@')) return [451, '4.3.0 try again later'];
      if (a.startsWith('retry-') && !retryOnce.has(a)) {
        retryOnce.add(a);
        return [451, '4.2.0 mailbox busy'];
      }
      return undefined;
    },
  });
  peers.notls = await startSmtpPeer();
  peers.verifiedOk = await startSmtpPeer({ tls: trusted });
  peers.verifiedBad = await startSmtpPeer({ tls: untrusted });
  peers.wrongName = await startSmtpPeer({ tls: wrongName });

  const env = {
    ...process.env,
    GATEWAY_HOSTNAME: 'gateway.org.test',
    ORG_DOMAIN: 'org.test',
    LOCAL_DOMAINS: 'org.test',
    LEGACY_HOST: '127.0.0.1',
    LEGACY_PORT: String(peers.legacy.port),
    LEGACY_TLS_POLICY: 'opportunistic',
    LEGACY_CA_FILE: '',
    DEFAULT_TLS_POLICY: 'opportunistic',
    TLS_CA_FILE: caFile,
    STATIC_ROUTES: [
      `remote.test=127.0.0.1:${peers.remote.port}`,
      `notls.test=127.0.0.1:${peers.notls.port}`,
      `verified-ok.test=127.0.0.1:${peers.verifiedOk.port}`,
      `verified-bad.test=127.0.0.1:${peers.verifiedBad.port}`,
      `wrong-name.test=127.0.0.1:${peers.wrongName.port}`,
    ].join(','),
    RETRY_BASE: '300ms',
    RETRY_MAX: '1s',
    DELAY_NOTICE_AFTER: '1500ms',
    QUEUE_LIFETIME: '4s',
    RECOVERY_INTERVAL: '1s',
    STEP_TIMEOUT: '5s',
    SMTP_CONNECT_TIMEOUT: '5s',
    SMTP_COMMAND_TIMEOUT: '10s',
    QUEUE_PREFIX: `dt-${randomBytes(4).toString('hex')}`,
    HSM_PIN: process.env['HSM_PIN'] ?? '1234',
    // no HSM here: ignore a SOFTHSM2_CONF that an earlier test file (same process) pointed at its token
    SOFTHSM2_CONF: undefined,
  };
  config = { ...gatewayConfigFromEnv(env), db: db.config };

  const policies = new DomainPolicyRepository(ds);
  await policies.setTlsPolicy('notls.test', 'required');
  await policies.setTlsPolicy('verified-ok.test', 'required-verified');
  await policies.setTlsPolicy('verified-bad.test', 'required-verified');
  await policies.setTlsPolicy('wrong-name.test', 'required-verified');

  runtime = createDeliveryRuntime(
    { config, logger: createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }), connection: { host: config.jobs.host, port: config.jobs.port }, dataSource: ds, spool, metrics },
    {
      journalSink: {
        record: async (entry) => {
          if ((await entry.readBody()).includes('X-Journal-Test: fail')) throw new Error('journal unavailable');
        },
      },
    },
  );
  runtime.start();
});

afterAll(async () => {
  await runtime?.queues.process.obliterate({ force: true }).catch(() => undefined);
  await runtime?.queues.delivery.obliterate({ force: true }).catch(() => undefined);
  await runtime?.stop();
  await Promise.all(Object.values(peers).map((p) => p.close()));
  await ds?.destroy();
  await db?.drop();
  if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
});

describe('delivery', () => {
  it('delivers the spooled bytes unchanged, all recipients of a domain in one transaction, and removes the spool file', async () => {
    const bytes = messageBytes('one transaction');
    const id = await accept('alice@org.test', ['b1@remote.test', 'b2@remote.test', 'carol@org.test'], bytes);
    const final = await untilFinal(id);
    expect(final.map((r) => [r.address, r.status, r.route])).toEqual([
      ['b1@remote.test', 'delivered', 'remote'],
      ['b2@remote.test', 'delivered', 'remote'],
      ['carol@org.test', 'delivered', 'legacy'],
    ]);
    const atRemote = peers.remote.received.filter((m) => m.body.equals(bytes));
    expect(atRemote).toHaveLength(1);
    expect(atRemote[0]).toMatchObject({ mailFrom: 'alice@org.test', recipients: ['b1@remote.test', 'b2@remote.test'], secure: true });
    const atLegacy = peers.legacy.received.filter((m) => m.body.equals(bytes));
    expect(atLegacy.map((m) => m.recipients)).toEqual([['carol@org.test']]);
    expect(await spool.exists(id)).toBe(false);
  });

  it('defers a 4xx recipient and delivers it on the retry', async () => {
    const bytes = messageBytes('retry once');
    const id = await accept('alice@org.test', ['retry-1@remote.test'], bytes);
    const [r] = await untilFinal(id);
    expect(r).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(peers.remote.rcpts.filter((a) => a === 'retry-1@remote.test')).toHaveLength(2);
    expect(peers.remote.received.filter((m) => m.body.equals(bytes))).toHaveLength(1);
  });

  it('bounces a 5xx recipient at once with a DSN to the sender carrying the headers only, and delivers the others', async () => {
    const subject = `bounce ${randomUUID()}`;
    const bytes = messageBytes(subject);
    const id = await accept('alice@org.test', ['good@remote.test', 'nobody@remote.test'], bytes);
    const final = await untilFinal(id);
    expect(final.map((r) => [r.address, r.status, r.attempts])).toEqual([
      ['good@remote.test', 'delivered', 1],
      ['nobody@remote.test', 'bounced', 0],
    ]);
    expect(final[1]!.lastReply).toMatch(/^550 5\.1\.1/);
    const [dsn] = await waitFor('the DSN', () => dsnsAbout(subject).length === 1 && dsnsAbout(subject));
    expect(dsn!.recipients).toEqual(['alice@org.test']);
    const text = dsn!.body.toString('utf8');
    expect(text).toContain('Content-Type: multipart/report; report-type=delivery-status');
    expect(text).toContain('Final-Recipient: rfc822; nobody@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; 127.0.0.1\r\n');
    expect(text).toContain(`X-Original-Queue-ID: ${queueIdOf(id)}`);
    expect(text).not.toContain(BODY_MARKER);
    expect(text).not.toContain('good@remote.test');
  });

  it('never bounces a bounce: a failed message from the null sender is dropped without a DSN', async () => {
    const subject = `null sender ${randomUUID()}`;
    const id = await accept('', ['nobody@remote.test'], messageBytes(subject));
    const [r] = await untilFinal(id);
    expect(r!.status).toBe('bounced');
    await new Promise((res) => setTimeout(res, 500));
    expect(peers.legacy.received.filter((m) => m.body.toString('utf8').includes(subject))).toEqual([]);
  });

  it('sends one delay notice after DELAY_NOTICE_AFTER and bounces when the queue lifetime is over', async () => {
    const subject = `slow ${randomUUID()}`;
    const id = await accept('alice@org.test', ['slow@remote.test'], messageBytes(subject));
    const [r] = await untilFinal(id);
    expect(r!.status).toBe('bounced');
    expect(r!.attempts).toBeGreaterThanOrEqual(3);
    expect(r!.delayNotifiedAt).not.toBeNull();
    const dsns = await waitFor('two DSNs', () => dsnsAbout(subject).length >= 2 && dsnsAbout(subject));
    await new Promise((res) => setTimeout(res, 300));
    const actions = dsnsAbout(subject).map((m) => /Action: (\w+)/.exec(m.body.toString())![1]);
    expect(actions.sort()).toEqual(['delayed', 'failed']);
    expect(dsns.every((m) => !m.body.toString().includes(BODY_MARKER))).toBe(true);
  });

  it('never sends to a `required` destination that offers no STARTTLS: deferred, then bounced after the lifetime', async () => {
    const subject = `tls required ${randomUUID()}`;
    const id = await accept('alice@org.test', ['x@notls.test'], messageBytes(subject));
    const deferred = await waitFor('a deferral', async () => (await recipientsOf(id)).find((r) => r.status === 'deferred'));
    expect(deferred.lastReply).toMatch(/^454 4\.7\.10 TLS negotiation/);
    const [r] = await untilFinal(id);
    expect(r!.status).toBe('bounced');
    expect(peers.notls.mailFroms).toEqual([]);
    expect(peers.notls.received).toEqual([]);
    // the failure DSN, once (a delay notice may come first: DELAY_NOTICE_AFTER is shorter than the lifetime)
    const failed = () => dsnsAbout(subject).filter((m) => /Action: failed/.test(m.body.toString()));
    await waitFor('the DSN', () => failed().length === 1);
    await new Promise((res) => setTimeout(res, 300));
    expect(failed()).toHaveLength(1);
  });

  it('`required-verified` delivers to a certificate from the CA file and defers an untrusted or misnamed one', async () => {
    const ok = await accept('alice@org.test', ['a@verified-ok.test'], messageBytes('verified ok'));
    const bad = await accept('alice@org.test', ['b@verified-bad.test'], messageBytes('verified bad'));
    const misnamed = await accept('alice@org.test', ['c@wrong-name.test'], messageBytes('wrong name'));
    const [delivered] = await untilFinal(ok);
    expect(delivered!.status).toBe('delivered');
    expect(peers.verifiedOk.received.map((m) => m.secure)).toEqual([true]);
    for (const id of [bad, misnamed]) {
      const r = await waitFor('a deferral', async () => (await recipientsOf(id)).find((x) => x.status === 'deferred'));
      expect(r.lastReply).toMatch(/^454 4\.7\.10 .*required-verified/);
    }
    expect(peers.verifiedBad.mailFroms).toEqual([]);
    expect(peers.wrongName.mailFroms).toEqual([]);
  });
});

describe('pipeline', () => {
  it('delivers nothing while a step fails (the journal sink throws), leaving the recipients pending', async () => {
    const bytes = messageBytes('journal down', 'X-Journal-Test: fail\r\n');
    const id = await accept('alice@org.test', ['j@remote.test'], bytes);
    await waitFor('a failed journal step', async () => {
      const v = (await metrics.stepDuration.get()).values.find((x) => x.metricName?.endsWith('_count') && x.labels['step'] === 'journal' && x.labels['outcome'] === 'error');
      return v && v.value > 0;
    });
    await new Promise((res) => setTimeout(res, 1500));
    expect((await recipientsOf(id)).map((r) => r.status)).toEqual(['pending']);
    expect(peers.remote.rcpts).not.toContain('j@remote.test');
    expect(await spool.exists(id)).toBe(true);
  });
});

describe('recovery', () => {
  it('re-enqueues pending and queued recipients after Redis lost every job, and each message is delivered once', async () => {
    await runtime.queues.process.obliterate({ force: true });
    await runtime.queues.delivery.obliterate({ force: true });
    const now = Date.now();
    const made: { id: string; bytes: Buffer }[] = [];
    for (const [i, route] of [
      [1, null],
      [2, 'remote'],
    ] as const) {
      const id = randomUUID();
      const bytes = messageBytes(`recovered ${i} ${id}`);
      const { keyId, sha256 } = await spool.write(id, bytes);
      const rid = randomUUID();
      await queue.insertAccepted(
        {
          id,
          queueId: queueIdOf(id),
          direction: 'outbound',
          mailFrom: 'alice@org.test',
          size: bytes.length,
          sha256,
          spoolKeyId: keyId,
          headerMessageId: null,
          clientAddress: '127.0.0.1',
          clientHelo: 'legacy.org.test',
          authUser: null,
          receivedAt: new Date(now),
          expiresAt: new Date(now + 60_000),
        },
        [{ id: rid, address: `rec${i}@remote.test`, domain: 'remote.test' }],
      );
      if (route) await queue.routeRecipients([{ id: rid, route }]);
      made.push({ id, bytes });
    }
    const swept = await runtime.sweeper.sweep();
    expect(swept.processJobs).toBeGreaterThanOrEqual(1);
    expect(swept.deliverJobs).toBeGreaterThanOrEqual(1);
    for (const m of made) expect((await untilFinal(m.id)).map((r) => r.status)).toEqual(['delivered']);
    for (let i = 0; i < 3; i++) await runtime.sweeper.sweep();
    await new Promise((res) => setTimeout(res, 1000));
    for (const m of made) expect(peers.remote.received.filter((x) => x.body.equals(m.bytes))).toHaveLength(1);
    const depth = (await metrics.queueDepth.get()).values.map((v) => [v.labels['status'], v.value]);
    expect(depth.map(([s]) => s).sort()).toEqual(['deferred', 'pending', 'queued']);
  });
});
