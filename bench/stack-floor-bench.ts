// What the design's stack costs by itself, next to Postfix and the product, in the same run: the
// issue's goal is the gateway at Postfix's end-to-end rate on one 2-core machine shared with the
// load client and the sink, so CPU per message decides it. bench/stack-floor-relay.ts is the least
// relay the design allows, at four cumulative levels (relay; + fsynced encrypted spool; + a
// PostgreSQL row; + a BullMQ job), built from the gateway's own SMTP server, SMTP client and spool,
// and a fifth: the `queue` level with the sealed body in the row's statement instead of a file.
// For each cell this runs Postfix (relaying to smtp-sink), each floor level and the product
// gateway with the same load (10 KB messages, the gateway bench's cells), and reports rates and
// CPU per message: of the relay process, of its PostgreSQL backends and of its Redis.
//   npm run bench:floor -- [--messages N] [--rounds R] [--cells 10r,50n] [--jit-warmup S]
//   (writes bench/results/stack-floor.json; needs PostgreSQL, redis-server, SoftHSM, Postfix)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../test/database';
import { freePort } from '../test/postfix/free-port';
import { processCpuSeconds } from '../test/postfix/process-group';
import { registerPeer } from '../test/postfix/process-registry';
import { makeTestMessage, percentile, runSmtpLoad, warmUpLoad } from '../test/postfix/smtp-load';
import { startSmtpSink, type SmtpSink } from '../test/postfix/smtp-sink';
import { startPrivateRedis, type PrivateRedis } from '../test/services/private-redis';
import { jitWarmupArg, printTable, writeResults } from './bench-util';
import { GatewayBench, type Cell } from './gateway-bench';
import { runPostfixRelayBaseline } from './postfix-baseline';
import { ServiceCpuSampler } from './service-cpu';
import { FLOOR_LEVELS, type FloorLevel } from './stack-floor-relay';

const MESSAGE_SIZE = 10 * 1024;
const SINK_DOMAIN = 'remote.test';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Row {
  readonly system: string;
  readonly msgPerSec: number;
  readonly endToEndMsgPerSec: number;
  readonly acceptP99Ms: number;
  /** The relay's (or Postfix's, or the gateway's) own processes, ms per message. */
  readonly cpuMsPerMsg: number;
  readonly pgMsPerMsg: number;
  readonly redisMsPerMsg: number;
  readonly errors: number;
}

/** One floor relay child per level, all against one sink, database and Redis. */
class FloorRelay {
  private constructor(
    readonly level: FloorLevel,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly spoolDir: string,
    /** The tail of the relay's stderr (its failed deliveries), for the error when a run falls short. */
    readonly stderrTail: () => string,
  ) {}

  static async start(level: FloorLevel, sink: SmtpSink, db: TestDatabase, redis: PrivateRedis): Promise<FloorRelay> {
    const port = await freePort();
    const spoolDir = mkdtempSync(join(tmpdir(), 'floor-spool-'));
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(__dirname, 'stack-floor-relay.ts')], {
      cwd: join(__dirname, '..'),
      env: {
        ...process.env,
        FLOOR_LEVEL: level,
        FLOOR_PORT: String(port),
        FLOOR_SINK_PORT: String(sink.port),
        FLOOR_SPOOL_DIR: spoolDir,
        FLOOR_REDIS_PORT: String(redis.port),
        PGHOST: db.config.host,
        PGPORT: String(db.config.port),
        PGUSER: db.config.user,
        PGDATABASE: db.config.database,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    registerPeer({ pid: child.pid!, dir: spoolDir });
    let output = '';
    child.stderr!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`floor relay ${level} did not start:\n${output}`)), 60_000);
      child.stdout!.on('data', (c: Buffer) => {
        if (c.toString().includes('floor ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`floor relay ${level} exited (${code}):\n${output}`));
      });
    });
    return new FloorRelay(level, port, child, spoolDir, () => output);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    this.child.kill('SIGKILL');
    rmSync(this.spoolDir, { recursive: true, force: true });
  }
}

async function runFloor(relay: FloorRelay, cell: Cell, messages: number, warmup: number, minWarmupMs: number, sink: SmtpSink, db: TestDatabase, redis: PrivateRedis): Promise<Row> {
  const load = { port: relay.port, concurrency: cell.concurrency, message: makeTestMessage(MESSAGE_SIZE, 'sender@origin.test', `rcpt@${SINK_DOMAIN}`), reuseConnections: cell.reuseConnections, to: (i: number) => `rcpt${i % 100}@${SINK_DOMAIN}` };
  await warmUpLoad(load, sink, warmup, { minMs: minWarmupMs });
  await sleep(500);
  const before = sink.count();
  const sampler = new ServiceCpuSampler(db.name, { redis: redis.pid });
  sampler.start();
  const cpuBefore = processCpuSeconds(relay.pid);
  const run = await runSmtpLoad({ ...load, messages });
  await sink.waitForCount(before + run.sent, 300_000);
  const deliveredNs = process.hrtime.bigint();
  await sleep(500);
  const cpu = processCpuSeconds(relay.pid) - cpuBefore;
  const services = sampler.stop();
  const n = Math.max(1, run.sent);
  return {
    system: `floor: ${relay.level}`,
    msgPerSec: run.msgPerSec,
    endToEndMsgPerSec: run.sent / (Number(deliveredNs - run.startNs) / 1e9),
    acceptP99Ms: percentile(run.acceptMs, 99),
    cpuMsPerMsg: (cpu * 1000) / n,
    pgMsPerMsg: ((services[`postgres:${db.name}`] ?? 0) * 1000) / n,
    redisMsPerMsg: ((services['pid:redis'] ?? 0) * 1000) / n,
    errors: run.errors,
  };
}

