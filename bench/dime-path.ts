// The DIME path under load (issue #5, "what must be shown", last bullet), next to its two baselines
// measured in the same run:
//   DIME path: smtp-load (10 KB messages; 10 and 50 senders; connections reused or one per message)
//     -> gateway A's submission port (as org A's legacy server would) -> sealed per recipient, origin-
//     signed by A's HSM -> DMTP -> gateway B (verified at the door, again in the pipeline, opened as
//     destination and recipient) -> B's "legacy" = Postfix's smtp-sink, counting deliveries.
//     Each organisation: appliance/hsm-init.sh token, its own PostgreSQL database, a gateway process;
//     one dnsmasq publishes both `_dx` records; one private Redis (two queue prefixes) so its CPU is ours.
//   Postfix baseline: plain Postfix relaying the same load to the same kind of sink (postfix-baseline.ts).
//   Crypto-only ceiling: libs/dime seal + origin-sign and open as destination + recipient + verify for
//     the same 10 KB message with software keys, plus the HSM calls the gateways made per message (counted
//     in the gateways by dime-path-stats.preload.js) each timed against the real SoftHSM token.
// Where the time goes: CPU per message of gateway A, gateway B, their PostgreSQL backends, Redis, the
// sink; HSM calls per message (count and wall ms, per gateway); signet lookups (calls vs cold fetches);
// the gateways' DIME step wall times and latency histograms.
// Called by bench/gateway-dime-bench.ts (standalone) and meant to be called from gateway-bench.ts:
//   const report = await runDimePath({ messages: 500 }); printDimePathReport(report);
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as secp from 'secp256k1';
import { InMemoryKeyAgreement, InMemorySigner, openMessage, sealMessage, signOrigin, splitRfc5322, type SealInput } from '@lib/dime';
import { DimeUserRepository, openDatabase } from '@lib/db';
import { DimeUserService, readOrgSignetFile } from '@lib/dime-users';
import { HsmKeyAgreement, HsmKeystore, HsmSigner, keyLabel } from '@lib/hsm';
import { createTestDatabase, type TestDatabase } from '../test/database';
import { startDns, type DnsServer } from '../test/dns/dns-server';
import { createDimeOrg, dimeGatewayEnv, type DimeOrg } from '../test/gateway/dime-org';
import { removeSpoolDir, startGatewayProcess, type GatewayProcess } from '../test/gateway/gateway-process';
import { useTokenInThisProcess } from '../test/hsm/softhsm-token';
import { freePort } from '../test/postfix/free-port';
import { machineBusyCpuSeconds, mainThreadMeter, processCpuSeconds } from '../test/postfix/process-group';
import { registerPeer } from '../test/postfix/process-registry';
import { makeTestMessage, percentile, runSmtpLoad, warmUpLoad } from '../test/postfix/smtp-load';
import { startSmtpSink, type SmtpSink } from '../test/postfix/smtp-sink';
import { startPrivateRedis, type PrivateRedis } from '../test/services/private-redis';
import { printTable, timeLoop, writeResults } from './bench-util';
import { runPostfixRelayBaseline, type PostfixRelayBaselineResult } from './postfix-baseline';
import { gatewayStagesOf, type StageStats } from './prometheus-text';
import { ServiceCpuSampler } from './service-cpu';

