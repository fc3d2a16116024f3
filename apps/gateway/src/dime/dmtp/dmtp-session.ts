// One DMTP server session on an authenticated (TLS) stream, in the dialect of docs/dmtp.md: banner,
// EHLO, org-to-org MAIL/RCPT, length-delimited binary DATA, SGNT/VRFY/HIST from the LocalSignetSource,
// NOOP/RSET/HELP/MODE/QUIT. Commands are handled one at a time in arrival order (pipelining is
// safe). Before a 250 to DATA the message passes the DimeDoorCheck and the acceptor (durable
// acceptance); the reply is exactly theirs; anything thrown becomes 451 4.3.0 and the session goes on.
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  DMTP_BANNER_TOKEN,
  DmtpStreamReader,
  formatDmtpReply,
  isDimeError,
  isDmtpVerb,
  parseDmtpCommand,
  parseDmtpReplyLine,
  signetFingerprint,
  type DmtpCommand,
  type DmtpReply,
  type Signet,
} from '@lib/dime';
import type { DimeDirectory } from '../dime-directory';
import type { DimeDoorCheck } from '../dime-inbound';
import type { LocalSignetSource } from '../local-signets';
import { isDiscoveryError } from '../discovery/discovery.error';
import { localSignet, servedSignet, signetFingerprints } from './served-signet';

/** Who is on the other end, for logs, trace headers and the acceptor. */
export interface DmtpPeer {
  readonly address: string;
  readonly port: number;
  /** The EHLO/HELO argument. */
  readonly helo: string | undefined;
  /** e.g. TLSv1.3. */
  readonly tlsProtocol: string | undefined;
  readonly tlsCipher: string | undefined;
}

export interface DmtpAcceptInput {
  readonly originDomain: string;
  readonly destinationDomain: string;
  /** From the door check (the destination envelope): the local recipient mailbox. */
  readonly recipient: string;
  /** From the door check: the author mailbox (origin envelope data known to the door). */
  readonly author: string;
  readonly message: Uint8Array;
  readonly peer: DmtpPeer;
  /** The id of the 354 `CONTINUE [id]`; the 250 should echo it: `250 OK [id]`. */
  readonly transactionId: string;
  /** MAIL's RETURN= (default FULL). */
  readonly returnType: 'FULL' | 'DISPLAY' | 'HEADER';
}

/** Durable acceptance: resolves with the exact reply line to send, e.g. `250 OK [t-1a2b]`. */
export type DmtpAcceptor = (input: DmtpAcceptInput) => Promise<{ readonly reply: string }>;

export interface DmtpSessionLimits {
  /** Largest D/MIME message (SIZE and the message's own header), bytes. */
  readonly maxMessageBytes: number;
  /** Idle time between commands before `421 4.4.2 timeout`. */
  readonly idleTimeoutMs: number;
  /** Longest stall while the message bytes arrive. */
  readonly dataTimeoutMs: number;
  /** Command errors in a row before `421` and close (docs/dmtp.md §2: 3). */
  readonly maxErrors: number;
}

export interface DmtpSessionOptions {
  readonly hostname: string;
  readonly localDomains: readonly string[];
  readonly signets: LocalSignetSource;
  readonly doorCheck: DimeDoorCheck;
  readonly acceptor: DmtpAcceptor;
  /** When given, MAIL FROM is checked: the origin must publish a valid `_dx` record (and match FINGERPRINT=). */
  readonly directory?: DimeDirectory;
  readonly limits: DmtpSessionLimits;
  /** Log sink (pino-like): only what happened, never message content. */
  readonly log: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
}

type Reply = DmtpReply;
const r = (code: number, ...lines: string[]): Reply => ({ code, lines });

