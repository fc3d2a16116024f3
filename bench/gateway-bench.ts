// The gateway against plain Postfix, same load, same run: 10 KB messages from 10 and 50 concurrent
// senders, one message per connection and with connection reuse, into the gateway's submission
// listener and delivered (STATIC_ROUTES) to Postfix's smtp-sink; next to it, in alternating order,
// Postfix relaying the same load to its own sink (runPostfixRelayBaseline). Reports accept rate,
// p50/p99 accept latency (timed on the client socket: final dot written -> 250 read), end-to-end
// rate (first send -> last message at the sink), CPU per message of the gateway process, of its
// PostgreSQL backends and of its (private) Redis, and the gateway's own latency histograms.
//   npm run bench:gateway -- [--messages N] [--rounds R] [--quick] [--log-level L] [--cpu-prof DIR]
//     [--gateway-only] [--cells 10r,50r,10n,50n] [--jit-warmup S]  (the first gateway run's warm-up lasts >= S s;
//     default 25: V8 still optimises during a process's first ~30 s of load, which a production gateway is long past)
//     (--gateway-only / --cells, for iteration: skip Postfix / run some cells only; r = connection reuse,
//     n = one message per connection) [--no-dime] [--dime-messages N]
// Then the DIME path (bench/dime-path.ts): org A's legacy-side load -> gateway A -> DMTP -> gateway B
// -> sink, next to Postfix relaying the same load and the crypto-only ceiling, in the same run.
//   (writes bench/results/gateway-bench.json; needs PostgreSQL, redis-server, SoftHSM, Postfix)
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../test/database';
import { createGatewayToken, removeSpoolDir, startGatewayProcess, type GatewayProcess, type GatewayToken } from '../test/gateway/gateway-process';
import { printDimePathReport, runDimePath, writeDimePathResults } from './dime-path';
import { machineBusyCpuSeconds, mainThreadMeter, processCpuSeconds } from '../test/postfix/process-group';
import { makeTestMessage, percentile, runSmtpLoad, warmUpLoad } from '../test/postfix/smtp-load';
import { startSmtpSink, type SmtpSink } from '../test/postfix/smtp-sink';
import { startPrivateRedis, type PrivateRedis } from '../test/services/private-redis';
import { jitWarmupArg, printTable, writeResults } from './bench-util';
import { POSTFIX_THROUGHPUT_TUNING, runPostfixRelayBaseline, type PostfixRelayBaselineResult } from './postfix-baseline';
import { gatewayStagesOf } from './prometheus-text';
import { ServiceCpuSampler } from './service-cpu';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const MESSAGE_SIZE = 10 * 1024;
const SINK_DOMAIN = 'remote.test';

