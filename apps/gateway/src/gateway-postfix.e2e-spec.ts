// The whole gateway process between real Postfix instances on loopback (issue 4, "what must be
// shown", 1): a "legacy" Postfix (the organisation's server: Maildirs for example.test, smart host =
// the gateway's submission port, STARTTLS with its own certificate) and a "remote" Postfix (a
// remote.test MX delivering to Maildirs, reached through STATIC_ROUTES).
//   outbound  client -> legacy Postfix -> gateway submission -> remote Postfix -> Maildir
//   inbound   client -> gateway SMTP listener -> legacy Postfix (required-verified TLS) -> Maildir
//   outage    the remote Postfix is down for ~75 s: the mail waits in PostgreSQL (deferred,
//             retried), and is delivered exactly once when it returns
// Delivered bytes are compared with the sent ones apart from the trace headers (Received,
// Return-Path, Delivered-To, X-Original-To).
import { Client } from 'pg';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { createTestDatabase, type TestDatabase } from '../../../test/database';
import { createGatewayToken, removeSpoolDir, startGatewayProcess, type GatewayProcess, type GatewayToken } from '../../../test/gateway/gateway-process';
import { freePort } from '../../../test/postfix/free-port';
import { TRACE_HEADERS, type DeliveredMessage } from '../../../test/postfix/maildir';
import { startPostfix, type PostfixInstance } from '../../../test/postfix/postfix-instance';
import { createSelfSignedCert, type SelfSignedCert } from '../../../test/postfix/self-signed-cert';
import { sleep, until } from '../../../test/until';

jest.setTimeout(240_000);

/** How long the remote Postfix stays down in the outage test. */
const OUTAGE_MS = 75_000;

let token: GatewayToken;
let db: TestDatabase;
let sql: Client;
let legacyCert: SelfSignedCert;
let legacyPort: number;
let remotePort: number;
let legacy: PostfixInstance;
let remote: PostfixInstance;
let gateway: GatewayProcess;