const REPLY = {
  ok: r(250, '2.0.0 OK'),
  bye: r(221, '2.0.0 bye'),
  temporary: r(451, '4.3.0 temporary failure, try again later'),
  timeout: r(421, '4.4.2 timeout'),
  tooManyErrors: r(421, '4.7.0 too many errors, closing'),
  shuttingDown: r(421, '4.3.2 service shutting down'),
  lineTooLong: r(500, '5.5.6 line too long'),
  sendEhlo: r(503, '5.5.1 send EHLO first'),
  nestedMail: r(503, '5.5.1 MAIL already given (RSET first)'),
  needMail: r(503, '5.5.1 send MAIL first'),
  needRcpt: r(503, '5.5.1 send MAIL and RCPT first'),
  oneDestination: r(452, '4.5.3 one destination per message'),
  alreadyTls: r(503, '5.5.1 already in TLS'),
  malformed: r(554, '5.6.0 DIME message malformed'),
  tooLarge: r(552, '5.3.4 message too large'),
  sizeExceeded: r(552, '5.3.4 message size exceeds fixed limit'),
  sizeDiffers: r(554, '5.6.0 DIME message malformed: size differs from SIZE'),
  staleFingerprint: r(550, '5.7.1 stale organisational signet fingerprint'),
} as const;

const HELP_LINES = ['2.0.0 DMTPv1 commands:', 'EHLO HELO MODE MAIL RCPT DATA', 'SGNT VRFY HIST', 'NOOP RSET HELP QUIT'];

