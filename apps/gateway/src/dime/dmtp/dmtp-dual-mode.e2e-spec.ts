// Dual mode on the SMTP port (docs/dmtp.md §3), over real sockets: the inbound SmtpListener's banner
// carries DMTPv1, `STARTTLS <host> MODE=DMTPv1` hands the connection to the DMTP listener (TLS with
// its key, then `220 OK DMTPv1` and a DMTP session: SGNT and a real sealed message), a plain
// STARTTLS stays SMTP, an unknown host is refused, and bytes pipelined after the STARTTLS line are
// never executed.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  createTlsSignature,
  DmtpReplyReader,
  formatDmtpReply,
  formatManagementRecord,
  isDmtpBanner,
  parseSignet,
  signetFingerprint,
  toTxtStrings,
  type DmtpReply,
} from '@lib/dime';
import { startDns } from '../../../../../test/dns/dns-server';
import { freePort } from '../../../../../test/postfix/free-port';
import { createSelfSignedCert, type SelfSignedCert } from '../../../../../test/postfix/self-signed-cert';
import { DnsDimeDirectory } from '../discovery/dns-dime-directory';
import { gatewayConfigFromEnv } from '../../gateway.config';
import { createLogger } from '../../observability/logger';
import { GatewayMetrics } from '../../observability/metrics';
import { SmtpListener } from '../../smtp/smtp-listener';
import { createTestOrg, sealTestMessage, type TestOrg } from './dime-test-org.fixture';
import { DmtpClient } from './dmtp-client';
import { DEFAULT_DMTP_LIMITS, DmtpServer, type DmtpLogger } from './dmtp-server';
import type { DmtpAcceptInput } from './dmtp-session';

const quiet: DmtpLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const text = (r: DmtpReply | undefined) => (r ? formatDmtpReply(r).trimEnd() : 'closed');

/** Reads replies from whichever socket is current (plain first, then TLS). */
class Dialog {
  private reader = new DmtpReplyReader();
  private queue: DmtpReply[] = [];
  private waiting: ((r: DmtpReply | undefined) => void) | undefined;
  socket: Socket | TLSSocket;

