// Test harness: runs the built `dime` command line as a real process (building it once if needed).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');
const CLI = join(PROJECT_ROOT, 'dist/apps/dime-cli/src/main.js');

export interface CliResult {
  status: number;
  stdout: Buffer;
  stderr: string;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export function ensureCliBuilt(): void {
  if (!existsSync(CLI)) execFileSync('npm', ['run', '-s', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
}

export function runDime(args: readonly string[], input?: Buffer | string): CliResult {
  ensureCliBuilt();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, input, maxBuffer: 64 * 1024 * 1024 });
  const stdout = r.stdout ?? Buffer.alloc(0);
  return {
    status: r.status ?? -1,
    stdout,
    stderr: (r.stderr ?? Buffer.alloc(0)).toString('utf8'),
    text: stdout.toString('utf8'),
    json<T>() {
      return JSON.parse(stdout.toString('utf8')) as T;
    },
  };
}
