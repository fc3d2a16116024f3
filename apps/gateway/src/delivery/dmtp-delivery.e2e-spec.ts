// DmtpDelivery's session reuse (DmtpSessionCache) against a real DmtpServer over TLS on 127.0.0.1:
// the peer is authenticated by the record's tls= signature over its self-signed certificate, and
// real sealed messages pass a door that opens their destination envelope. Shown: sequential
// attempts to one DX host ride one connection and deliver each message once; a session the server
// closed while it waited is replaced without an error or a duplicate; a session is never reused
// under another tls=/POK set, after a refused last transaction or when tied to an abort signal;
// close() QUITs idle sessions and later sessions are QUIT at once; the use limit and idle time end a session.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { QueuedMessage, QueuedRecipient } from '@lib/db';
import { createTlsSignature, openMessage, type ManagementRecord } from '@lib/dime';
import { createSelfSignedCert, type SelfSignedCert } from '../../../../test/postfix/self-signed-cert';
import { until } from '../../../../test/until';
import type { DimeDirectory, DimeDomain } from '../dime/dime-directory';
import { createTestOrg, sealTestMessage, type TestOrg } from '../dime/dmtp/dime-test-org.fixture';
import { DEFAULT_DMTP_LIMITS, DmtpServer } from '../dime/dmtp/dmtp-server';
import { createLogger } from '../observability/logger';
import { DmtpDelivery, type MessageSealer } from './dmtp-delivery';
import { DmtpSessionCache } from './dmtp-session-cache';

/** One TLS connection as the server saw it: the plaintext the client sent, and whether it has closed. */
interface Connection {
  readonly socket: TLSSocket;
  text: string;
  closed: boolean;
}

const log = createLogger({ level: 'silent' });
const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const quitted = (c: Connection | undefined) => c !== undefined && c.closed && /(^|\r\n)QUIT\r\n$/.test(c.text);

// the queue rows DmtpDelivery reads (only mailFrom and the addresses matter here)
const message: QueuedMessage = {
  id: 'm-1', queueId: 'Q1', direction: 'outbound', format: 'rfc5322', state: 'queued', mailFrom: 'alice@a.test', size: 20,
  sha256: Buffer.alloc(32), spoolKeyId: 1, headerMessageId: null, clientAddress: '127.0.0.1', clientHelo: null, authUser: null,
  receivedAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000),
};
const recipient = (address: string): QueuedRecipient => ({
  id: `r-${address}`, messageId: message.id, address, domain: 'b.test', route: 'dmtp', status: 'queued', attempts: 0,
  nextAttemptAt: null, lastReply: null, delayNotifiedAt: null,
});

