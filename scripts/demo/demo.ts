// `npm run demo` (scripts/demo.sh does the machine setup first): two DIME organisations on this
// machine, acme.test and globex.test, each with its own gateway process, SoftHSM token (made by
// appliance/hsm-init.sh), PostgreSQL database and Postfix as the legacy server, and one dnsmasq
// publishing both `_dx` records. One message goes from alice@acme.test (through Postfix A) to
// bob@globex.test (into Postfix B's Maildir). The demo then prints where it went, what each hop
// could see and what crossed the wire between the gateways: gateway A runs with
// NODE_OPTIONS=--tls-keylog, a recording relay sits in front of gateway B's DMTP port, and the
// recorded TLS 1.3 sessions are decrypted (test/tls/tls13-decrypt.ts) into the DMTP dialogue.
// Writes .local/demo/summary.json; exit 0 only if the message arrived intact and every check passed.
// Same topology as apps/gateway/src/gateway-dime.e2e-spec.ts, which tests it.
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Client } from 'pg';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { parseManagementRecord, parseMessageFrame, verifyTlsSignature, DIME_ACTORS, type DimeActor } from '@lib/dime';
import { createTestDatabase, dbEnv, type TestDatabase } from '../../test/database';
import { startDns, type DnsServer } from '../../test/dns/dns-server';
import { messageVisibility, type MessageVisibility } from '../../test/dmtp/dime-visibility';
import { dmtpTranscript, type DmtpTranscript } from '../../test/dmtp/dmtp-transcript';
import { createDimeOrg, dimeGatewayEnv, LOOPBACK_TIMINGS, type DimeOrg } from '../../test/gateway/dime-org';
import { removeSpoolDir, startGatewayProcess, type GatewayProcess } from '../../test/gateway/gateway-process';
import { freePort } from '../../test/postfix/free-port';
import { lfToCrlf, stripTraceHeaders, TRACE_HEADERS, type DeliveredMessage } from '../../test/postfix/maildir';
import { startPostfix, type PostfixInstance } from '../../test/postfix/postfix-instance';
import { createSelfSignedCert, type SelfSignedCert } from '../../test/postfix/self-signed-cert';
import { certificatesOfMessage, decryptTls13, parseTlsRecords, type Tls13Session, type TlsRecord } from '../../test/tls/tls13-decrypt';
import { startTcpCapture, type TcpCapture } from '../../test/gateway/tcp-capture';

const ROOT = join(__dirname, '..', '..');
const OUT_DIR = join(ROOT, '.local', 'demo');
const DOMAIN_A = 'acme.test';
const DOMAIN_B = 'globex.test';
const ALICE = `alice@${DOMAIN_A}`;
const BOB = `bob@${DOMAIN_B}`;
const SUBJECT = 'Merger terms, draft 3 (ref 7f3a)';
const BODY = 'The board approves the offer at 41.20 per share; announce on Monday. 91c2';
const MESSAGE_ID = `<demo-${Date.now().toString(36)}@${DOMAIN_A}>`;
const DIME_TRACE = new Set([...TRACE_HEADERS, 'x-dime-verified', 'x-dime-origin-signet', 'x-dime-author-signet']);
const started = Date.now();

// ---------------------------------------------------------------- output helpers

const tty = process.stdout.isTTY === true && !process.env['NO_COLOR'];
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const cyan = paint('36');
const say = (line = '') => process.stdout.write(`${line}\n`);
const section = (title: string) => say(`\n${bold(cyan(`== ${title}`))}`);
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const step = (what: string) => say(dim(`[${elapsed().padStart(6)}] ${what}`));
const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function hexdump(bytes: Buffer, indent: string, max = 32): string[] {
  const lines: string[] = [];
  for (let off = 0; off < Math.min(bytes.length, max); off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, bytes.length, max));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${indent}${off.toString(16).padStart(4, '0')}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  return lines;
}

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}
const checks: Check[] = [];
function check(name: string, ok: boolean, detail?: string): boolean {
  checks.push({ name, ok, ...(detail !== undefined ? { detail } : {}) });
  say(`  ${ok ? green('PASS') : red('FAIL')}  ${name}${detail ? dim(`  (${detail})`) : ''}`);
  return ok;
}

