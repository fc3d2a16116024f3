// The DMTP client side (docs/dmtp.md): implicit TLS to a DX host, the peer authenticated BEFORE any
// command is sent (the record's `tls=` signatures over the certificate, or X.509 when the record has
// none), the `DMTPv1` banner, then EHLO, SGNT and one-message transactions (MAIL FROM:<origin domain>,
// RCPT TO:<destination domain>, binary DATA). Every step has a timeout. Replies are returned, not
// thrown: the caller maps 2xx/4xx/5xx; DmtpError is for failing to talk at all (always transient).
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  DMTP_BANNER_TOKEN,
  dmtpReplyArgument,
  DmtpReplyReader,
  formatDmtpCommand,
  isDimeError,
  isDmtpBanner,
  isDomainName,
  verifyTlsSignature,
  type DmtpCommand,
  type DmtpReply,
  type ManagementRecord,
} from '@lib/dime';
import { DmtpError } from './dmtp.error';

/** How the server is authenticated after the handshake (docs/dmtp.md §1 "Authenticating the server"). */
export type DmtpPeerCheck =
  /** The record has `tls=`: SHA-512 of the DER certificate must verify under a tls= signature and a POK; no X.509. */
  | { readonly kind: 'tls-signature'; readonly record: ManagementRecord }
  /** No `tls=`: ordinary X.509 validation against the system roots (or `ca`) with the server name. */
  | { readonly kind: 'x509'; readonly ca?: string | Buffer | readonly (string | Buffer)[] };

export interface DmtpTimeouts {
  /** TCP connect + TLS handshake + banner. */
  readonly connectMs: number;
  /** Each command's reply. */
  readonly commandMs: number;
  /** Sending the message bytes and waiting for the final DATA reply. */
  readonly dataMs: number;
}

const CRLF = Buffer.from('\r\n');

export const DEFAULT_DMTP_TIMEOUTS: DmtpTimeouts = Object.freeze({ connectMs: 30_000, commandMs: 60_000, dataMs: 5 * 60_000 });

export interface DmtpConnectOptions {
  /** Address or host name to connect to. */
  readonly host: string;
  readonly port: number;
  /** SNI and X.509 name: the DX host name (or the domain). */
  readonly serverName: string;
  readonly peerCheck: DmtpPeerCheck;
  readonly timeouts?: Partial<DmtpTimeouts>;
  readonly signal?: AbortSignal;
  /**
   * Dual mode on an SMTP port (docs/dmtp.md §3): plain connect, an SMTP banner carrying DMTPv1,
   * `STARTTLS <serverName> MODE=DMTPv1`, 220, then TLS and `220 OK DMTPv1`. Default: implicit TLS.
   */
  readonly dualMode?: boolean;
}

export type DmtpSignetResult =
  | { readonly ok: true; readonly signet: Buffer; readonly reply: DmtpReply }
  | { readonly ok: false; readonly reply: DmtpReply };

export interface DmtpMessageEnvelope {
  /** MAIL FROM:<origin domain>. */
  readonly originDomain: string;
  /** RCPT TO:<destination domain>. */
  readonly destinationDomain: string;
  /** The D/MIME message (sealed and origin-signed). */
  readonly message: Uint8Array;
  /** Crypto/full/ID fingerprint of our org signet (MAIL) and of theirs (RCPT), when known. */
  readonly originFingerprint?: string;
  readonly destinationFingerprint?: string;
}

/** Where a transaction stopped: the first reply that was not the expected 2xx/354, or DATA's final reply. */
export interface DmtpDeliveryResult {
  readonly stage: 'MAIL' | 'RCPT' | 'DATA' | 'MESSAGE';
  readonly reply: DmtpReply;
  /** True only when the message itself got a 2xx (accepted by the destination). */
  readonly accepted: boolean;
  /** The `[id]` of `250 OK [id]`, when accepted. */
  readonly transactionId?: string;
}

/** One line, for logs and DSNs: "554 5.7.7 DIME signature invalid...". */
export function replyText(reply: DmtpReply): string {
  return `${reply.code} ${reply.lines.join(' / ')}`.trim();
}

