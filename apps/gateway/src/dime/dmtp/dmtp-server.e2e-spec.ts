// DmtpServer over real TLS sockets on 127.0.0.1 (software TLS key here; the HSM-key test is
// dmtp-server-hsm.e2e-spec.ts): the dialect of docs/dmtp.md command by command, the precise reply
// to malformed input with the session still serving afterwards, binary DATA of a real sealed
// message through the door check and the acceptor, and the limits (size, errors, sessions, timeouts, drain).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import {
  createTlsSignature,
  DmtpReplyReader,
  dmtpReplyForError,
  formatDmtpReply,
  openMessage,
  parseSignet,
  signetFingerprint,
  signetStructureState,
  type DmtpReply,
} from '@lib/dime';
import { createSelfSignedCert, type SelfSignedCert } from '../../../../../test/postfix/self-signed-cert';
import type { DimeDoorCheck, DimeDoorCheckInput, DimeDoorVerdict } from '../dime-inbound';
import { DmtpClient } from './dmtp-client';
import { DEFAULT_DMTP_LIMITS, DmtpServer, type DmtpLogger, type DmtpServerLimits } from './dmtp-server';
import type { DmtpAcceptInput } from './dmtp-session';
import { createTestOrg, sealTestMessage, type TestOrg } from './dime-test-org.fixture';

const quiet: DmtpLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A line-level DMTP peer: writes raw bytes, reads whole replies. */
class RawPeer {
  private readonly reader = new DmtpReplyReader();
  private readonly queue: DmtpReply[] = [];
  private waiting: ((r: DmtpReply | undefined) => void) | undefined;
  closed = false;

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      for (const reply of this.reader.push(chunk)) {
        const w = this.waiting;
        this.waiting = undefined;
        if (w) w(reply);
        else this.queue.push(reply);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.(undefined);
      this.waiting = undefined;
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** The next reply, or undefined once the server closed. */
  next(timeoutMs = 5000): Promise<DmtpReply | undefined> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply')), timeoutMs);
      this.waiting = (r) => {
        clearTimeout(t);
        resolve(r);
      };
    });
  }

  async send(line: string | Buffer): Promise<DmtpReply | undefined> {
    this.socket.write(typeof line === 'string' ? `${line}\r\n` : line);
    return this.next();
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('not closed')), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  end(): void {
    this.socket.destroy();
  }
}

const text = (r: DmtpReply | undefined) => (r ? formatDmtpReply(r).trimEnd() : 'closed');

/** Door check for these component tests: opens the destination envelope with B's org key and checks it (real crypto, no discovery). */
class DestinationDoor implements DimeDoorCheck {
  constructor(
    private readonly b: TestOrg,
    private readonly originPok: Uint8Array,
  ) {}
  async check(input: DimeDoorCheckInput): Promise<DimeDoorVerdict> {
    try {
      const opened = await openMessage(input.message, { actor: 'destination', keys: this.b.keys, originSigningKey: this.originPok });
      if (opened.destination?.origin !== input.originDomain) return { ok: false, reply: '554 5.7.1 envelope does not match MAIL FROM / RCPT TO' };
      if (!this.b.users.has(opened.destination.recipient)) return { ok: false, reply: '550 5.1.1 no such recipient' };
      return { ok: true, recipient: opened.destination.recipient, author: 'hidden-from-destination' };
    } catch (err) {
      const r = dmtpReplyForError(err);
      return { ok: false, reply: `${r.code} ${r.lines.join(' ')}` };
    }
  }
}