describe('DmtpDelivery session reuse over real DMTP (TLS on loopback)', () => {
  let cert: SelfSignedCert;
  let a: TestOrg;
  let b: TestOrg;
  let server: DmtpServer;
  let port: number;
  /** The record the directory answers with now (a test may swap it). */
  let record: ManagementRecord;
  /** The acceptor's reply instead of 250 (a refusal), when set. */
  let refuse: string | undefined;
  let delivery: DmtpDelivery | undefined;
  let sessions: DmtpSessionCache;
  const connections: Connection[] = [];
  const accepted: string[] = []; // digests of the messages the server's acceptor took
  const sealed: string[] = []; // digests of the messages the sealer made
  const onAccepted: string[] = []; // recipients DmtpDelivery reported accepted
  // bob's messages sealed ahead: an attempt that does no I/O before it takes its cached session
  const stock: Buffer[] = [];

  const directory: DimeDirectory = {
    lookupDomain: (): Promise<DimeDomain> =>
      Promise.resolve({
        domain: 'b.test',
        record,
        orgSignet: b.signetBytes,
        endpoints: [{ host: '127.0.0.1', port, serverName: 'dx.b.test' }],
        expiresAt: new Date(Date.now() + 3_600_000),
      }),
    userSignet: () => Promise.reject(new Error('not used')),
  };
  const sealer: MessageSealer = {
    async seal({ recipient: to }) {
      const bytes = (to === 'bob@b.test' ? stock.pop() : undefined) ?? (await sealTestMessage(a, 'alice@a.test', b, to));
      sealed.push(digest(bytes));
      return bytes;
    },
  };

  /** A DmtpDelivery with its own cache (idle 60 s by default: the counts below must not depend on the machine's speed). */
  function newDelivery(cache = new DmtpSessionCache(60_000)): DmtpDelivery {
    sessions = cache;
    return (delivery = new DmtpDelivery({
      directory,
      sealer,
      policyOf: () => Promise.resolve(null),
      defaultPolicy: 'required',
      localDomains: ['a.test'],
      orgDomain: 'a.test',
      hostname: 'gw.a.test',
      timeouts: { connectMs: 5000, commandMs: 5000, dataMs: 5000 },
      ca: [],
      sessions: cache,
    }));
  }

  /** One attempt to b.test; the reply codes, one per recipient. */
  async function send(d: DmtpDelivery, to: string[], signal?: AbortSignal): Promise<number[]> {
    const body = Buffer.from('Subject: hi\r\n\r\nhi\r\n');
    const result = await d.attempt(message, to.map(recipient), 'b.test', body, (r) => Promise.resolve(void onAccepted.push(r.address)), log, signal);
    if (result.kind !== 'outcomes') throw new Error(`unexpected fallback: ${result.reason}`);
    return result.outcomes.map((o) => o.code);
  }

  /** `n` messages the sealer made reached the acceptor, each exactly once; `refused` more were sealed and refused. */
  function expectEachAcceptedOnce(n: number, refused = 0): void {
    expect(accepted).toHaveLength(n);
    expect(new Set(accepted).size).toBe(n);
    expect(sealed).toHaveLength(n + refused);
    expect(sealed).toEqual(expect.arrayContaining(accepted));
  }

  beforeAll(async () => {
    cert = await createSelfSignedCert('dx.b.test');
    a = await createTestOrg({ domain: 'a.test', users: ['alice'] });
    b = await createTestOrg({ domain: 'b.test', certificates: [new X509Certificate(cert.certPem).raw], users: ['bob', 'carol'] });
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    server = new DmtpServer({
      hostname: 'dx.b.test',
      localDomains: ['b.test'],
      tls: { key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) },
      signets: b.signets,
      doorCheck: {
        async check(input) {
          const opened = await openMessage(input.message, { actor: 'destination', keys: b.keys, originSigningKey: a.pok.publicKey });
          if (opened.destination?.origin !== input.originDomain) return { ok: false, reply: '554 5.7.1 envelope does not match MAIL FROM' };
          return { ok: true, recipient: opened.destination.recipient, author: 'hidden-from-destination' };
        },
      },
      acceptor: (input) => {
        if (refuse !== undefined) return Promise.resolve({ reply: refuse });
        accepted.push(digest(input.message));
        return Promise.resolve({ reply: `250 OK [${input.transactionId}]` });
      },
      limits: { ...DEFAULT_DMTP_LIMITS, maxMessageBytes: 1024 * 1024 },
      logger: quiet,
    });
    // after the server's own listener: its session reads the same plaintext chunks
    server.server.on('secureConnection', (socket: TLSSocket) => {
      const c: Connection = { socket, text: '', closed: false };
      connections.push(c);
      socket.on('data', (chunk: Buffer) => (c.text += chunk.toString('latin1')));
      socket.on('close', () => (c.closed = true));
    });
    port = await server.listen(0, '127.0.0.1');
  }, 30_000);

  beforeEach(() => {
    record = b.record;
    refuse = undefined;
    for (const list of [connections, accepted, sealed, onAccepted, stock]) list.length = 0;
  });

  afterEach(async () => {
    await delivery?.close();
    delivery = undefined;
    for (const c of connections) c.socket.destroy();
  });

  afterAll(async () => {
    await server?.drain(1000);
    await cert?.remove();
  });

  it('carries sequential attempts to one DX host over one TLS connection, each message accepted once', async () => {
    const d = newDelivery();
    expect(await send(d, ['bob@b.test'])).toEqual([250]);
    expect(await send(d, ['bob@b.test', 'carol@b.test'])).toEqual([250, 250]);
    expect(await send(d, ['carol@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(1);
    expect(connections[0]!.text.match(/^EHLO /gm)).toHaveLength(1);
    expect(connections[0]!.text).not.toContain('QUIT');
    expect(sessions.size).toBe(1);
    expectEachAcceptedOnce(4);
    expect(onAccepted).toEqual(['bob@b.test', 'bob@b.test', 'carol@b.test', 'carol@b.test']);
  });

  it('replaces a cached session the server closed while it waited, and delivers once', async () => {
    const d = newDelivery();
    await send(d, ['bob@b.test']);
    connections[0]!.socket.destroy();
    await until('the cache to drop the closed session', () => sessions.size === 0, 3000, 10);
    expect(await send(d, ['bob@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    expectEachAcceptedOnce(2);
    expect(onAccepted).toEqual(['bob@b.test', 'bob@b.test']);
  });

  it('retries on a new connection when the cached session dies as its MAIL is sent, and delivers once', async () => {
    const d = newDelivery();
    await send(d, ['bob@b.test']);
    stock.push(await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test'));
    // no I/O runs between this and take(): the client has not seen the close, its MAIL meets it
    connections[0]!.socket.destroy();
    expect(sessions.size).toBe(1);
    expect(await send(d, ['bob@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    expect(connections[1]!.text.match(/^MAIL /gm)).toHaveLength(1);
    expectEachAcceptedOnce(2);
    expect(onAccepted).toEqual(['bob@b.test', 'bob@b.test']);
  });

  it('keys sessions by what authenticated the peer: another tls= or POK set opens its own session', async () => {
    const cache = new DmtpSessionCache();
    const endpoint = { host: '127.0.0.1', port, serverName: 'dx.b.test' };
    const key = (r: ManagementRecord, ehlo = 'gw.a.test') => cache.keyOf(endpoint, { kind: 'tls-signature', record: r }, ehlo);
    // still verifies this certificate (one of its tls= signatures does), but is another check
    const resigned = { ...b.record, tls: [...b.record.tls, await createTlsSignature(b.pok, randomBytes(64))] };
    expect(key({ ...b.record, tls: b.record.tls.map((t) => Buffer.from(t)), poks: b.record.poks.map((p) => Buffer.from(p)) })).toBe(key(b.record));
    expect(key(resigned)).not.toBe(key(b.record));
    expect(key({ ...b.record, poks: [...b.record.poks, Buffer.from(a.pok.publicKey)] })).not.toBe(key(b.record));
    expect(key(b.record, 'other.a.test')).not.toBe(key(b.record));
    expect(cache.keyOf({ ...endpoint, serverName: 'DX.B.TEST' }, { kind: 'tls-signature', record: b.record }, 'gw.a.test')).toBe(key(b.record));
    expect(cache.keyOf(endpoint, { kind: 'x509', ca: [] }, 'gw.a.test')).not.toBe(key(b.record));

    const d = newDelivery();
    await send(d, ['bob@b.test']);
    record = resigned;
    expect(await send(d, ['bob@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    expect(sessions.size).toBe(2);
    record = b.record; // the first session, checked against this record, carries it
    expect(await send(d, ['carol@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    expect(connections[0]!.text.match(/^MAIL /gm)).toHaveLength(2);
    expectEachAcceptedOnce(3);
  });

  it('QUITs idle sessions on close(); later attempts still deliver, on sessions QUIT at once', async () => {
    const d = newDelivery();
    await send(d, ['bob@b.test']);
    await d.close();
    await until('the server to see QUIT and the close', () => quitted(connections[0]), 3000, 10);
    expect(sessions.size).toBe(0);
    expect(await send(d, ['carol@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    await until('the new session to be QUIT', () => quitted(connections[1]), 3000, 10);
    expect(sessions.size).toBe(0);
    expectEachAcceptedOnce(2);
  });

  it.each(['550 5.7.1 refused by policy', '451 4.3.0 try again later'])('does not keep a session whose last transaction got "%s"', async (reply) => {
    const d = newDelivery();
    await send(d, ['bob@b.test']);
    refuse = reply;
    expect(await send(d, ['carol@b.test'])).toEqual([Number(reply.slice(0, 3))]);
    expect(connections).toHaveLength(1); // the refused transaction rode the cached session
    expect(sessions.size).toBe(0);
    await until('the refused session to be QUIT', () => quitted(connections[0]), 3000, 10);
    refuse = undefined;
    expect(await send(d, ['bob@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    expectEachAcceptedOnce(2, 1);
    expect(onAccepted).toEqual(['bob@b.test', 'bob@b.test']);
  });

  it('neither takes nor keeps a session for an attempt with an abort signal', async () => {
    const d = newDelivery();
    await send(d, ['bob@b.test']);
    expect(await send(d, ['carol@b.test'], new AbortController().signal)).toEqual([250]);
    expect(connections).toHaveLength(2);
    await until('the signal-bound session to be QUIT', () => quitted(connections[1]), 3000, 10);
    expect(connections[0]!.text).not.toContain('QUIT');
    expect(sessions.size).toBe(1);
    expect(await send(d, ['bob@b.test'])).toEqual([250]); // the first session is still there
    expect(connections).toHaveLength(2);
    expectEachAcceptedOnce(3);
  });

  it("counts a session's uses across attempts and QUITs it at the cache's limit", async () => {
    const d = newDelivery(new DmtpSessionCache(60_000, 2));
    await send(d, ['bob@b.test']);
    expect(sessions.size).toBe(1);
    expect(await send(d, ['carol@b.test'])).toEqual([250]); // its second use: at the limit
    expect(connections).toHaveLength(1);
    expect(sessions.size).toBe(0);
    await until('the session at its use limit to be QUIT', () => quitted(connections[0]), 3000, 10);
    expect(await send(d, ['bob@b.test', 'carol@b.test'])).toEqual([250, 250]);
    expect(connections).toHaveLength(2);
    expect(sessions.size).toBe(0);
    // within one attempt too: three messages take two sessions (2 + 1), the second kept
    expect(await send(d, ['bob@b.test', 'carol@b.test', 'bob@b.test'])).toEqual([250, 250, 250]);
    expect(connections).toHaveLength(4);
    expect(sessions.size).toBe(1);
    expectEachAcceptedOnce(7);
  });

  it("QUITs a session idle past the cache's idle time; the next attempt opens a new one", async () => {
    const d = newDelivery(new DmtpSessionCache(150));
    await send(d, ['bob@b.test']);
    expect(sessions.size).toBe(1);
    await until('the idle session to be QUIT', () => quitted(connections[0]), 3000, 10);
    expect(sessions.size).toBe(0);
    expect(await send(d, ['bob@b.test'])).toEqual([250]);
    expect(connections).toHaveLength(2);
    expectEachAcceptedOnce(2);
  });
});