// ---------------------------------------------------------------- clean-up, also on Ctrl-C

/** Processes stop first (all at once), then what they used goes (databases, tokens, dirs). */
type CleanupPhase = 'processes' | 'state';
const cleanups: { what: string; phase: CleanupPhase; run: () => unknown }[] = [];
const onCleanup = (what: string, run: () => unknown, phase: CleanupPhase = 'state') => cleanups.push({ what, phase, run });
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const phase of ['processes', 'state'] as const) {
      await Promise.all(
        cleanups
          .filter((c) => c.phase === phase)
          .map(async (c) => {
            try {
              await c.run();
            } catch (err) {
              process.stderr.write(`demo: clean-up of ${c.what} failed: ${(err as Error).message}\n`);
            }
          }),
      );
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`\ndemo: ${signal}, stopping everything it started...\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- the two organisations

interface Org {
  readonly domain: string;
  readonly dime: DimeOrg;
  readonly db: TestDatabase;
  readonly sql: Client;
  readonly legacyCert: SelfSignedCert;
  readonly legacyPort: number;
  readonly dmtpPort: number;
  gateway?: GatewayProcess;
  legacy?: PostfixInstance;
}

async function newOrg(domain: string): Promise<Org> {
  const dime = createDimeOrg(domain);
  onCleanup(`the HSM token of ${domain}`, () => dime.cleanup());
  const db = await createTestDatabase('dime_demo');
  onCleanup(`the database of ${domain}`, () => db.drop());
  const legacyCert = await createSelfSignedCert(`legacy.${domain}`);
  onCleanup(`the legacy certificate of ${domain}`, () => legacyCert.remove());
  const sql = new Client({ host: db.config.host, port: db.config.port, user: db.config.user, password: db.config.password.reveal(), database: db.config.database });
  await sql.connect();
  onCleanup(`the SQL connection of ${domain}`, () => sql.end(), 'processes');
  return { domain, dime, db, sql, legacyCert, legacyPort: await freePort(), dmtpPort: await freePort() };
}

async function startOrg(org: Org, dns: DnsServer, peer: { domain: string; port: number }, extra: Record<string, string>): Promise<void> {
  org.gateway = await startGatewayProcess({
    token: org.dime.gatewayToken,
    db: org.db.config,
    queuePrefix: `demo-${org.domain.split('.')[0]}`,
    env: {
      ...dimeGatewayEnv(org.dime, {
        dmtpPort: org.dmtpPort,
        dnsServer: dns.server,
        routes: { [peer.domain]: peer.port },
        legacy: { port: org.legacyPort, caFile: org.legacyCert.certFile },
      }),
      ...LOOPBACK_TIMINGS,
      ...extra,
    },
    readyTimeoutMs: 120_000,
  });
  const gateway = org.gateway;
  onCleanup(
    `gateway ${org.domain}`,
    async () => {
      if (gateway.running()) await gateway.stop(10_000);
      removeSpoolDir(gateway.spoolDir);
    },
    'processes',
  );
  if (!gateway.ready) throw new Error(`gateway of ${org.domain} did not start:\n${gateway.output().slice(-4000)}`);
  org.legacy = await startPostfix({
    name: `legacy-${org.domain.split('.')[0]}`,
    port: org.legacyPort,
    mailboxDomains: [org.domain],
    relayhost: `[127.0.0.1]:${gateway.ports.submission}`,
    tls: { certFile: org.legacyCert.certFile, keyFile: org.legacyCert.keyFile },
  });
  const legacy = org.legacy;
  onCleanup(`Postfix of ${org.domain}`, () => legacy.stop(), 'processes');
}

/** `dime-gateway users add <address>` against one organisation, as its operator runs it. */
async function provisionUser(org: Org, address: string): Promise<void> {
  const { db } = org;
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
    DIME_HOME: org.dime.outDir,
    ...org.dime.env,
    LOCAL_DOMAINS: org.domain,
    ...dbEnv(db.config),
  };
  const node = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('error', reject).once('close', (status) => resolve({ status, stdout, stderr }));
    });
  const r = await node(['apps/operator-cli/src/main.ts', 'users', 'add', address]);
  if (r.status !== 0) throw new Error(`dime-gateway users add ${address} failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let fingerprint = '';
  try {
    fingerprint = (JSON.parse(line) as { fingerprint?: string }).fingerprint ?? '';
  } catch {
    // not JSON: shown as is
  }
  step(`dime-gateway users add ${address} -> user signet ${fingerprint ? cut(fingerprint, 24) : cut(line, 60)}`);
}

