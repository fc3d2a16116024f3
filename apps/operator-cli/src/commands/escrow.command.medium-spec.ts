// `dime-gateway principal|escrow|report` as a child process against real PostgreSQL (dime_app),
// SoftHSM2, Redis and the archive directory: an auditor's request is refused for export until two
// other principals approve it, then exported, decrypted offline with the auditor's private key to
// the journaled message byte for byte; a signed CSV report verifies offline and a tampered one
// does not. Runs the built bin (built first when a source is newer, as the audit CLI test does);
// each failure is one line on stderr, exit 1.
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { HsmAuditSigner, spkiToPem } from '@lib/audit';
import { JournalRepository, RetentionRepository } from '@lib/db';
import { BlindIndexer, FsArchiveStore, JournalService, loadEscrowPublicKey } from '@lib/escrow';
import { createComplianceEnv, type ComplianceEnv } from '../../../../test/compliance/compliance-env';
import { dbEnv } from '../../../../test/database';
import { ensureOperatorCliBuilt, runOperatorCli } from '../../../../test/operator-cli';

jest.setTimeout(120_000);

const prefix = `escrow-cli-${randomBytes(4).toString('hex')}`;
const MESSAGE = Buffer.from('From: alice@acme.example\r\nTo: x@partner.example\r\nSubject: cli\r\n\r\nbody\r\n\x00\xfe', 'latin1');

let env: ComplianceEnv;
let dir: string;
let cliEnv: Record<string, string>;



function cli(args: readonly string[], extra: Record<string, string> = {}) {
  return runOperatorCli(args, { cwd: dir, env: { ...cliEnv, ...extra } });
}

function json(r: { status: number | null; stdout: string; stderr: string }): Record<string, unknown> {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  ensureOperatorCliBuilt();
  env = await createComplianceEnv('dime_escrow_cli');
  const retention = new RetentionRepository(env.ds);
  await retention.insertPolicy({ name: 'acme', scope: 'domain', scopeValue: 'acme.example', retentionDays: 30, action: 'dispose', priority: 1, enabled: true });
  const journal = new JournalService(
    new JournalRepository(env.ds),
    retention,
    new BlindIndexer(env.keystore, env.labels.blindIndex),
    new FsArchiveStore(env.archiveDir),
    await loadEscrowPublicKey(env.keystore, env.labels.escrow),
    { defaultRetentionDays: 0 },
  );
  await journal.journal({ messageId: randomUUID(), direction: 'outbound', sender: 'alice@acme.example', recipients: ['x@partner.example'], content: MESSAGE });
  dir = mkdtempSync(join(tmpdir(), 'dime-escrow-cli-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'ann.key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'ann.pub.pem'), createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(dir, 'audit.pem'), spkiToPem(await new HsmAuditSigner(env.keystore, env.labels.audit).publicKeySpki()));
  cliEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    DIME_HOME: dir,
    ...env.token.env,
    ...dbEnv(env.app, env.owner),
    REDIS_HOST: '127.0.0.1',
    REDIS_PORT: '6379',
    QUEUE_PREFIX: prefix,
    ARCHIVE_DIR: env.archiveDir,
    ESCROW_EXPORT_DIR: join(dir, 'exports'),
  };
});