function int(argv: readonly string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  if (at === -1) return fallback;
  const v = Number(argv[at + 1]);
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} expects a non-negative integer`);
  return v;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const messages = int(argv, '--messages', 2000);
  const rounds = int(argv, '--rounds', 1);
  const warmup = Math.min(300, messages);
  const jitWarmupMs = (jitWarmupArg(argv) ?? 25) * 1000;
  const cellsArg = argv.includes('--cells') ? argv[argv.indexOf('--cells') + 1]!.split(',') : ['10r', '50r', '10n', '50n'];
  const cells: Cell[] = cellsArg.map((c) => {
    const m = /^(\d+)([rn])$/.exec(c);
    if (!m) throw new RangeError(`--cells: "${c}" is not like 10r or 50n`);
    return { concurrency: Number(m[1]), reuseConnections: m[2] === 'r' };
  });

  const sink = await startSmtpSink({ hostname: 'sink.test' });
  const db = await createTestDatabase('dime_floor');
  const redis = await startPrivateRedis();
  const relays: FloorRelay[] = [];
  let gateway: GatewayBench | undefined;
  const results: { cell: Cell; round: number; rows: Row[] }[] = [];
  try {
    for (const level of FLOOR_LEVELS) relays.push(await FloorRelay.start(level, sink, db, redis));
    gateway = await GatewayBench.start({ messages, rounds, warmup, logLevel: 'info', cpuProfDir: undefined, env: {}, gatewayOnly: true, cells: undefined });
    const warmed = new Set<string>();
    for (let round = 1; round <= rounds; round++) {
      for (const cell of cells) {
        const label = `${cell.concurrency} senders, ${cell.reuseConnections ? 'reused' : 'one per msg'}`;
        const rows: Row[] = [];
        const pf = await runPostfixRelayBaseline({ concurrency: cell.concurrency, messages, messageSize: MESSAGE_SIZE, reuseConnections: cell.reuseConnections, warmup });
        rows.push({ system: 'postfix', msgPerSec: pf.msgPerSec, endToEndMsgPerSec: pf.endToEndMsgPerSec, acceptP99Ms: pf.acceptP99Ms, cpuMsPerMsg: pf.postfixCpuMsPerMsg, pgMsPerMsg: 0, redisMsPerMsg: 0, errors: pf.errors });
        console.log(`round ${round}/${rounds}, ${label}: postfix ${pf.endToEndMsgPerSec.toFixed(0)} msg/s`);
        for (const relay of relays) {
          const first = !warmed.has(relay.level);
          warmed.add(relay.level);
          const row = await runFloor(relay, cell, messages, warmup, first ? jitWarmupMs : 0, sink, db, redis).catch((err: Error) => {
            throw new Error(`floor: ${relay.level}: ${err.message}\n${relay.stderrTail()}`);
          });
          rows.push(row);
          console.log(`round ${round}/${rounds}, ${label}: ${row.system} ${row.endToEndMsgPerSec.toFixed(0)} msg/s`);
        }
        const firstGw = !warmed.has('gateway');
        warmed.add('gateway');
        const gw = await gateway.run(cell, messages, warmup, makeTestMessage(MESSAGE_SIZE, 'sender@origin.test', `rcpt@${SINK_DOMAIN}`), firstGw ? jitWarmupMs : 0);
        rows.push({ system: 'gateway (product)', msgPerSec: gw.msgPerSec, endToEndMsgPerSec: gw.endToEndMsgPerSec, acceptP99Ms: gw.acceptP99Ms, cpuMsPerMsg: gw.gatewayCpuMsPerMsg, pgMsPerMsg: gw.postgresCpuMsPerMsg, redisMsPerMsg: gw.redisCpuMsPerMsg, errors: gw.errors });
        console.log(`round ${round}/${rounds}, ${label}: gateway ${gw.endToEndMsgPerSec.toFixed(0)} msg/s`);
        results.push({ cell, round, rows });
      }
    }
  } finally {
    await Promise.allSettled(relays.map((r) => r.stop()));
    await gateway?.stop();
    await Promise.allSettled([sink.stop(), redis.destroy(), db.drop()]);
  }

  for (const { cell, round, rows } of results) {
    const postfix = rows[0]!;
    printTable(
      `\n${cell.concurrency} senders, ${cell.reuseConnections ? 'reused connections' : 'one message per connection'}, round ${round}: ${messages} messages of 10 KB; CPU ms per message (own = the relay's process, or all of Postfix's)`,
      ['system', 'e2e msg/s', 'vs postfix', 'accept p99 ms', 'own cpu', 'pg cpu', 'redis cpu', 'total cpu', 'total / postfix', 'errors'],
      rows.map((r) => {
        const total = r.cpuMsPerMsg + r.pgMsPerMsg + r.redisMsPerMsg;
        return [r.system, r.endToEndMsgPerSec, r.endToEndMsgPerSec / postfix.endToEndMsgPerSec, r.acceptP99Ms, r.cpuMsPerMsg, r.pgMsPerMsg, r.redisMsPerMsg, total, total / postfix.cpuMsPerMsg, r.errors];
      }),
    );
  }
  console.log(`\nwrote ${writeResults('stack-floor', { messages, rounds, results })}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
