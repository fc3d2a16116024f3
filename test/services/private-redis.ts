// Test harness: a private Redis server per test (redis-server on 127.0.0.1:<free port>, no
// persistence), so a test can kill -9 it (every BullMQ job is lost) and start an empty one on the
// same port without touching the machine's shared Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from '../postfix/free-port';
import { registerPeer } from '../postfix/process-registry';

export const REDIS_SERVER = '/usr/bin/redis-server';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface PrivateRedis {
  readonly port: number;
  /** pid of the running server (0 while stopped). */
  readonly pid: number;
  /** kill -9: the server and everything it held are gone. */
  kill(): Promise<void>;
  /** Starts an empty server on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it. Idempotent. */
  destroy(): Promise<void>;
}

/** True once the server answers PING with +PONG. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  const start = async () => {
    const c = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (c.pid === undefined) throw new Error('redis-server did not start');
    const unregister = registerPeer({ pid: c.pid });
    let gone = false;
    exited = new Promise<void>((resolve) =>
      c.once('exit', () => {
        gone = true;
        unregister();
        resolve();
      }),
    );
    c.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child = c;
    const deadline = Date.now() + 20_000;
    while (!(await pings(port))) {
      if (gone || Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`redis-server did not answer on 127.0.0.1:${port}: ${stderr}`);
      }
      await sleep(20);
    }
  };

  const stop = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await exited;
    child = undefined;
  };

  await start();
  let destroyed: Promise<void> | undefined;
  return {
    port,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? (child.pid ?? 0) : 0;
    },
    kill: () => stop('SIGKILL'),
    async start() {
      if (child) throw new Error('Redis is running');
      await start();
    },
    destroy() {
      destroyed ??= stop('SIGKILL');
      return destroyed;
    },
  };
}
