// Test harness: a private PostgreSQL cluster per test (initdb into a temp dir, run as the
// `postgres` user, socket dir in the temp dir, trust auth, 127.0.0.1:<free port>), so a test can
// kill -9 it and start it again (crash recovery included) without touching the machine's shared
// server. Needs Debian's postgresql package (/usr/lib/postgresql/<version>/bin) and root (runuser).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { DbPassword, type DbConfig } from '@lib/db';
import { freePort } from '../postfix/free-port';
import { registerPeer } from '../postfix/process-registry';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The newest installed server's bin dir. */
export function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL server under ${base}: install postgresql`);
  return join(base, newest, 'bin');
}

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('no postgres user: install postgresql');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Living (non-zombie) processes whose parent is `parent` (Linux /proc). */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[1]) === parent) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export interface PrivatePostgres {
  readonly port: number;
  readonly dir: string;
  /** pid of the running postmaster (0 while stopped). */
  readonly pid: number;
  /** Connection settings for a database of this cluster (user postgres, trust auth). */
  config(database: string): DbConfig;
  createDatabase(name: string): Promise<DbConfig>;
  /** A crash: SIGKILL to the postmaster and every backend at once. */
  kill(): Promise<void>;
  /** pg_ctl stop -m immediate (no checkpoint: crash recovery at the next start). */
  stopImmediate(): Promise<void>;
  /** Starts it again on the same port (after kill or stop); resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (fast) and removes the dir. Idempotent. */
  destroy(): Promise<void>;
}

/** Runs a PostgreSQL binary as the postgres user. */
async function asPostgres(bin: string, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync('/usr/sbin/runuser', ['-u', 'postgres', '--', bin, ...args], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
  return stdout;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'pg-private-'));
  const unregisterDir = registerPeer({ dir });
  const { uid, gid } = postgresIds();
  await chown(dir, uid, gid);
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const port = await freePort();
  await asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);

  let pid = 0;
  let unregisterPid: (() => void) | undefined;
  const readPid = () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);

  const start = async () => {
    // -w: returns once the server accepts connections (crash recovery included)
    try {
      await asPostgres(join(bin, 'pg_ctl'), [
        '-D', data, '-l', logFile, '-w', '-t', '120',
        '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on`,
        'start',
      ]);
    } catch (err) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
      throw new Error(`PostgreSQL did not start on port ${port}: ${(err as Error).message}\n${log}`);
    }
    pid = readPid();
    // if the test process dies first: backends leave on their own once the postmaster is gone
    unregisterPid = registerPeer({ pid });
  };

  const waitGone = async (pids: readonly number[]) => {
    const deadline = Date.now() + 30_000;
    while (pids.some(alive)) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL processes ${pids.filter(alive).join(', ')} still running`);
      await sleep(20);
    }
    // The next postmaster refuses to start while the old pid exists, and a zombie exists until
    // PID 1 reaps it (pg_ctl's child is re-parented to it): wait for that a while, then drop the
    // stale lock file as an operator would after a crash (every process of the cluster is dead).
    const reapDeadline = Date.now() + 5000;
    while (existsSync(`/proc/${pids[0]}`) && Date.now() < reapDeadline) await sleep(20);
    if (existsSync(`/proc/${pids[0]}`)) await rm(join(data, 'postmaster.pid'), { force: true });
  };

  await start();
  let destroyed: Promise<void> | undefined;

  const pg: PrivatePostgres = {
    port,
    dir,
    get pid() {
      return pid;
    },
    config: (database) => Object.freeze({ host: '127.0.0.1', port, database, user: 'postgres', password: new DbPassword(''), poolSize: 10 }),
    async createDatabase(name) {
      const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return pg.config(name);
    },
    async kill() {
      if (pid === 0) return;
      // every backend is its own group leader (PostgreSQL calls setsid in each child): by pid
      const pids = [pid, ...childrenOf(pid)];
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitGone(pids);
      unregisterPid?.();
      pid = 0;
    },
    async stopImmediate() {
      if (pid === 0) return;
      const pids = [pid, ...childrenOf(pid)];
      await asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      await waitGone(pids);
      unregisterPid?.();
      pid = 0;
    },
    start: async () => {
      if (pid !== 0) throw new Error('PostgreSQL is running');
      await start();
    },
    destroy() {
      destroyed ??= (async () => {
        if (pid !== 0) {
          const pids = [pid, ...childrenOf(pid)];
          await asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => pids.forEach((p) => process.kill(p, 'SIGKILL')));
          await waitGone(pids).catch(() => undefined);
          unregisterPid?.();
          pid = 0;
        }
        await rm(dir, { recursive: true, force: true });
        unregisterDir();
      })();
      return destroyed;
    },
  };
  return pg;
}
