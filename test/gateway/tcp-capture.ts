// Test harness: a TCP relay on 127.0.0.1 that records every byte in both directions, put between
// two gateways to show what crosses the wire (the DMTP session: TLS records, and nothing readable).
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpCapture {
  readonly port: number;
  /** Bytes client -> server and server -> client, over all connections so far. */
  captured(): { readonly toServer: Buffer; readonly toClient: Buffer; readonly connections: number };
  close(): Promise<void>;
}

export async function startTcpCapture(target: { host: string; port: number }): Promise<TcpCapture> {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections++;
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      toServer.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      toClient.push(Buffer.from(chunk));
      client.write(chunk);
    });
    const end = () => {
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
    captured: () => ({ toServer: Buffer.concat(toServer), toClient: Buffer.concat(toClient), connections }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
