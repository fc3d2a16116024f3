// Runs Postfix's smtp-sink (/usr/sbin/smtp-sink) on 127.0.0.1: an SMTP server that accepts and
// discards everything as fast as it can, the far end of the relay benchmarks. Messages are counted
// from its `-c` running counters ("sess=N quit=N mesg=N", one update per '.' or session end).
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './free-port';
import { registerPeer } from './process-registry';

export const SMTP_SINK = '/usr/sbin/smtp-sink';

export interface SmtpSinkOptions {
  /** Default: a free port. */
  port?: number;
  /** Name in the greeting and EHLO reply; must differ from the sending Postfix's myhostname. */
  hostname?: string;
  /** listen(2) backlog (default 1024). */
  backlog?: number;
  /** Most simultaneous connections served (smtp-sink -m, default 1024). */
  maxConnections?: number;
  /**
   * Write each transaction to a file under this dir (smtp-sink -d); slow (disk), for debugging
   * or content checks only, never for throughput.
   */
  dumpDir?: string;
}

export interface SmtpSink {
  readonly port: number;
  readonly pid: number;
  /** Messages received so far (each '.' answered 250). */
  count(): number;
  /** Resolves once count() >= n; rejects after timeoutMs or if the sink exits. */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const port = options.port ?? (await freePort());
  const args = ['-c', '-h', options.hostname ?? 'sink.test', '-m', String(options.maxConnections ?? 1024)];
  // As root smtp-sink refuses to run without dropping privileges after binding.
  if (process.getuid?.() === 0) args.push('-u', 'nobody');
  if (options.dumpDir !== undefined) args.push('-d', `${options.dumpDir}/%Y%m%d%H%M%S.`);
  args.push(`inet:127.0.0.1:${port}`, String(options.backlog ?? 1024));
  const child = spawn(SMTP_SINK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${SMTP_SINK} did not start`);
  const unregister = registerPeer({ pid });

  let count = 0;
  let tail = '';
  let stderr = '';
  let exited = false;
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (chunk: string) => {
    // Counter lines end with '\r'; keep an unfinished one for the next chunk.
    const text = tail + chunk;
    const end = text.lastIndexOf('\r');
    tail = text.slice(end + 1);
    const done = text.slice(0, end);
    const at = done.lastIndexOf('mesg=');
    if (at !== -1) count = Number.parseInt(done.slice(at + 5), 10);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      unregister();
      resolve();
    }),
  );

  const deadline = Date.now() + 5000;
  while (!(await portAccepts(port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exit;
      throw new Error(`smtp-sink did not listen on 127.0.0.1:${port}: ${stderr}`);
    }
    await sleep(10);
  }
  // The readiness probe itself is a session (sess=1, mesg=0): it does not count as a message.

  return {
    port,
    pid,
    count: () => count,
    async waitForCount(n, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (count < n) {
        if (exited) throw new Error(`smtp-sink exited with ${count}/${n} messages: ${stderr}`);
        if (Date.now() > until) throw new Error(`smtp-sink: ${count}/${n} messages after ${timeoutMs} ms`);
        await sleep(5);
      }
    },
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}
