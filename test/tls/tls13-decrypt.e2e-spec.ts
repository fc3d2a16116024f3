// The TLS 1.3 decryptor on a session over real sockets, recorded by the harness relay the DIME e2e
// uses (test/gateway/tcp-capture.ts), with a peer that is not Node: OpenSSL's s_client, whose
// interactive `K` command sends a KeyUpdate asking the server to update too. Both directions then
// change keys mid-session; the decryptor must follow (RFC 8446 4.6.3) and recover every byte.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { startTcpCapture, type TcpCapture } from '../gateway/tcp-capture';
import { createSelfSignedCert, type SelfSignedCert } from '../postfix/self-signed-cert';
import { decryptTls13 } from './tls13-decrypt';

jest.setTimeout(60_000);

let cert: SelfSignedCert;
let server: Server;
let capture: TcpCapture;
const keyLog: string[] = [];
const received: Buffer[] = [];

beforeAll(async () => {
  cert = await createSelfSignedCert('localhost');
  server = createServer({ key: readFileSync(cert.keyFile), cert: cert.certPem, minVersion: 'TLSv1.3' }, (socket: TLSSocket) => {
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      socket.write(Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
    });
    socket.on('error', () => undefined);
  });
  server.on('keylog', (line: Buffer) => keyLog.push(line.toString('latin1')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  capture = await startTcpCapture({ host: '127.0.0.1', port: typeof address === 'object' && address ? address.port : 0 });
});

afterAll(async () => {
  await capture?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await cert?.remove();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function until(what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

it('follows a KeyUpdate in both directions of a session with OpenSSL s_client, recorded by the harness relay', async () => {
  const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${capture.port}`, '-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256', '-servername', 'localhost', '-no_ign_eof'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  client.stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
  client.stderr.on('data', (c: Buffer) => (out += c.toString('latin1')));
  const exited = new Promise<number | null>((resolve) => client.once('close', resolve));
  const got = () => Buffer.concat(received).toString('latin1');
  // s_client prints the session once the handshake is done
  await until('the handshake', () => /Verify return code/.test(out));
  client.stdin.write('before the update\n');
  await until('the first line', () => got().includes('before the update\n'));
  client.stdin.write('K\n'); // KeyUpdate(update_requested): the server answers with its own
  await sleep(300);
  client.stdin.write('after the update\n');
  await until('the second line', () => got().includes('after the update\n'));
  await until('the echo', () => out.includes('AFTER THE UPDATE'));
  client.stdin.end();
  expect(await exited).toBe(0);
  await sleep(100);

  const wire = capture.captured();
  const decrypted = decryptTls13({ clientToServer: wire.toServer, serverToClient: wire.toClient, keyLog: keyLog.join('') });
  expect(decrypted.sessions).toHaveLength(1);
  const [session] = decrypted.sessions;
  expect(session!.cipherSuite).toBe('TLS_CHACHA20_POLY1305_SHA256');
  expect(session!.clientToServer.keyUpdates).toBe(1);
  expect(session!.serverToClient.keyUpdates).toBe(1);
  expect(decrypted.clientToServer.toString('latin1')).toBe('before the update\nafter the update\n');
  // the server's session tickets (NewSessionTicket) are handshake messages, not data
  expect(decrypted.serverToClient.toString('latin1')).toBe('BEFORE THE UPDATE\nAFTER THE UPDATE\n');
  expect(wire.toServer.includes(Buffer.from('after the update'))).toBe(false);
});
