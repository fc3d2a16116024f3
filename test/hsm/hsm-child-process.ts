// Spawns a node child with the HSM engine's OpenSSL config (so TLS can use HSM-held keys) and
// waits for the JSON line it prints when ready. Used by the TLS e2e test and bench/hsm-bench.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { hsmTlsNodeFlags } from '@lib/hsm';

const ROOT = join(__dirname, '..', '..');

export interface SpawnedChild<T> {
  readonly child: ChildProcess;
  readonly ready: T;
  stop(): Promise<void>;
}

/**
 * Run a .ts script of this repo in a node child (ts-node, path aliases), optionally with the HSM
 * engine config. The default wait (60 s, as for the gateway process) covers ts-node compiling on
 * a loaded 2-core machine.
 */
export function spawnTsChild<T>(script: string, env: Record<string, string>, opensslConfig?: string, timeoutMs = 60_000): Promise<SpawnedChild<T>> {
  const args = [
    ...(opensslConfig ? hsmTlsNodeFlags(opensslConfig) : []),
    '-r',
    'ts-node/register/transpile-only',
    '-r',
    'tsconfig-paths/register',
    join(ROOT, script),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} not ready in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        resolve({
          child,
          ready: JSON.parse(line) as T,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 3000).unref();
            }),
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${stderr}`));
    });
  });
}
