// Test harness: a TCP relay on 127.0.0.1 that records every byte in both directions, per
// connection, put between two gateways to show what crosses the wire (the DMTP sessions: TLS
// records, and nothing readable). Used by the DIME e2e test and `npm run demo`.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface CapturedConnection {
  /** 1-based, in the order the connections were opened. */
  readonly index: number;
  readonly openedAt: Date;
  readonly closedAt?: Date;
  readonly toServer: Buffer;
  readonly toClient: Buffer;
}

export interface TcpCapture {
  readonly port: number;
  /** Bytes client -> server and server -> client, over all connections so far (concatenated in order). */
  captured(): { readonly toServer: Buffer; readonly toClient: Buffer; readonly connections: number };
  /** Each connection's bytes on their own (concurrent connections do not interleave here). */
  connections(): readonly CapturedConnection[];
  close(): Promise<void>;
}

interface Recording {
  readonly index: number;
  readonly openedAt: Date;
  closedAt?: Date;
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
}

export async function startTcpCapture(target: { host: string; port: number }): Promise<TcpCapture> {
  const recorded: Recording[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const conn: Recording = { index: recorded.length + 1, openedAt: new Date(), toServer: [], toClient: [] };
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
  const connections = (): CapturedConnection[] =>
    recorded.map((c) => ({
      index: c.index,
      openedAt: c.openedAt,
      ...(c.closedAt ? { closedAt: c.closedAt } : {}),
      toServer: Buffer.concat(c.toServer),
      toClient: Buffer.concat(c.toClient),
    }));
  return {
    port,
    captured: () => {
      const all = connections();
      return { toServer: Buffer.concat(all.map((c) => c.toServer)), toClient: Buffer.concat(all.map((c) => c.toClient)), connections: all.length };
    },
    connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