/** The message as sent on the wire: nodemailer's SMTP transport sends every line ending as CRLF. */
function wireBytes(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

function compose(from: string, to: string, messageId: string, subject: string): Promise<Buffer> {
  return new MailComposer({
    from,
    to,
    subject,
    messageId,
    date: new Date('2026-03-04T05:06:07Z'),
    // dot-stuffing, 8-bit text, a folded header, a binary attachment
    text: 'first line\n.a line that starts with a dot\n..two dots\n.\n\nünïcödé body\n',
    headers: { 'X-Long': `a header long enough to be folded by the composer ${'x'.repeat(90)} end` },
    attachments: [{ filename: 'blob.bin', content: Buffer.alloc(3000, 0xa5) }],
    textEncoding: 'quoted-printable',
  })
    .compile()
    .build();
}

/** Header names of the leading trace block of a delivered message, in order (only trace headers, by construction). */
function traceHeaderNames(delivered: DeliveredMessage): string[] {
  const trace = delivered.raw.subarray(0, delivered.raw.length - delivered.message.length).toString('latin1');
  const names = [...trace.matchAll(/^([A-Za-z-]+):/gm)].map((m) => m[1]!.toLowerCase());
  for (const n of names) expect(TRACE_HEADERS.has(n)).toBe(true);
  return names;
}

function messageIdOf(delivered: DeliveredMessage): string | undefined {
  return /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(delivered.message.toString('latin1'))?.[1];
}

beforeAll(async () => {
  legacyPort = await freePort();
  remotePort = await freePort();
  [token, db, legacyCert] = await Promise.all([createGatewayToken(), createTestDatabase(), createSelfSignedCert('legacy.example.test')]);
  sql = new Client({ host: db.config.host, port: db.config.port, user: db.config.user, password: db.config.password.reveal(), database: db.config.database });
  await sql.connect();
  remote = await startPostfix({ name: 'remote', port: remotePort, mailboxDomains: ['remote.test'] });
  gateway = await startGatewayProcess({
    token,
    db: db.config,
    env: {
      LOCAL_DOMAINS: 'example.test',
      LEGACY_HOST: '127.0.0.1',
      LEGACY_PORT: String(legacyPort),
      LEGACY_CA_FILE: legacyCert.certFile,
      LEGACY_TLS_POLICY: 'required-verified',
      STATIC_ROUTES: `remote.test=127.0.0.1:${remotePort}`,
      DEFAULT_TLS_POLICY: 'opportunistic',
      RETRY_BASE: '2s',
      RETRY_MAX: '10s',
      RECOVERY_INTERVAL: '5s',
      SMTP_CONNECT_TIMEOUT: '5s',
      SMTP_COMMAND_TIMEOUT: '30s',
      SHUTDOWN_GRACE: '5s',
    },
  });
  if (!gateway.ready) throw new Error(`gateway did not start:\n${gateway.output()}`);
  // the legacy server is started after the gateway: its smart host is the gateway's submission port
  legacy = await startPostfix({
    name: 'legacy',
    port: legacyPort,
    mailboxDomains: ['example.test'],
    relayhost: `[127.0.0.1]:${gateway.ports.submission}`,
    tls: { certFile: legacyCert.certFile, keyFile: legacyCert.keyFile },
  });
});

afterAll(async () => {
  if (gateway?.running()) await gateway.stop(10_000);
  if (gateway) removeSpoolDir(gateway.spoolDir);
  await legacy?.stop();
  await remote?.stop();
  await sql?.end();
  await db?.drop();
  await legacyCert?.remove();
  token?.cleanup();
});

it('outbound: legacy Postfix -> gateway submission (STARTTLS, HSM key) -> remote Postfix delivers the bytes unchanged apart from trace headers', async () => {
  const raw = await compose('Alice <alice@example.test>', 'Bob <bob@remote.test>', '<outbound-1@example.test>', 'outbound through the gateway');
  const transport = createTransport({ host: '127.0.0.1', port: legacy.port, secure: false, ignoreTLS: true });
  const info = await transport.sendMail({ envelope: { from: 'alice@example.test', to: ['bob@remote.test'] }, raw });
  expect(info.accepted).toEqual(['bob@remote.test']);

  const [delivered] = await remote.waitForDelivery(1, 60_000, 'bob@remote.test');
  expect(delivered!.wire.equals(wireBytes(raw))).toBe(true);
  // legacy Postfix, the gateway and the remote Postfix each prepended one Received header
  expect(traceHeaderNames(delivered!).filter((n) => n === 'received')).toHaveLength(3);
  expect(delivered!.raw.toString('latin1')).toMatch(/^Received: from [^\n]*\n\tby gw\.example\.test/m);
  expect(delivered!.raw.toString('latin1')).toMatch(/^Return-Path: <alice@example\.test>$/m);
  // the legacy Postfix reached the gateway over TLS (the gateway's key lives in the HSM)
  expect(await legacy.log()).toMatch(new RegExp(`TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${gateway.ports.submission}: TLSv1\\.[23]`));
  await legacy.waitForEmptyQueue(10_000);
  // the gateway finished the message in PostgreSQL
  const rows = await until(
    'the outbound message to be done',
    async () => {
      const r = await sql.query(`SELECT m.state, r.status, r.route FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.header_message_id = $1`, ['<outbound-1@example.test>']);
      return r.rows.length === 1 && r.rows[0].state === 'done' ? r.rows : undefined;
    },
    30_000,
  );
  expect(rows).toEqual([{ state: 'done', status: 'delivered', route: 'remote' }]);
});

it('inbound: remote sender -> gateway SMTP listener -> legacy Postfix over required-verified TLS delivers the bytes unchanged apart from trace headers', async () => {
  const raw = await compose('Dora <dora@remote.test>', 'Carol <carol@example.test>', '<inbound-1@remote.test>', 'inbound through the gateway');
  const transport = createTransport({ host: '127.0.0.1', port: gateway.ports.smtp, secure: false, requireTLS: true, tls: { ca: token.certPem, servername: 'localhost' } });
  const info = await transport.sendMail({ envelope: { from: 'dora@remote.test', to: ['carol@example.test'] }, raw });
  expect(info.accepted).toEqual(['carol@example.test']);
  expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]{16}$/);

  const [delivered] = await legacy.waitForDelivery(1, 60_000, 'carol@example.test');
  expect(delivered!.wire.equals(wireBytes(raw))).toBe(true);
  // the gateway and the legacy Postfix each prepended one Received header
  expect(traceHeaderNames(delivered!).filter((n) => n === 'received')).toHaveLength(2);
  // the sender reached the gateway over STARTTLS, the gateway reached the legacy Postfix over TLS
  expect(delivered!.raw.toString('latin1')).toMatch(/^Received: from [^\n]*\n\tby gw\.example\.test with ESMTPS /m);
  expect(delivered!.raw.toString('latin1')).toMatch(/^Received: from gw\.example\.test [^\n]*\n\tby legacy\.test \(Postfix\) with ESMTPS /m);
  // the legacy Postfix saw the gateway come in over TLS; the gateway checked its certificate
  // against LEGACY_CA_FILE (required-verified: no delivery otherwise)
  expect(await legacy.log()).toMatch(/TLS connection established from [^\n]*127\.0\.0\.1\]: TLSv1\.[23]/);
  const r = await sql.query(`SELECT r.status, r.route, r.last_reply FROM recipients r JOIN messages m ON m.id = r.message_id WHERE m.header_message_id = $1`, ['<inbound-1@remote.test>']);
  expect(r.rows).toEqual([expect.objectContaining({ status: 'delivered', route: 'legacy' })]);
});

