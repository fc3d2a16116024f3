// Two organisations on loopback, each with its own gateway process, HSM token (made by
// appliance/hsm-init.sh), PostgreSQL database and Postfix as the legacy server, and one real DNS
// server (dnsmasq) publishing both `_dx` records (issue 5, "what must be shown", 1):
//   Postfix A -> gateway A (submission) -> DMTP -> gateway B -> Postfix B -> Maildir, and back.
// The delivered message equals the sent one apart from trace headers (Received & co. and the
// X-DIME-* verification headers). Everything between the two gateways passes through a recording
// relay: neither subject, body nor either mailbox address crosses the wire; decrypted with gateway
// A's TLS key log, the DMTP message transfer carries only the two domains and the D/MIME message
// (no chunk with headers or body readable by the relays). The signet lookup (SGNT) does name the
// recipient's mailbox, inside TLS: that is how DIME discovery asks for a user signet. A domain whose DIME
// policy is `required` and whose signets cannot be fetched is deferred, then bounced: never SMTP.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { createTestDatabase, dbEnv, type TestDatabase } from '../../../test/database';
import { startDns, type DnsServer } from '../../../test/dns/dns-server';
import { messageVisibility } from '../../../test/dmtp/dime-visibility';
import { dmtpTranscript } from '../../../test/dmtp/dmtp-transcript';
import { createDimeOrg, dimeGatewayEnv, LOOPBACK_TIMINGS, type DimeOrg } from '../../../test/gateway/dime-org';
import { removeSpoolDir, startGatewayProcess, type GatewayProcess } from '../../../test/gateway/gateway-process';
import { startTcpCapture, type TcpCapture } from '../../../test/gateway/tcp-capture';
import { freePort } from '../../../test/postfix/free-port';
import { lfToCrlf, stripTraceHeaders, TRACE_HEADERS, type DeliveredMessage } from '../../../test/postfix/maildir';
import { startPostfix, type PostfixInstance } from '../../../test/postfix/postfix-instance';
import { createSelfSignedCert, type SelfSignedCert } from '../../../test/postfix/self-signed-cert';
import { decryptTls13, Tls13DecryptError } from '../../../test/tls/tls13-decrypt';
import { until } from '../../../test/until';

jest.setTimeout(300_000);

const ROOT = join(__dirname, '..', '..', '..');
const DIME_TRACE = new Set([...TRACE_HEADERS, 'x-dime-verified', 'x-dime-origin-signet', 'x-dime-author-signet']);

interface Org {
  readonly dime: DimeOrg;
  readonly db: TestDatabase;
  readonly sql: Client;
  readonly legacyCert: SelfSignedCert;
  readonly legacyPort: number;
  readonly dmtpPort: number;
  gateway?: GatewayProcess;
  legacy?: PostfixInstance;
}

let dns: DnsServer;
let capture: TcpCapture;
/** Gateway A's TLS secrets (node --tls-keylog), to decrypt what the capture recorded. */
const keyLogDir = mkdtempSync(join(tmpdir(), 'gw-keylog-'));
const keyLogFile = join(keyLogDir, 'gateway-a.keylog');
let a: Org;
let b: Org;

