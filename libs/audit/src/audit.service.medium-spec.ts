// The audit trail against a real PostgreSQL and a SoftHSM2 token: linear appends from several
// processes and connections, HSM-signed checkpoints, export -> offline verify; tampering done
// directly in PostgreSQL as the superuser is found by the verifier at the right entry; and the
// runtime role dime_app can neither change nor delete audit rows, nor switch the guard off.
import { AuditRepository, migrateDatabase, openDatabase, type DataSource, type DbConfig } from '@lib/db';
import { HsmKeystore, keyLabel } from '@lib/hsm';
import { editLine, lineOf, rehashFrom } from '../../../test/audit/audit-export.fixture';
import { appRoleConfig, connectAs, copyDatabase, ensureAppRoleLogin, superuserSql } from '../../../test/audit/audit-database';
import { createTestDatabase, type TestDatabase } from '../../../test/database';
import { spawnTsChild } from '../../../test/hsm/hsm-child-process';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';
import { HsmAuditSigner, spkiToPem } from './audit-signer';
import { AuditService } from './audit.service';
import { verifyAuditExport } from './audit-verifier';

jest.setTimeout(60_000);

const HOUR = 3600_000;
let token: TestToken;
let keystore: HsmKeystore;
let signer: HsmAuditSigner;
let publicKeyPem: string;
const databases: TestDatabase[] = [];
const sources: DataSource[] = [];

async function freshDatabase(): Promise<{ owner: DbConfig; app: DbConfig }> {
  const db = await createTestDatabase('dime_audit');
  databases.push(db);
  await migrateDatabase(db.config);
  ensureAppRoleLogin(db.config);
  return { owner: db.config, app: appRoleConfig(db.config) };
}

async function open(config: DbConfig): Promise<DataSource> {
  const ds = await openDatabase(config, { applicationName: 'audit-medium' });
  sources.push(ds);
  return ds;
}

function service(ds: DataSource, checkpointEvery: number, clock?: () => Date): AuditService {
  return new AuditService(new AuditRepository(ds), signer, { checkpointEvery, checkpointPeriodMs: HOUR, clock });
}

async function exportLines(s: AuditService): Promise<string[]> {
  const chunks: string[] = [];
  await s.exportTo((lines) => {
    chunks.push(lines);
  });
  return chunks.join('\n').split('\n');
}

beforeAll(async () => {
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  await keystore.ensureKey('audit-signing');
  signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
  publicKeyPem = spkiToPem(await signer.publicKeySpki());
});

afterAll(async () => {
  for (const ds of sources) if (ds.isInitialized) await ds.destroy();
  for (const db of databases) await db.drop();
  keystore?.close();
  token?.cleanup();
});

