// DmtpClient against misbehaving TLS peers on 127.0.0.1: every failure to talk is a DmtpError with
// its code (the delivery code maps them all to 4xx), and every step is bounded by its timeout.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { freePort } from '../../../../../test/postfix/free-port';
import { createSelfSignedCert, type SelfSignedCert } from '../../../../../test/postfix/self-signed-cert';
import { DmtpClient, type DmtpConnectOptions } from './dmtp-client';
import { DmtpError } from './dmtp.error';

describe('DmtpClient against misbehaving peers', () => {
  let cert: SelfSignedCert;
  const servers: Server[] = [];
  const sockets: TLSSocket[] = [];

  beforeAll(async () => {
    cert = await createSelfSignedCert('dx.peer.test');
  }, 20_000);

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await cert?.remove();
  });

  /** A TLS server that runs `behave` on each connection; returns its port. */
  async function peer(behave: (socket: TLSSocket) => void): Promise<number> {
    const server = createServer({ key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) }, (socket) => {
      socket.on('error', () => undefined);
      sockets.push(socket);
      behave(socket);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  const options = (port: number, extra: Partial<DmtpConnectOptions> = {}): DmtpConnectOptions => ({
    host: '127.0.0.1',
    port,
    serverName: 'dx.peer.test',
    peerCheck: { kind: 'x509', ca: cert.certPem },
    timeouts: { connectMs: 500, commandMs: 500, dataMs: 500 },
    ...extra,
  });

  async function failure(p: Promise<unknown>): Promise<DmtpError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DmtpError);
    return err as DmtpError;
  }

  it('refuses a banner without the DMTPv1 token (Magma\'s "DSMTP" banner)', async () => {
    const port = await peer((s) => s.write('220 peer.test DSMTP Magma\r\n'));
    expect((await failure(DmtpClient.connect(options(port)))).code).toBe('NOT_DMTP');
  });

  it('times out when no banner comes', async () => {
    const port = await peer(() => undefined);
    const started = Date.now();
    expect((await failure(DmtpClient.connect(options(port)))).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('times out when a command gets no reply, and the client is unusable afterwards', async () => {
    const port = await peer((s) => s.write('220 peer.test DMTPv1 ok\r\n'));
    const client = await DmtpClient.connect(options(port));
    expect((await failure(client.ehlo('dx.me.test'))).code).toBe('TIMEOUT');
    expect((await failure(client.command({ verb: 'NOOP' }))).code).toBe('TIMEOUT');
    client.close();
  });

  it('reports a closed connection and a malformed reply as PROTOCOL', async () => {
    const closing = await peer((s) => {
      s.write('220 peer.test DMTPv1 ok\r\n');
      s.once('data', () => s.end());
    });
    const c1 = await DmtpClient.connect(options(closing));
    expect((await failure(c1.ehlo('dx.me.test'))).code).toBe('PROTOCOL');
    const garbage = await peer((s) => {
      s.write('220 peer.test DMTPv1 ok\r\n');
      s.once('data', () => s.write('hello there\r\n'));
    });
    const c2 = await DmtpClient.connect(options(garbage));
    expect((await failure(c2.ehlo('dx.me.test'))).code).toBe('PROTOCOL');
  });

  it('fails to connect to a closed port (CONNECT_FAILED) and to an untrusted certificate (TLS_FAILED)', async () => {
    const closed = await freePort();
    expect((await failure(DmtpClient.connect(options(closed)))).code).toBe('CONNECT_FAILED');
    const port = await peer((s) => s.write('220 peer.test DMTPv1 ok\r\n'));
    expect((await failure(DmtpClient.connect(options(port, { peerCheck: { kind: 'x509' } })))).code).toBe('TLS_FAILED');
  });

  it('stops at once when the caller aborts', async () => {
    const port = await peer((s) => s.write('220 peer.test DMTPv1 ok\r\n'));
    const controller = new AbortController();
    const client = await DmtpClient.connect(options(port, { signal: controller.signal, timeouts: { commandMs: 10_000 } }));
    const pending = client.ehlo('dx.me.test');
    setTimeout(() => controller.abort(), 50);
    expect((await failure(pending)).code).toBe('ABORTED');
  });

  it('reads SGNT, 4xx/5xx refusals and RSETs after a refused MAIL', async () => {
    const seen: string[] = [];
    const port = await peer((s) => {
      s.write('220 peer.test DMTPv1 ok\r\n');
      s.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('latin1').split('\r\n').filter(Boolean)) {
          seen.push(line);
          if (line.startsWith('SGNT <peer.test>')) s.write('250 OK [AAEC]\r\n');
          else if (line.startsWith('SGNT')) s.write('550 5.1.1 no signet for x@peer.test\r\n');
          else if (line.startsWith('MAIL')) s.write('451 4.4.3 later\r\n');
          else s.write('250 2.0.0 OK\r\n');
        }
      });
    });
    const client = await DmtpClient.connect(options(port));
    expect(await client.sgnt('peer.test')).toMatchObject({ ok: true, signet: Buffer.from([0, 1, 2]) });
    expect(await client.sgnt('x@peer.test')).toMatchObject({ ok: false, reply: { code: 550 } });
    const result = await client.deliver({ originDomain: 'me.test', destinationDomain: 'peer.test', message: Buffer.from([7, 55, 0, 0, 0, 0]) });
    expect(result).toEqual({ stage: 'MAIL', accepted: false, reply: { code: 451, lines: ['4.4.3 later'] } });
    expect(seen).toEqual(['SGNT <peer.test>', 'SGNT <x@peer.test>', 'MAIL FROM:<me.test> SIZE=6', 'RSET']);
    await client.quit();
  });
});