/** Printable-ASCII, bounded detail for a reply (parser messages quote the client's input). */
function detail(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

export class DmtpSession {
  private readonly reader: DmtpStreamReader;
  private helo: string | undefined;
  private mail: { from: string; size?: number; returnType: 'FULL' | 'DISPLAY' | 'HEADER' } | undefined;
  private rcpt: string | undefined;
  private dataId: string | undefined;
  private busy = false;
  private closed = false;
  private draining = false;
  private errors = 0;
  private discardingLine = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly socket: Duplex,
    private readonly peerInfo: Omit<DmtpPeer, 'helo'>,
    private readonly options: DmtpSessionOptions,
  ) {
    this.reader = new DmtpStreamReader({ maxMessageSize: options.limits.maxMessageBytes });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => {
      this.options.log('info', { client: peerInfo.address, err: err.message }, 'dmtp connection error');
      this.close();
    });
    socket.once('close', () => {
      this.closed = true;
      this.clearTimer();
    });
  }

  /** True between MAIL and the end of the transaction (DATA reply or RSET). */
  get inTransaction(): boolean {
    return this.mail !== undefined;
  }

  /** Resolves when the connection has closed. */
  get done(): Promise<void> {
    return this.closedPromise;
  }

  /** Sends the greeting: the banner on port 26, or `220 OK DMTPv1` after the dual-mode handshake. */
  start(greeting: Reply = r(220, `${this.options.hostname} ${DMTP_BANNER_TOKEN} DIME Gateway ready`)): void {
    this.send(greeting);
    this.arm();
  }

  /** Graceful stop: an idle session is closed now with 421; one inside a transaction after its DATA reply. */
  drain(): void {
    this.draining = true;
    if (!this.busy && !this.inTransaction) this.closeWith(REPLY.shuttingDown);
  }

  /** Forced close (end of the drain grace). */
  destroy(): void {
    this.closed = true;
    this.clearTimer();
    this.socket.destroy();
  }

  // ------------------------------------------------------------------------- input

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    if (this.discardingLine) {
      const lf = chunk.indexOf(0x0a);
      if (lf < 0) return;
      this.discardingLine = false;
      chunk = chunk.subarray(lf + 1);
    }
    this.reader.push(chunk);
    if (!this.busy) this.arm();
    void this.pump();
  }

  /** Handles every complete command (or the message, in DATA) in order, one at a time. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.clearTimer();
    this.socket.pause();
    try {
      while (!this.closed) {
        if (this.dataId !== undefined) {
          let message: Buffer | undefined;
          try {
            message = this.reader.readMessage();
          } catch (err) {
            // the stream is out of step and cannot be resynchronised (docs/dmtp.md §5)
            const tooLarge = isDimeError(err) && err.code === 'TOO_LARGE';
            this.options.log('info', { client: this.peerInfo.address, err: (err as Error).message }, 'dmtp DATA framing error');
            this.closeWith(tooLarge ? REPLY.tooLarge : r(554, `5.6.0 DIME message malformed: ${detail((err as Error).message)}`));
            return;
          }
          if (message === undefined) break;
          await this.onMessage(message);
          continue;
        }
        let line: string | undefined;
        try {
          line = this.reader.readLine();
        } catch {
          this.discardCurrentLine();
          if (!this.commandError(REPLY.lineTooLong)) return;
          continue;
        }
        if (line === undefined) break;
        await this.onLine(line);
      }
    } catch (err) {
      // a bug in a handler: fail closed, keep nothing half-done
      this.options.log('error', { client: this.peerInfo.address, err: (err as Error).message }, 'dmtp session failed');
      this.resetTransaction();
      this.send(REPLY.temporary);
    } finally {
      this.busy = false;
      if (!this.closed) {
        this.socket.resume();
        this.arm();
        if (this.draining && !this.inTransaction) this.closeWith(REPLY.shuttingDown);
      }
    }
  }

  /** After an over-long line: drop it through its LF (now or as it keeps arriving). */
  private discardCurrentLine(): void {
    const buffered = this.reader.takeBuffered();
    const lf = buffered.indexOf(0x0a);
    if (lf < 0) this.discardingLine = true;
    else this.reader.push(buffered.subarray(lf + 1));
  }

  /** Sends a command error; false when it was one too many and the session is closed. */
  private commandError(reply: Reply): boolean {
    this.errors++;
    this.send(reply);
    if (this.errors >= this.options.limits.maxErrors) {
      this.closeWith(REPLY.tooManyErrors);
      return false;
    }
    return true;
  }

  private async onLine(line: string): Promise<void> {
    let cmd: DmtpCommand;
    try {
      cmd = parseDmtpCommand(line);
    } catch (err) {
      if (!isDimeError(err)) throw err;
      const word = (line.trim().split(/[ \t]/)[0] ?? '').toUpperCase();
      this.commandError(isDmtpVerb(word) ? r(501, `5.5.2 syntax error: ${detail(err.message.replace(/^DMTP command: /, ''))}`) : r(500, '5.5.1 unknown command'));
      return;
    }
    this.errors = 0;
    if (this.draining && !this.inTransaction && cmd.verb !== 'QUIT') {
      this.closeWith(REPLY.shuttingDown);
      return;
    }
    this.send(await this.onCommand(cmd));
  }

  // ------------------------------------------------------------------------- commands

  private async onCommand(cmd: DmtpCommand): Promise<Reply> {
    switch (cmd.verb) {
      case 'EHLO':
      case 'HELO':
        this.helo = cmd.host;
        this.resetTransaction();
        return cmd.verb === 'EHLO' ? r(250, this.options.hostname, `SIZE ${this.options.limits.maxMessageBytes}`, DMTP_BANNER_TOKEN) : r(250, this.options.hostname);
      case 'MODE':
        return r(250, `OK ${DMTP_BANNER_TOKEN}`);
      case 'STARTTLS':
        return REPLY.alreadyTls;
      case 'NOOP':
        return REPLY.ok;
      case 'RSET':
        this.resetTransaction();
        return REPLY.ok;
      case 'HELP':
        return r(214, ...HELP_LINES);
      case 'QUIT':
        this.closeWith(REPLY.bye);
        return REPLY.bye; // not sent: closeWith already did
      case 'MAIL':
        return this.onMail(cmd);
      case 'RCPT':
        return this.onRcpt(cmd);
      case 'DATA':
        return this.onData354();
      case 'SGNT':
      case 'VRFY':
      case 'HIST':
        return this.onSignetCommand(cmd);
    }
  }

  private async onMail(cmd: Extract<DmtpCommand, { verb: 'MAIL' }>): Promise<Reply> {
    if (this.helo === undefined) return REPLY.sendEhlo;
    if (this.mail !== undefined) return REPLY.nestedMail;
    if (cmd.size !== undefined && cmd.size > this.options.limits.maxMessageBytes) return REPLY.sizeExceeded;
    const directory = this.options.directory;
    if (directory) {
      try {
        const origin = await directory.lookupDomain(cmd.from);
        if (!origin) return r(550, `5.7.5 no DIME management record for ${cmd.from}`);
        if (cmd.fingerprint !== undefined && !signetFingerprints(localSignet(origin.orgSignet)).has(cmd.fingerprint)) return REPLY.staleFingerprint;
      } catch (err) {
        this.options.log('warn', { client: this.peerInfo.address, origin: cmd.from, err: (err as Error).message }, 'dmtp origin lookup failed');
        // what the origin publishes is wrong (its own doing): permanent; anything else may pass
        if (isDiscoveryError(err) && err.code === 'RECORD_INVALID') return r(554, '5.7.5 origin DIME management record invalid');
        if (isDiscoveryError(err) && err.code === 'SIGNET_INVALID') return r(554, `5.7.5 organisational signet of ${cmd.from} does not validate against its DIME management record`);
        if (isDiscoveryError(err) && err.code === 'SIGNET_NOT_FOUND') return r(554, `5.7.5 ${cmd.from} serves no organisational signet`);
        return r(451, `4.4.3 DIME lookup of ${cmd.from} failed (${isDiscoveryError(err) ? err.code : 'internal'}), try again later`);
      }
    }
    this.mail = { from: cmd.from, returnType: cmd.returnType ?? 'FULL', ...(cmd.size !== undefined ? { size: cmd.size } : {}) };
    return r(250, '2.1.0 OK');
  }

  private async onRcpt(cmd: Extract<DmtpCommand, { verb: 'RCPT' }>): Promise<Reply> {
    if (this.mail === undefined) return REPLY.needMail;
    if (this.rcpt !== undefined) return REPLY.oneDestination;
    if (!this.options.localDomains.includes(cmd.to)) return r(550, `5.1.2 ${cmd.to} is not served here`);
    if (cmd.fingerprint !== undefined) {
      const own = await this.options.signets.orgSignet(cmd.to);
      if (!own) return r(550, `5.1.2 ${cmd.to} is not served here`);
      if (!signetFingerprints(localSignet(own)).has(cmd.fingerprint)) return REPLY.staleFingerprint;
    }
    this.rcpt = cmd.to;
    return r(250, '2.1.5 OK');
  }

  private onData354(): Reply {
    if (this.mail === undefined || this.rcpt === undefined) return REPLY.needRcpt;
    this.dataId = `t-${randomBytes(6).toString('hex')}`;
    const size = this.mail.size;
    return r(354, `CONTINUE [${this.dataId}] ${size !== undefined ? `send ${size} octets` : 'send the message'} then CRLF`);
  }

  private async onMessage(message: Buffer): Promise<void> {
    const transactionId = this.dataId as string;
    const mail = this.mail!;
    const destinationDomain = this.rcpt!;
    this.dataId = undefined;
    const log = { client: this.peerInfo.address, transaction: transactionId, origin: mail.from, destination: destinationDomain, bytes: message.length };
    let reply: Reply;
    try {
      if (mail.size !== undefined && mail.size !== message.length) {
        reply = REPLY.sizeDiffers;
      } else {
        const verdict = await this.options.doorCheck.check({ originDomain: mail.from, destinationDomain, message });
        if (!verdict.ok) {
          reply = this.replyFromLine(verdict.reply, 'door check');
        } else {
          const accepted = await this.options.acceptor({
            originDomain: mail.from,
            destinationDomain,
            recipient: verdict.recipient,
            author: verdict.author,
            message,
            peer: { ...this.peerInfo, helo: this.helo },
            transactionId,
            returnType: mail.returnType,
          });
          reply = this.replyFromLine(accepted.reply, 'acceptor');
        }
      }
    } catch (err) {
      this.options.log('error', { ...log, err: (err as Error).message }, 'dmtp message handling failed');
      reply = REPLY.temporary;
    }
    this.options.log('info', { ...log, reply: reply.code }, 'dmtp message');
    this.resetTransaction();
    this.send(reply);
  }

  /** A reply line from the door check or acceptor; a malformed one is a bug there: 451 (fail closed). */
  private replyFromLine(line: string, from: string): Reply {
    try {
      const parsed = parseDmtpReplyLine(String(line).replace(/\r?\n$/, ''));
      if (!parsed.more && parsed.code !== 354 && parsed.code !== 221 && parsed.code >= 250) return { code: parsed.code, lines: [parsed.text] };
    } catch {
      // fall through
    }
    this.options.log('error', { client: this.peerInfo.address, from }, 'malformed reply line, answering 451');
    return REPLY.temporary;
  }

  private async onSignetCommand(cmd: Extract<DmtpCommand, { verb: 'SGNT' | 'VRFY' | 'HIST' }>): Promise<Reply> {
    const domain = cmd.kind === 'user' ? domainOf(cmd.name) : cmd.name;
    if (!this.options.localDomains.includes(domain)) return r(550, `5.1.2 ${domain} is not served here`);
    let bytes: Uint8Array | undefined;
    try {
      bytes = cmd.kind === 'user' ? await this.options.signets.userSignet(cmd.name) : await this.options.signets.orgSignet(cmd.name);
    } catch (err) {
      this.options.log('error', { client: this.peerInfo.address, verb: cmd.verb, err: (err as Error).message }, 'signet source failed');
      return REPLY.temporary;
    }
    if (!bytes) return r(550, `5.1.1 no signet for ${cmd.name}`);
    const signet: Signet = localSignet(bytes);
    const names = signetFingerprints(signet);
    const noSuch = r(550, `5.1.1 no signet of ${cmd.name} with that fingerprint`);
    const served = servedSignet(signet).toString('base64');
    switch (cmd.verb) {
      case 'SGNT':
        if (cmd.fingerprint !== undefined && !names.has(cmd.fingerprint)) return noSuch;
        return r(250, `OK [${served}]`);
      case 'VRFY':
        return names.has(cmd.fingerprint) ? r(250, 'CURRENT') : r(250, `UPDATE ${signetFingerprint(signet, 'full')}`);
      case 'HIST':
        // Only the current signet is held here (LocalSignetSource): the chain from START to the
        // current one exists only when START (and STOP) name the current signet itself.
        if (!names.has(cmd.start) || (cmd.stop !== undefined && !names.has(cmd.stop))) return noSuch;
        return r(250, `[${served}]`, 'OK 1');
    }
  }

  // ------------------------------------------------------------------------- output and state

  private resetTransaction(): void {
    this.mail = undefined;
    this.rcpt = undefined;
    this.dataId = undefined;
  }

  private send(reply: Reply): void {
    if (this.closed) return;
    this.socket.write(formatDmtpReply(reply));
  }

  private closeWith(reply: Reply): void {
    if (this.closed) return;
    this.send(reply);
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.socket.end();
    // a peer that never reads must not keep the socket: destroy after a short grace
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private arm(): void {
    this.clearTimer();
    if (this.closed) return;
    const ms = this.dataId !== undefined ? this.options.limits.dataTimeoutMs : this.options.limits.idleTimeoutMs;
    this.timer = setTimeout(() => {
      this.options.log('info', { client: this.peerInfo.address, inData: this.dataId !== undefined }, 'dmtp session timeout');
      this.closeWith(REPLY.timeout);
    }, ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
