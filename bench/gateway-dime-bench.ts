// The DIME path benchmark on its own (bench/dime-path.ts): org A's legacy-side load -> gateway A ->
// DMTP -> gateway B -> smtp-sink, next to plain Postfix relaying the same load and the crypto-only
// ceiling, all in one run. Prints the tables and writes bench/results/gateway-dime-bench.json.
//   npm run bench:gateway-dime -- [--messages N] [--rounds R] [--warmup W] [--recipients K] [--quick]
//     [--cells 10r,50r,10n,50n] [--no-postfix] [--log-level L] [--cpu-prof DIR]
//     [--env-a KEY=VALUE]... [--env-b KEY=VALUE]... [--jit-warmup S]  (first run's warm-up lasts >= S s; default 25)
//   (needs PostgreSQL, redis-server, SoftHSM2 + libp11's OpenSSL engine, Postfix, dnsmasq: scripts/setup/*.sh)
import { jitWarmupArg } from './bench-util';
import { DEFAULT_DIME_PATH_CELLS, printDimePathReport, runDimePath, writeDimePathResults, type DimePathOptions } from './dime-path';

function parseArgs(argv: readonly string[]): DimePathOptions {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const int = (name: string): number | undefined => {
    const v = value(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} expects a non-negative integer`);
    return n;
  };
  const envOf = (flag: string): Record<string, string> => {
    const env: Record<string, string> = {};
    argv.forEach((a, i) => {
      if (a !== flag) return;
      const kv = argv[i + 1] ?? '';
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new RangeError(`${flag} expects KEY=VALUE`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    });
    return env;
  };
  const quick = argv.includes('--quick');
  const wanted = value('--cells')?.split(',');
  const cells = wanted ? DEFAULT_DIME_PATH_CELLS.filter((c) => wanted.includes(`${c.concurrency}${c.reuseConnections ? 'r' : 'n'}`)) : undefined;
  if (cells?.length === 0) throw new RangeError('--cells selects no cell (use e.g. 10r,50n)');
  const messages = int('--messages') ?? (quick ? 200 : 500);
  const warmup = int('--warmup');
  const rounds = int('--rounds');
  const recipients = int('--recipients');
  const logLevel = value('--log-level');
  const cpuProfDir = value('--cpu-prof');
  const jitWarmupSeconds = jitWarmupArg(argv) ?? (quick ? 5 : undefined);
  return {
    ...(jitWarmupSeconds !== undefined ? { jitWarmupSeconds } : {}),
    messages,
    ...(warmup !== undefined ? { warmup } : quick ? { warmup: 50 } : {}),
    ...(rounds !== undefined ? { rounds } : {}),
    ...(recipients !== undefined ? { recipients } : {}),
    ...(cells ? { cells } : {}),
    postfix: !argv.includes('--no-postfix'),
    ...(logLevel !== undefined ? { logLevel } : {}),
    ...(cpuProfDir !== undefined ? { cpuProfDir } : {}),
    envA: envOf('--env-a'),
    envB: envOf('--env-b'),
  };
}

async function main(): Promise<void> {
  const report = await runDimePath(parseArgs(process.argv.slice(2)));
  printDimePathReport(report);
  console.log(`\nwrote ${writeDimePathResults(report)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
