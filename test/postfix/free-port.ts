// A free TCP port on 127.0.0.1 for a peer process that must be given its port up front
// (Postfix, smtp-sink, a gateway's DMTP listener that a DNS record or route names in advance).
//
// The port is released before it is returned, so something else may take it before the peer
// binds it. `listen(0)` would pick from the kernel's ephemeral range, and so does every outgoing
// connection (to PostgreSQL, Redis, the peers themselves): a CI run once lost a gateway's DMTP
// port to one of those in the few hundred milliseconds before the gateway bound it. Ports are
// therefore taken from below the ephemeral range, where the kernel never hands out a port by
// itself; each process walks its own pseudo-random sequence through that band (so concurrent test
// workers do not collide) and probes every candidate by binding it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const BAND_LOW = 20_000;
const MIN_BAND = 2_000;

/** [low, high) of the reserved band, or undefined when the ephemeral range leaves none. */
function band(): [number, number] | undefined {
  let ephemeralLow = 32_768;
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) ephemeralLow = low;
  } catch {
    // not Linux: keep the IANA-style default
  }
  return ephemeralLow - BAND_LOW >= MIN_BAND ? [BAND_LOW, ephemeralLow] : undefined;
}

const reserved = band();
let next = reserved ? (Math.imul(process.pid, 2_654_435_761) >>> 0) % (reserved[1] - reserved[0]) : 0;

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound > 0 ? bound : undefined));
    });
  });
}

export async function freePort(): Promise<number> {
  if (!reserved) {
    const port = await tryListen(0);
    if (port === undefined) throw new Error('no port assigned');
    return port;
  }
  const [low, high] = reserved;
  const size = high - low;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = low + (next % size);
    next = (next + 1) % size;
    if ((await tryListen(port)) !== undefined) return port;
  }
  throw new Error(`no free port in ${low}-${high - 1} after 200 tries`);
}