const MESSAGE_SIZE = 10 * 1024;
const DOMAIN_A = 'a.test';
const DOMAIN_B = 'b.test';
const SENDER = `sender@${DOMAIN_A}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface DimePathCell {
  readonly concurrency: number;
  readonly reuseConnections: boolean;
}

export const DEFAULT_DIME_PATH_CELLS: readonly DimePathCell[] = [
  { concurrency: 10, reuseConnections: true },
  { concurrency: 50, reuseConnections: true },
  { concurrency: 10, reuseConnections: false },
  { concurrency: 50, reuseConnections: false },
];

export interface DimePathOptions {
  /** Messages per measured run (default 500). */
  readonly messages?: number;
  /** Unmeasured messages before each run (default min(100, messages)). */
  readonly warmup?: number;
  /** The first DIME run's warm-up repeats until this many seconds passed (default 25): V8 still optimises the gateways during their first ~30 s of load. */
  readonly jitWarmupSeconds?: number;
  /** Rounds over the cells, alternating which system goes first (default 1). */
  readonly rounds?: number;
  readonly cells?: readonly DimePathCell[];
  /** Recipients provisioned at B (operator CLI `users add`); messages are spread over them (default 20). */
  readonly recipients?: number;
  /** Run the Postfix relay baseline in the same run (default true). */
  readonly postfix?: boolean;
  /** Gateway LOG_LEVEL (default info: the harness waits for the "gateway ready" line). */
  readonly logLevel?: string;
  /** Extra settings for gateway A / B. */
  readonly envA?: Readonly<Record<string, string>>;
  readonly envB?: Readonly<Record<string, string>>;
  /** Write V8 CPU profiles of both gateways here (at their exit). */
  readonly cpuProfDir?: string;
  /** Progress lines (default process.stderr). */
  readonly log?: (line: string) => void;
}

/** Per gateway, per message: calls and wall ms of each instrumented method (HsmKeystore.*, DnsDimeDirectory.*, Dime*.*). */
export type CallStats = Record<string, { calls: number; errors: number; ms: number; errorMessages?: Record<string, number> }>;

/** A gateway's main thread (the event loop) over a run: CPU per message, % of wall time busy and % runnable but waiting for a CPU. */
export interface MainThreadUse {
  readonly msPerMsg: number;
  readonly busyPercent: number;
  readonly runQueuePercent: number;
}

export interface DimeRunResult {
  sent: number;
  errors: number;
  firstError?: string;
  /** Accepted at A per second (first send -> last 250). */
  msgPerSec: number;
  acceptP50Ms: number;
  acceptP99Ms: number;
  acceptMeanMs: number;
  /** First send at A -> last message counted by B's sink. */
  endToEndMsgPerSec: number;
  cpuMsPerMsg: { gatewayA: number; gatewayB: number; postgresA: number; postgresB: number; postgresShared: number; redis: number; sink: number; client: number };
  /** Of cpuMsPerMsg.gatewayA/B, the main thread's (the event loop), how busy it was and how long it waited for a CPU (% of the run's wall time). */
  mainThread: { a: MainThreadUse; b: MainThreadUse };
  /** CPU of the rest of the machine (other jobs), percent of all cores over the run. */
  otherCpuPercent: number;
  loadAverage1m: number;
  /** Instrumented calls during the run, divided by messages sent. */
  perMessage: { a: CallStats; b: CallStats };
  /** Instrumented calls during this run's warm-up (absolute, not per message): the cold lookups. */
  warmupCalls: { a: CallStats; b: CallStats };
  /** The gateways' latency histograms over the run (ms). */
  stages: { a: Record<string, StageStats>; b: Record<string, StageStats> };
}

export interface CeilingResult {
  /** Software libs/dime, 10 KB message, µs per message (single thread). */
  sealOriginSignUs: number;
  openDestinationUs: number;
  openRecipientUs: number;
  /** Real SoftHSM token, µs per call, sequential (single thread). */
  hsmUs: { signEd25519: number; deriveEcdh: number; unwrap: number };
  /** HSM calls per message the gateways made (A + B), measured in the run (or the expected counts if no run). */
  hsmCallsPerMessage: { signEd25519: number; deriveEcdh: number; unwrap: number };
  /** Σ software + Σ (HSM calls x µs), µs per message. */
  cryptoUsPerMessage: number;
  /** 2 cores / crypto seconds per message: both cores doing nothing but this message's crypto. */
  ceilingMsgPerSec2Cores: number;
  /** 1 / crypto seconds per message (one core). */
  ceilingMsgPerSec1Core: number;
}

export interface DimePathCellReport {
  readonly cell: DimePathCell;
  readonly dime: DimeRunResult[];
  readonly postfix: PostfixRelayBaselineResult[];
}

export interface DimePathReport {
  readonly options: Required<Omit<DimePathOptions, 'cpuProfDir' | 'log' | 'envA' | 'envB'>> & { envA: Record<string, string>; envB: Record<string, string>; messageSize: number };
  readonly ceiling: CeilingResult;
  readonly cells: DimePathCellReport[];
  readonly setup: { provisionSeconds: number; gatewaysStartSeconds: number };
  /** Warning and error log lines of the gateways over the whole run, counted by message. */
  readonly gatewayWarnings: Record<string, number>;
}

/** Info-level log lines that mean a delivery attempt failed (a retry follows). */
const RETRY_LOG_LINES = new Set(['deferred', 'not sealed', 'DMTP session failed', 'bounced']);

// ---- harness ---------------------------------------------------------------------------------------


interface Org {
  readonly dime: DimeOrg;
  readonly db: TestDatabase;
  readonly dmtpPort: number;
  readonly statsFile: string;
  gateway?: GatewayProcess;
}

interface OrgHsm {
  readonly keystore: HsmKeystore;
  readonly pok: HsmSigner;
}

/** The organisation's token in this process (SoftHSM reads SOFTHSM2_CONF once: one token per process). */
async function openOrgHsm(org: DimeOrg): Promise<OrgHsm> {
  await useTokenInThisProcess(org.gatewayToken.token);
  const keystore = HsmKeystore.open(org.gatewayToken.token.config());
  try {
    return { keystore, pok: await HsmSigner.create(keystore, keyLabel('org-primary')) };
  } catch (error) {
    keystore.close();
    throw error;
  }
}

/**
 * Recipients provisioned as the operator CLI's `users add` does (DimeUserService: keys wrapped under
 * the HSM user-kek, user signet signed by the org POK) but in this process: one CLI process per user
 * takes ~25 s on a loaded 2-core machine. Not audited (a benchmark fixture).
 */
async function provisionUsers(hsm: OrgHsm, org: Org, addresses: readonly string[]): Promise<void> {
  const ds = await openDatabase(org.db.config, { applicationName: 'dime-path-bench' });
  try {
    const users = new DimeUserService(new DimeUserRepository(ds), hsm.keystore, hsm.pok, {
      orgSignet: readOrgSignetFile(org.dime.orgSignetFile),
      localDomains: [org.dime.domain],
      kekLabel: keyLabel('user-kek'),
      actor: 'operator:dime-path-bench',
    });
    for (const address of addresses) await users.provision(address);
  } finally {
    await ds.destroy();
  }
}

function readStats(file: string): CallStats {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CallStats;
  } catch {
    return {};
  }
}

function diffStats(after: CallStats, before: CallStats, divisor = 1): CallStats {
  const out: CallStats = {};
  for (const [name, s] of Object.entries(after)) {
    const b = before[name] ?? { calls: 0, errors: 0, ms: 0 };
    if (s.calls === b.calls) continue;
    out[name] = { calls: (s.calls - b.calls) / divisor, errors: (s.errors - b.errors) / divisor, ms: (s.ms - b.ms) / divisor };
    // failures by message since the gateway started (not per run): why a seal or a verify failed
    if (s.errorMessages) out[name].errorMessages = s.errorMessages;
  }
  return out;
}

class DimePathHarness {
  private constructor(
    readonly a: Org,
    readonly b: Org,
    readonly sink: SmtpSink,
    private readonly redis: PrivateRedis,
    private readonly dns: DnsServer,
    private readonly statsDir: string,
    /** Org B's token opened in this process (provisioning, then the ceiling's HSM timings). */
    readonly hsm: OrgHsm,
    readonly setup: { provisionSeconds: number; gatewaysStartSeconds: number },
  ) {}

  static async start(o: Required<Pick<DimePathOptions, 'recipients' | 'logLevel'>> & Pick<DimePathOptions, 'envA' | 'envB' | 'cpuProfDir'>, log: (l: string) => void): Promise<DimePathHarness> {
    const cleanups: (() => Promise<unknown> | void)[] = [];
    const statsDir = mkdtempSync(join(tmpdir(), 'dime-path-stats-'));
    registerPeer({ dir: statsDir });
    cleanups.push(() => rmSync(statsDir, { recursive: true, force: true }));
    try {
      log('setting up two organisations (hsm-init tokens, databases, dnsmasq, redis, sink) ...');
      const orgs: Org[] = [];
      for (const domain of [DOMAIN_A, DOMAIN_B]) {
        const dime = createDimeOrg(domain);
        cleanups.push(() => dime.cleanup());
        const db = await createTestDatabase(`dime_path_${domain[0]}`);
        cleanups.push(() => db.drop());
        orgs.push({ dime, db, dmtpPort: await freePort(), statsFile: join(statsDir, `${domain}.json`) });
      }
      const [a, b] = orgs as [Org, Org];
      const redis = await startPrivateRedis();
      cleanups.push(() => redis.destroy());
      const sink = await startSmtpSink({ hostname: 'sink.b.test' });
      cleanups.push(() => sink.stop());
      const dns = await startDns({ zones: ['test'], records: { txt: { [`_dx.${DOMAIN_A}`]: [a.dime.dxTxt], [`_dx.${DOMAIN_B}`]: [b.dime.dxTxt] } } });
      cleanups.push(() => dns.stop());

      log('starting gateway A and gateway B ...');
      const t1 = Date.now();
      const gatewayEnv = (org: Org, peer: Org, extra: Readonly<Record<string, string>> | undefined): Record<string, string> => {
        const preloads = [`--require ${join(__dirname, 'dime-path-stats.preload.js')}`];
        const env: Record<string, string> = {
          // smtp-sink as the legacy server offers no STARTTLS; Postfix's side relays in plaintext too (smtp_tls_security_level=none)
          ...dimeGatewayEnv(org.dime, { dmtpPort: org.dmtpPort, dnsServer: dns.server, routes: { [peer.dime.domain]: peer.dmtpPort }, legacy: { port: sink.port } }),
          DEFAULT_TLS_POLICY: 'opportunistic',
          LOG_LEVEL: o.logLevel,
          RECOVERY_INTERVAL: '1h',
          MAX_CONNECTIONS: '1000',
          DIME_PATH_STATS_FILE: org.statsFile,
          // a transient failure (e.g. the shared PostgreSQL out of connection slots: 451 at B's door)
          // is retried within seconds, not after the production backoff that would stall the run's
          // tail; each retry shows as more than one DimeSealer.seal per message and in the warnings
          RETRY_BASE: '1s',
          RETRY_MAX: '5s',
          ...extra,
        };
        if (o.cpuProfDir) {
          preloads.push(`--require ${join(__dirname, 'cpu-profile.preload.js')}`);
          env['CPU_PROFILE_DIR'] = resolve(o.cpuProfDir);
        }
        // an --env-a/--env-b NODE_OPTIONS (e.g. --perf-basic-prof-only-functions) is kept beside the preloads
        env['NODE_OPTIONS'] = [...preloads, extra?.['NODE_OPTIONS'] ?? ''].join(' ').trim();
        return env;
      };
      const start = (org: Org, peer: Org, extra: Readonly<Record<string, string>> | undefined) =>
        startGatewayProcess({ token: org.dime.gatewayToken, db: org.db.config, redis: { port: redis.port }, env: gatewayEnv(org, peer, extra), readyTimeoutMs: 120_000 });
      const [ga, gb] = await Promise.allSettled([start(a, b, o.envA), start(b, a, o.envB)]);
      for (const [org, g] of [
        [a, ga],
        [b, gb],
      ] as const) {
        if (g.status === 'fulfilled') {
          org.gateway = g.value;
          cleanups.push(async () => {
            await g.value.stop();
            removeSpoolDir(g.value.spoolDir);
          });
        }
      }
      for (const [org, g] of [
        [a, ga],
        [b, gb],
      ] as const) {
        if (g.status === 'rejected') throw g.reason;
        if (!org.gateway?.ready) throw new Error(`gateway ${org.dime.domain} did not start:\n${org.gateway?.output().slice(-4000)}`);
      }
      const gatewaysStartSeconds = (Date.now() - t1) / 1000;

      // the gateways migrated their databases; B's operator provisions the recipients
      log(`provisioning ${o.recipients} recipients at ${DOMAIN_B} ...`);
      const t0 = Date.now();
      const hsm = await openOrgHsm(b.dime);
      cleanups.push(() => hsm.keystore.close());
      await provisionUsers(hsm, b, Array.from({ length: o.recipients }, (_, i) => `rcpt${i}@${DOMAIN_B}`));
      const provisionSeconds = (Date.now() - t0) / 1000;
      const harness = new DimePathHarness(a, b, sink, redis, dns, statsDir, hsm, { provisionSeconds, gatewaysStartSeconds });
      harness.cleanups = cleanups;
      return harness;
    } catch (error) {
      for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
      throw error;
    }
  }

  private cleanups: (() => Promise<unknown> | void)[] = [];

  private async scrape(org: Org): Promise<string> {
    return (await fetch(`http://127.0.0.1:${org.gateway!.ports.metrics}/metrics`)).text();
  }

  /** Waits until both gateways' CPU stops rising (the queue's tail: bookkeeping after the sink's 250). */
  private async settle(): Promise<void> {
    const pids = [this.a.gateway!.pid, this.b.gateway!.pid];
    let last = pids.map(processCpuSeconds);
    for (let quiet = 0, i = 0; quiet < 2 && i < 50; i++) {
      await sleep(200);
      const now = pids.map(processCpuSeconds);
      quiet = now.every((x, k) => x - last[k]! <= 0.01) ? quiet + 1 : 0;
      last = now;
    }
  }

  private async stats(): Promise<{ a: CallStats; b: CallStats }> {
    await sleep(600); // the preload writes every 500 ms
    return { a: readStats(this.a.statsFile), b: readStats(this.b.statsFile) };
  }

  /** `minWarmupMs`: the warm-up load repeats until this long has passed (the first run: JIT, pools). */
  async run(cell: DimePathCell, messages: number, warmup: number, recipients: number, message: Buffer, minWarmupMs = 0): Promise<DimeRunResult> {
    const load = { port: this.a.gateway!.ports.submission, concurrency: cell.concurrency, message, reuseConnections: cell.reuseConnections, from: SENDER, to: (i: number) => `rcpt${i % recipients}@${DOMAIN_B}` };
    const beforeWarmup = await this.stats();
    await warmUpLoad(load, this.sink, warmup, { minMs: minWarmupMs, timeoutMs: 300_000, failOnErrors: true });
    if (warmup > 0) await this.settle();
    const beforeRun = await this.stats();
    const before = this.sink.count();
    const metricsBefore = await Promise.all([this.scrape(this.a), this.scrape(this.b)]);
    // 1 s samples: a /proc scan costs the load client's CPU on a machine with many processes; the
    // gateways' pooled backends live through the run, so a coarse interval loses nothing
    const samplerA = new ServiceCpuSampler(this.a.db.name, { redis: this.redis.pid }, 1000);
    const samplerB = new ServiceCpuSampler(this.b.db.name, {}, 1000);
    samplerA.start();
    samplerB.start();
    const machineBefore = machineBusyCpuSeconds();
    const sinkBefore = processCpuSeconds(this.sink.pid);
    const gwBefore = [processCpuSeconds(this.a.gateway!.pid), processCpuSeconds(this.b.gateway!.pid)];
    const mainThreads = [mainThreadMeter(this.a.gateway!.pid), mainThreadMeter(this.b.gateway!.pid)];
    const clientBefore = process.cpuUsage();
    const run = await runSmtpLoad({ ...load, messages });
    await this.sink.waitForCount(before + run.sent, 600_000);
    const deliveredNs = process.hrtime.bigint();
    const client = process.cpuUsage(clientBefore);
    const load1m = loadavg()[0] ?? Number.NaN;
    await this.settle();
    const gwCpu = [processCpuSeconds(this.a.gateway!.pid) - gwBefore[0]!, processCpuSeconds(this.b.gateway!.pid) - gwBefore[1]!];
    const measuredS = Number(process.hrtime.bigint() - run.startNs) / 1e9;
    const mainUsed = mainThreads.map((meter) => meter());
    const servicesA = samplerA.stop();
    const servicesB = samplerB.stop();
    const sinkCpu = processCpuSeconds(this.sink.pid) - sinkBefore;
    const machineCpu = machineBusyCpuSeconds() - machineBefore;
    const metricsAfter = await Promise.all([this.scrape(this.a), this.scrape(this.b)]);
    const afterRun = await this.stats();

    const clientCpu = (client.user + client.system) / 1e6;
    const pgA = servicesA[`postgres:${this.a.db.name}`] ?? 0;
    const pgB = servicesB[`postgres:${this.b.db.name}`] ?? 0;
    // 'postgres:other' of sampler A includes B's backends: shared = other minus B's database
    const pgShared = Math.max(0, (servicesA['postgres:other'] ?? 0) - pgB);
    const redisCpu = servicesA['pid:redis'] ?? 0;
    const elapsed = Number(process.hrtime.bigint() - run.startNs) / 1e9;
    const ours = gwCpu[0]! + gwCpu[1]! + pgA + pgB + pgShared + redisCpu + sinkCpu + clientCpu;
    const n = Math.max(1, run.sent);
    const perMsg = (s: number) => (s * 1000) / n;
    const [mainA, mainB] = mainUsed.map(
      (used): MainThreadUse => ({ msPerMsg: perMsg(used.cpuSeconds), busyPercent: (100 * used.cpuSeconds) / measuredS, runQueuePercent: (100 * used.runQueueSeconds) / measuredS }),
    );
    return {
      sent: run.sent,
      errors: run.errors,
      ...(run.firstError !== undefined ? { firstError: run.firstError } : {}),
      msgPerSec: run.msgPerSec,
      acceptP50Ms: percentile(run.acceptMs, 50),
      acceptP99Ms: percentile(run.acceptMs, 99),
      acceptMeanMs: run.acceptMs.reduce((s, x) => s + x, 0) / Math.max(1, run.acceptMs.length),
      endToEndMsgPerSec: run.sent / (Number(deliveredNs - run.startNs) / 1e9),
      cpuMsPerMsg: {
        gatewayA: perMsg(gwCpu[0]!),
        gatewayB: perMsg(gwCpu[1]!),
        postgresA: perMsg(pgA),
        postgresB: perMsg(pgB),
        postgresShared: perMsg(pgShared),
        redis: perMsg(redisCpu),
        sink: perMsg(sinkCpu),
        client: perMsg(clientCpu),
      },
      mainThread: { a: mainA!, b: mainB! },
      otherCpuPercent: (100 * Math.max(0, machineCpu - ours)) / (elapsed * cpus().length),
      loadAverage1m: load1m,
      perMessage: { a: diffStats(afterRun.a, beforeRun.a, n), b: diffStats(afterRun.b, beforeRun.b, n) },
      warmupCalls: { a: diffStats(beforeRun.a, beforeWarmup.a), b: diffStats(beforeRun.b, beforeWarmup.b) },
      stages: { a: gatewayStagesOf(metricsBefore[0], metricsAfter[0]), b: gatewayStagesOf(metricsBefore[1], metricsAfter[1]) },
    };
  }

  /** warn/error lines, and retries, of both gateways' logs so far, counted by message (the evidence for retries). */
  logSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [side, org] of [
      ['A', this.a],
      ['B', this.b],
    ] as const) {
      for (const line of org.gateway?.output().split('\n') ?? []) {
        const m = /"level":(\d+).*?"msg":"([^"]*)"/.exec(line);
        // warnings and errors, and the info lines of a delivery that did not go through at once
        if (!m || (Number(m[1]) < 40 && !RETRY_LOG_LINES.has(m[2]!))) continue;
        const err = /"(?:err|reason|reply|error)":"([^"]{0,160})/.exec(line)?.[1] ?? '';
        const key = `${side} ${m[2]}${err ? `: ${err}` : ''}`;
        out[key] = (out[key] ?? 0) + 1;
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const org of [this.a, this.b]) {
      if (!org.gateway) continue;
      // the tail of each gateway's log next to the JSON results, for the warnings the report counts
      mkdirSync(resolve(__dirname, 'results'), { recursive: true });
      writeFileSync(resolve(__dirname, 'results', `gateway-dime-bench.${org.dime.domain}.log`), org.gateway.output().slice(-4_000_000));
      const exit = await org.gateway.stop();
      if (exit.code !== 0) console.error(`gateway ${org.dime.domain} exit ${JSON.stringify(exit)}:\n${org.gateway.output().slice(-2000)}`);
    }
    for (const c of this.cleanups.reverse()) await Promise.resolve(c()).catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
    rmSync(this.statsDir, { recursive: true, force: true });
  }
}

