// The gateway's two SMTP listeners and their policies:
//  - 'smtp' (inbound from the Internet): STARTTLS offered, no AUTH, recipients only in localDomains
//    (never an open relay), direction 'inbound';
//  - 'submission' (the legacy server's smart host): clients from SUBMISSION_NETWORKS, or any client
//    after SMTP AUTH over TLS (SUBMISSION_AUTH_FILE); recipients anywhere, direction 'outbound'.
// Both: strict paths, SIZE, line/NUL/bare-LF/bare-CR checks while DATA streams, max recipients, and
// durable acceptance before the 250. A failure nobody foresaw is answered 451 4.3.0 (fail closed).
import type { SecureContext, SecureContextOptions } from 'node:tls';
import { useHsmSmtpContext } from '@lib/hsm';
import { SecureContextClass } from '../tls/shared-tls-context';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { AcceptRequest, AcceptResult, ListenerName } from '../acceptance/acceptance.service';
import type { GatewayConfig } from '../gateway.config';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { inNetworks } from './client-networks';
import { GatewaySmtpServer, parsedPathOf, type DmtpDualMode } from './gateway-smtp-server';
import { MessageScanner, violationReply } from './message-scanner';
import { queued, REPLIES, SmtpRejection, type SmtpReply } from './smtp-replies';
import type { SubmissionAuthFile } from './submission-auth';

/** Idle time allowed between client commands (RFC 5321 4.5.3.2 asks for 5 minutes). */
const SESSION_TIMEOUT_MS = 5 * 60_000;

export interface Acceptor {
  accept(req: AcceptRequest): Promise<AcceptResult>;
}

export interface SmtpListenerOptions {
  readonly name: ListenerName;
  readonly config: GatewayConfig;
  readonly acceptor: Acceptor;
  readonly metrics: GatewayMetrics;
  readonly logger: GatewayLogger;
  /**
   * STARTTLS: the process's one context for the HSM key (hsmListenerTls; see
   * tls/shared-tls-context.ts), or key/cert options (tests); undefined: no STARTTLS (tests only).
   */
  readonly tls: SecureContext | SecureContextOptions | undefined;
  /** Submission only: users for SMTP AUTH; undefined: AUTH off. */
  readonly auth?: SubmissionAuthFile;
  /** 'smtp' only: the DMTP listener for dual mode (`STARTTLS <host> MODE=DMTPv1`, banner token DMTPv1); undefined: off. */
  readonly dmtpDualMode?: DmtpDualMode;
  readonly clock?: () => number;
}

export class SmtpListener {
  readonly server: GatewaySmtpServer;
  private readonly log: GatewayLogger;
  private readonly clock: () => number;

  constructor(private readonly options: SmtpListenerOptions) {
    this.log = options.logger.child({ listener: options.name });
    this.clock = options.clock ?? Date.now;
    const { config, name, tls, auth } = options;
    const disabled = [...(tls ? [] : ['STARTTLS']), ...(name === 'submission' && auth ? [] : ['AUTH'])];
    const smtp: SMTPServerOptions = {
      name: config.hostname,
      logger: false,
      secure: false,
      // a shared context is set after construction: key options here would load the key once more
      ...(tls && !(tls instanceof SecureContextClass) ? tls : {}),
      hideSTARTTLS: !tls,
      disabledCommands: disabled,
      authOptional: true,
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: false,
      size: config.limits.maxMessageBytes,
      maxClients: config.limits.maxConnections,
      maxRecipients: config.limits.maxRecipients,
      hideSMTPUTF8: true,
      hideDSN: true,
      hideREQUIRETLS: true,
      socketTimeout: SESSION_TIMEOUT_MS,
      onConnect: (session, cb) => this.guard(session, cb, () => this.onConnect(session)),
      onAuth: (a, session, cb) => void this.onAuth(a, session).then((user) => cb(null, user ? { user } : { user: undefined }), () => cb(new SmtpRejection(REPLIES.authUnavailable))),
      onMailFrom: (address, session, cb) => this.guard(session, cb, () => this.onMailFrom(address, session)),
      onRcptTo: (address, session, cb) => this.guard(session, cb, () => this.onRcptTo(address, session)),
      onData: (stream, session, cb) => this.onData(stream, session, cb),
    };
    const dual = name === 'smtp' && tls ? options.dmtpDualMode : undefined;
    this.server = new GatewaySmtpServer({
      ...smtp,
      ...(name === 'smtp' ? { postmasterDomain: config.orgDomain } : {}),
      // libdime's client falls back to port 25 only when the SMTP banner carries the DMTPv1 token (docs/dmtp.md §3)
      ...(dual ? { dmtpDualMode: dual, banner: 'DMTPv1' } : {}),
    });
    if (tls instanceof SecureContextClass) useHsmSmtpContext(this.server, tls);
    this.server.on('error', (err: Error & { code?: string }) => this.log.warn({ err: err.message, code: err.code }, 'smtp connection error'));
  }