function wireBytes(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

function compose(from: string, to: string, messageId: string, subject: string, body: string): Promise<Buffer> {
  return new MailComposer({
    from,
    to,
    cc: 'Carol <carol@b.test>',
    subject,
    messageId,
    date: new Date('2026-05-06T07:08:09Z'),
    text: `${body}\n.a line that starts with a dot\nünïcödé\n`,
    headers: { 'X-Priority': '3', 'X-Long': `a header long enough to be folded by the composer ${'y'.repeat(90)} end` },
    attachments: [{ filename: 'report.bin', content: Buffer.alloc(2000, 0x5a) }],
    textEncoding: 'quoted-printable',
  })
    .compile()
    .build();
}

/** The delivered message without its trace block (Received, Return-Path..., X-DIME-*), CRLF restored. */
function withoutTrace(delivered: DeliveredMessage): Buffer {
  return lfToCrlf(stripTraceHeaders(delivered.raw, DIME_TRACE));
}

async function newOrg(domain: string): Promise<Org> {
  const [db, legacyCert, legacyPort, dmtpPort] = await Promise.all([createTestDatabase(), createSelfSignedCert(`legacy.${domain}`), freePort(), freePort()]);
  const sql = new Client({ host: db.config.host, port: db.config.port, user: db.config.user, password: db.config.password.reveal(), database: db.config.database });
  await sql.connect();
  return { dime: createDimeOrg(domain), db, sql, legacyCert, legacyPort, dmtpPort };
}

async function startOrg(org: Org, peer: { domain: string; dmtpPort: number }, extra: Record<string, string> = {}): Promise<void> {
  const domain = org.dime.domain;
  org.gateway = await startGatewayProcess({
    token: org.dime.gatewayToken,
    db: org.db.config,
    env: {
      ...dimeGatewayEnv(org.dime, {
        dmtpPort: org.dmtpPort,
        dnsServer: dns.server,
        routes: { [peer.domain]: peer.dmtpPort },
        legacy: { port: org.legacyPort, caFile: org.legacyCert.certFile },
      }),
      ...LOOPBACK_TIMINGS,
      ...extra,
    },
  });
  if (!org.gateway.ready) throw new Error(`gateway of ${domain} did not start:\n${org.gateway.output().slice(-4000)}`);
  org.legacy ??= await startPostfix({
    name: `legacy-${domain.split('.')[0]}`,
    port: org.legacyPort,
    mailboxDomains: [domain],
    relayhost: `[127.0.0.1]:${org.gateway.ports.submission}`,
    tls: { certFile: org.legacyCert.certFile, keyFile: org.legacyCert.keyFile },
  });
}

/** `dime-gateway <args>` against one organisation's database and token, as its operator runs it. */
function operator(org: Org, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const { db } = org;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/operator-cli/src/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
      DIME_HOME: org.dime.outDir,
      ...org.dime.env,
      LOCAL_DOMAINS: org.dime.domain,
      ...dbEnv(db.config),
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function send(org: Org, from: string, to: readonly string[], raw: Buffer) {
  const transport = createTransport({ host: '127.0.0.1', port: org.legacy!.port, secure: false, ignoreTLS: true });
  return transport.sendMail({ envelope: { from, to: [...to] }, raw });
}

/** Waits until `ready` holds for the message's one recipient row at gateway A (state, status, route, last reply). */
function recipientAtA(
  headerId: string,
  what: string,
  ready: (row: { state: string; status: string; route: string | null; last_reply: string | null }) => boolean,
  timeoutMs: number,
) {
  return until(
    what,
    async () => {
      const r = await a.sql.query(`SELECT m.state, r.status, r.route, r.last_reply FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.header_message_id = $1`, [headerId]);
      return r.rows.length === 1 && ready(r.rows[0]) ? r.rows[0] : undefined;
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  [a, b] = await Promise.all([newOrg('a.test'), newOrg('b.test')]);
  dns = await startDns({
    zones: ['test'],
    records: {
      txt: { '_dx.a.test': [a.dime.dxTxt], '_dx.b.test': [b.dime.dxTxt], '_dx.unreachable.test': [b.dime.dxTxt] },
      mx: { 'unreachable.test': [{ exchange: 'mx.unreachable.test', priority: 10 }] },
      a: { 'mx.unreachable.test': ['127.0.0.1'] },
    },
  });
  // everything gateway A sends to gateway B goes through the recording relay
  capture = await startTcpCapture({ host: '127.0.0.1', port: b.dmtpPort });
  const unreachablePort = await freePort();
  await Promise.all([
    startOrg(a, { domain: 'b.test', dmtpPort: capture.port }, { DMTP_ROUTES: `b.test=127.0.0.1:${capture.port},unreachable.test=127.0.0.1:${unreachablePort}`, QUEUE_LIFETIME: '20s', NODE_OPTIONS: `--tls-keylog=${keyLogFile}` }),
    startOrg(b, { domain: 'a.test', dmtpPort: a.dmtpPort }),
  ]);
  // recipients are provisioned by their operator; alice (a sender) gets her keys on first use
  for (const [org, address] of [
    [b, 'bob@b.test'],
    [b, 'carol@b.test'],
  ] as const) {
    const r = operator(org, ['users', 'add', address]);
    if (r.status !== 0) throw new Error(`users add ${address}: ${r.stderr}`);
  }
});

afterAll(async () => {
  for (const org of [a, b]) {
    if (!org) continue;
    if (org.gateway?.running()) await org.gateway.stop(10_000);
    if (org.gateway) removeSpoolDir(org.gateway.spoolDir);
    await org.legacy?.stop();
    await org.sql.end();
    await org.db.drop();
    await org.legacyCert.remove();
    org.dime.cleanup();
  }
  await capture?.close();
  rmSync(keyLogDir, { recursive: true, force: true });
  await dns?.stop();
});

it('a.test -> b.test: Postfix A -> gateway A -> DMTP -> gateway B -> Postfix B delivers the original bytes; the wire shows none of subject, body or addresses', async () => {
  const subject = 'Quarterly figures 7f3a';
  const body = 'the secret body text 91c2';
  const raw = await compose('Alice <alice@a.test>', 'Bob <bob@b.test>', '<dime-1@a.test>', subject, body);
  const info = await send(a, 'alice@a.test', ['bob@b.test'], raw);
  expect(info.accepted).toEqual(['bob@b.test']);

  const [delivered] = await b.legacy!.waitForDelivery(1, 90_000, 'bob@b.test');
  expect(withoutTrace(delivered!).equals(wireBytes(raw))).toBe(true);
  const text = delivered!.raw.toString('latin1');
  expect(text).toMatch(/^X-DIME-Verified: pass \(origin=a\.test; author=alice@a\.test\)$/m);
  expect(text).toMatch(/^Received: from [^\n]*\n\tby gw\.b\.test with DMTP id [0-9A-F]{16};/m);

  // gateway A sent it over DMTP (route dmtp), gateway B received a D/MIME message and relayed it
  const out = await recipientAtA('<dime-1@a.test>', 'the message to be done at gateway A', (r) => r.state === 'done', 30_000);
  expect(out).toEqual(expect.objectContaining({ status: 'delivered', route: 'dmtp' }));
  expect(out.last_reply).toMatch(/^250 /);
  const inbound = await b.sql.query(`SELECT m.format, m.direction, m.mail_from, r.route, r.status FROM messages m JOIN recipients r ON r.message_id = m.id WHERE r.address = 'bob@b.test'`);
  expect(inbound.rows).toEqual([expect.objectContaining({ format: 'dime', direction: 'inbound', mail_from: 'alice@a.test', route: 'legacy' })]);

  // what crossed the wire between the gateways: TLS records only; no plaintext of the message
  const wire = capture.captured();
  expect(wire.connections).toBeGreaterThanOrEqual(1);
  expect(wire.toServer.length).toBeGreaterThan(raw.length / 2);
  const seen = Buffer.concat([wire.toServer, wire.toClient]).toString('latin1');
  for (const secret of [subject, body, 'alice@a.test', 'bob@b.test', 'carol@b.test', 'Quarterly', 'secret body', 'alice', 'bob@']) expect(seen).not.toContain(secret);

  // inside the TLS: decrypted with gateway A's key log, the DMTP sessions carry only the two domains
  // and the D/MIME message gateway B stored; the message transfer names no mailbox, subject or body
  // (the capture joins its connections: each session starts with a plaintext ClientHello/ServerHello;
  // the last records may still be on their way, so wait until the capture ends on a record boundary)
  const decrypted = await until(
    'complete TLS records in the capture',
    async () => {
      const w = capture.captured();
      try {
        return decryptTls13({ clientToServer: w.toServer, serverToClient: w.toClient, keyLog: readFileSync(keyLogFile) });
      } catch (err) {
        if (err instanceof Tls13DecryptError && err.code === 'TRUNCATED') return undefined;
        throw err;
      }
    },
    10_000,
  );
  expect(decrypted.sessions.length).toBeGreaterThanOrEqual(1);
  const transcripts = decrypted.sessions.map((s) => dmtpTranscript(s.clientToServer.applicationData, s.serverToClient.applicationData));
  const transfers = transcripts.filter((t) => t.messages.length > 0);
  expect(transfers).toHaveLength(1);
  const transfer = transfers[0]!;
  expect(transfer.replies[0]!.lines[0]).toMatch(/\bDMTPv1\b/);
  expect(transfer.commands).toEqual(expect.arrayContaining([expect.stringMatching(/^MAIL FROM:<a\.test>( |$)/), expect.stringMatching(/^RCPT TO:<b\.test>( |$)/), 'DATA']));
  const dime = transfer.messages[0]!;
  expect(dime.readUInt16BE(0)).toBe(1847); // D/MIME magic (DIGEST.md §6.1)
  const stored = await b.sql.query(`SELECT m.size FROM messages m JOIN recipients r ON r.message_id = m.id WHERE r.address = 'bob@b.test' AND m.format = 'dime'`);
  expect(stored.rows).toEqual([{ size: dime.length }]);
  // who holds a keyslot for which chunk: the relays (origin, destination) none for headers or content
  const visibility = messageVisibility(dime);
  expect(visibility.consistent).toBe(true);
  for (const relay of ['origin', 'destination'] as const) expect(visibility.byActor[relay].filter((n) => /headers|body|attachment/.test(n))).toEqual([]);
  expect(visibility.byActor.recipient).toEqual(expect.arrayContaining(['common headers (From, To, Subject, Date)', 'display (body)']));
  const transferPlain = Buffer.concat([transfer.commands.join('\n'), ...transfer.messages].map((x) => Buffer.from(x))).toString('latin1');
  for (const secret of [subject, body, 'alice@a.test', 'bob@b.test', 'carol@b.test', 'Quarterly', 'secret body']) expect(transferPlain).not.toContain(secret);
  // signet lookups (SGNT) ask for domains and the recipient's user signet, never carry content
  const lookupPlain = decrypted.sessions.map((s) => Buffer.concat([s.clientToServer.applicationData, s.serverToClient.applicationData]).toString('latin1')).join('');
  for (const secret of [subject, body, 'Quarterly', 'secret body']) expect(lookupPlain).not.toContain(secret);
});

it('b.test -> a.test: the way back works the same, and the sender was provisioned as a DIME user on first use', async () => {
  const raw = await compose('Bob <bob@b.test>', 'Alice <alice@a.test>', '<dime-2@b.test>', 'Re: Quarterly figures', 'reply body 22aa');
  const info = await send(b, 'bob@b.test', ['alice@a.test'], raw);
  expect(info.accepted).toEqual(['alice@a.test']);
  const [delivered] = await a.legacy!.waitForDelivery(1, 90_000, 'alice@a.test');
  expect(withoutTrace(delivered!).equals(wireBytes(raw))).toBe(true);
  expect(delivered!.raw.toString('latin1')).toMatch(/^X-DIME-Verified: pass \(origin=b\.test; author=bob@b\.test\)$/m);
  const listed = operator(a, ['users', 'list']);
  expect({ status: listed.status, stderr: listed.stderr }).toEqual({ status: 0, stderr: '' });
  expect(listed.stdout).toContain('alice@a.test');
  // provisioned by gateway A when she first sent (test 1), not by an operator: audited as the gateway
  const audit = await a.sql.query(`SELECT actor, action FROM audit_entries WHERE object_type = 'dime-user' AND object_id = 'alice@a.test'`);
  expect(audit.rows).toEqual([{ actor: 'system:gateway', action: 'dime.user.provision' }]);
});

it('a suspended recipient is refused at the door (the sender gets a DSN), never delivered', async () => {
  const suspended = operator(b, ['users', 'suspend', 'carol@b.test']);
  expect({ status: suspended.status, stderr: suspended.stderr }).toEqual({ status: 0, stderr: '' });
  const raw = await compose('Alice <alice@a.test>', 'Carol <carol@b.test>', '<dime-3@a.test>', 'to a suspended user', 'should not arrive');
  await send(a, 'alice@a.test', ['carol@b.test'], raw);
  const row = await recipientAtA('<dime-3@a.test>', 'the recipient to be bounced at gateway A', (r) => r.status === 'bounced', 60_000);
  expect(row.last_reply).toMatch(/^5\d\d /);
  expect(await b.legacy!.deliveredMessages()).not.toContainEqual(expect.objectContaining({ recipient: 'carol@b.test' }));
});

it('a required DIME domain whose signets cannot be fetched is deferred, then bounced; it never falls back to SMTP', async () => {
  const raw = await compose('Alice <alice@a.test>', 'Dave <dave@unreachable.test>', '<dime-4@a.test>', 'to an unreachable DIME domain', 'never in clear');
  await send(a, 'alice@a.test', ['dave@unreachable.test'], raw);
  const deferred = await recipientAtA('<dime-4@a.test>', 'the recipient to be deferred', (r) => r.status === 'deferred', 60_000);
  expect(deferred.route).toBe('dmtp');
  expect(deferred.last_reply).toMatch(/^4\d\d /);
  // QUEUE_LIFETIME 20s at gateway A: then bounced with the last 4xx reason
  const bounced = await recipientAtA('<dime-4@a.test>', 'the recipient to be bounced', (r) => r.status === 'bounced', 90_000);
  expect(bounced.last_reply).toMatch(/^4\d\d .*DIME|^4\d\d /);
  // the DSN went back to alice through Postfix A; nothing was ever sent over SMTP to unreachable.test
  expect(a.gateway!.output()).not.toMatch(/"route":"remote","domain":"unreachable\.test"/);
  const isDsnForDave = (m: DeliveredMessage) => /multipart\/report/i.test(m.raw.toString('latin1')) && m.raw.toString('latin1').includes('dave@unreachable.test');
  const toAlice = await a.legacy!.waitForDelivery((ms) => ms.some(isDsnForDave), 60_000, 'alice@a.test');
  expect(toAlice.filter(isDsnForDave)).toHaveLength(1);
});

it('plain SMTP from the Internet cannot claim DIME verification: forged X-DIME-* fields are removed before the legacy server', async () => {
  const raw = Buffer.from(
    'From: CEO <ceo@a.test>\r\nTo: bob@b.test\r\nSubject: urgent wire transfer\r\nMessage-ID: <forged-1@evil.test>\r\n' +
      'X-DIME-Verified: pass (origin=a.test; author=ceo@a.test)\r\nX-DIME-Author-Signet: 00ff\r\n\r\nplease pay\r\n',
    'latin1',
  );
  const transport = createTransport({ host: '127.0.0.1', port: b.gateway!.ports.smtp, secure: false, tls: { rejectUnauthorized: false } });
  const info = await transport.sendMail({ envelope: { from: 'mallory@evil.test', to: ['bob@b.test'] }, raw });
  expect(info.accepted).toEqual(['bob@b.test']);
  const delivered = await b.legacy!.waitForDelivery((ms) => ms.some((m) => m.raw.includes('forged-1@evil.test')), 60_000, 'bob@b.test');
  const forged = delivered.find((m) => m.raw.includes('forged-1@evil.test'))!.raw.toString('latin1');
  expect(forged).not.toMatch(/^X-DIME-/im);
  expect(forged).toContain('Subject: urgent wire transfer\n');
  expect(forged).toContain('\n\nplease pay\n');
});
