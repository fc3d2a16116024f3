// Compliance benchmark (STYLE.md 12), each figure next to a baseline measured in the same run:
//  0. the journal's effect on the gateway (section "gateway"): the same load (10 KB messages, 10 and
//     50 concurrent senders, connections reused) through two gateway processes started alike (own
//     token, database, Redis, Postfix smtp-sink), one with JOURNAL_ENABLED=false and one journaling
//     every message (JOURNAL_ENABLED=true, fs archive, default retention), alternating which goes
//     first in each round: end-to-end msg/s, accept p50/p99, CPU per message of the gateway and of
//     its PostgreSQL backends, journal records written (checked == messages delivered) and archive
//     bytes per message; then ON - OFF (added ms per message) and ON / OFF (throughput ratio).
//  1. journaling cost per message (section "journal"): sealJournalRecord (AES-256-GCM + ephemeral
//     P-384 ECDH + HKDF + AES-KW) vs plain AES-256-GCM of the same bytes; the full
//     JournalService.journal (blind indexes from the cache, fs archive put with fsync, PostgreSQL
//     insert) p50/p99 at concurrency, vs a plain single-row INSERT of the same shape; the
//     blind-index HSM HMAC on a cache miss.
//  2. retention sweep (section "sweep") over N (default 1,000,000) expired records generated with
//     generate_series: records/s shredded with HSM-signed certificates (batches of 10,000), vs a
//     plain UPDATE of the same shape without the triggers' work over a copy of the first
//     min(N, --baseline-records) rows (default 200,000: the baseline is a rate, and copying and
//     updating all N rows would double the run); plus filesystem blob deletion (files/s) on real files.
//     Also 4. escrow report generation over the N records (EscrowReportService.generateSigned, json
//     and csv), before the sweep.
//  3. audit verification (section "audit", entries/s) of a generated 100,000-entry export (libs/audit).
// Prints tables, writes bench/results/compliance-bench.json.
// Run: npm run bench:compliance -- [--sections gateway,journal,sweep,audit] [--records N] [--seconds S]
//        [--messages N] [--rounds R] [--quick]      (also the old positional form: -- RECORDS SECONDS)
//   --quick: 100,000 records, 1 s loops, 500 messages x 1 round through the gateways.
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
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
import { createGatewayToken, type GatewayToken } from '../test/gateway/gateway-process';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../test/hsm/softhsm-token';
import { makeTestMessage } from '../test/postfix/smtp-load';
import { closedLoop, printTable, timeLoop, writeResults } from './bench-util';
import { GatewayBench, type Cell, type GatewayRunResult } from './gateway-bench';

const SECTIONS = ['gateway', 'journal', 'sweep', 'audit'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  records: number;
  seconds: number;
  baselineRecords: number;
  messages: number;
  rounds: number;
  warmup: number;
  sections: ReadonlySet<Section>;
}

