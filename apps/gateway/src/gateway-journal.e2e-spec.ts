// The compliance journal through the whole gateway process (issue 6, "what must be shown", 1): a
// message from the Internet to the organisation is relayed to its Postfix and journaled on the
// way: one record whose content cannot be read from PostgreSQL and the archive directory alone
// (AES-256-GCM under a record key wrapped to the HSM escrow key; addresses only as HSM blind
// indexes). Recovering it takes the operator CLI's escrow flow: with one approval, or with the
// requester approving their own request, nothing is exported; with two other approvers the export,
// decrypted with the requester's key, reproduces the journaled message byte for byte.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTransport } from 'nodemailer';
import { createTestDatabase, dbEnv, type TestDatabase } from '../../../test/database';
import { createDimeOrg, type DimeOrg } from '../../../test/gateway/dime-org';
import { removeSpoolDir, startGatewayProcess, type GatewayProcess } from '../../../test/gateway/gateway-process';
import { freePort } from '../../../test/postfix/free-port';
import { lfToCrlf, stripTraceHeaders } from '../../../test/postfix/maildir';
import { startPostfix, type PostfixInstance } from '../../../test/postfix/postfix-instance';
import { createSelfSignedCert, type SelfSignedCert } from '../../../test/postfix/self-signed-cert';
import { until } from '../../../test/until';

jest.setTimeout(240_000);

const ROOT = join(__dirname, '..', '..', '..');
const SUBJECT = 'Board minutes 4e1d';
const BODY = 'merger terms: confidential 77b0';
const MESSAGE = Buffer.from(
  `From: Erin <erin@outside.test>\r\nTo: Frank <frank@corp.test>\r\nSubject: ${SUBJECT}\r\nMessage-ID: <journal-1@outside.test>\r\n` +
    `Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n${BODY}\r\n`,
  'latin1',
);

let org: DimeOrg;
let db: TestDatabase;
let sql: Client;
let cert: SelfSignedCert;
let legacy: PostfixInstance;
let gateway: GatewayProcess;
let dir: string;
let archiveDir: string;
let redisPrefix: string;

