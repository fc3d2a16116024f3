// Compliance benchmark (STYLE.md 12), each figure next to a baseline measured in the same run:
//  1. journaling cost per message: sealJournalRecord (AES-256-GCM + ephemeral P-384 ECDH + HKDF +
//     AES-KW) vs plain AES-256-GCM of the same bytes; the full JournalService.journal (blind indexes
//     from the cache, fs archive put with fsync, PostgreSQL insert) p50/p99 at concurrency, vs a
//     plain single-row INSERT of the same shape; the blind-index HSM HMAC on a cache miss.
//  2. retention sweep over N (default 1,000,000) expired records generated with generate_series:
//     records/s shredded with HSM-signed certificates (batches of 10,000), vs a plain UPDATE of the
//     same rows without triggers' work (the same UPDATE in a copy with the guard disabled by the owner);
//     plus filesystem blob deletion (files/s) on real files.
//  3. audit verification (entries/s) of a generated 100,000-entry export (libs/audit).
//  4. escrow report generation over the N records (EscrowReportService.generateSigned, json and csv).
// Prints tables, writes bench/results/compliance-bench.json.
// Run: npm run bench:compliance [-- records seconds]
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditService, HsmAuditSigner, verifyAuditExport } from '@lib/audit';
import { AuditRepository, EscrowRepository, JournalRepository, migrateDatabase, openDatabase, RetentionRepository, type DataSource } from '@lib/db';
import {
  BlindIndexer,
  DispositionService,
  EscrowReportService,
  FsArchiveStore,
  JournalService,
  loadEscrowPublicKey,
  sealJournalRecord,
  type ArchiveStore,
} from '@lib/escrow';
import { HsmKeystore, keyLabel } from '@lib/hsm';
import { appRoleConfig, ensureAppRoleLogin } from '../test/audit/audit-database';
import { buildAuditExport, softwareAuditKey } from '../test/audit/audit-export.fixture';
import { createTestDatabase } from '../test/database';
import { createTestToken, useTokenInThisProcess } from '../test/hsm/softhsm-token';
import { printTable, timeLoop, writeResults } from './bench-util';

const RECORDS = Number(process.argv[2] ?? '1000000');
const SECONDS = Number(process.argv[3] ?? '3');
const CONCURRENCY = 8;
const BATCH = 10_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function load(fn: () => Promise<unknown>, concurrency: number): Promise<{ perSecond: number; p50ms: number; p99ms: number; n: number }> {
  for (let i = 0; i < 20; i++) await fn();
  const lat: number[] = [];
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await fn();
        lat.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { perSecond: lat.length / elapsed, p50ms: percentile(lat, 0.5), p99ms: percentile(lat, 0.99), n: lat.length };
}

/** A store that keeps nothing: isolates the database + HSM part of the sweep. */
const NULL_STORE: ArchiveStore = {
  put: async () => undefined,
  get: async () => Buffer.alloc(0),
  delete: async () => undefined,
  retention: async () => null,
};