describe('DmtpServer (implicit TLS, docs/dmtp.md dialect)', () => {
  let cert: SelfSignedCert;
  let a: TestOrg;
  let b: TestOrg;
  let server: DmtpServer;
  let port: number;
  const accepted: DmtpAcceptInput[] = [];
  let acceptorFails = false;

  const start = async (limits: Partial<DmtpServerLimits> = {}) => {
    const s = new DmtpServer({
      hostname: 'dx.b.test',
      localDomains: ['b.test'],
      tls: { key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) },
      signets: b.signets,
      doorCheck: new DestinationDoor(b, a.pok.publicKey),
      acceptor: (input) => {
        if (acceptorFails) return Promise.reject(new Error('database down'));
        accepted.push(input);
        return Promise.resolve({ reply: `250 OK [${input.transactionId}]` });
      },
      limits: { ...DEFAULT_DMTP_LIMITS, maxMessageBytes: 64 * 1024, ...limits },
      logger: quiet,
    });
    return { server: s, port: await s.listen(0, '127.0.0.1') };
  };

  beforeAll(async () => {
    cert = await createSelfSignedCert('dx.b.test');
    a = await createTestOrg({ domain: 'a.test', users: ['alice'] });
    b = await createTestOrg({ domain: 'b.test', users: ['bob', 'carol'] });
    ({ server, port } = await start());
  }, 30_000);

  afterAll(async () => {
    await server?.drain(1000);
    await cert?.remove();
  });

  beforeEach(() => {
    accepted.length = 0;
    acceptorFails = false;
  });

  async function session(): Promise<RawPeer> {
    const peer = await RawPeer.open(port);
    expect(text(await peer.next())).toBe('220 dx.b.test DMTPv1 DIME Gateway ready');
    return peer;
  }

  it('greets with DMTPv1, lists SIZE and DMTPv1 after EHLO, answers MODE, NOOP, HELP, RSET, STARTTLS and QUIT', async () => {
    const p = await session();
    expect(text(await p.send('EHLO dx.a.test'))).toBe('250-dx.b.test\r\n250-SIZE 65536\r\n250 DMTPv1');
    expect(text(await p.send('MODE'))).toBe('250 OK DMTPv1');
    expect(text(await p.send('NOOP =arg1 =arg2'))).toBe('250 2.0.0 OK');
    expect((await p.send('HELP'))?.code).toBe(214);
    expect(text(await p.send('RSET'))).toBe('250 2.0.0 OK');
    expect(text(await p.send('STARTTLS'))).toBe('503 5.5.1 already in TLS');
    expect(text(await p.send('QUIT'))).toBe('221 2.0.0 bye');
    await p.waitClosed();
  });

  it('refuses malformed input precisely and keeps serving', async () => {
    const p = await session();
    expect(text(await p.send('STATS'))).toBe('500 5.5.1 unknown command');
    expect(text(await p.send('EHLO dx.a.test'))).toMatch(/^250-/);
    expect(text(await p.send('MAIL FROM:<alice@a.test>'))).toMatch(/^501 5\.5\.2 syntax error: .*mailbox|^501 5\.5\.2 syntax error/);
    expect(text(await p.send('NOOP'))).toBe('250 2.0.0 OK');
    expect(text(await p.send(Buffer.from('NOOP \xff\r\n', 'latin1')))).toMatch(/^501 5\.5\.2 syntax error: .*0xff/);
    expect(text(await p.send(`NOOP ${'x'.repeat(600)}`))).toBe('500 5.5.6 line too long');
    // the third error in a row: its reply, then 421 and close
    expect(text(await p.send('SGNT <b.test> FINGERPRINT=nope'))).toMatch(/^501 5\.5\.2 syntax error: SGNT fingerprint must be 86 base64/);
    expect(text(await p.next())).toBe('421 4.7.0 too many errors, closing');
    await p.waitClosed();
  });

  it('drops an over-long line that arrives in pieces and resynchronises on its LF', async () => {
    const p = await session();
    p.socket.write(`NOOP ${'y'.repeat(700)}`);
    expect(text(await p.next())).toBe('500 5.5.6 line too long');
    p.socket.write(`${'z'.repeat(300)}\r\nNOOP\r\n`);
    expect(text(await p.next())).toBe('250 2.0.0 OK');
    p.end();
  });

  it('enforces the transaction order and org-to-org addressing', async () => {
    const p = await session();
    expect(text(await p.send('MAIL FROM:<a.test>'))).toBe('503 5.5.1 send EHLO first');
    await p.send('EHLO dx.a.test');
    expect(text(await p.send('RCPT TO:<b.test>'))).toBe('503 5.5.1 send MAIL first');
    expect(text(await p.send('DATA'))).toBe('503 5.5.1 send MAIL and RCPT first');
    expect(text(await p.send('MAIL FROM:<a.test> SIZE=65537'))).toBe('552 5.3.4 message size exceeds fixed limit');
    expect(text(await p.send('MAIL FROM:<a.test> SIZE=100'))).toBe('250 2.1.0 OK');
    expect(text(await p.send('MAIL FROM:<a.test>'))).toBe('503 5.5.1 MAIL already given (RSET first)');
    expect(text(await p.send('RCPT TO:<c.test>'))).toBe('550 5.1.2 c.test is not served here');
    expect(text(await p.send(`RCPT TO:<b.test> FINGERPRINT=${signetFingerprint(a.signet, 'crypto')}`))).toBe('550 5.7.1 stale organisational signet fingerprint');
    expect(text(await p.send(`RCPT TO:<b.test> FINGERPRINT=${signetFingerprint(b.signet, 'full')}`))).toBe('250 2.1.5 OK');
    expect(text(await p.send('RCPT TO:<b.test>'))).toBe('452 4.5.3 one destination per message');
    expect(text(await p.send('RSET'))).toBe('250 2.0.0 OK');
    expect(text(await p.send('RCPT TO:<b.test>'))).toBe('503 5.5.1 send MAIL first');
    p.end();
  });

  it('accepts a real sealed message over binary DATA: door check, then the acceptor, 250 OK [id] echoing the 354 id', async () => {
    const message = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test');
    const p = await session();
    await p.send('EHLO dx.a.test');
    await p.send(`MAIL FROM:<a.test> SIZE=${message.length}`);
    await p.send('RCPT TO:<b.test>');
    const cont = await p.send('DATA');
    expect(text(cont)).toMatch(new RegExp(`^354 CONTINUE \\[(t-[0-9a-f]{12})\\] send ${message.length} octets then CRLF$`));
    const id = /\[(t-[0-9a-f]+)\]/.exec(cont!.lines[0]!)![1];
    // sent in three pieces to exercise the length-delimited reader
    p.socket.write(message.subarray(0, 5));
    p.socket.write(message.subarray(5, 1000));
    const final = await p.send(Buffer.concat([message.subarray(1000), Buffer.from('\r\n')]));
    expect(text(final)).toBe(`250 OK [${id}]`);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ originDomain: 'a.test', destinationDomain: 'b.test', recipient: 'bob@b.test', transactionId: id, returnType: 'FULL' });
    expect(Buffer.from(accepted[0]!.message).equals(message)).toBe(true);
    expect(accepted[0]!.peer).toMatchObject({ address: '127.0.0.1', helo: 'dx.a.test' });
    expect(accepted[0]!.peer.tlsProtocol).toMatch(/^TLSv1\.[23]$/);
    // the session goes on
    expect(text(await p.send('NOOP'))).toBe('250 2.0.0 OK');
    p.end();
  });

  it('passes the door check refusal through exactly, and the acceptor failure as 451; the session stays usable', async () => {
    const good = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test');
    const tampered = Buffer.from(good);
    tampered[tampered.length - 100]! ^= 0x01;
    const p = await session();
    await p.send('EHLO dx.a.test');
    const sendMessage = async (m: Buffer) => {
      await p.send('MAIL FROM:<a.test>');
      await p.send('RCPT TO:<b.test>');
      expect((await p.send('DATA'))?.code).toBe(354);
      return text(await p.send(Buffer.concat([m, Buffer.from('\r\n')])));
    };
    expect(await sendMessage(tampered)).toMatch(/^554 5\.7\.[57] DIME /);
    const forA = await sealTestMessage(b, 'bob@b.test', a, 'alice@a.test'); // not encrypted to b.test
    expect(await sendMessage(forA)).toMatch(/^554 5\.7\.[157] /);
    acceptorFails = true;
    expect(await sendMessage(good)).toBe('451 4.3.0 temporary failure, try again later');
    acceptorFails = false;
    expect(await sendMessage(good)).toMatch(/^250 OK \[t-/);
    expect(accepted).toHaveLength(1);
    p.end();
  });

  it('refuses a message whose length differs from SIZE', async () => {
    const m = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test');
    const p = await session();
    await p.send('EHLO dx.a.test');
    await p.send(`MAIL FROM:<a.test> SIZE=${m.length + 1}`);
    await p.send('RCPT TO:<b.test>');
    await p.send('DATA');
    expect(text(await p.send(Buffer.concat([m, Buffer.from('\r\n')])))).toBe('554 5.6.0 DIME message malformed: size differs from SIZE');
    expect(accepted).toHaveLength(0);
    p.end();
  });

  it('closes on DATA that is not a D/MIME message (554) or declares more than the limit (552)', async () => {
    for (const [bytes, expected] of [
      [Buffer.from('Subject: plain SMTP\r\n\r\nhello\r\n.\r\n'), /^554 5\.6\.0 DIME message malformed: /],
      [Buffer.from([0x07, 0x37, 0x00, 0x10, 0x00, 0x00]), /^552 5\.3\.4 message too large$/],
    ] as const) {
      const p = await session();
      await p.send('EHLO dx.a.test');
      await p.send('MAIL FROM:<a.test>');
      await p.send('RCPT TO:<b.test>');
      await p.send('DATA');
      expect(text(await p.send(bytes))).toMatch(expected);
      await p.waitClosed();
    }
  });

  it('serves the org and user signets in the FULL view, VRFY and HIST', async () => {
    const bob = b.users.get('bob@b.test')!;
    const p = await session();
    const org = await p.send('SGNT <b.test>');
    expect(org?.code).toBe(250);
    const served = Buffer.from(/^OK \[(.+)\]$/.exec(org!.lines[0]!)![1]!, 'base64');
    expect(signetFingerprint(b.signet, 'full')).toBe(signetFingerprint(parseSignet(served), 'full'));
    expect(signetStructureState(parseSignet(served))).toBe('FULL');
    expect((await p.send(`SGNT <bob@b.test> FINGERPRINT=${signetFingerprint(bob.signet, 'crypto')}`))?.code).toBe(250);
    expect(text(await p.send(`SGNT <bob@b.test> FINGERPRINT=${signetFingerprint(b.signet, 'crypto')}`))).toBe('550 5.1.1 no signet of bob@b.test with that fingerprint');
    expect(text(await p.send('SGNT <nobody@b.test>'))).toBe('550 5.1.1 no signet for nobody@b.test');
    expect(text(await p.send('SGNT <a.test>'))).toBe('550 5.1.2 a.test is not served here');
    b.signets.suspended.add('carol@b.test');
    expect(text(await p.send('SGNT <carol@b.test>'))).toBe('550 5.1.1 no signet for carol@b.test');
    b.signets.suspended.delete('carol@b.test');
    expect(text(await p.send(`VRFY <bob@b.test> FINGERPRINT=${signetFingerprint(bob.signet, 'id')}`))).toBe('250 CURRENT');
    expect(text(await p.send(`VRFY <bob@b.test> FINGERPRINT=${signetFingerprint(b.signet, 'id')}`))).toBe(`250 UPDATE ${signetFingerprint(bob.signet, 'full')}`);
    const hist = await p.send(`HIST <bob@b.test> START=${signetFingerprint(bob.signet, 'crypto')}`);
    expect(hist?.code).toBe(250);
    expect(hist?.lines).toHaveLength(2);
    expect(hist?.lines[1]).toBe('OK 1');
    expect(text(await p.send(`HIST <bob@b.test> START=${signetFingerprint(b.signet, 'crypto')}`))).toBe('550 5.1.1 no signet of bob@b.test with that fingerprint');
    p.end();
  });

  it('works with DmtpClient: banner, SGNT and a delivery', async () => {
    const certDer = new X509Certificate(cert.certPem).raw;
    const record = { ...b.record, tls: [await createTlsSignature(b.pok, certDer)] };
    const client = await DmtpClient.connect({ host: '127.0.0.1', port, serverName: 'dx.b.test', peerCheck: { kind: 'tls-signature', record } });
    expect(client.peerCertificate.equals(certDer)).toBe(true);
    const sg = await client.sgnt('bob@b.test');
    expect(sg.ok).toBe(true);
    expect((await client.ehlo('dx.a.test')).code).toBe(250);
    const message = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test');
    const result = await client.deliver({ originDomain: 'a.test', destinationDomain: 'b.test', message, destinationFingerprint: signetFingerprint(b.signet, 'crypto') });
    expect(result).toMatchObject({ stage: 'MESSAGE', accepted: true });
    expect(result.transactionId).toBe(accepted[0]?.transactionId);
    const refused = await client.deliver({ originDomain: 'a.test', destinationDomain: 'c.test', message });
    expect(refused).toMatchObject({ stage: 'RCPT', accepted: false, reply: { code: 550 } });
    await client.quit();
  });

  it('the client refuses a server whose certificate does not match tls=, before sending anything', async () => {
    const other = await createSelfSignedCert('dx.b.test');
    try {
      const record = { ...b.record, tls: [await createTlsSignature(b.pok, new X509Certificate(other.certPem).raw)] };
      await expect(DmtpClient.connect({ host: '127.0.0.1', port, serverName: 'dx.b.test', peerCheck: { kind: 'tls-signature', record } })).rejects.toMatchObject({ code: 'TLS_MISMATCH' });
      // without tls=, X.509 against the system roots refuses the self-signed certificate
      await expect(DmtpClient.connect({ host: '127.0.0.1', port, serverName: 'dx.b.test', peerCheck: { kind: 'x509' } })).rejects.toMatchObject({ code: 'TLS_FAILED' });
      // ...and accepts it with the certificate as CA
      const ok = await DmtpClient.connect({ host: '127.0.0.1', port, serverName: 'dx.b.test', peerCheck: { kind: 'x509', ca: cert.certPem } });
      await ok.quit();
    } finally {
      await other.remove();
    }
  });

  it('closes an idle session with 421 4.4.2, refuses sessions over the limit, drains gracefully', async () => {
    const capped = await start({ maxSessions: 1 });
    const limited = await start({ idleTimeoutMs: 1000, dataTimeoutMs: 300 });
    try {
      const first = await RawPeer.open(capped.port);
      expect((await first.next())?.code).toBe(220);
      const second = await RawPeer.open(capped.port);
      expect(text(await second.next())).toBe('421 4.3.2 too many sessions, try again later');
      await second.waitClosed();
      first.end();

      const idle = await RawPeer.open(limited.port);
      expect((await idle.next())?.code).toBe(220);
      const started = Date.now();
      expect(text(await idle.next(5000))).toBe('421 4.4.2 timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      await idle.waitClosed();

      // a DATA transfer that stalls is cut with the same 421 (dataTimeoutMs, 300 ms here)
      const stalled = await RawPeer.open(limited.port);
      await stalled.next();
      await stalled.send('EHLO dx.a.test');
      await stalled.send('MAIL FROM:<a.test>');
      await stalled.send('RCPT TO:<b.test>');
      await stalled.send('DATA');
      stalled.socket.write(Buffer.from([0x07, 0x37, 0x00, 0x00, 0x10, 0x00, 0x01, 0x02]));
      expect(text(await stalled.next(2000))).toBe('421 4.4.2 timeout');
      await stalled.waitClosed();
      expect(accepted).toHaveLength(0);

      // drain: a session inside a transaction finishes it, then gets 421; new connections are refused
      await new Promise((r) => setTimeout(r, 50));
      const busy = await RawPeer.open(limited.port);
      expect((await busy.next())?.code).toBe(220);
      await busy.send('EHLO dx.a.test');
      await busy.send('MAIL FROM:<a.test>');
      const draining = limited.server.drain(5000);
      expect(text(await busy.send('RCPT TO:<b.test>'))).toBe('250 2.1.5 OK');
      expect(text(await busy.send('RSET'))).toBe('250 2.0.0 OK');
      expect(text(await busy.next())).toBe('421 4.3.2 service shutting down');
      await draining;
      expect(limited.server.activeSessions).toBe(0);
    } finally {
      await Promise.all([capped.server.drain(100), limited.server.drain(100)]);
    }
  });
});