function parseArgs(argv: readonly string[]): Args {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const quick = argv.includes('--quick');
  // the old positional form (RECORDS SECONDS) still works
  const positional = argv.filter((a, i) => !a.startsWith('--') && !(argv[i - 1] ?? '').startsWith('--'));
  const num = (name: string, fallback: number, pos?: number): number => {
    const v = value(name) ?? (pos === undefined ? undefined : positional[pos]);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} expects a positive number, got ${v}`);
    return n;
  };
  const sections = (value('--sections') ?? SECTIONS.join(',')).split(',');
  for (const s of sections) if (!(SECTIONS as readonly string[]).includes(s)) throw new RangeError(`--sections: unknown section ${s} (known: ${SECTIONS.join(', ')})`);
  const messages = Math.floor(num('--messages', quick ? 500 : 1000));
  return {
    records: Math.floor(num('--records', quick ? 100_000 : 1_000_000, 0)),
    seconds: num('--seconds', quick ? 1 : 3, 1),
    baselineRecords: Math.floor(num('--baseline-records', 200_000)),
    messages,
    rounds: Math.floor(num('--rounds', quick ? 1 : 2)),
    warmup: Math.floor(num('--warmup', Math.min(200, messages))),
    sections: new Set(sections as Section[]),
  };
}

const ARGS = parseArgs(process.argv.slice(2));
const RECORDS = ARGS.records;
const SECONDS = ARGS.seconds;
const CONCURRENCY = 8;
const BATCH = 10_000;


const load = (fn: () => Promise<unknown>, concurrency: number) => closedLoop(fn, concurrency, SECONDS);

/** A store that keeps nothing: isolates the database + HSM part of the sweep. */
const NULL_STORE: ArchiveStore = {
  put: async () => undefined,
  get: async () => Buffer.alloc(0),
  delete: async () => undefined,
  retention: async () => null,
  // eslint-disable-next-line require-yield
  list: async function* () {
    return;
  },
};

function cpuMs(fn: () => void, n: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / n;
}

function uptime(): string {
  return execFileSync('uptime', { encoding: 'utf8' }).trim();
}

function finish(results: Record<string, unknown>): void {
  results['loadAverageAtEnd'] = loadavg();
  process.stderr.write(`uptime at end: ${uptime()}\n`);
  console.log(`results: ${writeResults('compliance-bench', results)}`);
}

// ---- 0. the journal's effect on the gateway ------------------------------------------------------

const GATEWAY_MESSAGE_SIZE = 10 * 1024;
const GATEWAY_CELLS: readonly Cell[] = [
  { concurrency: 10, reuseConnections: true },
  { concurrency: 50, reuseConnections: true },
];

/** A gateway token with the journal's keys too (escrow P-384, blind-index HMAC, audit-signing P-256). */
async function journalGatewayToken(): Promise<{ gatewayToken: GatewayToken; token: TestToken }> {
  const token = createTestToken();
  await useTokenInThisProcess(token);
  const keystore = HsmKeystore.open(token.config());
  try {
    for (const role of ['escrow', 'blind-index', 'audit-signing'] as const) await keystore.ensureKey(role);
  } finally {
    keystore.close();
  }
  return { gatewayToken: await createGatewayToken({ token }), token };
}

function bytesUnder(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += statSync(join(e.parentPath, e.name)).size;
  }
  return { files, bytes };
}

async function superuserQuery<T extends Record<string, unknown>>(bench: GatewayBench, sql: string): Promise<T[]> {
  const client = new Client({ host: bench.db.config.host, port: bench.db.config.port, user: 'postgres', database: bench.db.name });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const journalCount = async (bench: GatewayBench): Promise<number> => Number((await superuserQuery<{ n: string }>(bench, 'SELECT count(*) AS n FROM journal_records'))[0]?.n ?? Number.NaN);

interface JournalRun extends GatewayRunResult {
  journal: boolean;
  round: number;
  concurrency: number;
  /** Messages the sink received during the run (warm-up included) and journal records written meanwhile. */
  delivered: number;
  recordsWritten: number;
  archiveFiles: number;
  archiveBytes: number;
}

/** The gateway's warn/error log lines (pino JSON, level >= 40), counted by message (first 120 characters). */
function gatewayLogSummary(bench: GatewayBench): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of bench.gateway.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) < 40) continue;
      const key = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`.slice(0, 120);
      counts[key] = (counts[key] ?? 0) + 1;
    } catch {
      // not a log line
    }
  }
  return counts;
}

const avg = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