function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(ROOT, 'apps/operator-cli/src/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
      DIME_HOME: dir,
      ...org.env,
      LOCAL_DOMAINS: 'corp.test',
      ...dbEnv(db.config),
      QUEUE_PREFIX: redisPrefix,
      JOURNAL_ENABLED: 'true',
      ARCHIVE_DIR: archiveDir,
      ESCROW_EXPORT_DIR: join(dir, 'exports'),
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: readonly string[]): Record<string, unknown> {
  const r = cli(args);
  if (r.status !== 0) throw new Error(`dime-gateway ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function filesUnder(path: string): string[] {
  return readdirSync(path, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-journal-'));
  archiveDir = join(dir, 'archive');
  org = createDimeOrg('corp.test');
  const legacyPort = await freePort();
  [db, cert] = await Promise.all([createTestDatabase(), createSelfSignedCert('legacy.corp.test')]);
  sql = new Client({ host: db.config.host, port: db.config.port, user: db.config.user, password: db.config.password.reveal(), database: db.config.database });
  await sql.connect();
  gateway = await startGatewayProcess({
    token: org.gatewayToken,
    db: db.config,
    env: {
      ...org.env,
      DIME_ENABLED: 'false',
      LOCAL_DOMAINS: 'corp.test',
      LEGACY_HOST: '127.0.0.1',
      LEGACY_PORT: String(legacyPort),
      LEGACY_CA_FILE: cert.certFile,
      LEGACY_TLS_POLICY: 'required-verified',
      JOURNAL_ENABLED: 'true',
      ARCHIVE_DIR: archiveDir,
      JOURNAL_DEFAULT_RETENTION_DAYS: '30',
      // the gateway runs escrow export jobs too: the operator's CLI and it share the export directory
      ESCROW_EXPORT_DIR: join(dir, 'exports'),
      SHUTDOWN_GRACE: '5s',
    },
  });
  if (!gateway.ready) throw new Error(`gateway did not start:\n${gateway.output().slice(-4000)}`);
  redisPrefix = gateway.queuePrefix;
  legacy = await startPostfix({ name: 'legacy-corp', port: legacyPort, mailboxDomains: ['corp.test'], tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
});

afterAll(async () => {
  if (gateway?.running()) await gateway.stop(10_000);
  if (gateway) removeSpoolDir(gateway.spoolDir);
  await legacy?.stop();
  await sql?.end();
  await db?.drop();
  await cert?.remove();
  org?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('journals a message through the gateway as a record the database and the archive alone cannot read', async () => {
  const transport = createTransport({ host: '127.0.0.1', port: gateway.ports.smtp, secure: false, tls: { rejectUnauthorized: false } });
  await transport.sendMail({ envelope: { from: 'erin@outside.test', to: ['frank@corp.test'] }, raw: MESSAGE });
  const [delivered] = await legacy.waitForDelivery(1, 60_000, 'frank@corp.test');
  expect(lfToCrlf(stripTraceHeaders(delivered!.raw)).equals(MESSAGE)).toBe(true);

  const record = await until(
    'the journal record',
    async () => {
      const r = await sql.query(`SELECT row_to_json(j)::text AS json FROM journal_records j`);
      return r.rows.length === 1 ? (r.rows[0].json as string) : undefined;
    },
    30_000,
  );
  // nothing readable in the row: no address, no subject, no body (addresses only as blind indexes)
  for (const secret of ['frank@corp.test', 'erin@outside.test', 'frank', 'erin', SUBJECT, BODY]) expect(record).not.toContain(secret);
  const blobs = filesUnder(archiveDir);
  expect(blobs.length).toBe(1);
  const blob = readFileSync(blobs[0]!).toString('latin1');
  expect(blob.length).toBeGreaterThan(MESSAGE.length);
  for (const secret of ['frank@corp.test', 'erin@outside.test', SUBJECT, BODY, 'Board minutes', 'merger']) expect(blob).not.toContain(secret);
});

it('exports it only after two approvers other than the requester agree, and the export reproduces the message byte for byte', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'auditor.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(dir, 'auditor.key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  ok(['principal', 'add', 'ida', '--role', 'auditor', '--public-key', join(dir, 'auditor.pub.pem')]);
  ok(['principal', 'add', 'jon', '--role', 'escrow-approver']);
  ok(['principal', 'add', 'kim', '--role', 'escrow-approver']);
  const request = ok(['escrow', 'request', '--as', 'ida', '--case', 'CASE-7', '--custodian', 'frank@corp.test', '--from', '2020-01-01', '--to', '2100-01-01', '--justification', 'internal investigation']);
  const id = request['id'] as string;

  expect(cli(['escrow', 'approve', id, '--as', 'ida']).stderr).toMatch(/FORBIDDEN/);
  ok(['escrow', 'approve', id, '--as', 'jon']);
  const early = cli(['escrow', 'export', id, '--as', 'ida', '--out', join(dir, 'early.dgx')]);
  expect(early.status).toBe(1);
  expect(early.stderr).toMatch(/NOT_APPROVED/);

  expect(ok(['escrow', 'approve', id, '--as', 'kim'])).toMatchObject({ status: 'approved' });
  expect(ok(['escrow', 'export', id, '--as', 'ida', '--out', join(dir, 'case7.dgx')])).toMatchObject({ records: 1 });
  expect(ok(['escrow', 'decrypt', join(dir, 'case7.dgx'), '--key', join(dir, 'auditor.key.pem'), '--out', join(dir, 'case7')])).toMatchObject({ ok: true, records: 1 });
  const [eml] = filesUnder(join(dir, 'case7', 'messages'));
  const exported = readFileSync(eml!);
  // the journaled message: the gateway's Received line on top of the bytes the sender sent
  expect(exported.toString('latin1')).toMatch(/^Received: from [^\r\n]*\r\n\tby [^\r\n]* id [0-9A-F]{16};\r\n/);
  expect(stripTraceHeaders(exported).equals(MESSAGE)).toBe(true);
});
