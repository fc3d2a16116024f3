// The DMTP listener: implicit TLS from the first byte (port 26 in production, 2626 locally;
// docs/dmtp.md §1), TLS 1.2/1.3 with the HSM-held key (pass `hsmListenerTls(config, keystore)`
// exactly as the SMTP listeners get it), a bounded number of sessions, and a graceful drain like
// SmtpListener's: idle sessions get 421 at once, a session inside a transaction finishes it first.
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext, type Server, type TlsOptions } from 'node:tls';
import { hsmTlsServer } from '@lib/hsm';
import { SecureContextClass } from '../../tls/shared-tls-context';
import { DmtpSession, type DmtpAcceptor, type DmtpSessionLimits } from './dmtp-session';
import type { DimeDirectory } from '../dime-directory';
import type { DimeDoorCheck } from '../dime-inbound';
import type { LocalSignetSource } from '../local-signets';

export interface DmtpServerLimits extends DmtpSessionLimits {
  /** Concurrent sessions; one more gets `421 4.3.2 too many sessions` and is closed. */
  readonly maxSessions: number;
  /** TLS handshake must finish within this time. */
  readonly handshakeTimeoutMs: number;
}

/** A pino-compatible logger (only the three levels used). */
export interface DmtpLogger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export interface DmtpServerOptions {
  /** Banner and EHLO host name (GATEWAY_HOSTNAME). */
  readonly hostname: string;
  /** Domains whose mail and signets this gateway serves (LOCAL_DOMAINS). */
  readonly localDomains: readonly string[];
  /** Key and certificate options, or a context made once for the process (the HSM key: hsmListenerTls). */
  readonly tls: TlsOptions | SecureContext;
  readonly signets: LocalSignetSource;
  readonly doorCheck: DimeDoorCheck;
  readonly acceptor: DmtpAcceptor;
  /** Checks MAIL FROM's domain publishes a valid `_dx` record (docs/dmtp.md §4); omitted: not checked at MAIL. */
  readonly directory?: DimeDirectory;
  readonly limits: DmtpServerLimits;
  readonly logger: DmtpLogger;
}

export const DEFAULT_DMTP_LIMITS: Omit<DmtpServerLimits, 'maxMessageBytes'> = Object.freeze({
  maxSessions: 200,
  idleTimeoutMs: 5 * 60_000,
  dataTimeoutMs: 3 * 60_000,
  maxErrors: 3,
  handshakeTimeoutMs: 30_000,
});

export class DmtpServer {
  readonly server: Server;
  /** The listener's TLS context, also used for dual-mode upgrades from the SMTP port. */
  private readonly secureContext: SecureContext;
  private readonly sessions = new Set<DmtpSession>();
  private draining = false;

  constructor(private readonly options: DmtpServerOptions) {
    const limits = options.limits;
    if (!Number.isInteger(limits.maxSessions) || limits.maxSessions < 1) throw new RangeError(`"limits.maxSessions" must be a positive integer, got ${limits.maxSessions}`);
    if (!Number.isSafeInteger(limits.maxMessageBytes) || limits.maxMessageBytes < 64) throw new RangeError(`"limits.maxMessageBytes" must be an integer >= 64`);
    // ONE context for the listener and the dual-mode upgrades (and, with the HSM key, the one the
    // whole process shares: see hsmTlsServer)
    this.secureContext = options.tls instanceof SecureContextClass ? options.tls : createSecureContext({ ...options.tls, minVersion: options.tls.minVersion ?? 'TLSv1.2' });
    this.server = hsmTlsServer(this.secureContext, { handshakeTimeout: limits.handshakeTimeoutMs }, (socket) => this.onConnection(socket));
    // backstop for connections still in the TLS handshake (sessions are counted after it): the
    // kernel-level cap drops the excess silently, the session cap above answers 421
    this.server.maxConnections = limits.maxSessions * 2 + 16;
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      options.logger.info({ client: socket.remoteAddress, err: err.message, code: err.code }, 'dmtp TLS handshake failed');
    });
    this.server.on('error', (err) => options.logger.warn({ err: err.message }, 'dmtp server error'));
  }

  /** Listens; resolves with the bound port (0 picks a free one). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /**
   * Stops accepting connections; idle sessions get `421 4.3.2` now, sessions inside a transaction
   * when it ends; whatever is still open after timeoutMs is cut. Resolves when all are closed.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.drain();
    const all = Promise.all([...this.sessions].map((s) => s.done)).then(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([all, timedOut]);
    clearTimeout(timer);
    for (const session of this.sessions) session.destroy();
    await closed;
  }

  /** Dual mode: does `STARTTLS <host> MODE=DMTPv1` name a host served here (our host name or a local domain)? */
  serves(host: string): boolean {
    const name = host.toLowerCase();
    return name === this.options.hostname.toLowerCase() || this.options.localDomains.includes(name);
  }

  /**
   * Dual mode (docs/dmtp.md §3): takes over a plain socket of the SMTP listener after it answered
   * `220` to `STARTTLS <host> MODE=DMTPv1`: TLS handshake with this listener's key, then a DMTP
   * session whose greeting is `220 OK DMTPv1` (no second banner, as libdime's client expects).
   */
  upgrade(plain: Socket): void {
    const log = this.options.logger;
    const socket = new TLSSocket(plain, { isServer: true, secureContext: this.secureContext });
    const timer = setTimeout(() => socket.destroy(), this.options.limits.handshakeTimeoutMs);
    timer.unref();
    socket.on('error', (err: Error) => {
      clearTimeout(timer);
      log.info({ client: plain.remoteAddress, err: err.message }, 'dmtp dual-mode TLS handshake failed');
      socket.destroy();
    });
    socket.once('secure', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      this.onConnection(socket, { code: 220, lines: ['OK DMTPv1'] });
    });
  }

  private onConnection(socket: TLSSocket, greeting?: { code: number; lines: string[] }): void {
    const log = this.options.logger;
    const peer = {
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      tlsProtocol: socket.getProtocol() ?? undefined,
      tlsCipher: socket.getCipher()?.name,
    };
    if (this.draining || this.sessions.size >= this.options.limits.maxSessions) {
      socket.on('error', () => undefined);
      socket.end(this.draining ? '421 4.3.2 service shutting down\r\n' : '421 4.3.2 too many sessions, try again later\r\n');
      setTimeout(() => socket.destroy(), 2000).unref();
      log.warn({ client: peer.address, sessions: this.sessions.size }, 'dmtp session refused');
      return;
    }
    // replies are short and lock-step with commands: no Nagle delay (up to the peer's delayed ACK, ~40 ms)
    socket.setNoDelay(true);
    const session = new DmtpSession(socket, peer, {
      hostname: this.options.hostname,
      localDomains: this.options.localDomains,
      signets: this.options.signets,
      doorCheck: this.options.doorCheck,
      acceptor: this.options.acceptor,
      ...(this.options.directory ? { directory: this.options.directory } : {}),
      limits: this.options.limits,
      log: (level, fields, msg) => log[level](fields, msg),
    });
    this.sessions.add(session);
    void session.done.then(() => this.sessions.delete(session));
    session.start(greeting);
  }
}