// ---------------------------------------------------------------- the message

function compose(): Promise<Buffer> {
  return new MailComposer({
    from: `Alice <${ALICE}>`,
    to: `Bob <${BOB}>`,
    subject: SUBJECT,
    messageId: MESSAGE_ID,
    date: new Date(),
    text: `Bob,\n\n${BODY}\n\nAlice\n`,
    attachments: [{ filename: 'term-sheet.txt', content: 'Term sheet: confidential draft.\n' }],
  })
    .compile()
    .build();
}

const wireBytes = (raw: Buffer) => Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------- reading what happened

type LogLine = Record<string, unknown> & { msg?: string; queueId?: string };
function logLines(gateway: GatewayProcess): LogLine[] {
  return gateway
    .output()
    .split('\n')
    .flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}
const logOf = (lines: LogLine[], queueId: string, msg: string) => lines.find((l) => l.queueId === queueId && l.msg === msg);

/** The Postfix queue id and relay result for a recipient from an instance's maillog. */
function postfixHop(log: string, recipient: string): { queueId?: string; relay?: string; status?: string } {
  const line = log.split('\n').find((l) => l.includes(`to=<${recipient}>`) && /status=sent/.test(l));
  if (!line) return {};
  const m = /([0-9A-Za-z]+): to=<[^>]+>.*?relay=([^,]+),.*?status=sent \((.*)\)/.exec(line);
  return m ? { queueId: m[1]!, relay: m[2]!, status: m[3]! } : {};
}

interface WireSession {
  readonly connection: number;
  readonly bytesToServer: number;
  readonly bytesToClient: number;
  readonly records: { readonly toServer: readonly TlsRecord[]; readonly toClient: readonly TlsRecord[] };
  readonly tls: Tls13Session;
  readonly transcript: DmtpTranscript;
  readonly purpose: string;
}

