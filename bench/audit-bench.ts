// Audit trail benchmark (STYLE.md 12): offline verification (entries/s) of a generated export of
// 100,000 entries, next to its raw costs measured in the same run (JSON.parse of every line, and
// SHA-256 of every canonical entry); append throughput of AuditService on the local PostgreSQL
// with HSM-signed checkpoints (SoftHSM2), next to plain single-row INSERT transactions of the same
// shape at the same concurrency; export throughput. Prints tables, writes bench/results/audit-bench.json.
// Run: node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/audit-bench.ts [entries] [seconds]
import { createHash } from 'node:crypto';
import { AuditService, canonicalEntry, HsmAuditSigner, spkiToPem, verifyAuditExport, type AuditEntry } from '@lib/audit';
import { AuditRepository, migrateDatabase, openDatabase, type DataSource } from '@lib/db';
import { HsmKeystore, keyLabel } from '@lib/hsm';
import { appRoleConfig, connectAs, ensureAppRoleLogin } from '../test/audit/audit-database';
import { buildAuditExport, softwareAuditKey } from '../test/audit/audit-export.fixture';
import { createTestDatabase } from '../test/database';
import { createTestToken } from '../test/hsm/softhsm-token';
import { closedLoop, printTable, writeResults } from './bench-util';

const ENTRIES = Number(process.argv[2] ?? '100000');
const SECONDS = Number(process.argv[3] ?? '3');
const CHECKPOINT_EVERY = 100;

function best(runs: number, fn: () => void): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    min = Math.min(min, performance.now() - t);
  }
  return min / 1000;
}


const load = (fn: () => Promise<unknown>, concurrency: number) => closedLoop(fn, concurrency, SECONDS);

async function main(): Promise<void> {
  // ---- offline verification --------------------------------------------------------------------
  const key = softwareAuditKey();
  const lines = buildAuditExport(key, { entries: ENTRIES, every: 1000 });
  const bytes = lines.reduce((n, l) => n + l.length + 1, 0);
  const check = verifyAuditExport(lines, key.publicKeyPem);
  if (!check.ok) throw new Error(`generated export does not verify: ${check.reason}`);
  const verifySec = best(3, () => verifyAuditExport(lines, key.publicKeyPem));
  const parseSec = best(3, () => {
    for (const l of lines) JSON.parse(l);
  });
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['type'] === 'entry');
  const hashSec = best(3, () => {
    let prev = Buffer.alloc(32);
    for (const r of parsed) prev = createHash('sha256').update(prev).update(canonicalEntry(r as unknown as AuditEntry), 'utf8').digest();
  });
  const verifyRows = [
    ['verifyAuditExport (parse, canonical form, SHA-256, signatures)', ENTRIES / verifySec, (bytes / 2 ** 20) / verifySec],
    ['baseline: JSON.parse of every line', ENTRIES / parseSec, (bytes / 2 ** 20) / parseSec],
    ['baseline: canonical form + SHA-256 of every entry', ENTRIES / hashSec, NaN],
  ] as const;
  printTable(`Offline verification of ${ENTRIES} entries (${lines.length - ENTRIES - 2} checkpoints, ${(bytes / 2 ** 20).toFixed(1)} MiB)`, ['what', 'entries/s', 'MiB/s'], verifyRows.map((r) => [r[0], r[1], Number.isNaN(r[2]) ? '-' : r[2]]));

  // ---- append with HSM checkpoints ---------------------------------------------------------------
  const db = await createTestDatabase('dime_audit_bench');
  const token = createTestToken();
  process.env['SOFTHSM2_CONF'] = token.softhsmConf;
  const keystore = HsmKeystore.open(token.config({ sessions: 8 }));
  let ds: DataSource | undefined;
  try {
    await keystore.ensureKey('audit-signing');
    const signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
    await migrateDatabase(db.config);
    ensureAppRoleLogin(db.config);
    // the baseline table, made by the owner (dime_app may not create tables; default privileges let it insert)
    const owner = await connectAs(db.config);
    await owner.query('CREATE TABLE bench_plain (LIKE audit_entries)');
    await owner.end();
    ds = await openDatabase({ ...appRoleConfig(db.config), poolSize: 20 });
    const service = new AuditService(new AuditRepository(ds), signer, { checkpointEvery: CHECKPOINT_EVERY, checkpointPeriodMs: 3600_000 });
    let plainSeq = 0;
    const record = () => service.record({ actor: 'bench@example.test', actorAddress: '192.0.2.1', action: 'bench.append', objectType: 'bench', objectId: 'x', outcome: 'success', details: { n: 1, tag: 'bench' } });
    const q = ds;
    const plain = () =>
      q.transaction(async (em) => {
        const seq = ++plainSeq;
        await em.query(
          `INSERT INTO bench_plain (seq, time, actor, actor_address, action, object_type, object_id, outcome, details, prev_hash, hash) VALUES ($1, now(), 'bench@example.test', '192.0.2.1', 'bench.append', 'bench', 'x', 'success', '{"n":1}', $2, $3)`,
          [seq, createHash('sha256').update(`p${seq}`).digest(), createHash('sha256').update(`h${seq}`).digest()],
        );
      });
    const message = Buffer.from('checkpoint-sized input');
    const appendRows: (string | number)[][] = [];
    const appendJson: Record<string, unknown>[] = [];
    for (const concurrency of [1, 8]) {
      const a = await load(record, concurrency);
      const b = await load(plain, concurrency);
      appendRows.push(['AuditService.record (chain lock, HSM checkpoint every 100)', concurrency, a.perSecond, a.p50ms, a.p99ms]);
      appendRows.push(['baseline: plain INSERT transaction, same row shape', concurrency, b.perSecond, b.p50ms, b.p99ms]);
      appendJson.push({ concurrency, record: a, plainInsert: b });
    }
    const sign = await load(() => signer.sign(message), 1);
    appendRows.push(['HSM ECDSA P-256 sign (one checkpoint)', 1, sign.perSecond, sign.p50ms, sign.p99ms]);
    printTable('Append throughput (local PostgreSQL, SoftHSM2)', ['what', 'concurrency', 'entries/s', 'p50 ms', 'p99 ms'], appendRows);

    // ---- export of what was appended ----------------------------------------------------------
    let exported = 0;
    const t = performance.now();
    const exportLines: string[] = [];
    const summary = await service.exportTo((chunk) => {
      exportLines.push(chunk);
    });
    exported = summary.entries;
    const exportSec = (performance.now() - t) / 1000;
    const v = verifyAuditExport(exportLines.join('\n').split('\n'), spkiToPem(await signer.publicKeySpki()));
    printTable('Export from PostgreSQL', ['entries', 'checkpoints', 'entries/s', 'verifies'], [[exported, summary.checkpoints, exported / exportSec, String(v.ok)]]);

    const file = writeResults('audit-bench', {
      verification: { entries: ENTRIES, bytes, seconds: verifySec, entriesPerSecond: ENTRIES / verifySec, baselineJsonParsePerSecond: ENTRIES / parseSec, baselineHashPerSecond: ENTRIES / hashSec },
      append: { checkpointEvery: CHECKPOINT_EVERY, seconds: SECONDS, runs: appendJson, hsmSign: sign },
      export: { entries: exported, checkpoints: summary.checkpoints, entriesPerSecond: exported / exportSec, verifies: v.ok },
    });
    console.log(`\nresults: ${file}`);
  } finally {
    await ds?.destroy();
    keystore.close();
    token.cleanup();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
