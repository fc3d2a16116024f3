// The TLS 1.3 decryptor against real Node TLS connections run in memory (no sockets: the two
// TLSSockets talk over a recording duplex pair, so the bytes are exactly what a relay would see),
// with the key log from the client socket's `keylog` event. Every cipher suite, both directions,
// many records, two sessions in one stream, a TLS 1.2 session refused, and each way
// a capture or key log can be wrong.
import 'reflect-metadata';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import { connect, createSecureContext, TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { certificatesOfMessage, decryptTls13, hkdfExpandLabel, parseKeyLog, parseTlsRecords, Tls13DecryptError, type Tls13DecryptErrorCode } from './tls13-decrypt';

jest.setTimeout(30_000);

interface Capture {
  clientToServer: Buffer;
  serverToClient: Buffer;
  keyLog: string;
}

let certPem: string;
let keyPem: string;

beforeAll(async () => {
  // node's WebCrypto is what @peculiar/x509 expects; the DOM type names are not in this project's lib
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=localhost',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: pair as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  certPem = cert.toString('pem');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
});

/** Two cross-wired in-memory duplexes recording what each side writes. */
function recordingPair(): { client: Duplex; server: Duplex; toServer: Buffer[]; toClient: Buffer[] } {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  // eslint-disable-next-line prefer-const
  let server: Duplex;
  const client: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      toServer.push(Buffer.from(chunk));
      server.push(chunk);
      cb();
    },
    final(cb) {
      server.push(null);
      cb();
    },
  });
  server = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      toClient.push(Buffer.from(chunk));
      client.push(chunk);
      cb();
    },
    final(cb) {
      client.push(null);
      cb();
    },
  });
  return { client, server, toServer, toClient };
}

interface Dialogue {
  /** Messages the client writes, each answered by the server with `reply(message)`. */
  readonly messages: readonly Buffer[];
  readonly reply: (message: Buffer) => Buffer;
  readonly ciphersuites?: string;
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** node takes the TLS 1.3 suites in `ciphers` (names starting TLS_); the 1.2 one is for the refusal test. */
const ciphers = (d: Dialogue) => [d.ciphersuites ?? 'TLS_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256'].join(':');

/** One TLS session in memory: the client sends each message, waits for the server's reply. */
async function runSession(d: Dialogue): Promise<Capture & { clientGot: Buffer; serverGot: Buffer }> {
  const pair = recordingPair();
  const keyLines: string[] = [];
  const serverGot: Buffer[] = [];
  const serverSocket = new TLSSocket(pair.server, {
    isServer: true,
    secureContext: createSecureContext({ key: keyPem, cert: certPem, ciphers: ciphers(d), maxVersion: d.maxVersion ?? 'TLSv1.3' }),
  });
  let buffered = Buffer.alloc(0);
  serverSocket.on('data', (chunk: Buffer) => {
    serverGot.push(chunk);
    buffered = Buffer.concat([buffered, chunk]);
    // one reply per complete client message (messages are length-prefixed)
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const message = buffered.subarray(4, 4 + buffered.readUInt32BE(0));
      buffered = buffered.subarray(4 + message.length);
      const r = d.reply(message);
      const framed = Buffer.alloc(4);
      framed.writeUInt32BE(r.length);
      serverSocket.write(Buffer.concat([framed, r]));
    }
  });
  const clientSocket = connect({ socket: pair.client, ca: certPem, servername: 'localhost', ciphers: ciphers(d), maxVersion: d.maxVersion ?? 'TLSv1.3' });
  clientSocket.on('keylog', (line: Buffer) => keyLines.push(line.toString('latin1')));
  await new Promise<void>((resolve, reject) => clientSocket.once('secureConnect', resolve).once('error', reject));
  const clientGot: Buffer[] = [];
  let got = Buffer.alloc(0);
  clientSocket.on('data', (chunk: Buffer) => {
    clientGot.push(chunk);
    got = Buffer.concat([got, chunk]);
  });
  for (const m of d.messages) {
    const framed = Buffer.alloc(4);
    framed.writeUInt32BE(m.length);
    const before = got.length;
    const expected = d.reply(m).length + 4;
    clientSocket.write(Buffer.concat([framed, m]));
    await new Promise<void>((resolve) => {
      const check = () => (got.length - before >= expected ? resolve() : setImmediate(check));
      check();
    });
  }
  clientSocket.end();
  await new Promise<void>((resolve) => serverSocket.once('end', resolve));
  serverSocket.end();
  await new Promise<void>((resolve) => setImmediate(resolve));
  return {
    clientToServer: Buffer.concat(pair.toServer),
    serverToClient: Buffer.concat(pair.toClient),
    keyLog: keyLines.join(''),
    clientGot: Buffer.concat(clientGot),
    serverGot: Buffer.concat(serverGot),
  };
}

