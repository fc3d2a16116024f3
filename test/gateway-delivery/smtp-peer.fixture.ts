// A scriptable SMTP peer (smtp-server on 127.0.0.1:0) for delivery tests: with or without STARTTLS,
// per-recipient replies decided by the test, and a record of every MAIL FROM, RCPT TO and message
// it received (with whether the session was encrypted).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMessage {
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly body: Buffer;
  readonly secure: boolean;
}

export interface SmtpPeerOptions {
  /** PEM key and certificate: STARTTLS offered. Without them STARTTLS is not offered. */
  readonly tls?: { key: string; cert: string };
  /** Reply to a RCPT TO: undefined accepts, otherwise `[code, text]`. */
  readonly onRcpt?: (address: string) => [number, string] | undefined;
}

export interface SmtpPeer {
  readonly port: number;
  readonly received: ReceivedMessage[];
  readonly mailFroms: string[];
  readonly rcpts: string[];
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSmtpPeer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const received: ReceivedMessage[] = [];
  const mailFroms: string[] = [];
  const rcpts: string[] = [];
  const server = new SMTPServer({
    secure: false,
    // without a certificate STARTTLS is disabled, not just hidden: smtp-server would otherwise
    // still answer an unannounced STARTTLS with its built-in certificate
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    authOptional: true,
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onMailFrom(address: SMTPServerAddress, _s: SMTPServerSession, cb: (err?: Error) => void) {
      mailFroms.push(address.address);
      cb();
    },
    onRcptTo(address: SMTPServerAddress, _s: SMTPServerSession, cb: (err?: Error) => void) {
      rcpts.push(address.address);
      const verdict = options.onRcpt?.(address.address);
      cb(verdict ? smtpError(verdict[0], verdict[1]) : undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: session.envelope.rcptTo.map((r) => r.address),
          body: Buffer.concat(chunks),
          secure: session.secure,
        });
        cb(null);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, mailFroms, rcpts, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const execFileAsync = promisify(execFile);

/** A throw-away self-signed P-256 certificate (openssl CLI) with the given subjectAltName. */
export async function selfSignedCert(subjectAltName: string): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'delivery-cert-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=delivery-test', '-addext', `subjectAltName=${subjectAltName}`,
    ]);
    return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