afterAll(async () => {
  const q = new Queue('escrow-export', { connection: { host: '127.0.0.1', port: 6379 }, prefix });
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
  await env?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dime-gateway escrow', () => {
  it('exports a request only after two other principals approve it, and the requester decrypts the original message', () => {
    expect(json(cli(['principal', 'add', 'ann', '--role', 'auditor', '--public-key', 'ann.pub.pem']))).toEqual({ name: 'ann', roles: ['auditor'], hasPublicKey: true });
    json(cli(['principal', 'add', 'bob', '--role', 'escrow-approver']));
    json(cli(['principal', 'add', 'cat', '--role', 'escrow-approver,compliance-officer']));
    const request = json(cli(['escrow', 'request', '--as', 'ann', '--case', 'CASE-1', '--custodian', 'alice@acme.example', '--from', '2026-01-01', '--to', '2030-01-01', '--justification', 'subpoena 42']));
    const id = request['id'] as string;
    expect(request).toMatchObject({ status: 'open', requiredApprovals: 2, custodianDomain: 'acme.example' });

    const early = cli(['escrow', 'export', id, '--as', 'ann', '--out', 'early.dgx']);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/^dime-gateway: NOT_APPROVED: .*\n$/);
    const own = cli(['escrow', 'approve', id, '--as', 'ann']);
    expect(own.status).toBe(1);
    expect(own.stderr).toMatch(/FORBIDDEN/);

    expect(json(cli(['escrow', 'approve', id, '--as', 'bob']))).toMatchObject({ status: 'open', approvals: 1 });
    expect(cli(['escrow', 'approve', id, '--as', 'bob']).stderr).toMatch(/ALREADY_DECIDED/);
    expect(json(cli(['escrow', 'approve', id, '--as', 'cat']))).toMatchObject({ status: 'approved', approvals: 2 });
    expect(cli(['escrow', 'export', id, '--as', 'bob', '--out', 'x.dgx']).status).toBe(1);

    const exported = json(cli(['escrow', 'export', id, '--as', 'ann', '--out', 'case1.dgx']));
    expect(exported).toMatchObject({ requestId: id, out: 'case1.dgx', records: 1 });
    const decrypted = json(cli(['escrow', 'decrypt', 'case1.dgx', '--key', 'ann.key.pem', '--out', 'case1'], { DB_HOST: '203.0.113.1', DB_PORT: '1', REDIS_PORT: '1' }));
    expect(decrypted).toMatchObject({ ok: true, requestId: id, records: 1, mismatches: [] });
    const files = readdirSync(join(dir, 'case1', 'messages'));
    expect(files).toHaveLength(1);
    expect(readFileSync(join(dir, 'case1', 'messages', files[0] as string)).equals(MESSAGE)).toBe(true);
    // the same messages as one mbox, which Python's mailbox module reads back
    const withMbox = json(cli(['escrow', 'decrypt', 'case1.dgx', '--key', 'ann.key.pem', '--out', 'case1-m', '--mbox', 'case1.mbox']));
    expect(withMbox).toMatchObject({ ok: true, records: 1, mbox: 'case1.mbox' });
    const py = execFileSync('python3', ['-c', 'import mailbox,sys,json; mb=mailbox.mbox(sys.argv[1]); print(json.dumps([[m.get_from(), m["Subject"], mb.get_bytes(k).hex()] for k, m in mb.items()]))', join(dir, 'case1.mbox')]).toString();
    const read = JSON.parse(py) as [string, string, string][];
    expect(read).toHaveLength(1);
    const [fromLine, subject, bytes] = read[0]!;
    expect(fromLine).toMatch(new RegExp(`^escrow@${id} \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}$`));
    expect(subject).toBe('cli');
    // CRLF -> LF, and the last line completed
    expect(Buffer.from(bytes, 'hex').toString('latin1')).toBe(`${MESSAGE.toString('latin1').replace(/\r\n/g, '\n')}\n`);
    expect(cli(['escrow', 'decrypt', 'case1.dgx', '--key', 'ann.key.pem', '--out', 'case1-n', '--mbox', 'case1.mbox']).stderr).toMatch(/cannot write "case1.mbox": EEXIST/);
    // another key cannot open it
    writeFileSync(join(dir, 'other.key.pem'), generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(cli(['escrow', 'decrypt', 'case1.dgx', '--key', 'other.key.pem', '--out', 'other']).stderr).toMatch(/BAD_EXPORT_FILE/);

    const list = JSON.parse(cli(['escrow', 'list']).stdout) as { id: string; status: string }[];
    expect(list.find((r) => r.id === id)?.status).toBe('exported');
  });

  it('writes a signed CSV report that verifies offline, and a tampered copy that does not', () => {
    const r = json(cli(['report', 'escrow', '--from', '2026-01-01', '--to', '2030-01-01', '--format', 'csv', '--out', 'report.csv']));
    expect(r).toMatchObject({ out: 'report.csv', signature: 'report.csv.sig', totals: { records: 1, opened: 1, approved: 1, exported: 1 } });
    const ok = cli(['report', 'verify', 'report.csv', '--sig', 'report.csv.sig', '--key', 'audit.pem'], { DB_HOST: '203.0.113.1', DB_PORT: '1' });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
    const csv = readFileSync(join(dir, 'report.csv'), 'utf8');
    expect(csv).toContain('records,acme.example,acme,outbound,,,records_escrowed,1');
    writeFileSync(join(dir, 'tampered.csv'), csv.replace('records_escrowed,1', 'records_escrowed,0'));
    const bad = cli(['report', 'verify', 'tampered.csv', '--sig', 'report.csv.sig', '--key', 'audit.pem']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false });
  });

  it.each([
    [['escrow', 'request', '--as', 'ann', '--case', 'C', '--justification', 'j'], /INVALID_INPUT: a request needs a scope/],
    [['escrow', 'request', '--as', 'nobody', '--case', 'C', '--from', '2026-01-01', '--justification', 'j'], /PRINCIPAL_NOT_FOUND/],
    [['escrow', 'request', '--as', 'ann', '--case', 'C', '--from', '2026-13-01', '--justification', 'j'], /usage: --from must be/],
    [['report', 'escrow', '--from', '2026-01-01', '--to', '2030-01-01', '--format', 'xml', '--out', 'r'], /usage: --format must be json or csv/],
  ])('refuses %j with one line on stderr', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