export interface Options {
  messages: number;
  rounds: number;
  warmup: number;
  /** The first gateway run's warm-up lasts at least this long (--jit-warmup S): V8 still optimises during the first ~30 s of load. */
  jitWarmupSeconds?: number;
  logLevel: string;
  cpuProfDir: string | undefined;
  env: Record<string, string>;
  gatewayOnly: boolean;
  /** Cells to run ("10r", "50n", ...); all four by default. */
  cells: readonly string[] | undefined;
  /** Also run the DIME path (bench/dime-path.ts) after the plain cells (default true; --no-dime). */
  dime?: boolean;
  /** Messages per DIME path cell (--dime-messages; the DIME path is several times slower). */
  dimeMessages?: number;
  /** A prepared gateway token (e.g. with the journal's keys; its creator cleans it up); default a new createGatewayToken(). */
  token?: GatewayToken;
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const quick = argv.includes('--quick');
  const int = (name: string, fallback: number): number => {
    const v = value(name);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} expects a positive integer`);
    return n;
  };
  const messages = int('--messages', quick ? 300 : 2000);
  // extra gateway settings: --env KEY=VALUE (repeatable), to try tunings without editing code
  const env: Record<string, string> = {};
  argv.forEach((a, i) => {
    if (a !== '--env') return;
    const kv = argv[i + 1] ?? '';
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new RangeError('--env expects KEY=VALUE');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  });
  return {
    messages,
    rounds: int('--rounds', quick ? 1 : 2),
    warmup: int('--warmup', Math.min(quick ? 100 : 300, messages)),
    jitWarmupSeconds: jitWarmupArg(argv) ?? (quick ? 5 : 25),
    logLevel: value('--log-level') ?? 'info',
    cpuProfDir: value('--cpu-prof'),
    env,
    gatewayOnly: argv.includes('--gateway-only'),
    cells: value('--cells')?.split(','),
    dime: !argv.includes('--no-dime'),
    dimeMessages: int('--dime-messages', quick ? 200 : 500),
  };
}


export interface Cell {
  concurrency: number;
  reuseConnections: boolean;
}

export interface GatewayRunResult {
  msgPerSec: number;
  acceptP50Ms: number;
  acceptP99Ms: number;
  acceptMeanMs: number;
  acceptMaxMs: number;
  endToEndMsgPerSec: number;
  gatewayCpuMsPerMsg: number;
  /** Of gatewayCpuMsPerMsg, the main thread's (the event loop); the rest is V8's GC and compiler threads and libuv's pool. */
  gatewayMainThreadMsPerMsg: number;
  /** The gateway's main thread CPU over the run's wall time (100 = never idle and never waiting for a CPU). */
  gatewayMainThreadBusyPercent: number;
  /** Of the run's wall time, how long the main thread was runnable but waiting for a CPU (the machine, not the loop, held it). */
  gatewayMainThreadRunQueuePercent: number;
  postgresCpuMsPerMsg: number;
  /** WAL writer, checkpointer, other databases: shared with other jobs, indicative only. */
  postgresSharedCpuMsPerMsg: number;
  redisCpuMsPerMsg: number;
  clientCpuMsPerMsg: number;
  /** Committed + rolled-back transactions of the gateway's database per message (~ statements: the hot path autocommits). */
  pgXactsPerMsg: number;
  /** Commands the gateway's private Redis processed per message. */
  redisCommandsPerMsg: number;
  otherCpuPercent: number;
  sent: number;
  errors: number;
  firstError?: string;
  /** The gateway's own histograms over this run: seconds. */
  stages: Record<string, { count: number; meanMs: number; p50Ms: number; p99Ms: number }>;
}

export class GatewayBench {
  private constructor(
    readonly gateway: GatewayProcess,
    readonly sink: SmtpSink,
    readonly db: TestDatabase,
    private readonly token: GatewayToken,
    private readonly redis: PrivateRedis,
  ) {}

  static async start(options: Options): Promise<GatewayBench> {
    const token = options.token ?? (await createGatewayToken());
    const db = await createTestDatabase('dime_bench');
    const redis = await startPrivateRedis();
    const sink = await startSmtpSink({ hostname: 'sink.test' });
    const env: Record<string, string> = {
      STATIC_ROUTES: `${SINK_DOMAIN}=127.0.0.1:${sink.port}`,
      // the sink offers no STARTTLS; Postfix's side relays in plaintext too (smtp_tls_security_level=none)
      DEFAULT_TLS_POLICY: 'opportunistic',
      LOG_LEVEL: options.logLevel,
      RECOVERY_INTERVAL: '1h',
      MAX_CONNECTIONS: '1000',
      // the product's default (the test harness starts gateways with a smaller 2xx pool)
      DELIVERED_POOL_SIZE: '10',
      // the same connections per destination as the Postfix baseline (smtp_destination_concurrency_limit)
      DESTINATION_CONCURRENCY: String(POSTFIX_THROUGHPUT_TUNING['smtp_destination_concurrency_limit']),
      ...options.env,
    };
    if (options.cpuProfDir) {
      // node refuses --cpu-prof in NODE_OPTIONS; a preload runs the profiler instead
      env['NODE_OPTIONS'] = `--require ${join(__dirname, 'cpu-profile.preload.js')}`;
      env['CPU_PROFILE_DIR'] = resolve(options.cpuProfDir);
    }
    try {
      const gateway = await startGatewayProcess({ token, db: db.config, redis: { port: redis.port }, env });
      if (!gateway.ready) throw new Error(`gateway did not start:\n${gateway.output().slice(-4000)}`);
      return new GatewayBench(gateway, sink, db, token, redis);
    } catch (error) {
      await Promise.allSettled([sink.stop(), redis.destroy(), db.drop()]);
      token.cleanup();
      throw error;
    }
  }

  private async scrape(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.gateway.ports.metrics}/metrics`)).text();
  }

  /** Waits until the gateway's CPU stops rising (the queue's tail: bookkeeping after the sink's 250). */
  private async settle(): Promise<void> {
    let last = processCpuSeconds(this.gateway.pid);
    for (let quiet = 0, i = 0; quiet < 2 && i < 50; i++) {
      await sleep(200);
      const now = processCpuSeconds(this.gateway.pid);
      quiet = now - last <= 0.01 ? quiet + 1 : 0;
      last = now;
    }
  }

  /** `minWarmupMs`: the warm-up load repeats until this long has passed (the first run: JIT, pools). */
  async run(cell: Cell, messages: number, warmup: number, message: Buffer, minWarmupMs = 0): Promise<GatewayRunResult> {
    const load = { port: this.gateway.ports.submission, concurrency: cell.concurrency, message, reuseConnections: cell.reuseConnections, to: (i: number) => `rcpt${i % 100}@${SINK_DOMAIN}` };
    await warmUpLoad(load, this.sink, warmup, { minMs: minWarmupMs });
    if (warmup > 0) await this.settle();
    const before = this.sink.count();
    const metricsBefore = await this.scrape();
    const xactsBefore = await this.pgXacts();
    const redisBefore = this.redisCommands();
    const sampler = new ServiceCpuSampler(this.db.name, { redis: this.redis.pid });
    sampler.start();
    const machineBefore = machineBusyCpuSeconds();
    const sinkBefore = processCpuSeconds(this.sink.pid);
    const gwBefore = processCpuSeconds(this.gateway.pid);
    const mainThread = mainThreadMeter(this.gateway.pid);
    const clientBefore = process.cpuUsage();
    const run = await runSmtpLoad({ ...load, messages });
    await this.sink.waitForCount(before + run.sent, 300_000);
    const deliveredNs = process.hrtime.bigint();
    const client = process.cpuUsage(clientBefore);
    await this.settle();
    const gwCpu = processCpuSeconds(this.gateway.pid) - gwBefore;
    const mainUsed = mainThread();
    const measuredS = Number(process.hrtime.bigint() - run.startNs) / 1e9;
    const services = sampler.stop();
    const sinkCpu = processCpuSeconds(this.sink.pid) - sinkBefore;
    const machineCpu = machineBusyCpuSeconds() - machineBefore;
    const metricsAfter = await this.scrape();
    // PostgreSQL publishes a backend's counters up to ~1 s after its transactions
    await sleep(1500);
    const xacts = (await this.pgXacts()) - xactsBefore;
    const redisCommands = this.redisCommands() - redisBefore - 1;
    if (process.env['BENCH_REDIS_STATS']) process.stderr.write(execFileSync('redis-cli', ['-p', String(this.redis.port), 'INFO', 'commandstats'], { encoding: 'utf8' }));

    const clientCpu = (client.user + client.system) / 1e6;
    const pgCpu = services[`postgres:${this.db.name}`] ?? 0;
    const pgShared = services['postgres:other'] ?? 0;
    const redisCpu = services['pid:redis'] ?? 0;
    const elapsed = Number(process.hrtime.bigint() - run.startNs) / 1e9;
    const otherCpu = Math.max(0, machineCpu - gwCpu - pgCpu - pgShared - redisCpu - sinkCpu - clientCpu);
    const endToEndSeconds = Number(deliveredNs - run.startNs) / 1e9;
    const n = Math.max(1, run.sent);
    const perMsg = (s: number) => (s * 1000) / n;
    return {
      msgPerSec: run.msgPerSec,
      acceptP50Ms: percentile(run.acceptMs, 50),
      acceptP99Ms: percentile(run.acceptMs, 99),
      acceptMeanMs: run.acceptMs.reduce((s, x) => s + x, 0) / Math.max(1, run.acceptMs.length),
      acceptMaxMs: run.acceptMs[run.acceptMs.length - 1] ?? Number.NaN,
      endToEndMsgPerSec: run.sent / endToEndSeconds,
      gatewayCpuMsPerMsg: perMsg(gwCpu),
      gatewayMainThreadMsPerMsg: perMsg(mainUsed.cpuSeconds),
      gatewayMainThreadBusyPercent: (100 * mainUsed.cpuSeconds) / measuredS,
      gatewayMainThreadRunQueuePercent: (100 * mainUsed.runQueueSeconds) / measuredS,
      postgresCpuMsPerMsg: perMsg(pgCpu),
      postgresSharedCpuMsPerMsg: perMsg(pgShared),
      redisCpuMsPerMsg: perMsg(redisCpu),
      clientCpuMsPerMsg: perMsg(clientCpu),
      pgXactsPerMsg: xacts / n,
      redisCommandsPerMsg: redisCommands / n,
      otherCpuPercent: (100 * otherCpu) / (elapsed * cpus().length),
      sent: run.sent,
      errors: run.errors,
      ...(run.firstError !== undefined ? { firstError: run.firstError } : {}),
      stages: gatewayStagesOf(metricsBefore, metricsAfter),
    };
  }

  private async pgXacts(): Promise<number> {
    const client = new Client({ host: this.db.config.host, port: this.db.config.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      const r = await client.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1', [this.db.name]);
      return Number(r.rows[0]?.n ?? 0);
    } finally {
      await client.end();
    }
  }

  private redisCommands(): number {
    const info = execFileSync('redis-cli', ['-p', String(this.redis.port), 'INFO', 'stats'], { encoding: 'utf8' });
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? Number.NaN);
  }

  async stop(): Promise<void> {
    const exit = await this.gateway.stop();
    if (exit.code !== 0) console.error(`gateway exit ${JSON.stringify(exit)}:\n${this.gateway.output().slice(-2000)}`);
    removeSpoolDir(this.gateway.spoolDir);
    await this.sink.stop();
    await this.redis.destroy();
    await this.db.drop();
    this.token.cleanup();
  }
}