function cpuMs(fn: () => void, n: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / n;
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { records: RECORDS, seconds: SECONDS, concurrency: CONCURRENCY };
  const token = createTestToken();
  await useTokenInThisProcess(token);
  const keystore = HsmKeystore.open(token.config());
  for (const role of ['escrow', 'blind-index', 'audit-signing'] as const) await keystore.ensureKey(role);
  const db = await createTestDatabase('dime_compliance_bench');
  const archiveDir = mkdtempSync(join(tmpdir(), 'dime-bench-archive-'));
  let ds: DataSource | undefined;
  try {
    await migrateDatabase(db.config);
    ensureAppRoleLogin(db.config);
    ds = await openDatabase(appRoleConfig(db.config), { applicationName: 'compliance-bench' });
    const escrow = await loadEscrowPublicKey(keystore, keyLabel('escrow'));

    // ---- 1. journaling -----------------------------------------------------------------------
    const rows1: (string | number)[][] = [];
    const seal: Record<string, unknown> = {};
    for (const size of [4096, 65536]) {
      const content = randomBytes(size);
      const sealT = await timeLoop(() => sealJournalRecord(randomUUID(), content, escrow.point), { minSeconds: SECONDS / 2 });
      const gcmT = await timeLoop(
        () => {
          const c = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
          Buffer.concat([c.update(content), c.final(), c.getAuthTag()]);
        },
        { minSeconds: SECONDS / 2 },
      );
      const cpu = cpuMs(() => sealJournalRecord(randomUUID(), content, escrow.point), 200);
      rows1.push([`seal record ${size / 1024} KiB`, sealT.perSecond, sealT.meanUs, cpu * 1000]);
      rows1.push([`  baseline: AES-256-GCM only`, gcmT.perSecond, gcmT.meanUs, 0]);
      seal[size] = { seal: sealT, gcm: gcmT, sealCpuUs: cpu * 1000 };
    }
    printTable('Journal record build (one core)', ['operation', 'per second', 'mean µs', 'CPU µs'], rows1);

    const retention = new RetentionRepository(ds);
    await retention.insertPolicy({ name: 'bench', scope: 'all', scopeValue: null, retentionDays: 2555, action: 'dispose', priority: 0, enabled: true });
    const records = new JournalRepository(ds);
    const indexer = new BlindIndexer(keystore, keyLabel('blind-index'), 10_000);
    const journal = new JournalService(records, retention, indexer, new FsArchiveStore(archiveDir), escrow, { defaultRetentionDays: 0 });
    const senders = Array.from({ length: 100 }, (_, i) => `user${i}@acme.example`);
    for (const s of senders) await indexer.addressIndex(s);
    await indexer.addressIndex('peer@partner.example');
    const body = randomBytes(16_384);
    let n = 0;
    const full = await load(
      () => journal.journal({ messageId: randomUUID(), direction: 'outbound', sender: senders[n++ % senders.length] as string, recipients: ['peer@partner.example'], content: body }),
      CONCURRENCY,
    );
    const plain = await load(
      () =>
        (ds as DataSource).query(
          `INSERT INTO journal_records (id, message_id, direction, journaled_at, retain_until, policy_id, disposition_action, content_sha256, size, blob_key,
             escrow_key_label, wrapped_key, ephemeral_public_key, sender_index, recipient_indexes)
           VALUES ($1, $2, 'outbound', now(), now() + interval '7 years', NULL, 'dispose', $3, 16384, $4, 'x', $5, $6, $7, $8::bytea[])`,
          [randomUUID(), randomUUID(), randomBytes(32), `bench/${randomUUID()}`, randomBytes(40), Buffer.concat([Buffer.from([4]), randomBytes(96)]), randomBytes(32), [randomBytes(32)]],
        ),
      CONCURRENCY,
    );
    const missIndexer = new BlindIndexer(keystore, keyLabel('blind-index'), 0);
    const miss = await timeLoop(() => missIndexer.addressIndex(`u${randomUUID()}@x.example`), { minSeconds: SECONDS / 2 });
    printTable(
      `Journaling 16 KiB messages, concurrency ${CONCURRENCY} (fs archive with fsync + PostgreSQL as dime_app)`,
      ['operation', 'per second', 'p50 ms', 'p99 ms'],
      [
        ['JournalService.journal (indexes cached)', full.perSecond, full.p50ms, full.p99ms],
        ['  baseline: plain INSERT of the row', plain.perSecond, plain.p50ms, plain.p99ms],
        ['blind index, cache miss (HSM HMAC)', miss.perSecond, miss.meanUs / 1000, 0],
      ],
    );
    results['journal'] = { seal, full, plainInsert: plain, blindIndexMiss: miss, cacheHits: indexer.hits, cacheMisses: indexer.misses };

    // ---- 2. retention sweep ------------------------------------------------------------------
    const owner = await openDatabase(db.config, { applicationName: 'compliance-bench-owner' });
    let genSeconds = 0;
    try {
      const t0 = performance.now();
      // expired records spread over a year, 1 in 1000 from a held custodian
      const policyId = (await retention.listPolicies())[0]?.id ?? null;
      for (let from = 0; from < RECORDS; from += 250_000) {
        const to = Math.min(RECORDS, from + 250_000);
        await owner.query(
          `INSERT INTO journal_records (id, message_id, direction, journaled_at, retain_until, policy_id, disposition_action, content_sha256, size,
             blob_key, escrow_key_label, wrapped_key, ephemeral_public_key, sender_index, recipient_indexes, local_domain)
           SELECT gen_random_uuid(), gen_random_uuid(), CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
                  now() - interval '400 days' + i * interval '30 seconds', now() - interval '1 day', $3, 'dispose',
                  sha256(int8send(i)), 4096, 'sweep/' || i || '.djr', 'dime-escrow.v1',
                  substring(sha512(int8send(i)) from 1 for 40), '\\x04'::bytea || sha512(int8send(-i)) || sha256(int8send(i + 7)),
                  CASE WHEN i % 1000 = 0 THEN decode(repeat('ab', 32), 'hex') ELSE sha256(int8send(i * 3)) END,
                  ARRAY[sha256(int8send(i * 5)), sha256(int8send(i * 7))],
                  CASE WHEN i % 3 = 0 THEN 'acme.example' ELSE 'acme-bank.example' END
           FROM generate_series($1::bigint, $2::bigint - 1) AS i`,
          [from, to, policyId],
        );
      }
      await owner.query('ANALYZE journal_records');
      genSeconds = (performance.now() - t0) / 1000;
      // the baseline's table: the same rows and indexes, no triggers, no certificates, no hold check
      await owner.query('CREATE TABLE sweep_baseline (LIKE journal_records INCLUDING DEFAULTS INCLUDING INDEXES)');
      await owner.query('INSERT INTO sweep_baseline SELECT * FROM journal_records');
      await owner.query('ANALYZE sweep_baseline');
      await owner.query('GRANT ALL ON sweep_baseline TO dime_app');
    } finally {
      await owner.destroy();
    }
    await ds.query(
      `INSERT INTO legal_holds (case_name, custodian_indexes, placed_by, placed_at) VALUES ('bench case', ARRAY[decode(repeat('ab', 32), 'hex')], 'bench', now())`,
    );
    const signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
    const audit = new AuditService(new AuditRepository(ds), signer, { checkpointEvery: 1000, checkpointPeriodMs: 3600_000 });

    // ---- 4 (before the sweep: the report counts the generated records) ---------------------
    const reports = new EscrowReportService(new EscrowRepository(ds), signer);
    const period = { from: new Date(Date.now() - 401 * 86_400_000), to: new Date() };
    const reportTimes: Record<string, number> = {};
    for (const format of ['json', 'csv'] as const) {
      const t = performance.now();
      await reports.generateSigned(period, format);
      reportTimes[format] = (performance.now() - t) / 1000;
    }

    const disposition = new DispositionService(records, NULL_STORE, signer, audit, { batchSize: BATCH });
    const tSweep = performance.now();
    const swept = await disposition.sweep();
    const sweepSeconds = (performance.now() - tSweep) / 1000;

    // baseline: the same batched UPDATE over a copy of the rows with the same indexes, without the
    // guard trigger, the hold check, certificates, the blob queue and the audit entries
    const tBase = performance.now();
    let baseRows = 0;
    for (;;) {
      const r: unknown = await ds.query(
        `UPDATE sweep_baseline SET wrapped_key = NULL, ephemeral_public_key = NULL, disposed_at = now(), disposition_id = gen_random_uuid()
         WHERE id IN (SELECT id FROM sweep_baseline WHERE disposed_at IS NULL AND retain_until <= now() ORDER BY retain_until, id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, content_sha256, journaled_at, retain_until, blob_key`,
        [BATCH],
      );
      const rows = Array.isArray(r) && Array.isArray(r[0]) ? (r[0] as unknown[]) : (r as unknown[]);
      baseRows += rows.length;
      if (rows.length < BATCH) break;
    }
    const baseSeconds = (performance.now() - tBase) / 1000;

    // filesystem blob deletion on real files
    const fsStore = new FsArchiveStore(join(archiveDir, 'del'));
    const FILES = 5000;
    for (let i = 0; i < FILES; i++) await fsStore.put(`del/${(i % 256).toString(16).padStart(2, '0')}/${i}.djr`, randomBytes(4096), { retainUntil: new Date() });
    const tDel = performance.now();
    for (let i = 0; i < FILES; i++) await fsStore.delete(`del/${(i % 256).toString(16).padStart(2, '0')}/${i}.djr`);
    const delSeconds = (performance.now() - tDel) / 1000;

    printTable(
      `Retention sweep over ${RECORDS.toLocaleString('en')} expired records (${swept.certificateIds.length} certificates of ${BATCH})`,
      ['operation', 'records', 'seconds', 'records/s'],
      [
        ['generate rows (generate_series)', RECORDS, genSeconds, RECORDS / genSeconds],
        ['sweep: shred + signed certificates', swept.shredded, sweepSeconds, swept.shredded / sweepSeconds],
        ['  baseline: same batched UPDATE, same indexes, no rules', baseRows, baseSeconds, baseRows / baseSeconds],
        ['fs blob delete (rm + dir fsync)', FILES, delSeconds, FILES / delSeconds],
      ],
    );
    results['sweep'] = { generated: RECORDS, genSeconds, shredded: swept.shredded, held: RECORDS - swept.shredded, certificates: swept.certificateIds.length, sweepSeconds, baseSeconds, baseRows, fsDelete: { files: FILES, seconds: delSeconds } };

    printTable(`Escrow report over ${RECORDS.toLocaleString('en')} records (EscrowReportService.generateSigned)`, ['format', 'seconds'], Object.entries(reportTimes));
    results['report'] = reportTimes;

    // ---- 3. audit verification ---------------------------------------------------------------
    const key = softwareAuditKey();
    const lines = buildAuditExport(key, { entries: 100_000, every: 1000 });
    const verify = await timeLoop(
      () => {
        const v = verifyAuditExport(lines, key.publicKeyPem);
        if (!v.ok) throw new Error('export does not verify');
      },
      { minSeconds: SECONDS, minIterations: 2, warmup: 1 },
    );
    const parse = await timeLoop(() => lines.forEach((l) => JSON.parse(l)), { minSeconds: SECONDS / 2, minIterations: 2, warmup: 1 });
    printTable('Audit verification, 100,000 entries (offline)', ['operation', 'entries/s', 'seconds'], [
      ['verifyAuditExport', 100_000 / (verify.meanUs / 1e6), verify.meanUs / 1e6],
      ['  baseline: JSON.parse of every line', 100_000 / (parse.meanUs / 1e6), parse.meanUs / 1e6],
    ]);
    results['auditVerify'] = { entries: 100_000, verify, parse };
    console.log(`results: ${writeResults('compliance-bench', results)}`);
  } finally {
    if (ds?.isInitialized) await ds.destroy();
    await db.drop();
    keystore.close();
    token.cleanup();
    rmSync(archiveDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
