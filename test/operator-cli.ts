// Test harness: the built `dime-gateway` bin (dist/), as operators and auditors run it. The CLI
// medium tests run the real bin; ensureOperatorCliBuilt() rebuilds once when any source it loads
// is newer than the build (npm test builds first, so in CI this is only a check).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
export const OPERATOR_CLI_BIN = join(ROOT, 'dist/apps/operator-cli/src/main.js');

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Newest mtime of the .ts sources under a directory. */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(p));
    else if (entry.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

export function ensureOperatorCliBuilt(): void {
  let built = 0;
  try {
    built = statSync(OPERATOR_CLI_BIN).mtimeMs;
  } catch {
    built = 0;
  }
  const sources = [join(ROOT, 'apps/operator-cli/src'), ...readdirSync(join(ROOT, 'libs')).map((lib) => join(ROOT, 'libs', lib, 'src'))];
  if (built < Math.max(...sources.map(newest))) execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

/** Runs `dime-gateway ARGS` with exactly `env` (nothing inherited) in `cwd`. */
export function runOperatorCli(args: readonly string[], options: { cwd: string; env: Readonly<Record<string, string>> }): CliResult {
  const r = spawnSync(process.execPath, [OPERATOR_CLI_BIN, ...args], { cwd: options.cwd, env: { ...options.env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
