import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { freePort } from './free-port';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

it('hands out distinct ports below the ephemeral range, each one bindable', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 20; i += 1) ports.push(await freePort());
  expect(new Set(ports).size).toBe(ports.length);
  for (const port of ports) {
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThan(ephemeralLow);
  }
  const servers = await Promise.all(ports.map(listenOn));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

it('skips ports that something already listens on', async () => {
  // each process walks the band one port at a time, so the ports right after one just handed out
  // are the next candidates: hold three of them and the next port handed out must be past them
  let first = await freePort();
  while (first + 4 >= ephemeralLow) first = await freePort();
  const held = await Promise.all([first + 1, first + 2, first + 3].map(listenOn));
  try {
    const port = await freePort();
    expect(port).toBeGreaterThan(first + 3);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
});
