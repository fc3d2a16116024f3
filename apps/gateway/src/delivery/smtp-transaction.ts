// One SMTP transaction to one next hop (nodemailer's SMTPConnection as the protocol engine), under
// a TLS policy:
//   opportunistic      STARTTLS when offered, certificate not checked; if the TLS handshake
//                      fails, one more session in plaintext (as Postfix's "may" level)
//   required           STARTTLS or nothing: the client insists on STARTTLS, so a server that does
//                      not offer it never sees MAIL FROM, let alone the message
//   required-verified  as required, and the certificate must chain to the trusted CAs and match
//                      the next hop's name
// The caller's `onAccepted` runs on the server's 2xx to the message, before QUIT, so the delivery
// is recorded as early as possible (a crash after it does not send the message twice).
// Connection cache (as Postfix's on-demand cache): after a transaction that completed with a 2xx,
// the session is kept for IDLE_MS, for the next transaction to the same next hop under
// the same TLS options (same host, port, name, policy, trust anchors), at most MAX_USES times; a
// connect, greeting, EHLO, STARTTLS and QUIT less per message. A cached session that fails before
// giving this transaction a verdict (the server closed it meanwhile) is dropped and the transaction
// runs again on a new connection, as a new session would have; a session whose transaction did not
// end in a 2xx is closed, never cached.
import { isIP } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { TlsPolicy } from '@lib/db';
import type { NextHop } from './next-hop.resolver';

export interface SmtpTransactionRequest {
  readonly hop: NextHop;
  /** EHLO name: the gateway's host name. */
  readonly ehloName: string;
  readonly tlsPolicy: TlsPolicy;
  /** Trust anchors for required-verified (system CAs plus the configured file). */
  readonly trustedCa: readonly (string | Buffer)[];
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** '' for the null sender (DSNs). */
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly body: Buffer;
  onAccepted(accepted: readonly string[], reply: string): Promise<void>;
}

export interface RecipientOutcome {
  readonly address: string;
  /** The SMTP reply code that decided this recipient (2xx delivered, 4xx deferred, 5xx bounced). */
  readonly code: number;
  readonly reply: string;
}

export type SmtpTransactionResult =
  /** No message was accepted by this hop: try the next one (temporary) or bounce all (permanent). */
  | { readonly kind: 'session-failed'; readonly permanent: boolean; readonly reply: string; readonly tlsFailure: boolean }
  /** The transaction reached a verdict per recipient. */
  | { readonly kind: 'completed'; readonly secure: boolean; readonly outcomes: readonly RecipientOutcome[] };

type SmtpError = SMTPConnection.SMTPError & { originalCode?: string; rejectedErrors?: (SMTPConnection.SMTPError & { recipient?: string })[] };

/** Node's TLS verification and handshake error codes (SMTPConnection keeps them as originalCode). */
const TLS_ERROR_CODE = /^(ERR_TLS_|ERR_SSL_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|CERT_|HOSTNAME_MISMATCH)/;

/** STARTTLS refused, or the handshake or certificate check failed (SMTPConnection's `upgrading` is its internal TLS phase flag). */
function isTlsFailure(err: SmtpError, conn: SMTPConnection): boolean {
  return err.code === 'ETLS' || TLS_ERROR_CODE.test(err.originalCode ?? '') || (conn as unknown as { upgrading?: boolean }).upgrading === true;
}

/** A reply line for logs and DSNs from an SMTPConnection error. */
function replyOf(err: SmtpError, fallback: string): string {
  if (err.response) return err.response.replace(/\r?\n/g, ' ').trim();
  return `${fallback} (${err.code ?? 'ERROR'}: ${err.message})`;
}

export async function sendSmtpTransaction(req: SmtpTransactionRequest): Promise<SmtpTransactionResult> {
  const first = await attemptCached(req, false);
  if (first.kind === 'session-failed' && first.tlsFailure && req.tlsPolicy === 'opportunistic') return attemptCached(req, true);
  return first;
}

/** How long a session waits for the next transaction (Postfix: smtp_connection_cache_time_limit 2s). */
export const IDLE_MS = 2000;
/** Transactions per cached session (Postfix: smtp_connection_reuse_count_limit). */
export const MAX_USES = 100;
const MAX_IDLE_PER_KEY = 32;

interface IdleSession {
  readonly conn: SMTPConnection;
  readonly uses: number;
  readonly timer: NodeJS.Timeout;
  readonly onGone: () => void;
}

const idleSessions = new Map<string, IdleSession[]>();
const anchorIds = new WeakMap<readonly (string | Buffer)[], number>();
let nextAnchorId = 1;

/** Which sessions may carry this transaction: everything that shaped the session's TLS and EHLO. */
function sessionKey(req: SmtpTransactionRequest, plaintext: boolean): string {
  let anchors = anchorIds.get(req.trustedCa);
  if (anchors === undefined) anchorIds.set(req.trustedCa, (anchors = nextAnchorId++));
  return JSON.stringify([req.hop.host, req.hop.port, req.hop.name, req.ehloName, req.tlsPolicy, plaintext, anchors]);
}

