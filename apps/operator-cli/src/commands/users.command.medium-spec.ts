// `dime-gateway users ...` and `dime-gateway dime record` as a child process against a real
// PostgreSQL database (runtime role dime_app) and a SoftHSM2 token holding the org POK, the user KEK
// and the audit key; the org signet and `_dx` record are where hsm-init puts them (.local/hsm/).
// The built bin, like the audit CLI test (built first when a source is newer than it).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  armorSignet,
  createOrgSignet,
  formatManagementRecord,
  fullSign,
  idSign,
  managementRecordName,
  readSignet,
  setSignetId,
  signetFingerprint,
  signetId,
  toZoneFileText,
  validateSignet,
  type Signet,
} from '@lib/dime';
import { migrateDatabase, openDatabase, type DataSource } from '@lib/db';
import { HsmKeyAgreement, HsmKeystore, HsmSigner, keyLabel } from '@lib/hsm';
import { appRoleConfig, ensureAppRoleLogin } from '../../../../test/audit/audit-database';
import { createTestDatabase, dbEnv, type TestDatabase } from '../../../../test/database';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../../test/hsm/softhsm-token';
import { ensureOperatorCliBuilt, runOperatorCli } from '../../../../test/operator-cli';

jest.setTimeout(120_000);


let db: TestDatabase;
let ds: DataSource;
let token: TestToken;
let keystore: HsmKeystore;
let dir: string;
let env: Record<string, string>;
let orgSignet: Signet;
let dxRecord: string;




function cli(args: readonly string[]) {
  return runOperatorCli(args, { cwd: dir, env });
}

const lines = (text: string): Array<Record<string, unknown>> =>
  text
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  ensureOperatorCliBuilt();
  db = await createTestDatabase('dime_users_cli');
  await migrateDatabase(db.config);
  ensureAppRoleLogin(db.config);
  const app = appRoleConfig(db.config);
  ds = await openDatabase(app);
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  for (const role of ['org-primary', 'org-encryption', 'user-kek', 'audit-signing'] as const) await keystore.ensureKey(role);
  // what appliance/hsm-init writes: org.signet (ID state, by the HSM POK) and dx-record.txt
  const pok = await HsmSigner.create(keystore, keyLabel('org-primary'));
  const encryption = await HsmKeyAgreement.create(keystore, keyLabel('org-encryption'));
  orgSignet = await idSign(setSignetId(await fullSign(await createOrgSignet({ pok, encryptionPublicKey: encryption.publicKey }), pok), 'a.test'), pok);
  dir = mkdtempSync(join(tmpdir(), 'dime-users-cli-'));
  mkdirSync(join(dir, '.local', 'hsm'), { recursive: true });
  writeFileSync(join(dir, '.local', 'hsm', 'org.signet'), armorSignet(orgSignet));
  const record = formatManagementRecord({ version: 1, poks: [Buffer.from(pok.publicKey)], tls: [], policy: 'experimental', syndicates: [], deliver: [], expiryDays: null, subdomain: 'strict' });
  dxRecord = `${managementRecordName('a.test')}. IN TXT ${toZoneFileText(record)}\n`;
  writeFileSync(join(dir, '.local', 'hsm', 'dx-record.txt'), dxRecord);
  env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    DIME_HOME: dir,
    ...token.env,
    ...dbEnv(app, db.config),
    ORG_DOMAIN: 'a.test',
    LOCAL_DOMAINS: 'a.test,a2.test',
  };
});

afterAll(async () => {
  if (ds?.isInitialized) await ds.destroy();
  await db?.drop();
  keystore?.close();
  token?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dime-gateway users', () => {
  it('adds users: keys wrapped in PostgreSQL, a signet by the HSM POK, refuses duplicates and foreign domains', () => {
    const r = cli(['users', 'add', 'alice@A.test']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([{ address: 'alice@a.test', status: 'active', fingerprint: expect.stringMatching(/^[A-Za-z0-9+/]{86}$/), createdAt: expect.any(String), suspendedAt: null }]);
    expect(cli(['users', 'add', 'bob@a2.test']).status).toBe(0);

    const dup = cli(['users', 'add', 'ALICE@a.test']);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toMatch(/^dime-gateway: EXISTS: alice@a\.test is already provisioned\n$/);
    const foreign = cli(['users', 'add', 'mallory@b.test']);
    expect(foreign.status).toBe(1);
    expect(foreign.stderr).toMatch(/^dime-gateway: NOT_LOCAL: b\.test is not a local domain\n$/);
  });

  it('lists, suspends and resumes, and prints a user signet that validates against the org signet', async () => {
    const list = cli(['users', 'list']);
    expect(list.status).toBe(0);
    expect(lines(list.stdout).map((u) => [u['address'], u['status']])).toEqual([
      ['alice@a.test', 'active'],
      ['bob@a2.test', 'active'],
    ]);

    const suspended = cli(['users', 'suspend', 'bob@a2.test']);
    expect(suspended.status).toBe(0);
    expect(lines(suspended.stdout)[0]).toMatchObject({ address: 'bob@a2.test', status: 'suspended', suspendedAt: expect.any(String) });
    const rows = (await ds.query(`SELECT status FROM dime_users WHERE address = 'bob@a2.test'`)) as Array<{ status: string }>;
    expect(rows).toEqual([{ status: 'suspended' }]);

    const signet = cli(['users', 'signet', 'alice@a.test']);
    expect(signet.status).toBe(0);
    expect(signet.stdout).toMatch(/^-----BEGIN USER SIGNET-----\n/);
    const parsed = readSignet(signet.stdout, 'user');
    expect(validateSignet(parsed, { orgSignet })).toBe('ID');
    expect(signetId(parsed)).toBe('alice@a.test');
    expect(signetFingerprint(parsed, 'crypto')).toBe(lines(list.stdout)[0]!['fingerprint']);

    // every change is in the audit trail, by the operator
    const audit = (await ds.query(`SELECT action, object_id FROM audit_entries WHERE actor LIKE 'operator:%' ORDER BY seq`)) as unknown[];
    expect(audit).toEqual([
      { action: 'dime.user.provision', object_id: 'alice@a.test' },
      { action: 'dime.user.provision', object_id: 'bob@a2.test' },
      { action: 'dime.user.suspend', object_id: 'bob@a2.test' },
    ]);
  });

  it('prints the _dx record to publish', () => {
    const r = cli(['dime', 'record']);
    expect(r).toMatchObject({ status: 0, stdout: dxRecord, stderr: '' });
  });

  it.each([
    [['users', 'add'], /usage: missing ADDRESS/],
    [['users', 'resume', 'nobody@a.test'], /UNKNOWN_USER: no DIME user nobody@a\.test/],
  ])('exits 1 with one line for %j', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
