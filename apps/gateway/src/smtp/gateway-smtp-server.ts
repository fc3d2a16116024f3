// smtp-server as the gateway runs it. smtp-server (3.21) has no options for what the gateway needs,
// so its connection class is extended (smtp-server exports it as `smtp-server/lib/smtp-connection.js`):
//  - the greeting is sent at once: SMTPConnection.init() waits a hard-coded 100 ms first;
//  - MAIL FROM / RCPT TO paths go through the strict parser (smtp-path.ts) before smtp-server's
//    lenient one, and the parsed path is handed to onMailFrom/onRcptTo (parsedPathOf);
//  - replies whose text starts with an enhanced status code are sent as they are;
//  - AUTH is only advertised and accepted after STARTTLS;
//  - graceful drain: idle sessions are closed with 421, a session inside a mail transaction
//    finishes it (its DATA still gets the real reply), then it is closed: its next command gets
//    421 (QUIT gets 221), or, if none comes within DRAIN_IDLE_MS of its last reply, an unsolicited
//    421 (so a client that sends QUIT right after its 250 is not answered 421 by the drain's poll).
// The e2e tests exercise each of these, so an smtp-server upgrade that changes the internals fails them.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { parseDmtpCommand, type DmtpCommand } from '@lib/dime';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { parsePathCommand, type MailPath } from './smtp-path';
import { PATH_REPLIES, REPLIES, type SmtpReply } from './smtp-replies';

const PARSED_PATH = Symbol('gatewayParsedPath');
type SessionWithPath = SMTPServerSession & { [PARSED_PATH]?: MailPath | null };

/** The strictly parsed path of the MAIL FROM / RCPT TO command being handled (null: `<>`). */
export function parsedPathOf(session: SMTPServerSession): MailPath | null {
  const path = (session as SessionWithPath)[PARSED_PATH];
  if (path === undefined) throw new RangeError('"session" has no parsed path: called outside onMailFrom/onRcptTo');
  return path;
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

/** While draining, how long a session that just exchanged a command and reply may stay before the unsolicited 421. */
export const DRAIN_IDLE_MS = 250;

export function sendReply(connection: { send(code: number, data?: string, context?: string | false): void }, r: SmtpReply): void {
  connection.send(r.code, `${r.enhanced} ${r.text}`, false);
}

export interface GatewaySmtpServerOptions extends SMTPServerOptions {
  /** RCPT TO:<postmaster> (RFC 5321 4.5.1, must be accepted) is read as postmaster@this domain. */
  readonly postmasterDomain?: string;
  /** Dual mode (docs/dmtp.md §3): `STARTTLS <host> MODE=DMTPv1` hands the connection to the DMTP listener. */
  readonly dmtpDualMode?: DmtpDualMode;
}

/** What the SMTP port needs of the DMTP listener for dual mode (DmtpServer fits). */
export interface DmtpDualMode {
  /** True for a host name the DMTP service answers for. */
  serves(host: string): boolean;
  /** Takes over the plain socket after our `220`: TLS handshake, then the DMTP session. */
  upgrade(socket: Socket): void;
}


class GatewaySmtpConnection extends SMTPConnection {
  private inEhlo = false;
  /** When this session last got a command or sent a reply (ms, Date.now). */
  lastActivity = Date.now();

  constructor(
    private readonly gateway: GatewaySmtpServer,
    socket: Socket | TLSSocket,
    options: SMTPConnectionOptions | null | undefined,
  ) {
    super(gateway, socket, options);
  }

  /** As SMTPConnection.init(), without the 100 ms pause before the greeting. */
  override init(): void {
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        this.send(421, `${this._server.options.name ?? ''} Too many connected clients, try again in a moment`, false);
        return;
      }
      this.connectionReady();
    });
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    this.lastActivity = Date.now();
    if (this.inEhlo && Array.isArray(data) && !this.secure) data = data.filter((line) => !line.startsWith('AUTH '));
    if (typeof data === 'string' && ENHANCED.test(data)) return super.send(code, data, false);
    super.send(code, data, context);
  }

  /** True while a mail transaction is open (after MAIL FROM, until its DATA reply or RSET). */
  get inTransaction(): boolean {
    return Boolean(this.session.envelope?.mailFrom) || Boolean(this._dataStream) || this._handlerPending;
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    this.lastActivity = Date.now();
    if (this.gateway.draining && !this.inTransaction && this._ready) {
      const name = command.toString('latin1').split(' ')[0]!.toUpperCase();
      if (name !== 'QUIT') {
        sendReply(this, REPLIES.shuttingDown);
        return;
      }
    }
    super._onCommand(command, callback);
  }

  override handler_EHLO(command: Buffer, callback: () => void): void {
    this.inEhlo = true;
    try {
      super.handler_EHLO(command, callback);
    } finally {
      this.inEhlo = false;
    }
  }

  override handler_STARTTLS(command: Buffer, callback: () => void): void {
    const dual = this.gateway.dmtpDualMode;
    const line = command.toString('latin1').trim();
    if (!dual || !/[ \t]MODE=/i.test(line)) return super.handler_STARTTLS(command, callback);
    let cmd: DmtpCommand | undefined;
    try {
      cmd = parseDmtpCommand(line);
    } catch {
      cmd = undefined; // the DMTP grammar's own error text is not needed: one syntax reply
    }
    const host = cmd?.verb === 'STARTTLS' ? cmd.host : undefined;
    if (cmd?.verb !== 'STARTTLS' || cmd.mode !== 'DMTPv1') sendReply(this, { code: 501, enhanced: '5.5.2', text: 'syntax: STARTTLS [<host>] MODE=DMTPv1' });
    else if (this.secure) sendReply(this, { code: 503, enhanced: '5.5.1', text: 'already in TLS' });
    else if (host !== undefined && !dual.serves(host)) sendReply(this, { code: 501, enhanced: '5.5.4', text: `${host} is not served here` });
    else return this.handOverToDmtp(dual, callback);
    callback();
  }

  /**
   * After `220`, the connection is no longer an SMTP session: the parser is retired (whatever the
   * client pipelined after STARTTLS is dropped unread, never executed: CVE-2011-0411), the socket
   * leaves this server's bookkeeping and goes to the DMTP listener for the TLS handshake.
   */
  private handOverToDmtp(dual: DmtpDualMode, callback: () => void): void {
    sendReply(this, { code: 220, enhanced: '2.0.0', text: 'ready to start TLS' });
    const socket = this._socket as Socket;
    if (this._parser) {
      socket.unpipe(this._parser);
      this._parser.isClosed = true;
    }
    setImmediate(callback);
    socket.removeAllListeners();
    socket.setTimeout(0);
    this._closed = true;
    this.gateway.connections.delete(this);
    dual.upgrade(socket);
  }

  override handler_AUTH(command: Buffer, callback: () => void): void {
    if (!this.secure) {
      sendReply(this, REPLIES.tlsRequiredForAuth);
      return callback();
    }
    super.handler_AUTH(command, callback);
  }

  override handler_MAIL(command: Buffer, callback: () => void): void {
    const r = parsePathCommand(command.toString('latin1'), 'MAIL FROM');
    if (!r.ok) {
      sendReply(this, { ...PATH_REPLIES[r.code], text: `${PATH_REPLIES[r.code].text} (${r.detail})` });
      return callback();
    }
    (this.session as SessionWithPath)[PARSED_PATH] = r.path;
    super.handler_MAIL(command, callback);
  }

  override handler_RCPT(command: Buffer, callback: () => void): void {
    const line = command.toString('latin1');
    const domain = this.gateway.postmasterDomain;
    let r = parsePathCommand(line, 'RCPT TO');
    if (!r.ok && domain && /^rcpt to: *<postmaster>( |$)/i.test(line)) {
      r = { ok: true, path: { localPart: 'postmaster', domain, address: `postmaster@${domain}` }, rest: '' };
    }
    if (!r.ok) {
      sendReply(this, { ...PATH_REPLIES[r.code], text: `${PATH_REPLIES[r.code].text} (${r.detail})` });
      return callback();
    }
    (this.session as SessionWithPath)[PARSED_PATH] = r.path;
    super.handler_RCPT(command, callback);
  }
}