/** The gateway's latency histograms over one run, keyed by a short name. */
const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
/** Relative spread of the rounds: (max - min) / mean, percent. */
const spread = (xs: readonly number[]) => (xs.length < 2 ? 0 : (100 * (Math.max(...xs) - Math.min(...xs))) / mean(xs));

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const message = makeTestMessage(MESSAGE_SIZE, 'sender@origin.test', `rcpt@${SINK_DOMAIN}`);
  const cells: Cell[] = [];
  for (const reuseConnections of [true, false]) for (const concurrency of [10, 50]) cells.push({ concurrency, reuseConnections });
  if (options.cells) {
    const wanted = new Set(options.cells);
    cells.splice(0, cells.length, ...cells.filter((c) => wanted.has(`${c.concurrency}${c.reuseConnections ? 'r' : 'n'}`)));
    if (cells.length === 0) throw new RangeError('--cells selects no cell (use e.g. 10r,50n)');
  }

  const bench = await GatewayBench.start(options);
  const gw = new Map<Cell, GatewayRunResult[]>(cells.map((c) => [c, []]));
  const pf = new Map<Cell, PostfixRelayBaselineResult[]>(cells.map((c) => [c, []]));
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const cell of cells) {
        // alternate which system goes first, so drift in the machine's load hits both alike
        const order = round % 2 === 0 ? (['gateway', 'postfix'] as const) : (['postfix', 'gateway'] as const);
        for (const system of order) {
          if (system === 'postfix' && options.gatewayOnly) continue;
          const label = `round ${round + 1}/${options.rounds}, ${cell.concurrency} senders, ${cell.reuseConnections ? 'reused' : 'one per msg'}: ${system}`;
          process.stderr.write(`${label} ...`);
          if (system === 'gateway') {
            // the first gateway run also warms the long-running process up (JIT, pools): a steady state, as in production
            const r = await bench.run(cell, options.messages, options.warmup, message, [...gw.values()].every((rs) => rs.length === 0) ? (options.jitWarmupSeconds ?? 0) * 1000 : 0);
            gw.get(cell)!.push(r);
            process.stderr.write(` ${r.endToEndMsgPerSec.toFixed(0)} msg/s end to end, p99 ${r.acceptP99Ms.toFixed(1)} ms, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}\n`);
          } else {
            const r = await runPostfixRelayBaseline({ concurrency: cell.concurrency, messages: options.messages, messageSize: MESSAGE_SIZE, reuseConnections: cell.reuseConnections, warmup: options.warmup });
            pf.get(cell)!.push(r);
            process.stderr.write(` ${r.endToEndMsgPerSec.toFixed(0)} msg/s end to end, p99 ${r.acceptP99Ms.toFixed(1)} ms, ${r.errors} errors\n`);
          }
        }
      }
    }
  } finally {
    await bench.stop();
  }

  const rows = cells.map((cell) => {
    const g = gw.get(cell)!;
    const p = pf.get(cell)!;
    const m = (rs: readonly object[], k: string) => mean(rs.map((r) => (r as Record<string, number>)[k]!));
    return {
      concurrency: cell.concurrency,
      reuseConnections: cell.reuseConnections,
      gateway: {
        endToEndMsgPerSec: m(g, 'endToEndMsgPerSec'),
        endToEndSpreadPercent: spread(g.map((r) => r.endToEndMsgPerSec)),
        msgPerSec: m(g, 'msgPerSec'),
        acceptP50Ms: m(g, 'acceptP50Ms'),
        acceptP99Ms: m(g, 'acceptP99Ms'),
        acceptP99SpreadPercent: spread(g.map((r) => r.acceptP99Ms)),
        gatewayCpuMsPerMsg: m(g, 'gatewayCpuMsPerMsg'),
        gatewayMainThreadMsPerMsg: m(g, 'gatewayMainThreadMsPerMsg'),
        gatewayMainThreadBusyPercent: m(g, 'gatewayMainThreadBusyPercent'),
        gatewayMainThreadRunQueuePercent: m(g, 'gatewayMainThreadRunQueuePercent'),
        postgresCpuMsPerMsg: m(g, 'postgresCpuMsPerMsg'),
        postgresSharedCpuMsPerMsg: m(g, 'postgresSharedCpuMsPerMsg'),
        redisCpuMsPerMsg: m(g, 'redisCpuMsPerMsg'),
        pgXactsPerMsg: m(g, 'pgXactsPerMsg'),
        redisCommandsPerMsg: m(g, 'redisCommandsPerMsg'),
        otherCpuPercent: m(g, 'otherCpuPercent'),
        errors: g.reduce((s, r) => s + r.errors, 0),
        runs: g,
      },
      postfix: {
        endToEndMsgPerSec: m(p, 'endToEndMsgPerSec'),
        endToEndSpreadPercent: spread(p.map((r) => r.endToEndMsgPerSec)),
        msgPerSec: m(p, 'msgPerSec'),
        acceptP50Ms: m(p, 'acceptP50Ms'),
        acceptP99Ms: m(p, 'acceptP99Ms'),
        acceptP99SpreadPercent: spread(p.map((r) => r.acceptP99Ms)),
        postfixCpuMsPerMsg: m(p, 'postfixCpuMsPerMsg'),
        otherCpuPercent: m(p, 'otherCpuPercent'),
        errors: p.reduce((s, r) => s + r.errors, 0),
        runs: p,
      },
    };
  });

  const title = `Gateway vs Postfix (same run), ${MESSAGE_SIZE / 1024} KB messages, ${options.messages} per run, mean of ${options.rounds} round(s) (spread = (max-min)/mean); ${options.warmup} warm-up msgs per run, the gateway's first run warmed up >= ${options.jitWarmupSeconds ?? 0} s`;
  printTable(
    title,
    ['senders', 'connections', 'system', 'e2e msg/s', 'e2e spread %', 'accepted msg/s', 'p50 ms', 'p99 ms', 'p99 spread %', 'cpu ms/msg', 'pg ms/msg', 'redis ms/msg', 'pg xacts/msg', 'redis cmds/msg', 'other cpu %', 'errors'],
    rows.flatMap((r) => [
      [String(r.concurrency), r.reuseConnections ? 'reused' : 'one per msg', 'gateway', r.gateway.endToEndMsgPerSec, r.gateway.endToEndSpreadPercent, r.gateway.msgPerSec, r.gateway.acceptP50Ms, r.gateway.acceptP99Ms, r.gateway.acceptP99SpreadPercent, r.gateway.gatewayCpuMsPerMsg, r.gateway.postgresCpuMsPerMsg, r.gateway.redisCpuMsPerMsg, r.gateway.pgXactsPerMsg, r.gateway.redisCommandsPerMsg, r.gateway.otherCpuPercent, String(r.gateway.errors)],
      [String(r.concurrency), r.reuseConnections ? 'reused' : 'one per msg', 'postfix', r.postfix.endToEndMsgPerSec, r.postfix.endToEndSpreadPercent, r.postfix.msgPerSec, r.postfix.acceptP50Ms, r.postfix.acceptP99Ms, r.postfix.acceptP99SpreadPercent, r.postfix.postfixCpuMsPerMsg, '-', '-', '-', '-', r.postfix.otherCpuPercent, String(r.postfix.errors)],
    ]),
  );
  printTable(
    'Gateway / Postfix (goal: e2e ratio >= 1, p99 ratio <= 2)',
    ['senders', 'connections', 'e2e ratio', 'p99 ratio', 'cpu ratio (gateway+pg+redis / postfix)'],
    rows.map((r) => [
      String(r.concurrency),
      r.reuseConnections ? 'reused' : 'one per msg',
      r.gateway.endToEndMsgPerSec / r.postfix.endToEndMsgPerSec,
      r.gateway.acceptP99Ms / r.postfix.acceptP99Ms,
      (r.gateway.gatewayCpuMsPerMsg + r.gateway.postgresCpuMsPerMsg + r.gateway.redisCpuMsPerMsg) / r.postfix.postfixCpuMsPerMsg,
    ]),
  );
  printTable(
    "Gateway CPU ms per message by thread: the main thread (the event loop) and the others (V8's GC and compiler threads, libuv's pool: fsyncs); busy % = the main thread's CPU over the run's wall time; waiting % = runnable but waiting for a CPU; the rest the loop was idle",
    ['senders', 'connections', 'main thread', 'other threads', 'main thread busy %', 'waiting for a CPU %'],
    rows.map((r) => [
      String(r.concurrency),
      r.reuseConnections ? 'reused' : 'one per msg',
      r.gateway.gatewayMainThreadMsPerMsg,
      r.gateway.gatewayCpuMsPerMsg - r.gateway.gatewayMainThreadMsPerMsg,
      r.gateway.gatewayMainThreadBusyPercent,
      r.gateway.gatewayMainThreadRunQueuePercent,
    ]),
  );
  // where the gateway's time goes: its own histograms, last round of each cell
  const stageNames = [...new Set(rows.flatMap((r) => r.gateway.runs.flatMap((x) => Object.keys(x.stages))))];
  printTable(
    'Gateway histograms (last round of each cell): mean / p99 ms (p99 interpolated inside buckets)',
    ['stage', ...rows.map((r) => `${r.concurrency} ${r.reuseConnections ? 'reused' : 'one/msg'}`)],
    stageNames.map((name) => [
      name,
      ...rows.map((r) => {
        const s = r.gateway.runs[r.gateway.runs.length - 1]?.stages[name];
        return s ? `${s.meanMs.toFixed(2)} / ${s.p99Ms.toFixed(1)}` : '-';
      }),
    ]),
  );
  console.log(`\nPostgreSQL shared processes (WAL writer, checkpointer, other jobs' databases) during gateway runs: ${rows.map((r) => r.gateway.postgresSharedCpuMsPerMsg.toFixed(2)).join(' / ')} ms/msg (indicative only)`);
  console.log(`Postfix tuning: ${Object.entries(POSTFIX_THROUGHPUT_TUNING).map(([k, v]) => `${k}=${v}`).join(', ')}; gateway log level ${options.logLevel}, DESTINATION_CONCURRENCY=${POSTFIX_THROUGHPUT_TUNING['smtp_destination_concurrency_limit']}${Object.keys(options.env).length ? `, env ${JSON.stringify(options.env)}` : ''}`);
  console.log(`\nwrote ${writeResults('gateway-bench', { options: { ...options, messageSize: MESSAGE_SIZE }, postfixTuning: POSTFIX_THROUGHPUT_TUNING, results: rows })}`);

  if (options.dime) {
    console.log('\n== the DIME path: org A legacy side -> gateway A -> DMTP -> gateway B -> sink (bench/dime-path.ts)');
    const report = await runDimePath({
      messages: options.dimeMessages ?? 500,
      rounds: options.rounds,
      postfix: !options.gatewayOnly,
      logLevel: options.logLevel,
      ...(options.jitWarmupSeconds !== undefined ? { jitWarmupSeconds: options.jitWarmupSeconds } : {}),
      cells,
    });
    printDimePathReport(report);
    console.log(`\nwrote ${writeDimePathResults(report)}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