describe('appending', () => {
  it('keeps one linear chain when three processes and three connection pools append at once', async () => {
    const { app } = await freshDatabase();
    const EVERY = 16;
    const children = [0, 1, 2].map(() =>
      spawnTsChild<{ pid: number; seqs: number[] }>(
        'test/audit/audit-writer-child.ts',
        {
          ...token.env,
          DB_HOST: app.host,
          DB_PORT: String(app.port),
          DB_NAME: app.database,
          DB_USER: app.user,
          DB_PASSWORD: app.password.reveal(),
          AUDIT_WRITES: '30',
          AUDIT_CHECKPOINT_EVERY: String(EVERY),
          AUDIT_CHECKPOINT_SECONDS: '3600',
        },
        undefined,
        45_000,
      ),
    );
    const pools = await Promise.all([0, 1, 2].map(() => open(app)));
    const local = pools.map((ds, p) =>
      Promise.all(
        [0, 1, 2].map(async (lane) => {
          const s = service(ds, EVERY);
          for (let i = 0; i < 10; i++) await s.record({ actor: `pool${p}`, actorAddress: '192.0.2.1', action: 'test.write', outcome: 'success', details: { lane, i } });
        }),
      ),
    );
    const [spawned] = await Promise.all([Promise.all(children), Promise.all(local)]);
    expect(spawned.flatMap((c) => c.ready.seqs)).toHaveLength(90);

    const rows: { n: string; lo: string; hi: string; linked: string }[] = await pools[0]!.query(`
      SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi,
             count(*) FILTER (WHERE prev_hash = lag_hash OR seq = 1) AS linked
        FROM (SELECT seq, prev_hash, lag(hash) OVER (ORDER BY seq) AS lag_hash FROM audit_entries) x`);
    expect(rows[0]).toEqual({ n: '180', lo: '1', hi: '180', linked: '180' });
    const checkpoints: { seq: string }[] = await pools[0]!.query('SELECT seq FROM audit_checkpoints ORDER BY seq');
    expect(checkpoints.map((c) => Number(c.seq))).toEqual(Array.from({ length: 11 }, (_, i) => (i + 1) * EVERY));

    const lines = await exportLines(service(pools[0]!, EVERY));
    expect(verifyAuditExport(lines, publicKeyPem)).toEqual({ ok: true, entries: 180, firstBroken: null, reason: null });
  });

  it('checkpoints when the last checkpoint is older than the period, and on demand', async () => {
    const { app } = await freshDatabase();
    const ds = await open(app);
    let now = Date.parse('2026-11-27T10:00:00.000Z');
    const s = new AuditService(new AuditRepository(ds), signer, { checkpointEvery: 1000, checkpointPeriodMs: 60_000, clock: () => new Date(now) });
    expect(await s.checkpoint()).toBeNull();
    await s.record({ actor: 'system:gateway', action: 'gateway.start', outcome: 'success' });
    expect(await s.checkpoint()).toMatchObject({ seq: 1 });
    expect(await s.checkpoint()).toBeNull();
    now += 30_000;
    expect((await s.record({ actor: 'a', action: 'x', outcome: 'denied' })).checkpointed).toBe(false);
    now += 30_000;
    expect((await s.record({ actor: 'a', action: 'x', outcome: 'failure' })).checkpointed).toBe(true);
    const lines = await exportLines(s);
    expect(lines.filter((l) => l.includes('"type":"checkpoint"'))).toHaveLength(2);
    expect(verifyAuditExport(lines, publicKeyPem)).toMatchObject({ ok: true, entries: 3 });
  });

  it('refuses input that cannot enter the trail before touching the chain', async () => {
    const { app } = await freshDatabase();
    const s = service(await open(app), 10);
    await expect(s.record({ actor: 'a', action: 'x', outcome: 'success', details: { ratio: 0.5 } })).rejects.toMatchObject({ code: 'INVALID_ENTRY' });
    await expect(s.record({ actor: 'a\u0000', action: 'x', outcome: 'success' })).rejects.toMatchObject({ code: 'INVALID_ENTRY' });
    await expect(s.record({ actor: 'a', action: 'x', outcome: 'maybe' as 'success' })).rejects.toMatchObject({ code: 'INVALID_ENTRY' });
    await expect(s.record({ actor: 42 as unknown as string, action: 'x', outcome: 'success' })).rejects.toThrow(TypeError);
    expect((await s.record({ actor: 'a', action: 'x', outcome: 'success', details: { 'ключ': '\u{1F510}', n: -7 } })).seq).toBe(1);
    expect(verifyAuditExport(await exportLines(s), publicKeyPem)).toMatchObject({ ok: true, entries: 1 });
  });
});