it(`outage: with the remote Postfix down for ${OUTAGE_MS / 1000} s the mail waits deferred in PostgreSQL, then is delivered exactly once`, async () => {
  const count = 6;
  await remote.stop();
  const downSince = Date.now();
  const sent = new Map<string, Buffer>();
  const transport = createTransport({ host: '127.0.0.1', port: gateway.ports.submission, secure: false, ignoreTLS: true });
  for (let i = 0; i < count; i++) {
    const id = `<outage-${i}@example.test>`;
    const raw = await compose('Alice <alice@example.test>', `user${i}@remote.test`, id, `outage ${i}`);
    const info = await transport.sendMail({ envelope: { from: 'alice@example.test', to: [`user${i}@remote.test`] }, raw });
    expect(info.response).toMatch(/^250 2\.0\.0 /);
    sent.set(id, wireBytes(raw));
  }

  const outageState = async () =>
    (
      await sql.query<{ id: string; state: string; status: string; attempts: number; next: Date | null; reply: string | null }>(
        `SELECT m.header_message_id AS id, m.state, r.status, r.attempts, r.next_attempt_at AS next, r.last_reply AS reply
           FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.header_message_id LIKE '<outage-%'`,
      )
    ).rows;
  // every message is deferred (in PostgreSQL, with a next attempt) while the peer is down
  await until('every outage message to be deferred', async () => (await outageState()).filter((r) => r.status === 'deferred').length === count, 60_000);
  let maxAttempts = 0;
  while (Date.now() - downSince < OUTAGE_MS) {
    const rows = await outageState();
    expect(rows).toHaveLength(count);
    for (const r of rows) {
      expect(r.state).toBe('queued');
      expect(['deferred', 'queued']).toContain(r.status);
    }
    maxAttempts = Math.max(maxAttempts, ...rows.map((r) => r.attempts));
    await sleep(2000);
  }
  const waiting = await outageState();
  // retried along the way (RETRY_BASE 2s doubling to RETRY_MAX 10s), never given up
  expect(Math.min(...waiting.map((r) => r.attempts))).toBeGreaterThanOrEqual(4);
  expect(waiting.every((r) => /^451 4\.4\.2 session with 127\.0\.0\.1 failed/.test(r.reply ?? ''))).toBe(true);
  expect(gateway.output()).toMatch(/"msg":"deferred"/);

  remote = await startPostfix({ name: 'remote', port: remotePort, mailboxDomains: ['remote.test'] });
  const back = Date.now();
  const delivered = await remote.waitForDelivery(count, 60_000);
  const deliveredAfterMs = Date.now() - back;
  // once PostgreSQL says every recipient is delivered, no job can deliver again: count then
  await until('every outage message to be done', async () => (await outageState()).every((r) => r.state === 'done' && r.status === 'delivered'), 30_000);
  const final = await remote.deliveredMessages();
  expect(final).toHaveLength(count);
  const ids = final.map(messageIdOf);
  expect(new Set(ids).size).toBe(count);
  for (const m of final) expect(m.wire.equals(sent.get(messageIdOf(m)!)!)).toBe(true);
  expect(delivered.map((m) => m.recipient).sort()).toEqual([...Array(count).keys()].map((i) => `user${i}@remote.test`).sort());
  process.stdout.write(`outage: ${count} messages waited ${Math.round((back - downSince) / 1000)} s (up to ${maxAttempts} attempts each), delivered ${deliveredAfterMs} ms after the peer returned\n`);
});