function describePurpose(t: DmtpTranscript): string {
  const verbs = t.commands.map((c) => c.split(/\s+/)[0]!.toUpperCase());
  if (verbs.includes('DATA')) return 'message transfer (MAIL/RCPT/DATA)';
  const sgnt = t.commands.filter((c) => /^SGNT\b/i.test(c)).map((c) => c.replace(/^SGNT\s+/i, ''));
  if (sgnt.length > 0) return `signet lookup (SGNT ${sgnt.join(', ')})`;
  return verbs.join(' ') || 'empty session';
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'dime-demo-'));
  onCleanup('the demo work dir', () => rmSync(work, { recursive: true, force: true }));
  const keyLogFile = join(work, 'gateway-a.keylog');
  writeFileSync(keyLogFile, '', { mode: 0o600 });

  say(bold('DIME Gateway demo: two organisations on this machine'));
  say(dim(`${ALICE} (Postfix A -> gateway A)  ==DMTP over TLS 1.3==>  (gateway B -> Postfix B) ${BOB}`));
  section('Setting up');
  step(`HSM tokens, certificates, org signets and _dx records (appliance/hsm-init.sh) for ${DOMAIN_A} and ${DOMAIN_B}`);
  const a = await newOrg(DOMAIN_A);
  const b = await newOrg(DOMAIN_B);
  const dns = await startDns({ zones: ['test'], records: { txt: { [`_dx.${DOMAIN_A}`]: [a.dime.dxTxt], [`_dx.${DOMAIN_B}`]: [b.dime.dxTxt] } } });
  onCleanup('dnsmasq', () => dns.stop(), 'processes');
  step(`dnsmasq on ${dns.server} publishes _dx.${DOMAIN_A} and _dx.${DOMAIN_B}`);
  const relay: TcpCapture = await startTcpCapture({ host: '127.0.0.1', port: b.dmtpPort });
  onCleanup('the recording relay', () => relay.close(), 'processes');
  step(`recording relay 127.0.0.1:${relay.port} -> gateway B DMTP 127.0.0.1:${b.dmtpPort}`);
  step('starting both gateways (ts-node, HSM-held TLS keys; gateway A logs its TLS secrets for this demo)');
  await Promise.all([
    startOrg(a, dns, { domain: DOMAIN_B, port: relay.port }, { NODE_OPTIONS: `--tls-keylog=${keyLogFile}` }),
    startOrg(b, dns, { domain: DOMAIN_A, port: a.dmtpPort }, {}),
  ]);
  for (const org of [a, b]) {
    step(`${org.domain}: gateway pid ${org.gateway!.pid} (submission ${org.gateway!.ports.submission}, DMTP ${org.gateway!.ports.dmtp}), Postfix 127.0.0.1:${org.legacy!.port}`);
  }
  await Promise.all([provisionUser(a, ALICE), provisionUser(b, BOB)]);

  section('Sending');
  const raw = await compose();
  const transport = createTransport({ host: '127.0.0.1', port: a.legacy!.port, secure: false, ignoreTLS: true });
  const info = await transport.sendMail({ envelope: { from: ALICE, to: [BOB] }, raw });
  step(`nodemailer -> Postfix A: ${info.response}`);
  step(`Subject: ${SUBJECT}`);
  step(`waiting for it in Postfix B's Maildir for ${BOB} ...`);
  const [delivered] = await b.legacy!.waitForDelivery(1, 120_000, BOB);
  const d = delivered as DeliveredMessage;
  step(`arrived: ${d.file}`);
  const rowA = await until(
    'gateway A to record the delivery',
    async () => {
      const r = await a.sql.query(
        `SELECT m.queue_id, m.size, m.mail_from, r.address, r.route, r.status, r.last_reply FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.header_message_id = $1`,
        [MESSAGE_ID],
      );
      return r.rows[0]?.status === 'delivered' ? (r.rows[0] as Record<string, string | number>) : undefined;
    },
    30_000,
  );
  const rowB = (
    await b.sql.query(
      `SELECT m.queue_id, m.size, m.format, m.direction, m.mail_from, r.address, r.route, r.status, r.last_reply FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.format = 'dime' AND r.address = $1 ORDER BY m.received_at DESC LIMIT 1`,
      [BOB],
    )
  ).rows[0] as Record<string, string | number> | undefined;
  // the gateways may still write their last log lines
  await sleep(500);

  // ---- the wire
  const keyLog = readFileSync(keyLogFile, 'latin1');
  const sessions: WireSession[] = [];
  for (const c of relay.connections()) {
    if (c.toServer.length === 0 && c.toClient.length === 0) continue;
    const tls = decryptTls13({ clientToServer: c.toServer, serverToClient: c.toClient, keyLog });
    for (const s of tls.sessions) {
      const transcript = dmtpTranscript(s.clientToServer.applicationData, s.serverToClient.applicationData);
      sessions.push({
        connection: c.index,
        bytesToServer: c.toServer.length,
        bytesToClient: c.toClient.length,
        records: { toServer: parseTlsRecords(c.toServer), toClient: parseTlsRecords(c.toClient) },
        tls: s,
        transcript,
        purpose: describePurpose(transcript),
      });
    }
  }
  const transfer = sessions.find((s) => s.transcript.messages.length > 0);
  const dimeMessage = transfer?.transcript.messages[0];
  const visibility: MessageVisibility | undefined = dimeMessage ? messageVisibility(dimeMessage) : undefined;

  // ---- certificate of gateway B as presented on the wire, against the _dx record from DNS
  const dxTxt = (await dns.resolver().resolveTxt(`_dx.${DOMAIN_B}`))[0] ?? [];
  const record = parseManagementRecord(dxTxt);
  const certMessage = transfer?.tls.serverToClient.handshakeMessages.find((m) => m.type === 11);
  const certDer = certMessage ? certificatesOfMessage(certMessage.body)[0] : undefined;
  const cert = certDer ? new X509Certificate(certDer) : undefined;
  const tlsSignatureOk = certDer ? verifyTlsSignature(record, certDer) : false;

  const logsA = logLines(a.gateway!);
  const logsB = logLines(b.gateway!);
  const qA = String(rowA['queue_id']);
  const qB = rowB ? String(rowB['queue_id']) : '';
  const acceptedA = logOf(logsA, qA, 'accepted');
  const deliveredA = logOf(logsA, qA, 'delivered');
  const openedB = logOf(logsB, qB, 'DIME message verified and opened');
  const deliveredB = logOf(logsB, qB, 'delivered');
  const pfA = postfixHop(await a.legacy!.log(), BOB);
  const pfB = postfixHop(await b.legacy!.log(), BOB);

  // ================================================================ 1. the path
  section('1. Where it went');
  say(`  ${bold('Postfix A')} (legacy server of ${DOMAIN_A}, 127.0.0.1:${a.legacy!.port})  queue id ${pfA.queueId ?? '?'}`);
  say(`     relayed to gateway A (${pfA.relay ?? '?'}): ${pfA.status ?? '?'}`);
  say(`  ${bold('Gateway A')} (${DOMAIN_A})  queue id ${qA}  ${dim(`accepted ${acceptedA?.['size'] ?? rowA['size']} bytes from ${String(acceptedA?.['client'] ?? '?')}, STARTTLS ${String(acceptedA?.['tls'] ?? '?')}`)}`);
  say(`     route ${bold(String(rowA['route']))} for ${BOB} (DIME policy required: never plain SMTP)`);
  say(`     DX host ${bold(String(deliveredA?.['host'] ?? '?'))} -> 127.0.0.1:${relay.port} from DMTP_ROUTES ${dim(`(the demo's recording relay, in front of gateway B's DMTP port ${b.dmtpPort})`)}`);
  if (cert) {
    say(`     certificate presented: ${cert.subject.replace(/\n/g, ', ')}, SHA-512 ${createHash('sha512').update(certDer!).digest('hex').slice(0, 32)}…`);
    say(`     authenticated by the _dx.${DOMAIN_B} tls= signature (Ed25519 by a pok= key over SHA-512 of the certificate): ${tlsSignatureOk ? green('valid') : red('INVALID')}`);
    say(dim(`     (gateway A's DMTP client checks exactly this before its first command, docs/dmtp.md §1; re-checked here on the certificate decrypted from the wire)`));
  }
  say(`     reply: ${String(rowA['last_reply'])}`);
  say(`  ${bold('Gateway B')} (${DOMAIN_B})  queue id ${qB || '?'}  ${dim(`received over DMTP: ${rowB?.['format'] ?? '?'} message of ${rowB?.['size'] ?? '?'} bytes, ${rowB?.['direction'] ?? '?'}`)}`);
  if (openedB) say(`     verified and opened: author=${String(openedB['author'])} origin=${String(openedB['origin'])} recipient=${String(openedB['recipient'])}`);
  say(`     route ${String(rowB?.['route'] ?? '?')} -> Postfix B (${String(deliveredB?.['host'] ?? '?')}:${b.legacyPort}, STARTTLS verified): ${String(rowB?.['last_reply'] ?? '?')}`);
  say(`  ${bold('Postfix B')} (legacy server of ${DOMAIN_B}, 127.0.0.1:${b.legacy!.port})  queue id ${pfB.queueId ?? '?'}: relay=${pfB.relay ?? '?'}, ${pfB.status ?? '?'}`);
  say(`  ${bold('Maildir')} ${d.file}`);
  const verifiedHeader = /^X-DIME-Verified: .*$/m.exec(d.raw.toString('latin1'))?.[0];
  if (verifiedHeader) say(`     ${verifiedHeader}`);

  // ================================================================ 2. who saw what
  section('2. What each hop could see');
  const hops: [string, string][] = [
    ['Postfix A (legacy, acme.test)', `everything: envelope ${ALICE} -> ${BOB}, headers, subject, body`],
    ['Gateway A (trustful mode)', 'everything; it signs as alice (her key, unwrapped from the HSM-wrapped store) and as acme.test (HSM)'],
    ['The wire A -> B', `TLS 1.3 records only: ${sessions.length} session(s), see 3.`],
    ['  inside TLS: DMTP', `the two domains (MAIL FROM:<${DOMAIN_A}> / RCPT TO:<${DOMAIN_B}>) and an encrypted D/MIME message`],
    ['Gateway B (trustful mode)', 'everything after opening it as destination (org key in its HSM) and as recipient (bob\'s key)'],
    ['Postfix B (legacy, globex.test)', 'everything, as a normal mail server, with X-DIME-* verification headers added'],
  ];
  for (const [hop, sees] of hops) say(`  ${hop.padEnd(33)} ${sees}`);
  if (visibility) {
    say('');
    say(`  Inside the D/MIME message (${visibility.size} bytes, ${visibility.chunks.length} chunks): who holds a keyslot for which chunk`);
    say(`  ${'chunk'.padEnd(52)} ${'bytes'.padStart(6)}  ${DIME_ACTORS.map((x) => x.slice(0, 6).padEnd(7)).join('')}`);
    for (const c of visibility.chunks) {
      const cols = DIME_ACTORS.map((x) => (c.actors.length === 0 ? 'clear  ' : c.actors.includes(x) ? 'open   ' : '-      ')).join('');
      say(`  ${`${String(c.type).padStart(3)} ${c.name}`.padEnd(52)} ${String(c.length).padStart(6)}  ${cols}${c.consistent ? '' : red(' keyslots differ from DIGEST.md')}`);
    }
    const roles: Record<DimeActor, string> = { author: `author (${ALICE})`, origin: `origin (${DOMAIN_A}, gateway A)`, destination: `destination (${DOMAIN_B}, gateway B)`, recipient: `recipient (${BOB})` };
    say('');
    const short = (name: string) => name.replace(/ \(.*\)$/, '');
    for (const actor of DIME_ACTORS) say(`  ${roles[actor].padEnd(38)} can open: ${visibility.byActor[actor].map(short).join(', ')}`);
  }

  // ================================================================ 3. the wire
  section('3. What crossed the wire between the gateways');
  for (const s of sessions) {
    say(`  connection ${s.connection}: ${s.purpose}`);
    say(`     ${s.bytesToServer} bytes A->B in ${s.records.toServer.length} TLS records, ${s.bytesToClient} bytes B->A in ${s.records.toClient.length} records; ${s.tls.cipherSuite}; decrypted with gateway A's key log`);
  }
  if (transfer) {
    say('');
    say(`  TLS records of the message transfer (connection ${transfer.connection}), A->B, first bytes of each:`);
    for (const r of transfer.records.toServer.slice(0, 6)) {
      say(`   ${r.typeName} (type ${r.type}), version 0x${r.version.toString(16)}, ${r.fragment.length} bytes at offset ${r.offset}`);
      for (const l of hexdump(r.bytes, '     ')) say(dim(l));
    }
    if (transfer.records.toServer.length > 6) say(dim(`   ... ${transfer.records.toServer.length - 6} more records`));
    say('');
    say('  The DMTP dialogue inside TLS (decrypted):');
    for (const e of transfer.transcript.entries) {
      const who = e.from === 'client' ? 'A:' : 'B:';
      for (const line of e.text.split('\n')) say(`   ${who} ${cut(line, 110)}`);
    }
    say(`  D/MIME message: ${dimeMessage!.length} bytes (the RFC 5322 original: ${raw.length} bytes)`);
  }
  for (const s of sessions.filter((x) => x !== transfer)) {
    say('');
    say(`  The DMTP dialogue of connection ${s.connection} (decrypted):`);
    for (const e of s.transcript.entries) for (const line of e.text.split('\n')) say(`   ${e.from === 'client' ? 'A:' : 'B:'} ${cut(line, 110)}`);
  }

  // ================================================================ checks
  section('Checks');
  const original = wireBytes(raw);
  const arrived = lfToCrlf(stripTraceHeaders(d.raw, DIME_TRACE));
  check('the message arrived in bob\'s Maildir byte for byte (apart from trace headers)', arrived.equals(original), `${arrived.length} of ${original.length} bytes`);
  check('Postfix B got it from gateway B with X-DIME-Verified: pass', /^X-DIME-Verified: pass \(origin=acme\.test; author=alice@acme\.test\)$/m.test(d.raw.toString('latin1')));
  check('gateway A sent it over DMTP (route dmtp, delivered, 250)', rowA['route'] === 'dmtp' && rowA['status'] === 'delivered' && /^250 /.test(String(rowA['last_reply'])));
  check('gateway B received a D/MIME message over DMTP and relayed it to its legacy server', rowB?.['format'] === 'dime' && rowB['direction'] === 'inbound' && rowB['route'] === 'legacy' && rowB['status'] === 'delivered');
  check(`gateway B's certificate on the wire verifies under the _dx.${DOMAIN_B} tls= signature`, tlsSignatureOk, cert ? cert.subject.replace(/\n/g, ', ') : 'no Certificate message decrypted');
  check('every recorded session is TLS 1.3 and decrypts completely', sessions.length > 0 && sessions.length === relay.connections().filter((c) => c.toServer.length > 0).length, `${sessions.length} session(s)`);
  const mail = transfer?.transcript.commands.find((c) => /^MAIL FROM:/i.test(c));
  const rcpt = transfer?.transcript.commands.find((c) => /^RCPT TO:/i.test(c));
  check(`DMTP addresses organisations only: MAIL FROM:<${DOMAIN_A}> / RCPT TO:<${DOMAIN_B}>`, mail?.startsWith(`MAIL FROM:<${DOMAIN_A}>`) === true && rcpt?.startsWith(`RCPT TO:<${DOMAIN_B}>`) === true, `${mail ?? '-'} / ${rcpt ?? '-'}`);
  check('the D/MIME message from the decrypted stream parses, its keyslots match DIGEST.md §6.1', !!dimeMessage && parseMessageFrame(dimeMessage).chunks.length > 0 && visibility?.consistent === true);
  check('it is the message gateway B stored (same size)', !!dimeMessage && Number(rowB?.['size']) === dimeMessage.length, `${dimeMessage?.length ?? 0} / ${String(rowB?.['size'] ?? '-')} bytes`);
  const tlsBytes = Buffer.concat(relay.connections().flatMap((c) => [c.toServer, c.toClient]));
  const transferStream = transfer ? Buffer.concat([transfer.tls.clientToServer.applicationData, transfer.tls.serverToClient.applicationData]) : Buffer.alloc(0);
  const secrets: [string, string][] = [
    ['subject', SUBJECT],
    ['body', BODY],
    ['author mailbox', ALICE],
    ['recipient mailbox', BOB],
  ];
  for (const [what, value] of secrets) {
    check(`${what} is not in the TLS bytes`, !tlsBytes.includes(Buffer.from(value, 'latin1')), JSON.stringify(value));
    check(`${what} is not in the decrypted DMTP message transfer`, transferStream.length > 0 && !transferStream.includes(Buffer.from(value, 'latin1')));
  }
  // the signet lookups name the mailbox they ask for, to the destination's own DX: disclosed, not a leak of the message
  const lookups = sessions.filter((s) => s !== transfer);
  const lookupNames = lookups.flatMap((s) => s.transcript.commands.filter((c) => /^SGNT\b/i.test(c)));
  if (lookupNames.length > 0) say(dim(`  note: signet lookups inside TLS asked gateway B for ${lookupNames.join(', ')} (DIME discovery: the destination serves its users' signets)`));
  for (const [what, value] of secrets.slice(0, 2)) {
    check(`${what} is not in the decrypted signet lookups`, !lookups.some((s) => Buffer.concat([s.tls.clientToServer.applicationData, s.tls.serverToClient.applicationData]).includes(Buffer.from(value, 'latin1'))));
  }

  const passed = checks.every((c) => c.ok);
  const summary = {
    ok: passed,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    message: { messageId: MESSAGE_ID, from: ALICE, to: BOB, subject: SUBJECT, rfc5322Bytes: raw.length, dimeBytes: dimeMessage?.length ?? null },
    path: {
      postfixA: { queueId: pfA.queueId ?? null, relay: pfA.relay ?? null, status: pfA.status ?? null },
      gatewayA: { queueId: qA, route: rowA['route'], dxHost: deliveredA?.['host'] ?? null, reply: rowA['last_reply'], peerCertificate: cert?.subject ?? null, tlsSignatureValid: tlsSignatureOk },
      gatewayB: { queueId: qB || null, format: rowB?.['format'] ?? null, route: rowB?.['route'] ?? null, reply: rowB?.['last_reply'] ?? null, opened: openedB ? { author: openedB['author'], origin: openedB['origin'], recipient: openedB['recipient'] } : null },
      postfixB: { queueId: pfB.queueId ?? null, status: pfB.status ?? null },
      maildirFile: d.file,
    },
    wire: sessions.map((s) => ({
      connection: s.connection,
      purpose: s.purpose,
      cipherSuite: s.tls.cipherSuite,
      bytesToServer: s.bytesToServer,
      bytesToClient: s.bytesToClient,
      recordsToServer: s.records.toServer.length,
      recordsToClient: s.records.toClient.length,
      dialogue: s.transcript.entries.map((e) => ({ from: e.from === 'client' ? DOMAIN_A : DOMAIN_B, text: cut(e.text, 200) })),
    })),
    visibility: visibility ? { chunks: visibility.chunks.map((c) => ({ type: c.type, name: c.name, bytes: c.length, actors: c.actors })), byActor: visibility.byActor } : null,
    checks,
  };
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  say('');
  say(`${passed ? green(bold('ALL CHECKS PASSED')) : red(bold(`${checks.filter((c) => !c.ok).length} CHECK(S) FAILED`))} in ${elapsed()}; summary in ${relative(process.cwd(), join(OUT_DIR, 'summary.json'))}`);
  return passed ? 0 : 1;
}

main()
  .catch((err: unknown) => {
    // a Ctrl-C also kills the children (hsm-init, ...): their failure is not news
    if (!interrupted) process.stderr.write(`\ndemo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  })
  .then(async (code) => {
    step('stopping gateways, Postfix, dnsmasq; dropping the databases; removing tokens and temp dirs');
    await cleanup();
    step('clean');
    process.exit(interrupted ? 130 : code);
  });