  /** Listens; resolves with the bound port (0 picks a free one). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.server.off('error', onError);
        const address = this.server.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Graceful stop: see GatewaySmtpServer.drain. */
  drain(timeoutMs: number): Promise<void> {
    return this.server.drain(timeoutMs);
  }

  get activeSessions(): number {
    return this.server.connections.size;
  }

  private refuse(reply: SmtpReply, reason: string): SmtpRejection {
    this.options.metrics.rejected.inc({ listener: this.options.name, class: `${String(reply.code)[0]}xx`, reason });
    return new SmtpRejection(reply);
  }

  /** Runs a policy check; a refusal is passed on, anything else thrown becomes 451 4.3.0. */
  private guard(session: SMTPServerSession, cb: (err?: Error | null) => void, check: () => SmtpRejection | undefined): void {
    let result: SmtpRejection | undefined;
    try {
      result = check();
    } catch (error) {
      this.log.error({ session: session.id, err: error instanceof Error ? error.message : String(error) }, 'policy check failed');
      result = this.refuse(REPLIES.temporary, 'internal');
    }
    cb(result ?? null);
  }

  private mayRelay(session: SMTPServerSession): boolean {
    const { submission } = this.options.config;
    if (session.user) return true;
    return !submission.requireAuth && inNetworks(session.remoteAddress ?? '', submission.networks);
  }

  private onConnect(session: SMTPServerSession): SmtpRejection | undefined {
    // without AUTH, a submission client outside the networks could never send: say so at once
    if (this.options.name === 'submission' && !this.options.auth && !this.mayRelay(session)) {
      return this.refuse({ code: 554, enhanced: '5.7.1', text: 'Access denied: this client may not submit mail here' }, 'client-network');
    }
    return undefined;
  }

  private async onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<string | undefined> {
    const file = this.options.auth;
    if (!file || (auth.method !== 'PLAIN' && auth.method !== 'LOGIN') || !auth.username || typeof auth.password !== 'string') return undefined;
    const ok = await file.verify(auth.username, auth.password);
    this.log.info({ session: session.id, user: auth.username, client: session.remoteAddress, ok }, 'smtp auth');
    if (!ok) this.options.metrics.rejected.inc({ listener: this.options.name, class: '5xx', reason: 'auth' });
    return ok ? auth.username : undefined;
  }

  private onMailFrom(address: SMTPServerAddress, session: SMTPServerSession): SmtpRejection | undefined {
    const path = parsedPathOf(session);
    if (this.options.name === 'submission' && !this.mayRelay(session)) return this.refuse(REPLIES.authRequired, 'auth-required');
    address.address = path?.address ?? '';
    return undefined;
  }

  private onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): SmtpRejection | undefined {
    const path = parsedPathOf(session);
    if (!path) return this.refuse(REPLIES.temporary, 'internal');
    if (this.options.name === 'smtp' && !this.options.config.localDomains.includes(path.domain)) {
      this.log.info({ session: session.id, client: session.remoteAddress, rcpt: path.address }, 'relay attempt refused');
      return this.refuse(REPLIES.relayDenied, 'relay');
    }
    address.address = path.address;
    return undefined;
  }

  private onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void {
    const limits = this.options.config.limits;
    const scanner = new MessageScanner({ maxMessageBytes: limits.maxMessageBytes, maxLineBytes: limits.maxLineBytes });
    let aborted = false;
    stream.on('data', (chunk: Buffer) => scanner.push(chunk));
    stream.on('error', () => {
      aborted = true;
    });
    stream.once('end', () => {
      const dataEndedAt = this.clock();
      if (aborted) return cb(new SmtpRejection(REPLIES.temporary));
      const violation = scanner.finish();
      if (violation) {
        this.log.info({ session: session.id, client: session.remoteAddress, violation, bytes: scanner.byteLength }, 'message refused');
        return cb(this.refuse(violationReply(violation, limits), violation.toLowerCase()));
      }
      const envelope = session.envelope;
      const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
      const recipients = envelope.rcptTo.map((r) => ({ address: r.address, domain: r.address.slice(r.address.lastIndexOf('@') + 1).toLowerCase() }));
      this.options.acceptor
        .accept({
          listener: this.options.name,
          direction: this.options.name === 'smtp' ? 'inbound' : 'outbound',
          mailFrom,
          recipients,
          clientAddress: session.remoteAddress ?? '',
          clientHelo: session.hostNameAppearsAs || null,
          authUser: typeof session.user === 'string' ? session.user : null,
          secure: session.secure,
          message: scanner.message(),
          dataEndedAt,
        })
        .then(
          (result) => {
            const r = queued(result.queueId);
            cb(null, `${r.enhanced} ${r.text}`);
          },
          (error: unknown) => {
            this.log.error({ session: session.id, err: error instanceof Error ? error.message : String(error) }, 'acceptance failed');
            cb(this.refuse(REPLIES.temporary, 'acceptance'));
          },
        );
    });
  }
}