const echoUpper = (m: Buffer) => Buffer.from(`OK ${m.toString('latin1').toUpperCase()}`, 'latin1');

function codeOf(fn: () => unknown): Tls13DecryptErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof Tls13DecryptError) return err.code;
    throw err;
  }
  return undefined;
}

describe('decryptTls13 on real Node TLS 1.3 sessions', () => {
  it.each(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'])('recovers both directions byte for byte under %s', async (suite) => {
    const messages = [Buffer.from('EHLO a.test'), randomBytes(40_000), Buffer.from('MAIL FROM:<a.test>'), randomBytes(3), Buffer.from('QUIT')];
    const s = await runSession({ messages, reply: echoUpper, ciphersuites: suite });
    const out = decryptTls13(s);
    expect(out.sessions).toHaveLength(1);
    const [session] = out.sessions;
    expect(session!.cipherSuite).toBe(suite);
    expect(out.clientToServer.equals(s.serverGot)).toBe(true);
    expect(out.serverToClient.equals(s.clientGot)).toBe(true);
    // 40 KB cannot fit in one record: several records in each direction
    expect(session!.clientToServer.applicationRecords.length).toBeGreaterThanOrEqual(5);
    expect(session!.serverToClient.applicationRecords.length).toBeGreaterThanOrEqual(5);
    // the plaintext is not on the wire, and the client said close_notify
    expect(s.clientToServer.includes(Buffer.from('MAIL FROM'))).toBe(false);
    expect(session!.clientToServer.alerts).toContainEqual([1, 0]);
    // server Finished (20) after EncryptedExtensions (8), Certificate (11), CertificateVerify (15)
    expect(session!.serverToClient.handshakeTypes.slice(0, 5)).toEqual([2, 8, 11, 15, 20]);
    // the certificate the server presented, read from the decrypted handshake
    const certificate = session!.serverToClient.handshakeMessages.find((m) => m.type === 11)!;
    expect(certificatesOfMessage(certificate.body).map((der) => new X509Certificate(der).toString())).toEqual([new X509Certificate(certPem).toString()]);
  });

  it('decrypts two sessions one after the other in the same streams (a relay joining its connections)', async () => {
    const one = await runSession({ messages: [Buffer.from('first session')], reply: echoUpper, ciphersuites: 'TLS_AES_128_GCM_SHA256' });
    const two = await runSession({ messages: [Buffer.from('second session')], reply: echoUpper, ciphersuites: 'TLS_CHACHA20_POLY1305_SHA256' });
    const out = decryptTls13({
      clientToServer: Buffer.concat([one.clientToServer, two.clientToServer]),
      serverToClient: Buffer.concat([one.serverToClient, two.serverToClient]),
      keyLog: two.keyLog + one.keyLog,
    });
    expect(out.sessions.map((s) => s.cipherSuite)).toEqual(['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256']);
    expect(out.clientToServer.equals(Buffer.concat([one.serverGot, two.serverGot]))).toBe(true);
    expect(out.serverToClient.equals(Buffer.concat([one.clientGot, two.clientGot]))).toBe(true);
  });

  it('refuses a TLS 1.2 session with a clear error', async () => {
    const s = await runSession({ messages: [Buffer.from('hello')], reply: echoUpper, maxVersion: 'TLSv1.2' });
    expect(() => decryptTls13(s)).toThrow(/TLS 1\.2 or older.*only TLS 1\.3/);
    expect(codeOf(() => decryptTls13(s))).toBe('NOT_TLS13');
  });

  it('names what is wrong with a capture or key log', async () => {
    const s = await runSession({ messages: [Buffer.from('hello')], reply: echoUpper });
    // no secrets for this client_random
    expect(codeOf(() => decryptTls13({ ...s, keyLog: '' }))).toBe('MISSING_SECRET');
    // a secret missing for one epoch
    expect(codeOf(() => decryptTls13({ ...s, keyLog: s.keyLog.split('\n').filter((l) => !l.startsWith('SERVER_TRAFFIC_SECRET_0')).join('\n') }))).toBe('MISSING_SECRET');
    // a wrong secret does not authenticate
    const wrong = s.keyLog.replace(/^(CLIENT_TRAFFIC_SECRET_0 \S+ )(\S)/m, (_m, head: string, c: string) => head + (c === '0' ? '1' : '0'));
    expect(codeOf(() => decryptTls13({ ...s, keyLog: wrong }))).toBe('DECRYPT_FAILED');
    // one flipped ciphertext bit (in the last record: the close_notify alert)
    const flipped = Buffer.from(s.clientToServer);
    flipped[flipped.length - 1]! ^= 1;
    expect(codeOf(() => decryptTls13({ ...s, clientToServer: flipped }))).toBe('DECRYPT_FAILED');
    // a capture cut inside a record
    expect(codeOf(() => decryptTls13({ ...s, serverToClient: s.serverToClient.subarray(0, s.serverToClient.length - 3) }))).toBe('TRUNCATED');
    // the server side missing
    expect(codeOf(() => decryptTls13({ ...s, serverToClient: Buffer.alloc(0) }))).toBe('UNPAIRED_SESSION');
    // not TLS at all
    expect(codeOf(() => decryptTls13({ ...s, clientToServer: Buffer.from('EHLO a.test\r\n') }))).toBe('MALFORMED_RECORD');
    // a key log line that is not NSS format
    expect(codeOf(() => parseKeyLog('CLIENT_RANDOM nothex\n'))).toBe('MALFORMED_KEYLOG');
  });
});

