// SMTP load generator for the relay benchmarks (Postfix baseline and the gateway under the same
// load): N concurrent senders through nodemailer, either a pooled transport (connections reused)
// or one connection per message. Accept latency = from the end of the DATA bytes to the 250 reply.
import { connect, type Socket } from 'node:net';
import { createTransport } from 'nodemailer';

export interface SmtpLoadOptions {
  port: number;
  host?: string;
  /** Senders with a message in flight at any time. */
  concurrency: number;
  messages: number;
  /** The message (CRLF lines), sent as is. */
  message: Buffer;
  /** Pooled transport (one connection per sender, reused) vs. a new connection per message. */
  reuseConnections: boolean;
  from?: string;
  /** Recipient of message i. */
  to?: (i: number) => string;
}

export interface SmtpLoadResult {
  sent: number;
  errors: number;
  firstError?: string;
  /** From the first send to the last 250. */
  seconds: number;
  msgPerSec: number;
  /** Per accepted message, milliseconds, final ".\r\n" written -> 250 received (sorted ascending). */
  acceptMs: number[];
  /** hrtime (ns) of the first send, to time what happens after (delivery) on the same clock. */
  startNs: bigint;
  endNs: bigint;
}

/**
 * A `size`-byte message (headers + base64-looking body, CRLF lines of 76 characters), the shape
 * of a typical MIME mail, deterministic so runs compare.
 */
export function makeTestMessage(size: number, from = 'sender@origin.test', to = 'rcpt@remote.test'): Buffer {
  const head = `From: <${from}>\r\nTo: <${to}>\r\nSubject: relay benchmark\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <bench@origin.test>\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
  const out = Buffer.alloc(Math.max(size, head.length + 2), 0x41);
  out.write(head, 0, 'latin1');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = head.length, col = 0, n = 0; i < out.length; i++) {
    if (i >= out.length - 2) {
      out[i] = i === out.length - 2 ? 0x0d : 0x0a;
    } else if (col === 76) {
      out[i] = 0x0d;
      out[++i] = 0x0a;
      col = 0;
    } else {
      out[i] = alphabet.charCodeAt((n = (n * 31 + 7) % 64));
      col++;
    }
  }
  return out;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const DOT_CRLF = Buffer.from('.\r\n');

/** True for the write that ends DATA: nodemailer writes the final ".\r\n" (after LF) as its own chunk. */
function endsData(chunk: unknown): boolean {
  if (typeof chunk === 'string') return chunk === '.\r\n' || chunk.endsWith('\n.\r\n');
  if (!(chunk instanceof Uint8Array) || chunk.length < 3) return false;
  const tail = Buffer.from(chunk.buffer, chunk.byteOffset + chunk.length - 3, 3);
  return tail.equals(DOT_CRLF) && (chunk.length === 3 || chunk[chunk.length - 4] === 0x0a);
}

/**
 * A connected socket for nodemailer (its getSocket hook) that times, on the wire, the final
 * ".\r\n" handed to the kernel -> the first reply bytes after it: the server's accept latency,
 * without the client's stream pipeline in it.
 */
function timedSocket(host: string, port: number, acceptMs: number[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    let dataEnd = 0n;
    const write = socket.write;
    socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
      if (endsData(chunk)) dataEnd = process.hrtime.bigint();
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Socket['write'];
    socket.prependListener('data', (reply: Buffer) => {
      if (dataEnd === 0n) return;
      if (reply[0] === 0x32) acceptMs.push(Number(process.hrtime.bigint() - dataEnd) / 1e6);
      dataEnd = 0n;
    });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export async function runSmtpLoad(options: SmtpLoadOptions): Promise<SmtpLoadResult> {
  const host = options.host ?? '127.0.0.1';
  const from = options.from ?? 'sender@origin.test';
  const to = options.to ?? ((i: number) => `rcpt${i % 100}@remote.test`);
  const acceptMs: number[] = [];
  const common = {
    host,
    port: options.port,
    secure: false,
    ignoreTLS: true,
    getSocket: (_opts: unknown, callback: (err: Error | null, socketOptions?: { connection: Socket }) => void) => {
      timedSocket(host, options.port, acceptMs).then(
        (connection) => callback(null, { connection }),
        (err: Error) => callback(err),
      );
    },
  };
  const transport = options.reuseConnections
    ? createTransport({ ...common, pool: true, maxConnections: options.concurrency, maxMessages: Infinity })
    : createTransport(common);
  let sent = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;

  const sender = async () => {
    for (let i = next++; i < options.messages; i = next++) {
      try {
        await transport.sendMail({ envelope: { from, to: [to(i)] }, raw: options.message });
        sent++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };

  const startNs = process.hrtime.bigint();
  await Promise.all(Array.from({ length: options.concurrency }, sender));
  const endNs = process.hrtime.bigint();
  transport.close();
  const seconds = Number(endNs - startNs) / 1e9;
  acceptMs.sort((x, y) => x - y);
  return { sent, errors, ...(firstError !== undefined ? { firstError } : {}), seconds, msgPerSec: sent / seconds, acceptMs, startNs, endNs };
}

/**
 * Warms a relay up before a measured run (JIT, pools, caches): sends `messages` and waits for the
 * sink to count them, again and again until `minMs` has passed (at least once).
 */
export async function warmUpLoad(
  load: Omit<SmtpLoadOptions, 'messages'>,
  sink: { count(): number; waitForCount(n: number, timeoutMs?: number): Promise<void> },
  messages: number,
  options: { readonly minMs?: number; readonly timeoutMs?: number; readonly failOnErrors?: boolean } = {},
): Promise<void> {
  const started = Date.now();
  while (messages > 0) {
    const start = sink.count();
    const w = await runSmtpLoad({ ...load, messages });
    if (options.failOnErrors && w.errors > 0) throw new Error(`warm-up: ${w.errors} errors (${w.firstError})`);
    await sink.waitForCount(start + w.sent, options.timeoutMs ?? 120_000);
    if (Date.now() - started >= (options.minMs ?? 0)) break;
  }
}