// ---- crypto-only ceiling ---------------------------------------------------------------------------

function secpKey(): Buffer {
  let k: Buffer;
  do k = randomBytes(32);
  while (!secp.privateKeyVerify(k));
  return k;
}

interface CryptoTimings {
  sealOriginSignUs: number;
  openDestinationUs: number;
  openRecipientUs: number;
  hsmUs: CeilingResult['hsmUs'];
}

/**
 * libs/dime with software keys for the 10 KB bench message (as bench/dime-bench.ts), then the three
 * HSM operations of the path against org B's real token (HsmSigner Ed25519 POK over a 10 KB input,
 * HsmKeyAgreement secp256k1 ECDH, user-kek unwrap of a 32-byte key), each sequential on one thread.
 */
async function measureCryptoTimings(hsm: OrgHsm, message: Buffer): Promise<CryptoTimings> {
  const fp = 'A'.repeat(86);
  const party = () => {
    const seed = randomBytes(32);
    return { signer: new InMemorySigner(seed), keys: new InMemoryKeyAgreement(secpKey()) };
  };
  const [author, origin, destination, recipient] = [party(), party(), party(), party()];
  const content = splitRfc5322(message);
  const input: SealInput = {
    author: { address: SENDER, signetFingerprint: fp, encryptionKey: author.keys.publicKey, signer: author.signer },
    origin: { domain: DOMAIN_A, signetFingerprint: fp, encryptionKey: origin.keys.publicKey },
    destination: { domain: DOMAIN_B, signetFingerprint: fp, encryptionKey: destination.keys.publicKey },
    recipient: { address: `rcpt0@${DOMAIN_B}`, signetFingerprint: fp, encryptionKey: recipient.keys.publicKey },
    commonHeaders: content.commonHeaders,
    otherHeaders: content.otherHeaders,
    display: content.display,
    attachments: content.attachments,
  };
  const originSigner = { keys: origin.keys, signer: origin.signer };
  const sealed = await signOrigin(await sealMessage(input), originSigner);
  const asDestination = { actor: 'destination' as const, keys: destination.keys, originSigningKey: origin.signer.publicKey };
  const asRecipient = { actor: 'recipient' as const, keys: recipient.keys, authorSigningKey: author.signer.publicKey, originSigningKey: origin.signer.publicKey };
  const seal = await timeLoop(async () => signOrigin(await sealMessage(input), originSigner), { minSeconds: 2 });
  const openD = await timeLoop(() => openMessage(sealed, asDestination), { minSeconds: 1.5 });
  const openR = await timeLoop(() => openMessage(sealed, asRecipient), { minSeconds: 1.5 });

  const { keystore } = hsm;
  const agreement = await HsmKeyAgreement.create(keystore, keyLabel('org-encryption'));
  const peer = secp.publicKeyCreate(secpKey(), true);
  const wrapped = await keystore.wrap(keyLabel('user-kek'), randomBytes(32));
  const data = message.subarray(0, MESSAGE_SIZE);
  const sign = await timeLoop(() => hsm.pok.sign(data), { minSeconds: 1 });
  const ecdh = await timeLoop(() => agreement.deriveSharedSecret(peer), { minSeconds: 1 });
  const unwrap = await timeLoop(async () => (await keystore.unwrap(keyLabel('user-kek'), wrapped)).fill(0), { minSeconds: 1 });
  return {
    sealOriginSignUs: seal.meanUs,
    openDestinationUs: openD.meanUs,
    openRecipientUs: openR.meanUs,
    hsmUs: { signEd25519: sign.meanUs, deriveEcdh: ecdh.meanUs, unwrap: unwrap.meanUs },
  };
}