describe('parts of the decryptor', () => {
  it('parses the key log format node writes (comments, several connections)', () => {
    const r1 = 'aa'.repeat(32);
    const r2 = 'BB'.repeat(32);
    const keys = parseKeyLog(`# SSL/TLS secrets log file\nCLIENT_HANDSHAKE_TRAFFIC_SECRET ${r1} ${'01'.repeat(32)}\r\nSERVER_TRAFFIC_SECRET_0 ${r2} ${'02'.repeat(48)}\n\n`);
    expect([...keys.keys()]).toEqual([r1, r2.toLowerCase()]);
    expect(keys.get(r2.toLowerCase())!.get('SERVER_TRAFFIC_SECRET_0')!.length).toBe(48);
  });

  it('derives key and iv with HKDF-Expand-Label as RFC 8448 (simple 1-RTT, server handshake traffic)', () => {
    // RFC 8448 section 3: server_handshake_traffic_secret -> write key and iv
    const secret = Buffer.from('b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38', 'hex');
    expect(hkdfExpandLabel('sha256', secret, 'key', Buffer.alloc(0), 16).toString('hex')).toBe('3fce516009c21727d0f2e4e86ee403bc');
    expect(hkdfExpandLabel('sha256', secret, 'iv', Buffer.alloc(0), 12).toString('hex')).toBe('5d313eb2671276ee13000b30');
  });

  it('splits a stream into records and refuses what is not TLS', () => {
    const records = parseTlsRecords(Buffer.from([23, 3, 3, 0, 2, 0xaa, 0xbb, 21, 3, 3, 0, 2, 1, 0]));
    expect(records.map((r) => [r.typeName, r.offset, r.fragment.length])).toEqual([
      ['application_data', 0, 2],
      ['alert', 7, 2],
    ]);
    expect(codeOf(() => parseTlsRecords(Buffer.from([23, 3, 3, 0, 9, 0])))).toBe('TRUNCATED');
    expect(codeOf(() => parseTlsRecords(Buffer.from([99, 3, 3, 0, 0])))).toBe('MALFORMED_RECORD');
  });
});