export class GatewaySmtpServer extends SMTPServer {
  draining = false;
  readonly postmasterDomain: string | undefined;
  readonly dmtpDualMode: DmtpDualMode | undefined;

  constructor(options: GatewaySmtpServerOptions) {
    super({
      disableReverseLookup: true,
      hideENHANCEDSTATUSCODES: false,
      // XCLIENT/XFORWARD would let a client claim another address; the sendmail jokes are noise
      disabledCommands: [...(options.disabledCommands ?? []), 'XCLIENT', 'XFORWARD', 'WIZ', 'SHELL', 'KILL'],
      ...withoutDisabled(options),
    });
    this.postmasterDomain = options.postmasterDomain;
    this.dmtpDualMode = options.dmtpDualMode;
  }

  /** As SMTPServer.connect, with the gateway's connection class. */
  override connect(socket: Socket | TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new GatewaySmtpConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }

  /**
   * Stops accepting, closes idle sessions with 421 and lets sessions inside a mail transaction
   * finish it; after `timeoutMs` whatever remains is closed. Resolves once every session is gone.
   */
  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    return new Promise((resolve) => {
      const done = (): void => {
        clearInterval(poll);
        clearTimeout(deadline);
        this.options.closeTimeout = 1;
        this.close(() => resolve());
      };
      const poll = setInterval(() => {
        const now = Date.now();
        for (const c of this.connections as Set<SMTPConnection> as Set<GatewaySmtpConnection>) {
          if (!c.inTransaction && c._ready && !c._closing && now - c.lastActivity >= DRAIN_IDLE_MS) {
            sendReply(c, REPLIES.shuttingDown);
          }
        }
        if (this.connections.size === 0) done();
      }, 50);
      const deadline = setTimeout(done, timeoutMs);
      this.server.close();
    });
  }
}

function withoutDisabled(options: GatewaySmtpServerOptions): SMTPServerOptions {
  const { disabledCommands: _d, postmasterDomain: _p, dmtpDualMode: _m, ...rest } = options;
  return rest;
}