/** What the code does per message (apps/gateway/src/dime/**, libs/dime-users): replaced by the counts measured in the run. */
const EXPECTED_HSM_CALLS = {
  // A: 3 origin signatures (meta bounce, display bounce, full) with the POK
  signEd25519: 3,
  // A: origin keyslots (signOrigin); B: destination open at the door and again in the pipeline
  deriveEcdh: 3,
  // A: sender signing seed; B: recipient encryption key at the door and again in the pipeline
  unwrap: 3,
};

function ceilingOf(t: CryptoTimings, calls: CeilingResult['hsmCallsPerMessage']): CeilingResult {
  const us = t.sealOriginSignUs + t.openDestinationUs + t.openRecipientUs + calls.signEd25519 * t.hsmUs.signEd25519 + calls.deriveEcdh * t.hsmUs.deriveEcdh + calls.unwrap * t.hsmUs.unwrap;
  return { ...t, hsmCallsPerMessage: calls, cryptoUsPerMessage: us, ceilingMsgPerSec2Cores: 2e6 / us, ceilingMsgPerSec1Core: 1e6 / us };
}

function hsmCallsOf(runs: readonly DimeRunResult[]): CeilingResult['hsmCallsPerMessage'] | undefined {
  if (runs.length === 0) return undefined;
  const sum = (m: string) => runs.reduce((s, r) => s + (r.perMessage.a[`HsmKeystore.${m}`]?.calls ?? 0) + (r.perMessage.b[`HsmKeystore.${m}`]?.calls ?? 0), 0) / runs.length;
  return { signEd25519: sum('signEd25519'), deriveEcdh: sum('deriveEcdh'), unwrap: sum('unwrap') };
}