describe('tampering in PostgreSQL as the superuser', () => {
  let golden: { owner: DbConfig; app: DbConfig };
  let goldenLines: string[];

  beforeAll(async () => {
    golden = await freshDatabase();
    const ds = await openDatabase(golden.app);
    const s = service(ds, 25);
    for (let i = 1; i <= 110; i++) {
      await s.record({ actor: `user${i % 5}@example.test`, actorAddress: `192.0.2.${i}`, action: 'policy.update', objectType: 'policy', objectId: `p${i}`, outcome: 'success', details: { i } });
    }
    goldenLines = await exportLines(s);
    await ds.destroy(); // a template database must have no sessions
  });

  async function verifyCopy(tamper: string): Promise<ReturnType<typeof verifyAuditExport>> {
    const copy = await copyDatabase(golden.owner);
    try {
      // session_replication_role=replica: a superuser switches the append-only triggers off
      superuserSql(copy.config, `SET session_replication_role = replica; ${tamper}`);
      const ds = await openDatabase(appRoleConfig(copy.config));
      try {
        return verifyAuditExport(await exportLines(service(ds, 25)), publicKeyPem);
      } finally {
        await ds.destroy();
      }
    } finally {
      await copy.drop();
    }
  }

  it('verifies the untouched copy', async () => {
    expect(await verifyCopy('SELECT 1')).toEqual({ ok: true, entries: 110, firstBroken: null, reason: null });
  });

  it('names a changed row', async () => {
    expect(await verifyCopy(`UPDATE audit_entries SET details = '{"i": 999}' WHERE seq = 42`)).toMatchObject({ ok: false, entries: 110, firstBroken: 42 });
  });

  it('names a deleted row', async () => {
    expect(await verifyCopy('DELETE FROM audit_entries WHERE seq = 42')).toMatchObject({ ok: false, entries: 109, firstBroken: 42 });
  });

  it('names the first of two rows whose contents were swapped (reordering)', async () => {
    const cols = 'time, actor, actor_address, action, object_type, object_id, outcome, details';
    const swap = `UPDATE audit_entries a SET (${cols}) = (SELECT ${cols} FROM audit_entries b WHERE b.seq = CASE a.seq WHEN 30 THEN 60 ELSE 30 END) WHERE a.seq IN (30, 60)`;
    expect(await verifyCopy(swap)).toMatchObject({ ok: false, entries: 110, firstBroken: 30 });
  });

  it('localises a rewritten chain to the checkpoint interval when the hashes were recomputed too', async () => {
    // the superuser knows the algorithm (not the key): changes row 80 and recomputes 80..110 so
    // the chain links again; the HSM-signed checkpoint at 100 no longer matches, so the entries
    // after the last good checkpoint (75) are what the verifier cannot vouch for
    const edited = editLine(goldenLines, lineOf(goldenLines, 80), (r) => {
      r['outcome'] = 'denied';
    });
    const rewritten = rehashFrom(edited, lineOf(goldenLines, 80));
    const updates = rewritten
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r['type'] === 'entry' && (r['seq'] as number) >= 80)
      .map((r) => `UPDATE audit_entries SET outcome = '${r['outcome'] as string}', prev_hash = '\\x${r['prevHash'] as string}', hash = '\\x${r['hash'] as string}' WHERE seq = ${r['seq'] as number};`)
      .join(' ');
    expect(await verifyCopy(updates)).toMatchObject({ ok: false, entries: 110, firstBroken: 76, reason: expect.stringMatching(/checkpoint at 100 signs another hash/) });
  });

  it('is stopped by the triggers when the superuser does not switch them off', async () => {
    expect(() => superuserSql(golden.owner, 'UPDATE audit_entries SET actor = actor WHERE seq = 1')).toThrow(/append-only/);
    expect(() => superuserSql(golden.owner, 'DELETE FROM audit_entries WHERE seq = 1')).toThrow(/append-only/);
    expect(() => superuserSql(golden.owner, 'TRUNCATE audit_checkpoints, audit_entries')).toThrow(/append-only/);
  });
});

describe('database roles', () => {
  let owner: DbConfig;
  let app: DbConfig;

  beforeAll(async () => {
    ({ owner, app } = await freshDatabase());
    const ds = await open(app);
    await service(ds, 2).record({ actor: 'a', action: 'x', outcome: 'success' });
    await service(ds, 2).record({ actor: 'a', action: 'y', outcome: 'success' });
  });

  it.each([
    ['UPDATE', `UPDATE audit_entries SET actor = 'mallory'`],
    ['DELETE', 'DELETE FROM audit_entries'],
    ['TRUNCATE', 'TRUNCATE audit_entries'],
    ['UPDATE a checkpoint', 'UPDATE audit_checkpoints SET seq = seq'],
    ['DELETE a checkpoint', 'DELETE FROM audit_checkpoints'],
    ['disable the trigger', 'ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only'],
    ['drop the trigger', 'DROP TRIGGER audit_entries_append_only ON audit_entries'],
    ['replace the trigger function', `CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`],
    ['switch triggers off for the session', 'SET session_replication_role = replica'],
  ])('refuses dime_app to %s', async (_what, sql) => {
    const c = await connectAs(app);
    try {
      await expect(c.query(sql)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.end();
    }
  });

  it('lets dime_app read and append audit rows and use the operational tables', async () => {
    const c = await connectAs(app);
    try {
      expect((await c.query('SELECT count(*)::int AS n FROM audit_entries')).rows[0]).toEqual({ n: 2 });
      await c.query(`INSERT INTO domain_policies (domain, tls_policy) VALUES ('x.test', 'required')`);
      await c.query(`UPDATE domain_policies SET tls_policy = 'opportunistic' WHERE domain = 'x.test'`);
      await c.query(`DELETE FROM domain_policies WHERE domain = 'x.test'`);
      await expect(c.query(`INSERT INTO schema_migrations (timestamp, name) VALUES (1, 'x')`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.end();
    }
  });

  it('stops even the owner role at the triggers', async () => {
    const c = await connectAs(owner);
    try {
      await expect(c.query(`UPDATE audit_entries SET actor = 'mallory'`)).rejects.toThrow(/append-only: UPDATE on audit_entries/);
      await expect(c.query('DELETE FROM audit_checkpoints')).rejects.toThrow(/append-only/);
      await expect(c.query('TRUNCATE audit_entries CASCADE')).rejects.toThrow(/append-only/);
    } finally {
      await c.end();
    }
  });
});
