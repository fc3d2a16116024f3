// The SMTP client's session cache against a real smtp-server on loopback: a session that delivered
// is reused for the next transaction to the same hop, a session the server closed meanwhile is
// replaced by a new one without failing the transaction, and a session whose transaction did not
// end in a 2xx is never reused.
import type { AddressInfo, Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import { closeIdleSmtpSessions, sendSmtpTransaction, type SmtpTransactionRequest } from './smtp-transaction';

interface Peer {
  readonly port: number;
  readonly sockets: Socket[];
  readonly received: string[];
  close(): Promise<void>;
}

async function startPeer(refuse: (rcpt: string) => boolean = () => false): Promise<Peer> {
  const sockets: Socket[] = [];
  const received: string[] = [];
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onConnect(session: SMTPServerSession, cb: (err?: Error) => void) {
      cb();
    },
    onRcptTo(address: SMTPServerAddress, _s: SMTPServerSession, cb: (err?: Error) => void) {
      cb(refuse(address.address) ? Object.assign(new Error('no such user'), { responseCode: 550 }) : undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(Buffer.concat(chunks).toString());
        cb(null);
      });
    },
  });
  server.server.on('connection', (socket: Socket) => sockets.push(socket));
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    sockets,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function request(port: number, body: string, to = 'bob@remote.test'): SmtpTransactionRequest {
  return {
    hop: { name: '127.0.0.1', host: '127.0.0.1', port },
    ehloName: 'gateway.test',
    tlsPolicy: 'opportunistic',
    trustedCa: rootCertificates,
    connectTimeoutMs: 5000,
    commandTimeoutMs: 5000,
    mailFrom: 'alice@example.test',
    recipients: [to],
    body: Buffer.from(`Subject: ${body}\r\n\r\n${body}\r\n`),
    onAccepted: () => Promise.resolve(),
  };
}

const waitFor = async (cond: () => boolean) => {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('sendSmtpTransaction session cache', () => {
  let peer: Peer | undefined;
  afterEach(async () => {
    closeIdleSmtpSessions();
    await peer?.close();
    peer = undefined;
  });

  it('carries the next transaction to the same hop over the session of the last one', async () => {
    peer = await startPeer();
    for (const n of ['one', 'two', 'three']) expect(await sendSmtpTransaction(request(peer.port, n))).toMatchObject({ kind: 'completed', outcomes: [{ code: 250 }] });
    expect(peer.received.map((b) => b.trim().split('\n').pop())).toEqual(['one', 'two', 'three']);
    expect(peer.sockets).toHaveLength(1);
  });

  it('delivers on a new session when the server closed the cached one meanwhile', async () => {
    peer = await startPeer();
    expect(await sendSmtpTransaction(request(peer.port, 'first'))).toMatchObject({ kind: 'completed' });
    peer.sockets[0]!.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await sendSmtpTransaction(request(peer.port, 'second'))).toMatchObject({ kind: 'completed', outcomes: [{ code: 250 }] });
    expect(peer.received).toHaveLength(2);
    expect(peer.sockets).toHaveLength(2);
  });

  it('delivers on a new session when the cached one is cut without a word (no FIN seen yet)', async () => {
    peer = await startPeer();
    expect(await sendSmtpTransaction(request(peer.port, 'first'))).toMatchObject({ kind: 'completed' });
    // the server side goes away while our side still believes the session is open
    const first = peer.sockets[0]!;
    const send = sendSmtpTransaction(request(peer.port, 'second'));
    first.destroy();
    expect(await send).toMatchObject({ kind: 'completed', outcomes: [{ code: 250 }] });
    await waitFor(() => peer!.received.length >= 2);
    expect(peer.received.filter((b) => b.includes('second'))).toHaveLength(1);
  });

  it('never reuses a session whose transaction did not end in a 2xx', async () => {
    peer = await startPeer((rcpt) => rcpt.startsWith('nobody@'));
    expect(await sendSmtpTransaction(request(peer.port, 'refused', 'nobody@remote.test'))).toMatchObject({ kind: 'completed', outcomes: [{ code: 550 }] });
    expect(await sendSmtpTransaction(request(peer.port, 'accepted'))).toMatchObject({ kind: 'completed', outcomes: [{ code: 250 }] });
    expect(peer.sockets).toHaveLength(2);
  });
});