// ---- the run -----------------------------------------------------------------------------------------

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

export async function runDimePath(options: DimePathOptions = {}): Promise<DimePathReport> {
  const messages = options.messages ?? 500;
  const o = {
    messages,
    warmup: options.warmup ?? Math.min(100, messages),
    jitWarmupSeconds: options.jitWarmupSeconds ?? 25,
    rounds: options.rounds ?? 1,
    cells: options.cells ?? DEFAULT_DIME_PATH_CELLS,
    recipients: options.recipients ?? 20,
    postfix: options.postfix ?? true,
    logLevel: options.logLevel ?? 'info',
    envA: { ...options.envA },
    envB: { ...options.envB },
    messageSize: MESSAGE_SIZE,
  };
  for (const [k, v] of Object.entries({ messages: o.messages, rounds: o.rounds, recipients: o.recipients })) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`"options.${k}" expected a positive integer, got ${v}`);
  }
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const message = makeTestMessage(MESSAGE_SIZE, SENDER, `rcpt0@${DOMAIN_B}`);

  const harness = await DimePathHarness.start({ ...o, ...(options.cpuProfDir ? { cpuProfDir: options.cpuProfDir } : {}) }, log);
  const cells = o.cells.map((cell) => ({ cell, dime: [] as DimeRunResult[], postfix: [] as PostfixRelayBaselineResult[] }));
  let timings: CryptoTimings;
  let gatewayWarnings: Record<string, number> = {};
  try {
    log('crypto-only ceiling: libs/dime with software keys, HSM calls against org B\'s token ...');
    timings = await measureCryptoTimings(harness.hsm, message);
    for (let round = 0; round < o.rounds; round++) {
      for (const c of cells) {
        const order = round % 2 === 0 ? (['dime', 'postfix'] as const) : (['postfix', 'dime'] as const);
        for (const system of order) {
          if (system === 'postfix' && !o.postfix) continue;
          const label = `round ${round + 1}/${o.rounds}, ${c.cell.concurrency} senders, ${c.cell.reuseConnections ? 'reused' : 'one per msg'}: ${system}`;
          if (system === 'dime') {
            // the first DIME run also warms the gateways up (JIT, pools): a steady state, as in production
            const first = cells.every((x) => x.dime.length === 0);
            const r = await harness.run(c.cell, o.messages, o.warmup, o.recipients, message, first ? o.jitWarmupSeconds * 1000 : 0);
            c.dime.push(r);
            log(`${label}: ${r.endToEndMsgPerSec.toFixed(1)} msg/s end to end, accept p99 ${r.acceptP99Ms.toFixed(1)} ms, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}, load ${r.loadAverage1m.toFixed(1)}`);
          } else {
            const r = await runPostfixRelayBaseline({ concurrency: c.cell.concurrency, messages: o.messages, messageSize: MESSAGE_SIZE, reuseConnections: c.cell.reuseConnections, warmup: o.warmup });
            c.postfix.push(r);
            log(`${label}: ${r.endToEndMsgPerSec.toFixed(1)} msg/s end to end, accept p99 ${r.acceptP99Ms.toFixed(1)} ms, ${r.errors} errors`);
          }
        }
      }
    }
  } finally {
    gatewayWarnings = harness.logSummary();
    await harness.stop();
  }
  const calls = hsmCallsOf(cells.flatMap((c) => c.dime)) ?? EXPECTED_HSM_CALLS;
  return { options: { ...o, cells: o.cells }, ceiling: ceilingOf(timings, calls), cells, setup: harness.setup, gatewayWarnings };
}

