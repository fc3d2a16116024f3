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
  const first = await attempt(req, false);
  if (first.kind === 'session-failed' && first.tlsFailure && req.tlsPolicy === 'opportunistic') return attempt(req, true);
  return first;
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

function attempt(req: SmtpTransactionRequest, plaintext: boolean): Promise<SmtpTransactionResult> {
  return new Promise((resolve, reject) => {
    const conn = new SMTPConnection(connectionOptions(req, plaintext));
    let settled = false;
    const settle = (result: SmtpTransactionResult) => {
      if (settled) return;
      settled = true;
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
    conn.on('error', (err: SmtpError) => sessionFailed(err));
    conn.once('end', () => sessionFailed(Object.assign(new Error('connection closed'), { code: 'ECONNECTION' })));

    conn.connect(() => {
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
        const accepted = outcomes.filter((o) => o.code < 300).map((o) => o.address);
        req.onAccepted(accepted, reply).then(
          () => {
            settle({ kind: 'completed', secure: conn.secure, outcomes });
            conn.quit();
            setTimeout(() => conn.close(), 5000).unref();
          },
          (recordErr: unknown) => {
            // delivered but not recorded: the job fails and is retried (a duplicate is possible)
            settled = true;
            conn.close();
            reject(recordErr);
          },
        );
      });
    });
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