export class DmtpClient {
  private readonly reader = new DmtpReplyReader();
  private readonly replies: DmtpReply[] = [];
  private waiter: { resolve: (r: DmtpReply) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly timeouts: DmtpTimeouts;
  private readonly endListeners = new Set<() => void>();
  private repliesRead = 0;

  private constructor(
    private readonly socket: TLSSocket,
    /** The peer certificate (DER), checked before anything was sent. */
    readonly peerCertificate: Buffer,
    timeouts: DmtpTimeouts,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.timeouts = timeouts;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new DmtpError('PROTOCOL', `DMTP connection error: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new DmtpError('PROTOCOL', 'DMTP peer closed the connection')));
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The greeting, checked to carry `DMTPv1`. */
  banner!: DmtpReply;

  /**
   * Connects with implicit TLS, authenticates the peer (closing without a word if it fails: no
   * command ever reaches an unauthenticated server) and reads the DMTPv1 banner.
   */
  static async connect(options: DmtpConnectOptions): Promise<DmtpClient> {
    const timeouts = { ...DEFAULT_DMTP_TIMEOUTS, ...options.timeouts };
    const { signal } = options;
    if (signal?.aborted) throw new DmtpError('ABORTED', 'aborted before connecting');
    const byTlsSignature = options.peerCheck.kind === 'tls-signature';
    const ca = options.peerCheck.kind === 'x509' ? options.peerCheck.ca : undefined;
    const plain = options.dualMode ? await startDualMode(options, timeouts.connectMs) : undefined;
    const socket = tlsConnect({
      ...(plain ? { socket: plain } : { host: options.host, port: options.port }),
      ...(isIP(options.serverName) ? {} : { servername: options.serverName }),
      minVersion: 'TLSv1.2',
      // With tls= the certificate may be self-signed: the record's signature is the trust anchor.
      rejectUnauthorized: !byTlsSignature,
      ...(ca !== undefined ? { ca: ca as string | Buffer | (string | Buffer)[] } : {}),
    });
    const where = `${options.serverName} (${options.host}:${options.port})`;
    let certificate: Buffer;
    try {
      certificate = await withTimeout(
        new Promise<Buffer>((resolve, reject) => {
          socket.once('secureConnect', () => resolve(socket.getPeerCertificate(false).raw));
          socket.once('error', (err: NodeJS.ErrnoException) => {
            // system call errors (ECONNREFUSED, EHOSTUNREACH...) carry `syscall`; TLS and X.509 failures do not
            reject(new DmtpError(err.syscall !== undefined ? 'CONNECT_FAILED' : 'TLS_FAILED', `DMTP ${where}: ${err.message}`, { cause: err }));
          });
          socket.once('close', () => reject(new DmtpError('CONNECT_FAILED', `DMTP ${where}: connection closed during the handshake`)));
        }),
        timeouts.connectMs,
        `DMTP ${where}: connect and TLS handshake`,
        signal,
      );
      if (!certificate || certificate.length === 0) throw new DmtpError('TLS_FAILED', `DMTP ${where}: the server sent no certificate`);
      if (options.peerCheck.kind === 'tls-signature' && !verifyTlsSignature(options.peerCheck.record, certificate)) {
        throw new DmtpError('TLS_MISMATCH', `DMTP ${where}: the server certificate does not match the tls= signatures of the DIME record`);
      }
    } catch (err) {
      socket.destroy();
      throw err;
    }
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    // command/reply lock-step: Nagle would hold each short command for the peer's delayed ACK (~40 ms)
    socket.setNoDelay(true);
    const client = new DmtpClient(socket, certificate, timeouts, signal);
    try {
      const banner = await client.readReply(timeouts.connectMs, 'banner');
      // dual mode: the line after the handshake is `220 OK DMTPv1` (docs/dmtp.md §3), not a second banner
      const ok = plain ? banner.code === 220 && isOkDmtpv1(banner) : isDmtpBanner(banner);
      if (!ok) throw new DmtpError('NOT_DMTP', `DMTP ${where}: ${plain ? 'greeting' : 'banner'} "${replyText(banner).slice(0, 80)}" does not carry DMTPv1`);
      client.banner = banner;
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /**
   * Whether the session can carry another transaction now: not failed or closed, and nothing
   * unasked for waiting (a server that says something between transactions, a 421 say, is done).
   */
  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed && this.replies.length === 0;
  }

  /** Replies read so far in this session (a cache tells by it whether a transaction got any answer). */
  get replyCount(): number {
    return this.repliesRead;
  }

  /** Calls `listener` once when the session fails or closes (for a cache of idle sessions); returns its removal. */
  onEnd(listener: () => void): () => void {
    if (this.failure) {
      queueMicrotask(listener);
      return () => undefined;
    }
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Sends a command (canonical form) and returns its reply. */
  async command(cmd: DmtpCommand, timeoutMs = this.timeouts.commandMs): Promise<DmtpReply> {
    let line: string;
    try {
      line = formatDmtpCommand(cmd);
    } catch (err) {
      if (isDimeError(err)) throw new RangeError(`cannot send ${cmd.verb}: ${err.message}`);
      throw err;
    }
    this.write(line);
    return this.readReply(timeoutMs, cmd.verb);
  }

  ehlo(host: string): Promise<DmtpReply> {
    return this.command({ verb: 'EHLO', host });
  }

  /** SGNT: the signet bytes from `250 OK [<base64>]`, or the refusal. */
  async sgnt(name: string, fingerprint?: string): Promise<DmtpSignetResult> {
    const kind = name.includes('@') ? 'user' : 'domain';
    const reply = await this.command({ verb: 'SGNT', kind, name, ...(fingerprint !== undefined ? { fingerprint } : {}) });
    if (reply.code !== 250) return { ok: false, reply };
    let b64: string;
    try {
      b64 = dmtpReplyArgument(reply, 'OK');
    } catch (err) {
      throw new DmtpError('PROTOCOL', `SGNT ${name}: reply is not "OK [signet]": ${(err as Error).message}`);
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new DmtpError('PROTOCOL', `SGNT ${name}: the signet is not standard base64`);
    return { ok: true, signet: Buffer.from(b64, 'base64'), reply };
  }

  /**
   * One transaction: MAIL, RCPT, DATA, the message bytes then CRLF. Stops at the first reply that is
   * not what comes next (RSET is then sent so the session stays usable).
   */
  async deliver(envelope: DmtpMessageEnvelope): Promise<DmtpDeliveryResult> {
    const message = envelope.message;
    if (!(message instanceof Uint8Array) || message.length === 0) throw new TypeError('"envelope.message" expected a non-empty Uint8Array');
    const mail = await this.command({
      verb: 'MAIL',
      from: envelope.originDomain,
      size: message.length,
      ...(envelope.originFingerprint !== undefined ? { fingerprint: envelope.originFingerprint } : {}),
    });
    if (mail.code !== 250) return this.abandon('MAIL', mail);
    const rcpt = await this.command({
      verb: 'RCPT',
      to: envelope.destinationDomain,
      ...(envelope.destinationFingerprint !== undefined ? { fingerprint: envelope.destinationFingerprint } : {}),
    });
    if (rcpt.code !== 250) return this.abandon('RCPT', rcpt);
    const data = await this.command({ verb: 'DATA' });
    if (data.code !== 354) return this.abandon('DATA', data);
    // one write: message and CRLF must not be split into a second small segment (Nagle + delayed ACK)
    this.write(Buffer.concat([Buffer.from(message.buffer, message.byteOffset, message.byteLength), CRLF]));
    const final = await this.readReply(this.timeouts.dataMs, 'message');
    if (final.code < 200 || final.code > 299) return { stage: 'MESSAGE', reply: final, accepted: false };
    let transactionId: string | undefined;
    try {
      transactionId = dmtpReplyArgument(final, 'OK');
    } catch {
      transactionId = undefined; // accepted all the same; the id is only for logs
    }
    return { stage: 'MESSAGE', reply: final, accepted: true, ...(transactionId !== undefined ? { transactionId } : {}) };
  }

  /** QUIT and close; never throws (the transaction outcome is already known). */
  async quit(): Promise<void> {
    try {
      if (!this.failure) await this.command({ verb: 'QUIT' }, Math.min(this.timeouts.commandMs, 5000));
    } catch {
      // the peer may close first; nothing depends on the 221
    } finally {
      this.close();
    }
  }

  close(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.fail(new DmtpError('PROTOCOL', 'DMTP client closed'));
    this.socket.destroy();
  }

  private async abandon(stage: 'MAIL' | 'RCPT' | 'DATA', reply: DmtpReply): Promise<DmtpDeliveryResult> {
    if (reply.code !== 421) {
      try {
        await this.command({ verb: 'RSET' });
      } catch {
        // the refusal is what matters
      }
    }
    return { stage, reply, accepted: false };
  }

  private readonly onAbort = (): void => {
    this.fail(new DmtpError('ABORTED', 'DMTP conversation aborted'));
    this.socket.destroy();
  };

  private write(data: string | Buffer): void {
    if (this.failure) throw this.failure;
    this.socket.write(data);
  }

  private onData(chunk: Buffer): void {
    let replies: DmtpReply[];
    try {
      replies = this.reader.push(chunk);
    } catch (err) {
      this.fail(new DmtpError('PROTOCOL', `DMTP: malformed reply: ${(err as Error).message}`, { cause: err }));
      this.socket.destroy();
      return;
    }
    for (const reply of replies) {
      this.repliesRead++;
      const waiter = this.waiter;
      if (waiter) {
        this.waiter = undefined;
        waiter.resolve(reply);
      } else {
        this.replies.push(reply);
      }
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
    const listeners = [...this.endListeners];
    this.endListeners.clear();
    for (const listener of listeners) listener();
  }

  private readReply(timeoutMs: number, what: string): Promise<DmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    const pending = new Promise<DmtpReply>((resolve, reject) => (this.waiter = { resolve, reject }));
    return withTimeout(pending, timeoutMs, `DMTP: reply to ${what}`, undefined).catch((err: unknown) => {
      if (err instanceof DmtpError && err.code === 'TIMEOUT') {
        this.waiter = undefined;
        this.fail(err);
        this.socket.destroy();
      }
      throw err;
    });
  }
}

function isOkDmtpv1(reply: DmtpReply): boolean {
  try {
    return dmtpReplyArgument(reply, 'OK') === DMTP_BANNER_TOKEN;
  } catch {
    return false;
  }
}

/** Dual mode up to the TLS handshake: the plain socket once the server said 220 to our STARTTLS. */
async function startDualMode(options: DmtpConnectOptions, timeoutMs: number): Promise<Socket> {
  const where = `${options.serverName} (${options.host}:${options.port}, dual mode)`;
  if (!isDomainName(options.serverName)) throw new RangeError(`dual mode needs a host name as "serverName", got ${options.serverName}`);
  const plain = netConnect({ host: options.host, port: options.port });
  const reader = new DmtpReplyReader();
  const replies: DmtpReply[] = [];
  let wake: (() => void) | undefined;
  let failure: DmtpError | undefined;
  plain.on('data', (chunk: Buffer) => {
    try {
      replies.push(...reader.push(chunk));
    } catch (err) {
      failure = new DmtpError('PROTOCOL', `DMTP ${where}: malformed reply: ${(err as Error).message}`);
    }
    wake?.();
  });
  plain.on('error', (err: NodeJS.ErrnoException) => {
    failure ??= new DmtpError(err.syscall !== undefined ? 'CONNECT_FAILED' : 'PROTOCOL', `DMTP ${where}: ${err.message}`, { cause: err });
    wake?.();
  });
  plain.on('close', () => {
    failure ??= new DmtpError('PROTOCOL', `DMTP ${where}: connection closed`);
    wake?.();
  });
  const next = (): Promise<DmtpReply> =>
    new Promise<DmtpReply>((resolve, reject) => {
      const check = (): void => {
        const r = replies.shift();
        if (r) resolve(r);
        else if (failure) reject(failure);
        else wake = check;
      };
      check();
    });
  try {
    return await withTimeout(
      (async () => {
        const banner = await next();
        if (!isDmtpBanner(banner)) throw new DmtpError('NOT_DMTP', `DMTP ${where}: SMTP banner "${replyText(banner).slice(0, 80)}" does not carry DMTPv1`);
        plain.write(formatDmtpCommand({ verb: 'STARTTLS', host: options.serverName, mode: DMTP_BANNER_TOKEN }));
        const ready = await next();
        if (ready.code !== 220) throw new DmtpError('NOT_DMTP', `DMTP ${where}: STARTTLS MODE=DMTPv1 refused: ${replyText(ready).slice(0, 120)}`);
        // anything the server sent after its 220 would be read as TLS: refuse (CVE-2011-0411 in reverse)
        if (replies.length > 0 || reader.pending) throw new DmtpError('PROTOCOL', `DMTP ${where}: data after the 220 to STARTTLS`);
        plain.removeAllListeners('data');
        plain.removeAllListeners('close');
        plain.removeAllListeners('error');
        return plain;
      })(),
      timeoutMs,
      `DMTP ${where}: SMTP banner and STARTTLS`,
      options.signal,
    );
  } catch (err) {
    plain.destroy();
    throw err;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => finish(() => reject(new DmtpError('ABORTED', `${what}: aborted`)));
    const timer = setTimeout(() => finish(() => reject(new DmtpError('TIMEOUT', `${what}: no answer within ${ms} ms`))), ms);
    let done = false;
    function finish(action: () => void): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      action();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}
