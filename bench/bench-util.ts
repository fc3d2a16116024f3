// Shared helpers for bench/ programs: timing loops, tables, JSON results (bench/results/, git-ignored).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus, totalmem } from 'node:os';

export interface Timing {
  iterations: number;
  seconds: number;
  perSecond: number;
  /** Mean time of one iteration, microseconds. */
  meanUs: number;
}

/** Runs fn repeatedly (after a warm-up) until both minIterations and minSeconds are reached. */
export async function timeLoop(fn: () => unknown, options: { minSeconds?: number; minIterations?: number; warmup?: number } = {}): Promise<Timing> {
  const minSeconds = options.minSeconds ?? 1.5;
  const minIterations = options.minIterations ?? 10;
  for (let i = 0; i < (options.warmup ?? 3); i++) await fn();
  let iterations = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (iterations < minIterations || elapsed < minSeconds) {
    await fn();
    iterations++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return { iterations, seconds: elapsed, perSecond: iterations / elapsed, meanUs: (elapsed / iterations) * 1e6 };
}

/**
 * Times two functions in alternating rounds (a, b, a, b, ...) so that load from elsewhere on the
 * machine hits both alike: the ratio of their means is what a same-run comparison should report.
 */
export async function timeInterleaved(
  a: () => unknown,
  b: () => unknown,
  options: { rounds?: number; perRound: number; warmup?: number },
): Promise<[Timing, Timing]> {
  const rounds = options.rounds ?? 10;
  for (let i = 0; i < (options.warmup ?? 3); i++) {
    await a();
    await b();
  }
  const totals = [0, 0];
  const fns = [a, b];
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < 2; k++) {
      const fn = fns[k]!;
      const start = process.hrtime.bigint();
      for (let i = 0; i < options.perRound; i++) await fn();
      totals[k]! += Number(process.hrtime.bigint() - start) / 1e9;
    }
  }
  const n = rounds * options.perRound;
  const timing = (seconds: number): Timing => ({ iterations: n, seconds, perSecond: n / seconds, meanUs: (seconds / n) * 1e6 });
  return [timing(totals[0]!), timing(totals[1]!)];
}

/**
 * --jit-warmup S of both gateway benches (the first run's warm-up lasts at least S seconds):
 * undefined when absent, RangeError unless S >= 0.
 */
export function jitWarmupArg(argv: readonly string[]): number | undefined {
  const at = argv.indexOf('--jit-warmup');
  if (at === -1) return undefined;
  const seconds = Number(argv[at + 1]);
  if (!(seconds >= 0)) throw new RangeError('--jit-warmup expects seconds >= 0');
  return seconds;
}

export function printTable(title: string, header: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: readonly (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i] ?? 0)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function machineInfo(): Record<string, unknown> {
  const cpu = cpus();
  return { node: process.version, cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30) };
}

export function writeResults(name: string, data: unknown): string {
  const dir = resolve(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ benchmark: name, date: new Date().toISOString(), machine: machineInfo(), ...(data as object) }, null, 2)}\n`);
  return file;
}

/** Result of closedLoop: operations per second and latency quantiles (ms). */
export interface ClosedLoopResult {
  readonly perSecond: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly n: number;
}

/**
 * `concurrency` callers each running `fn` back to back for `seconds` (after 20 warm-up calls):
 * throughput and latency of an async operation under a fixed number of clients.
 */
export async function closedLoop(fn: () => Promise<unknown>, concurrency: number, seconds: number): Promise<ClosedLoopResult> {
  for (let i = 0; i < 20; i++) await fn();
  const lat: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
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
  const at = (q: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))] ?? 0;
  return { perSecond: lat.length / elapsed, p50ms: at(0.5), p99ms: at(0.99), n: lat.length };
}