// ---- report ------------------------------------------------------------------------------------------

const cellName = (c: DimePathCell) => `${c.concurrency} ${c.reuseConnections ? 'reused' : 'one/msg'}`;

export function printDimePathReport(report: DimePathReport): void {
  const { ceiling } = report;
  const rows = report.cells.map((c) => {
    const m = (k: (r: DimeRunResult) => number) => mean(c.dime.map(k));
    const p = (k: (r: PostfixRelayBaselineResult) => number) => mean(c.postfix.map(k));
    return { c, dimeE2e: m((r) => r.endToEndMsgPerSec), postfixE2e: p((r) => r.endToEndMsgPerSec), m, p };
  });
  printTable(
    `DIME path (Postfix-side load -> gateway A -> DMTP -> gateway B -> smtp-sink) vs Postfix relaying the same load, ${MESSAGE_SIZE / 1024} KB, ${report.options.messages} msgs per run, mean of ${report.options.rounds} round(s); ${report.options.warmup} warm-up msgs per run, the first DIME run warmed up >= ${report.options.jitWarmupSeconds} s`,
    ['senders', 'connections', 'system', 'e2e msg/s', 'accepted msg/s', 'accept p50 ms', 'accept p99 ms', 'cpu ms/msg', 'other cpu %', 'load 1m', 'errors'],
    rows.flatMap(({ c, m, p }) => [
      [String(c.cell.concurrency), c.cell.reuseConnections ? 'reused' : 'one per msg', 'DIME', m((r) => r.endToEndMsgPerSec), m((r) => r.msgPerSec), m((r) => r.acceptP50Ms), m((r) => r.acceptP99Ms), m((r) => Object.values(r.cpuMsPerMsg).reduce((s, x) => s + x, 0)), m((r) => r.otherCpuPercent), m((r) => r.loadAverage1m), String(c.dime.reduce((s, r) => s + r.errors, 0))],
      ...(c.postfix.length
        ? [[String(c.cell.concurrency), c.cell.reuseConnections ? 'reused' : 'one per msg', 'postfix', p((r) => r.endToEndMsgPerSec), p((r) => r.msgPerSec), p((r) => r.acceptP50Ms), p((r) => r.acceptP99Ms), p((r) => r.postfixCpuMsPerMsg + r.clientCpuMsPerMsg), p((r) => r.otherCpuPercent), '-', String(c.postfix.reduce((s, r) => s + r.errors, 0))]]
        : []),
    ]),
  );
  printTable(
    `Goals: DIME e2e >= 50% of Postfix e2e, >= 60% of the crypto-only ceiling (${ceiling.ceilingMsgPerSec2Cores.toFixed(1)} msg/s on 2 cores, ${ceiling.ceilingMsgPerSec1Core.toFixed(1)} on 1)`,
    ['senders', 'connections', 'DIME e2e msg/s', '% of Postfix', '% of ceiling (2 cores)', '% of ceiling (1 core)'],
    rows.map(({ c, dimeE2e, postfixE2e }) => [
      String(c.cell.concurrency),
      c.cell.reuseConnections ? 'reused' : 'one per msg',
      dimeE2e,
      c.postfix.length ? `${((100 * dimeE2e) / postfixE2e).toFixed(0)}%` : '-',
      `${((100 * dimeE2e) / ceiling.ceilingMsgPerSec2Cores).toFixed(0)}%`,
      `${((100 * dimeE2e) / ceiling.ceilingMsgPerSec1Core).toFixed(0)}%`,
    ]),
  );
  const h = ceiling.hsmCallsPerMessage;
  printTable(
    'Crypto-only ceiling per message (sequential, one thread; software libs/dime + SoftHSM calls x count the gateways made)',
    ['part', 'µs each', 'per message', 'µs per message'],
    [
      ['seal + origin-sign (software keys)', ceiling.sealOriginSignUs, 1, ceiling.sealOriginSignUs],
      ['open as destination + origin verify', ceiling.openDestinationUs, 1, ceiling.openDestinationUs],
      ['open as recipient + author verify', ceiling.openRecipientUs, 1, ceiling.openRecipientUs],
      ['HSM Ed25519 sign (POK, 10 KB)', ceiling.hsmUs.signEd25519, h.signEd25519, h.signEd25519 * ceiling.hsmUs.signEd25519],
      ['HSM ECDH secp256k1 (org key)', ceiling.hsmUs.deriveEcdh, h.deriveEcdh, h.deriveEcdh * ceiling.hsmUs.deriveEcdh],
      ['HSM unwrap (user key)', ceiling.hsmUs.unwrap, h.unwrap, h.unwrap * ceiling.hsmUs.unwrap],
      ['total', '-', '-', ceiling.cryptoUsPerMessage],
    ],
  );
  printTable(
    'Where the time goes: CPU ms per message by process (mean over rounds)',
    ['cell', 'gateway A', 'gateway B', 'pg A', 'pg B', 'pg shared', 'redis', 'sink', 'load client', 'sum', 'other cpu %'],
    rows.map(({ c, m }) => {
      const k = (f: keyof DimeRunResult['cpuMsPerMsg']) => m((r) => r.cpuMsPerMsg[f]);
      return [cellName(c.cell), k('gatewayA'), k('gatewayB'), k('postgresA'), k('postgresB'), k('postgresShared'), k('redis'), k('sink'), k('client'), m((r) => Object.values(r.cpuMsPerMsg).reduce((s, x) => s + x, 0)), m((r) => r.otherCpuPercent)];
    }),
  );
  printTable(
    "Gateway CPU ms per message by thread: the main thread (the event loop) and the others (V8's GC and compiler threads, libuv's pool: HSM calls, fsyncs); busy % = the main thread's CPU over the run's wall time, waiting % = runnable but waiting for a CPU (the rest, the loop was idle)",
    ['cell', 'A main', 'A others', 'A busy %', 'A waiting %', 'B main', 'B others', 'B busy %', 'B waiting %'],
    rows.map(({ c, m }) => [
      cellName(c.cell),
      m((r) => r.mainThread.a.msPerMsg),
      m((r) => r.cpuMsPerMsg.gatewayA - r.mainThread.a.msPerMsg),
      m((r) => r.mainThread.a.busyPercent),
      m((r) => r.mainThread.a.runQueuePercent),
      m((r) => r.mainThread.b.msPerMsg),
      m((r) => r.cpuMsPerMsg.gatewayB - r.mainThread.b.msPerMsg),
      m((r) => r.mainThread.b.busyPercent),
      m((r) => r.mainThread.b.runQueuePercent),
    ]),
  );
  const names = [...new Set(rows.flatMap(({ c }) => c.dime.flatMap((r) => [...Object.keys(r.perMessage.a).map((n) => `A ${n}`), ...Object.keys(r.perMessage.b).map((n) => `B ${n}`)])))].sort();
  printTable(
    'Instrumented calls per message in the gateways (calls / wall ms per call; wall time includes waiting under load)',
    ['call', ...rows.map(({ c }) => cellName(c.cell))],
    names.map((name) => [
      name,
      ...rows.map(({ c }) => {
        const r = c.dime[c.dime.length - 1];
        const s = r?.perMessage[name.startsWith('A ') ? 'a' : 'b'][name.slice(2)];
        return s ? `${s.calls.toFixed(2)} / ${(s.ms / s.calls).toFixed(2)}` : '-';
      }),
    ]),
  );
  const warm = report.cells[0]?.dime[0]?.warmupCalls;
  if (warm) {
    const lookups = (s: CallStats) =>
      `domain ${s['DnsDimeDirectory.lookupDomain']?.calls ?? 0} calls / ${s['DnsDimeDirectory.discover']?.calls ?? 0} cold, user signet ${s['DnsDimeDirectory.userSignet']?.calls ?? 0} calls / ${s['DnsDimeDirectory.fetchUserSignet']?.calls ?? 0} cold, SGNT round trips ${s['DnsDimeDirectory.sgnt']?.calls ?? 0}`;
    console.log(`\nSignet lookups in the first warm-up (cold caches): A: ${lookups(warm.a)}; B: ${lookups(warm.b)}`);
  }
  const stageNames = [...new Set(rows.flatMap(({ c }) => c.dime.flatMap((r) => [...Object.keys(r.stages.a).map((n) => `A ${n}`), ...Object.keys(r.stages.b).map((n) => `B ${n}`)])))];
  printTable(
    'Gateway histograms (last round of each cell): mean / p99 ms',
    ['stage', ...rows.map(({ c }) => cellName(c.cell))],
    stageNames.map((name) => [
      name,
      ...rows.map(({ c }) => {
        const r = c.dime[c.dime.length - 1];
        const s = r?.stages[name.startsWith('A ') ? 'a' : 'b'][name.slice(2)];
        return s ? `${s.meanMs.toFixed(2)} / ${s.p99Ms.toFixed(1)}` : '-';
      }),
    ]),
  );
  const warnings = Object.entries(report.gatewayWarnings).sort((x, y) => y[1] - x[1]);
  const failures = new Map<string, number>();
  for (const c of report.cells) {
    const last = c.dime[c.dime.length - 1];
    for (const [side, stats] of [['A', last?.perMessage.a], ['B', last?.perMessage.b]] as const) {
      for (const [name, s] of Object.entries(stats ?? {})) for (const [msg, n] of Object.entries(s.errorMessages ?? {})) failures.set(`${side} ${name}: ${msg}`, Math.max(failures.get(`${side} ${name}: ${msg}`) ?? 0, n));
    }
  }
  if (failures.size) printTable('Failed instrumented calls since the gateways started (count by error and cause chain)', ['count', 'call: error'], [...failures].sort((x, y) => y[1] - x[1]).slice(0, 12).map(([k, n]) => [String(n), k]));
  if (warnings.length) printTable('Gateway warnings, errors and failed delivery attempts over the whole run (count by message; logs in bench/results/gateway-dime-bench.*.log)', ['count', 'line'], warnings.slice(0, 15).map(([k, n]) => [String(n), k]));
  console.log(`\nsetup: ${report.options.recipients} recipients provisioned in ${report.setup.provisionSeconds.toFixed(0)} s, gateways ready in ${report.setup.gatewaysStartSeconds.toFixed(0)} s; machine ${cpus().length} cores`);
}

export function writeDimePathResults(report: DimePathReport): string {
  return writeResults('gateway-dime-bench', report);
}

/** True when the benchmark's external programs are here (for callers that skip the DIME path otherwise). */
export function dimePathAvailable(): boolean {
  return ['/usr/sbin/dnsmasq', '/usr/sbin/smtp-sink', '/usr/bin/redis-server'].every((p) => existsSync(p));
}