function takeIdle(key: string): IdleSession | undefined {
  const list = idleSessions.get(key);
  const session = list?.pop();
  if (list && list.length === 0) idleSessions.delete(key);
  if (!session) return undefined;
  clearTimeout(session.timer);
  session.conn.removeListener('end', session.onGone);
  session.conn.removeListener('error', session.onGone);
  return session;
}

function putIdle(key: string, conn: SMTPConnection, uses: number): void {
  const list = idleSessions.get(key) ?? [];
  if (list.length >= MAX_IDLE_PER_KEY) return closeSession(conn);
  const drop = () => {
    const at = list.indexOf(session);
    if (at !== -1) list.splice(at, 1);
    if (list.length === 0 && idleSessions.get(key) === list) idleSessions.delete(key);
  };
  const onGone = () => {
    drop();
    clearTimeout(session.timer);
    conn.close();
  };
  const timer = setTimeout(() => {
    drop();
    conn.removeListener('end', onGone);
    closeSession(conn);
  }, IDLE_MS);
  timer.unref();
  const session: IdleSession = { conn, uses, timer, onGone };
  conn.once('end', onGone);
  conn.once('error', onGone);
  list.push(session);
  idleSessions.set(key, list);
}

function closeSession(conn: SMTPConnection): void {
  conn.quit();
  setTimeout(() => conn.close(), 5000).unref();
}

/** Closes every cached session (graceful shutdown). */
export function closeIdleSmtpSessions(): void {
  for (const key of [...idleSessions.keys()]) {
    for (let s = takeIdle(key); s; s = takeIdle(key)) closeSession(s.conn);
  }
}

async function attemptCached(req: SmtpTransactionRequest, plaintext: boolean): Promise<SmtpTransactionResult> {
  const key = sessionKey(req, plaintext);
  const cached = takeIdle(key);
  if (cached) {
    const result = await attempt(req, plaintext, key, cached);
    // the cached session died before this transaction got a verdict: a new session decides
    if (result.kind !== 'session-failed') return result;
  }
  return attempt(req, plaintext, key);
}

function connectionOptions(req: SmtpTransactionRequest, plaintext: boolean): SMTPConnection.Options {
  const { hop } = req;
  const verified = req.tlsPolicy === 'required-verified';
  const tls: TlsConnectionOptions = { minVersion: 'TLSv1.2', rejectUnauthorized: verified };
  if (verified) tls.ca = [...req.trustedCa];
  if (!isIP(hop.name)) tls.servername = hop.name;
  return {
    host: hop.host,
    port: hop.port,
    name: req.ehloName,
    secure: false,
    requireTLS: req.tlsPolicy !== 'opportunistic',
    opportunisticTLS: req.tlsPolicy === 'opportunistic' && !plaintext,
    ignoreTLS: req.tlsPolicy === 'opportunistic' && plaintext,
    tls,
    connectionTimeout: req.connectTimeoutMs,
    greetingTimeout: req.commandTimeoutMs,
    socketTimeout: req.commandTimeoutMs,
    logger: false,
  };
}

