// The demo's wiretap: a TCP relay on 127.0.0.1 between gateway A and gateway B's DMTP port that
// records each connection's bytes per direction, separately (test/gateway/tcp-capture.ts joins
// all connections into one stream; the demo wants to tell the signet lookups from the message
// transfer, and concurrent connections would interleave there).
import { connect, createServer, type Socket } from 'node:net';

export interface RecordedConnection {
  readonly index: number;
  readonly openedAt: Date;
  closedAt?: Date;
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
}

export interface RecordingRelay {
  readonly port: number;
  connections(): readonly { index: number; openedAt: Date; closedAt?: Date; toServer: Buffer; toClient: Buffer }[];
  close(): Promise<void>;
}

export async function startRecordingRelay(target: { host: string; port: number }): Promise<RecordingRelay> {
  const recorded: RecordedConnection[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const conn: RecordedConnection = { index: recorded.length + 1, openedAt: new Date(), toServer: [], toClient: [] };
    recorded.push(conn);
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      conn.toServer.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      conn.toClient.push(Buffer.from(chunk));
      client.write(chunk);
    });
    const end = () => {
      conn.closedAt ??= new Date();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    connections: () =>
      recorded.map((c) => ({ index: c.index, openedAt: c.openedAt, ...(c.closedAt ? { closedAt: c.closedAt } : {}), toServer: Buffer.concat(c.toServer), toClient: Buffer.concat(c.toClient) })),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
