// The `dime-gateway` audit contract, run as the built bin in a child process: export -> verify
// (JSON shape, exit codes), public-key, checkpoint; verify stays offline (works with the database
// and the HSM unreachable); bad input exits 1 with one line on stderr, never a stack trace.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditService, HsmAuditSigner, spkiToPem } from '@lib/audit';
import { AuditRepository, migrateDatabase, openDatabase, type DataSource, type DbConfig } from '@lib/db';
import { HsmKeystore, keyLabel } from '@lib/hsm';
import { appRoleConfig, ensureAppRoleLogin } from '../../../test/audit/audit-database';
import { createTestDatabase, dbEnv, type TestDatabase } from '../../../test/database';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';
import { ensureOperatorCliBuilt, runOperatorCli } from '../../../test/operator-cli';

jest.setTimeout(60_000);




let db: TestDatabase;
let app: DbConfig;
let token: TestToken;
let keystore: HsmKeystore;
let ds: DataSource;
let dir: string;
let env: Record<string, string>;
let publicKeyPem: string;

function cli(args: readonly string[], extraEnv: Record<string, string> = {}) {
  return runOperatorCli(args, { cwd: dir, env: { ...env, ...extraEnv } });
}

beforeAll(async () => {
  ensureOperatorCliBuilt();
  db = await createTestDatabase('dime_audit_cli');
  await migrateDatabase(db.config);
  ensureAppRoleLogin(db.config);
  app = appRoleConfig(db.config);
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  await keystore.ensureKey('audit-signing');
  const signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
  publicKeyPem = spkiToPem(await signer.publicKeySpki());
  ds = await openDatabase(app);
  const service = new AuditService(new AuditRepository(ds), signer, { checkpointEvery: 10, checkpointPeriodMs: 3600_000 });
  for (let i = 0; i < 37; i++) await service.record({ actor: 'admin@example.test', actorAddress: '198.51.100.7', action: 'policy.update', objectType: 'policy', objectId: `p${i}`, outcome: 'success', details: { i } });
  dir = mkdtempSync(join(tmpdir(), 'dime-operator-cli-'));
  // DIME_HOME without .local/: only what the environment says (the quickstart state is not touched)
  env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    DIME_HOME: dir,
    ...token.env,
    ...dbEnv(app, db.config),
    AUDIT_CHECKPOINT_EVERY: '10',
  };
});

afterAll(async () => {
  if (ds?.isInitialized) await ds.destroy();
  await db?.drop();
  keystore?.close();
  token?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dime-gateway audit', () => {
  it('prints the audit public key as PEM', () => {
    const r = cli(['audit', 'public-key']);
    expect(r).toMatchObject({ status: 0, stdout: publicKeyPem, stderr: '' });
    writeFileSync(join(dir, 'audit.pem'), r.stdout);
  });

  it('exports the trail and verifies it offline: exit 0 and the JSON contract', () => {
    const exp = cli(['audit', 'export', '--out', 'trail.jsonl']);
    expect(exp.status).toBe(0);
    expect(JSON.parse(exp.stdout)).toMatchObject({ out: 'trail.jsonl', entries: 37, checkpoints: 3, lastSeq: 37 });
    expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);
    const lines = readFileSync(join(dir, 'trail.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 37 + 3 + 1);
    // offline: the database and the HSM are unreachable for the verifier's process
    const r = cli(['audit', 'verify', 'trail.jsonl', '--key', 'audit.pem'], { DB_HOST: '203.0.113.1', DB_PORT: '1', HSM_MODULE: '/nonexistent.so', SOFTHSM2_CONF: '/nonexistent' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, entries: 37, firstBroken: null, reason: null });
  });

  it('exits 1 and names the first broken entry of a tampered file', () => {
    const lines = readFileSync(join(dir, 'trail.jsonl'), 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"seq":23,') && l.includes('"type":"entry"'));
    lines[i] = lines[i]!.replace('"outcome":"success"', '"outcome":"failure"');
    writeFileSync(join(dir, 'tampered.jsonl'), lines.join('\n'));
    const r = cli(['audit', 'verify', 'tampered.jsonl', '--key', 'audit.pem']);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['ok', 'entries', 'firstBroken', 'reason']);
    expect(out).toMatchObject({ ok: false, entries: 37, firstBroken: 23 });
  });

  it('checkpoints the head on demand, once', () => {
    const first = cli(['audit', 'checkpoint']);
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ seq: 37, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.parse(cli(['audit', 'checkpoint']).stdout)).toEqual({ seq: null });
    expect(cli(['audit', 'export', '--out', 'after.jsonl']).status).toBe(0);
    expect(JSON.parse(cli(['audit', 'verify', 'after.jsonl', '--key', 'audit.pem']).stdout)).toMatchObject({ ok: true, entries: 37 });
  });

  it.each([
    [['audit', 'verify', 'trail.jsonl'], /--key/],
    [['audit', 'verify', '--key', 'audit.pem'], /missing FILE/],
    [['audit', 'verify', 'missing.jsonl', '--key', 'audit.pem'], /cannot read audit export "missing.jsonl": no such file/],
    [['audit', 'verify', 'trail.jsonl', '--key', 'trail.jsonl'], /BAD_PUBLIC_KEY/],
    [['audit', 'verify', 'trail.jsonl', '--key', 'audit.pem', '--force'], /unknown option --force/],
    [['audit', 'export'], /--out FILE is required/],
    [['audit', 'export', '--out', '/nonexistent-dir/x.jsonl'], /cannot write/],
    [['audit', 'frobnicate'], /unknown audit subcommand/],
    [['nothing'], /unknown command/],
  ])('exits 1 with one line for %j', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('fails with one line when the HSM or the database is unreachable', () => {
    const noHsm = cli(['audit', 'public-key'], { HSM_MODULE: '/nonexistent.so' });
    expect(noHsm.status).toBe(1);
    expect(noHsm.stderr).toMatch(/^dime-gateway: .*HSM_MODULE/);
    const noDb = cli(['audit', 'export', '--out', 'x.jsonl'], { DB_PORT: '1' });
    expect(noDb.status).toBe(1);
    expect(noDb.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).filter((f) => f.startsWith('x.jsonl'))).toEqual([]);
  });
});