function attempt(req: SmtpTransactionRequest, plaintext: boolean, key: string, cached?: IdleSession): Promise<SmtpTransactionResult> {
  return new Promise((resolve, reject) => {
    const conn = cached?.conn ?? new SMTPConnection(connectionOptions(req, plaintext));
    if (!cached) conn.on('error', () => undefined); // errors after this transaction (QUIT, idle) are not its business
    let settled = false;
    const detach = () => {
      conn.removeListener('error', onError);
      conn.removeListener('end', onEnd);
    };
    const settle = (result: SmtpTransactionResult) => {
      if (settled) return;
      settled = true;
      detach();
      resolve(result);
    };
    // a failed session is a temporary verdict about this hop whatever the server said (even a
    // 5xx to STARTTLS): the reply is ours, with the server's words as detail
    const sessionFailed = (err: SmtpError) => {
      const tlsFailure = isTlsFailure(err, conn);
      const detail = (err.response ?? `${err.code ?? 'ERROR'}: ${err.message}`).replace(/\s+/g, ' ').trim();
      settle({
        kind: 'session-failed',
        permanent: false,
        reply: tlsFailure ? `454 4.7.10 TLS negotiation with ${req.hop.name} failed (policy ${req.tlsPolicy}): ${detail}` : `451 4.4.2 session with ${req.hop.name} failed: ${detail}`,
        tlsFailure,
      });
    };
    // Once the server said 2xx to the message, nothing that happens to the session (a timeout while
    // onAccepted waits for PostgreSQL, the server hanging up) makes it a failed session: the
    // message is there, and a failed session would be tried again (here, or on the next hop).
    let accepted = false;
    let broken = false;
    const onError = (err: SmtpError) => {
      broken = true;
      if (!accepted) sessionFailed(err);
    };
    const onEnd = () => {
      broken = true;
      if (!accepted) sessionFailed(Object.assign(new Error('connection closed'), { code: 'ECONNECTION' }));
    };
    conn.on('error', onError);
    conn.once('end', onEnd);

    const transaction = () => {
      if (req.tlsPolicy !== 'opportunistic' && !conn.secure) {
        // SMTPConnection's requireTLS already refuses this; checked again because sending in clear is the one thing that must not happen.
        conn.close();
        settle({ kind: 'session-failed', permanent: false, reply: `454 4.7.10 TLS required by policy but not established with ${req.hop.name}`, tlsFailure: true });
        return;
      }
      const envelope: SMTPConnection.Envelope = { from: req.mailFrom, to: [...req.recipients], size: req.body.length, use8BitMime: true };
      conn.send(envelope, req.body, (err, info) => {
        if (settled) return;
        if (err) {
          settle(failedSend(req, conn, err as SmtpError)); // before close(), which emits 'end'
          conn.close();
          return;
        }
        const rejected = new Map<string, SmtpError>();
        for (const e of (info.rejectedErrors ?? []) as (SmtpError & { recipient?: string })[]) if (e.recipient) rejected.set(e.recipient, e);
        const reply = info.response.replace(/\r?\n/g, ' ').trim();
        const outcomes = req.recipients.map((address): RecipientOutcome => {
          const e = rejected.get(address);
          return e ? { address, code: e.responseCode ?? 450, reply: replyOf(e, '450 4.0.0 recipient refused') } : { address, code: Number(reply.slice(0, 3)) || 250, reply };
        });
        const acceptedAddresses = outcomes.filter((o) => o.code < 300).map((o) => o.address);
        accepted = acceptedAddresses.length > 0;
        req.onAccepted(acceptedAddresses, reply).then(
          () => {
            settle({ kind: 'completed', secure: conn.secure, outcomes });
            const uses = (cached?.uses ?? 0) + 1;
            if (broken) return conn.close();
            if (uses >= MAX_USES || outcomes.some((o) => o.code >= 300)) return closeSession(conn);
            // cached for the next transaction to this hop; no RSET needed: the 2xx to the data ended the transaction (RFC 5321 4.1.1.4)
            putIdle(key, conn, uses);
          },
          (recordErr: unknown) => {
            // delivered but not recorded: the job fails and is retried (a duplicate is possible)
            settled = true;
            detach();
            conn.close();
            reject(recordErr);
          },
        );
      });
    };
    if (cached) transaction();
    else conn.connect(transaction);
  });
}

/** A send that failed: decide per recipient from the replies the server gave. */
function failedSend(req: SmtpTransactionRequest, conn: SMTPConnection, err: SmtpError): SmtpTransactionResult {
  const code = err.responseCode;
  if (err.command === 'MAIL FROM') {
    if (err.code === 'EMESSAGE' && !code) return { kind: 'session-failed', permanent: true, reply: `552 5.3.4 message too big for ${req.hop.name}`, tlsFailure: false };
    return { kind: 'session-failed', permanent: (code ?? 0) >= 500, reply: replyOf(err, `451 4.4.2 sender refused by ${req.hop.name}`), tlsFailure: false };
  }
  if (err.command === 'RCPT TO' || (err.command === 'DATA' && code)) {
    // per-recipient replies from RCPT TO; recipients that passed RCPT TO share the DATA reply.
    // SMTPConnection keeps them on its envelope only (an internal field, read defensively).
    const envelope = (conn as unknown as { _envelope?: { rejectedErrors?: (SmtpError & { recipient?: string })[] } })._envelope;
    const rejected = new Map<string, SmtpError>();
    for (const e of [...(err.rejectedErrors ?? []), ...(envelope?.rejectedErrors ?? [])] as (SmtpError & { recipient?: string })[]) {
      if (e.recipient) rejected.set(e.recipient, e);
    }
    const dataReply = replyOf(err, '451 4.3.0 message refused');
    const outcomes = req.recipients.map((address): RecipientOutcome => {
      const e = rejected.get(address);
      if (e) return { address, code: e.responseCode ?? 450, reply: replyOf(e, '450 4.0.0 recipient refused') };
      return { address, code: code ?? 451, reply: dataReply };
    });
    return { kind: 'completed', secure: conn.secure, outcomes };
  }
  const detail = (err.response ?? `${err.code ?? 'ERROR'}: ${err.message}`).replace(/\s+/g, ' ').trim();
  return { kind: 'session-failed', permanent: false, reply: `451 4.4.2 session with ${req.hop.name} failed: ${detail}`, tlsFailure: isTlsFailure(err, conn) };
}