  constructor(socket: Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  private listen(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      for (const r of this.reader.push(chunk)) {
        const w = this.waiting;
        this.waiting = undefined;
        if (w) w(r);
        else this.queue.push(r);
      }
    });
    socket.on('close', () => this.waiting?.(undefined));
    socket.on('error', () => undefined);
  }

  next(timeoutMs = 5000): Promise<DmtpReply | undefined> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply')), timeoutMs);
      this.waiting = (r) => {
        clearTimeout(t);
        resolve(r);
      };
    });
  }

  send(line: string | Buffer): Promise<DmtpReply | undefined> {
    this.socket.write(typeof line === 'string' ? `${line}\r\n` : line);
    return this.next();
  }

  /** TLS on the current plain socket (after the server's 220). */
  async startTls(servername: string): Promise<void> {
    const plain = this.socket as Socket;
    plain.removeAllListeners('data');
    this.reader = new DmtpReplyReader();
    const secure = tlsConnect({ socket: plain, servername, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }
}

describe('DMTP dual mode on the SMTP port', () => {
  let cert: SelfSignedCert;
  let a: TestOrg;
  let b: TestOrg;
  let dmtp: DmtpServer;
  let smtp: SmtpListener;
  let port: number;
  const accepted: DmtpAcceptInput[] = [];

  beforeAll(async () => {
    cert = await createSelfSignedCert('mx.b.test');
    a = await createTestOrg({ domain: 'a.test', users: ['alice'] });
    b = await createTestOrg({ domain: 'b.test', users: ['bob'] });
    const tls = { key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) };
    dmtp = new DmtpServer({
      hostname: 'mx.b.test',
      localDomains: ['b.test'],
      tls,
      signets: b.signets,
      doorCheck: { check: (input) => Promise.resolve({ ok: true, recipient: 'bob@b.test', author: `someone@${input.originDomain}` }) },
      acceptor: (input) => {
        accepted.push(input);
        return Promise.resolve({ reply: `250 OK [${input.transactionId}]` });
      },
      limits: { ...DEFAULT_DMTP_LIMITS, maxMessageBytes: 1024 * 1024 },
      logger: quiet,
    });
    const config = gatewayConfigFromEnv({ ORG_DOMAIN: 'b.test', GATEWAY_HOSTNAME: 'mx.b.test', HSM_TOKEN_LABEL: 'unused', HSM_PIN: 'unused' });
    smtp = new SmtpListener({
      name: 'smtp',
      config,
      acceptor: { accept: () => Promise.reject(new Error('no SMTP mail in this test')) },
      metrics: new GatewayMetrics(),
      logger: createLogger({ level: 'silent' }),
      tls,
      dmtpDualMode: dmtp,
    });
    port = await smtp.listen(0, '127.0.0.1');
  }, 30_000);

  afterAll(async () => {
    await smtp?.drain(500);
    await dmtp?.drain(500);
    await cert?.remove();
  });

  async function open(): Promise<Dialog> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    return new Dialog(socket);
  }

  it('greets with the DMTPv1 token that libdime looks for on port 25', async () => {
    const d = await open();
    const banner = await d.next();
    expect(text(banner)).toMatch(/^220 mx\.b\.test ESMTP DMTPv1/);
    expect(isDmtpBanner(banner!)).toBe(true);
    d.socket.destroy();
  });

  it('switches to DMTP after STARTTLS <host> MODE=DMTPv1: 220, TLS, "220 OK DMTPv1", then SGNT and a sealed message', async () => {
    const d = await open();
    await d.next();
    expect((await d.send('EHLO dx.a.test'))?.code).toBe(250);
    expect(text(await d.send('STARTTLS <mx.b.test> MODE=DMTPv1'))).toBe('220 2.0.0 ready to start TLS');
    await d.startTls('mx.b.test');
    expect(text(await d.next())).toBe('220 OK DMTPv1');
    expect(text(await d.send('MODE'))).toBe('250 OK DMTPv1');
    expect((await d.send('SGNT <b.test>'))?.lines[0]).toMatch(/^OK \[[A-Za-z0-9+/=]+\]$/);
    // SMTP's EHLO before STARTTLS does not count (RFC 3207): EHLO again
    expect(text(await d.send('MAIL FROM:<a.test>'))).toBe('503 5.5.1 send EHLO first');
    await d.send('EHLO dx.a.test');
    const message = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test');
    expect(text(await d.send(`MAIL FROM:<a.test> SIZE=${message.length}`))).toBe('250 2.1.0 OK');
    expect(text(await d.send('RCPT TO:<b.test>'))).toBe('250 2.1.5 OK');
    expect((await d.send('DATA'))?.code).toBe(354);
    expect(text(await d.send(Buffer.concat([message, Buffer.from('\r\n')])))).toMatch(/^250 OK \[t-[0-9a-f]+\]$/);
    expect(Buffer.from(accepted.at(-1)!.message).equals(message)).toBe(true);
    expect(text(await d.send('STARTTLS'))).toBe('503 5.5.1 already in TLS');
    expect(text(await d.send('QUIT'))).toBe('221 2.0.0 bye');
    // the SMTP listener no longer counts the connection as one of its sessions
    expect(smtp.activeSessions).toBe(0);
  });

  it('refuses a host it does not serve and stays SMTP; a plain STARTTLS stays SMTP', async () => {
    const d = await open();
    await d.next();
    expect(text(await d.send('STARTTLS <mx.other.test> MODE=DMTPv1'))).toBe('501 5.5.4 mx.other.test is not served here');
    expect(text(await d.send('STARTTLS <mx.b.test> MODE=SMTP'))).toMatch(/^501 5\.5\.2 /);
    expect((await d.send('NOOP'))?.code).toBe(250);
    expect((await d.send('STARTTLS'))?.code).toBe(220);
    await d.startTls('mx.b.test');
    const ehlo = await d.send('EHLO dx.a.test');
    expect(ehlo?.code).toBe(250);
    expect(ehlo?.lines.join('\n')).not.toContain('DMTPv1 ');
    expect(text(await d.send('SGNT <b.test>'))).toMatch(/^5\d\d /); // SMTP knows no SGNT
    d.socket.destroy();
  });

  it('DmtpClient speaks dual mode: SMTP banner, STARTTLS MODE=DMTPv1, tls= check, 220 OK DMTPv1, SGNT and a delivery', async () => {
    const record = { ...b.record, tls: [await createTlsSignature(b.pok, new X509Certificate(cert.certPem).raw)] };
    const client = await DmtpClient.connect({ host: '127.0.0.1', port, serverName: 'mx.b.test', dualMode: true, peerCheck: { kind: 'tls-signature', record } });
    try {
      expect(client.banner).toEqual({ code: 220, lines: ['OK DMTPv1'] });
      expect((await client.sgnt('b.test')).ok).toBe(true);
      await client.ehlo('dx.a.test');
      const message = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test');
      expect(await client.deliver({ originDomain: 'a.test', destinationDomain: 'b.test', message })).toMatchObject({ accepted: true });
    } finally {
      await client.quit();
    }
    // a certificate that does not match tls= stops it after the handshake, before any DMTP command
    const wrong = { ...b.record, tls: [await createTlsSignature(b.pok, Buffer.from('another certificate'))] };
    await expect(DmtpClient.connect({ host: '127.0.0.1', port, serverName: 'mx.b.test', dualMode: true, peerCheck: { kind: 'tls-signature', record: wrong } })).rejects.toMatchObject({ code: 'TLS_MISMATCH' });
  });

  it('discovery falls back to dual mode on the MX host when its DMTP port does not answer (dnsmasq MX + A)', async () => {
    const record = { ...b.record, tls: [await createTlsSignature(b.pok, new X509Certificate(cert.certPem).raw)] };
    const dns = await startDns({ records: { txt: { '_dx.b.test': [toTxtStrings(formatManagementRecord(record))] }, mx: { 'b.test': [{ exchange: 'mx.b.test', priority: 10 }] }, a: { 'mx.b.test': ['127.0.0.1'] } } });
    try {
      const closed = await freePort();
      const directory = new DnsDimeDirectory({ dmtpPort: closed, dualModePort: port, routes: {}, maxTtlMs: 60_000, negativeTtlMs: 1000 }, dns.resolver());
      const found = await directory.lookupDomain('b.test');
      expect(found?.endpoints).toEqual([
        { host: '127.0.0.1', port: closed, serverName: 'mx.b.test' },
        { host: '127.0.0.1', port, serverName: 'mx.b.test', dualMode: true },
      ]);
      expect(signetFingerprint(parseSignet(found!.orgSignet), 'full')).toBe(signetFingerprint(b.signet, 'full'));
    } finally {
      await dns.stop();
    }
  });

  it('a plain SMTP server (no DMTPv1 in its banner) is not used for dual mode', async () => {
    const config = gatewayConfigFromEnv({ ORG_DOMAIN: 'b.test', GATEWAY_HOSTNAME: 'mx.b.test', HSM_TOKEN_LABEL: 'unused', HSM_PIN: 'unused' });
    const plainSmtp = new SmtpListener({
      name: 'smtp',
      config,
      acceptor: { accept: () => Promise.reject(new Error('unused')) },
      metrics: new GatewayMetrics(),
      logger: createLogger({ level: 'silent' }),
      tls: { key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) },
    });
    const plainPort = await plainSmtp.listen(0, '127.0.0.1');
    try {
      await expect(
        DmtpClient.connect({ host: '127.0.0.1', port: plainPort, serverName: 'mx.b.test', dualMode: true, peerCheck: { kind: 'x509', ca: cert.certPem } }),
      ).rejects.toMatchObject({ code: 'NOT_DMTP' });
    } finally {
      await plainSmtp.drain(200);
    }
  });

  it('never executes bytes pipelined after the STARTTLS line', async () => {
    const d = await open();
    await d.next();
    d.socket.write('STARTTLS <mx.b.test> MODE=DMTPv1\r\nSGNT <b.test>\r\nQUIT\r\n');
    expect(text(await d.next())).toBe('220 2.0.0 ready to start TLS');
    await d.startTls('mx.b.test');
    expect(text(await d.next())).toBe('220 OK DMTPv1');
    // nothing else arrives: the pipelined SGNT and QUIT were dropped
    await expect(d.next(300)).rejects.toThrow('no reply');
    expect(text(await d.send('NOOP'))).toBe('250 2.0.0 OK');
    d.socket.destroy();
  });
});