async function gatewaySection(): Promise<unknown> {
  const message = makeTestMessage(GATEWAY_MESSAGE_SIZE, 'sender@origin.test', 'rcpt@remote.test');
  const archiveDir = mkdtempSync(join(tmpdir(), 'dime-bench-gw-archive-'));
  const tokens: TestToken[] = [];
  const benches = new Map<boolean, GatewayBench>();
  const runs: JournalRun[] = [];
  try {
    for (const journal of [false, true]) {
      const { gatewayToken, token } = await journalGatewayToken();
      tokens.push(token);
      process.stderr.write(`starting the gateway with the journal ${journal ? 'ON' : 'OFF'} ...\n`);
      const env: Record<string, string> = journal
        ? { JOURNAL_ENABLED: 'true', ARCHIVE_DIR: archiveDir, JOURNAL_DEFAULT_RETENTION_DAYS: '2555', RETENTION_SWEEP_EVERY_MS: '0' }
        : { JOURNAL_ENABLED: 'false' };
      benches.set(journal, await GatewayBench.start({ messages: ARGS.messages, rounds: ARGS.rounds, warmup: ARGS.warmup, logLevel: 'info', cpuProfDir: undefined, env, gatewayOnly: true, cells: undefined, token: gatewayToken }));
    }
    for (let round = 0; round < ARGS.rounds; round++) {
      for (const cell of GATEWAY_CELLS) {
        // alternate which gateway goes first, so drift in the machine's load hits both alike
        const order = round % 2 === 0 ? [false, true] : [true, false];
        for (const journal of order) {
          const bench = benches.get(journal)!;
          process.stderr.write(`round ${round + 1}/${ARGS.rounds}, ${cell.concurrency} senders reused, journal ${journal ? 'ON ' : 'OFF'} ...`);
          const recordsBefore = await journalCount(bench);
          const archiveBefore = bytesUnder(archiveDir);
          const sinkBefore = bench.sink.count();
          const r = await bench.run(cell, ARGS.messages, ARGS.warmup, message);
          const delivered = bench.sink.count() - sinkBefore;
          const recordsWritten = (await journalCount(bench)) - recordsBefore;
          const archiveAfter = bytesUnder(archiveDir);
          const archiveFiles = journal ? archiveAfter.files - archiveBefore.files : 0;
          const archiveBytes = journal ? archiveAfter.bytes - archiveBefore.bytes : 0;
          runs.push({ ...r, journal, round, concurrency: cell.concurrency, delivered, recordsWritten, archiveFiles, archiveBytes });
          process.stderr.write(
            ` ${r.endToEndMsgPerSec.toFixed(0)} msg/s e2e, p99 ${r.acceptP99Ms.toFixed(1)} ms, ${r.errors} errors, ${recordsWritten} records / ${delivered} delivered, other cpu ${r.otherCpuPercent.toFixed(0)}%\n`,
          );
          const expected = journal ? delivered : 0;
          if (recordsWritten !== expected) throw new Error(`journal ${journal ? 'ON' : 'OFF'}: ${recordsWritten} journal records for ${delivered} messages delivered (expected ${expected})`);
          // more blobs than records = attempts that wrote their blob and then failed (the retry writes a new one): reported, not fatal
          if (journal && archiveFiles !== recordsWritten) process.stderr.write(`  note: ${archiveFiles} archive blobs for ${recordsWritten} records in this run\n`);
        }
      }
    }
    const on = benches.get(true)!;
    const [totals] = await superuserQuery<{ n: string; table_bytes: string }>(on, `SELECT count(*) AS n, pg_total_relation_size('journal_records') AS table_bytes FROM journal_records`);
    const totalRecords = Number(totals?.n ?? 0);
    const tableBytes = Number(totals?.table_bytes ?? 0);
    const totalDelivered = on.sink.count();
    if (totalRecords !== totalDelivered) throw new Error(`journal ON: ${totalRecords} journal records in all for ${totalDelivered} messages delivered`);
    const archiveTotal = bytesUnder(archiveDir);
    const [refs] = await superuserQuery<{ n: string }>(on, `SELECT count(*) AS n FROM journal_records WHERE blob_key IS NOT NULL`);
    const orphanBlobs = archiveTotal.files - Number(refs?.n ?? 0);
    const logs = { off: gatewayLogSummary(benches.get(false)!), on: gatewayLogSummary(on) };

    const summary = GATEWAY_CELLS.map((cell) => {
      const of = (journal: boolean) => runs.filter((r) => r.journal === journal && r.concurrency === cell.concurrency);
      const m = (journal: boolean, k: keyof JournalRun) => avg(of(journal).map((r) => r[k] as number));
      const side = (journal: boolean) => ({
        endToEndMsgPerSec: m(journal, 'endToEndMsgPerSec'),
        msgPerSec: m(journal, 'msgPerSec'),
        acceptP50Ms: m(journal, 'acceptP50Ms'),
        acceptP99Ms: m(journal, 'acceptP99Ms'),
        gatewayCpuMsPerMsg: m(journal, 'gatewayCpuMsPerMsg'),
        postgresCpuMsPerMsg: m(journal, 'postgresCpuMsPerMsg'),
        redisCpuMsPerMsg: m(journal, 'redisCpuMsPerMsg'),
        pgXactsPerMsg: m(journal, 'pgXactsPerMsg'),
        otherCpuPercent: m(journal, 'otherCpuPercent'),
        errors: of(journal).reduce((s, r) => s + r.errors, 0),
        delivered: of(journal).reduce((s, r) => s + r.delivered, 0),
        recordsWritten: of(journal).reduce((s, r) => s + r.recordsWritten, 0),
        archiveBytesPerMsg: of(journal).reduce((s, r) => s + r.archiveBytes, 0) / Math.max(1, of(journal).reduce((s, r) => s + r.recordsWritten, 0)),
        journalStep: of(journal).at(-1)?.stages['step/journal'],
      });
      const off = side(false);
      const onSide = side(true);
      return {
        concurrency: cell.concurrency,
        reuseConnections: cell.reuseConnections,
        off,
        on: onSide,
        diff: {
          throughputRatio: onSide.endToEndMsgPerSec / off.endToEndMsgPerSec,
          /** Wall time per message at the measured end-to-end rates, ON - OFF. */
          addedWallMsPerMsg: 1000 / onSide.endToEndMsgPerSec - 1000 / off.endToEndMsgPerSec,
          addedAcceptP50Ms: onSide.acceptP50Ms - off.acceptP50Ms,
          addedAcceptP99Ms: onSide.acceptP99Ms - off.acceptP99Ms,
          addedGatewayCpuMsPerMsg: onSide.gatewayCpuMsPerMsg - off.gatewayCpuMsPerMsg,
          addedPostgresCpuMsPerMsg: onSide.postgresCpuMsPerMsg - off.postgresCpuMsPerMsg,
        },
      };
    });

    const label = (c: { concurrency: number }) => `${c.concurrency} reused`;
    printTable(
      `Gateway with the journal OFF vs ON (same run, alternating), ${GATEWAY_MESSAGE_SIZE / 1024} KB messages, ${ARGS.messages} per run (+${ARGS.warmup} warm-up), mean of ${ARGS.rounds} round(s)`,
      ['senders', 'journal', 'e2e msg/s', 'accepted msg/s', 'p50 ms', 'p99 ms', 'gw cpu ms/msg', 'pg cpu ms/msg', 'redis ms/msg', 'pg xacts/msg', 'records', 'delivered', 'archive B/msg', 'other cpu %', 'errors'],
      summary.flatMap((r) =>
        (['off', 'on'] as const).map((k) => {
          const x = r[k];
          return [label(r), k.toUpperCase(), x.endToEndMsgPerSec, x.msgPerSec, x.acceptP50Ms, x.acceptP99Ms, x.gatewayCpuMsPerMsg, x.postgresCpuMsPerMsg, x.redisCpuMsPerMsg, x.pgXactsPerMsg, String(x.recordsWritten), String(x.delivered), k === 'on' ? x.archiveBytesPerMsg : '-', x.otherCpuPercent, String(x.errors)];
        }),
      ),
    );
    printTable(
      'Journal ON - OFF (throughput ratio = ON / OFF end to end; wall ms/msg = 1000/rate ON - 1000/rate OFF)',
      ['senders', 'e2e ratio', 'added wall ms/msg', 'added p50 ms', 'added p99 ms', 'added gw cpu ms/msg', 'added pg cpu ms/msg', 'journal step mean / p99 ms (ON, last round)'],
      summary.map((r) => [
        label(r),
        r.diff.throughputRatio,
        r.diff.addedWallMsPerMsg,
        r.diff.addedAcceptP50Ms,
        r.diff.addedAcceptP99Ms,
        r.diff.addedGatewayCpuMsPerMsg,
        r.diff.addedPostgresCpuMsPerMsg,
        r.on.journalStep ? `${r.on.journalStep.meanMs.toFixed(2)} / ${r.on.journalStep.p99Ms.toFixed(1)}` : '-',
      ]),
    );
    for (const [k, v] of Object.entries(logs)) {
      if (Object.keys(v).length) console.log(`gateway journal ${k.toUpperCase()} warnings/errors logged (count x message): ${Object.entries(v).map(([m, n]) => `${n} x ${m}`).join('; ')}`);
    }
    console.log(
      `journal ON in all: ${totalRecords} records == ${totalDelivered} messages delivered; ${archiveTotal.files} archive blobs (${orphanBlobs} without a record); archive ${(archiveTotal.bytes / Math.max(1, archiveTotal.files)).toFixed(0)} B/blob on disk for ${GATEWAY_MESSAGE_SIZE} B messages; journal_records ${(tableBytes / Math.max(1, totalRecords)).toFixed(0)} B/record in PostgreSQL (table + indexes)`,
    );
    return { messageSize: GATEWAY_MESSAGE_SIZE, messages: ARGS.messages, warmup: ARGS.warmup, rounds: ARGS.rounds, totalRecords, totalDelivered, archiveBlobs: archiveTotal.files, orphanBlobs, logs, tableBytesPerRecord: tableBytes / Math.max(1, totalRecords), summary, runs };
  } finally {
    for (const bench of benches.values()) await bench.stop();
    for (const token of tokens) token.cleanup();
    rmSync(archiveDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { records: RECORDS, seconds: SECONDS, concurrency: CONCURRENCY, sections: [...ARGS.sections], loadAverageAtStart: loadavg() };
  process.stderr.write(`uptime at start: ${uptime()}\n`);
  if (ARGS.sections.has('gateway')) results['gateway'] = await gatewaySection();
  if (!ARGS.sections.has('journal') && !ARGS.sections.has('sweep') && !ARGS.sections.has('audit')) return finish(results);
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

    const retention = new RetentionRepository(ds);
    await retention.insertPolicy({ name: 'bench', scope: 'all', scopeValue: null, retentionDays: 2555, action: 'dispose', priority: 0, enabled: true });
    const records = new JournalRepository(ds);

    // ---- 1. journaling -----------------------------------------------------------------------
    if (ARGS.sections.has('journal')) {
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
    }

    // ---- 2. retention sweep ------------------------------------------------------------------
    if (ARGS.sections.has('sweep')) {
      const baselineRecords = Math.min(RECORDS, ARGS.baselineRecords);
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
        await owner.query('INSERT INTO sweep_baseline SELECT * FROM journal_records ORDER BY retain_until, id LIMIT $1', [baselineRecords]);
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
          [`  baseline: same batched UPDATE, same indexes, no rules (${baseRows.toLocaleString('en')}-row copy)`, baseRows, baseSeconds, baseRows / baseSeconds],
          ['fs blob delete (rm + dir fsync)', FILES, delSeconds, FILES / delSeconds],
        ],
      );
      results['sweep'] = { generated: RECORDS, genSeconds, shredded: swept.shredded, held: RECORDS - swept.shredded, certificates: swept.certificateIds.length, sweepSeconds, baseSeconds, baseRows, fsDelete: { files: FILES, seconds: delSeconds } };

      printTable(`Escrow report over ${RECORDS.toLocaleString('en')} records (EscrowReportService.generateSigned)`, ['format', 'seconds'], Object.entries(reportTimes));
      results['report'] = reportTimes;
    }

    // ---- 3. audit verification ---------------------------------------------------------------
    if (ARGS.sections.has('audit')) {
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
    }
    finish(results);
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
