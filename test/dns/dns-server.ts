// A real DNS server for e2e tests and the demo: Debian's dnsmasq (scripts/setup/dns.sh) on
// 127.0.0.1:<free port>, authoritative-style for the test zones only (no upstream, no /etc/hosts,
// no resolv.conf), answering the TXT (multi-string), MX and A/AAAA records given. Names under a
// zone that are not listed get NXDOMAIN; names under `servfail` zones get SERVFAIL (forwarded to a
// dead upstream). Killed with its temp dir when the test process exits (test/postfix/process-registry).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../postfix/free-port';
import { registerPeer } from '../postfix/process-registry';

export const DNSMASQ = '/usr/sbin/dnsmasq';

export interface DnsRecords {
  /** name -> TXT records, each a list of character-strings (one TXT record may carry several). */
  readonly txt?: Readonly<Record<string, readonly (readonly string[])[]>>;
  /** domain -> MX records. */
  readonly mx?: Readonly<Record<string, readonly { readonly exchange: string; readonly priority: number }[]>>;
  /** host -> IPv4 addresses. */
  readonly a?: Readonly<Record<string, readonly string[]>>;
  /** host -> IPv6 addresses. */
  readonly aaaa?: Readonly<Record<string, readonly string[]>>;
}

export interface StartDnsOptions {
  /** Zones answered locally; unlisted names under them are NXDOMAIN (default: `test`). */
  readonly zones?: readonly string[];
  /** Zones whose every query gets SERVFAIL (a dead upstream), for transient-failure tests. */
  readonly servfail?: readonly string[];
  readonly records: DnsRecords;
}

export interface DnsServer {
  readonly port: number;
  /** For Resolver.setServers / DNS_SERVERS: `127.0.0.1:<port>`. */
  readonly server: string;
  /** A node Resolver pointed at this server. */
  resolver(timeoutMs?: number): Resolver;
  stop(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$/;

function checkName(name: string): string {
  if (!NAME.test(name)) throw new RangeError(`"${name}" is not a DNS name the harness accepts`);
  return name;
}

/** dnsmasq quotes TXT strings in its config: a string holds printable ASCII except `"` and `\`. */
function txtString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s) || /["\\]/.test(s) || s.length > 255) throw new RangeError(`TXT string not supported by the harness: ${s.slice(0, 40)}`);
  return `"${s}"`;
}

export function dnsmasqConfig(port: number, options: StartDnsOptions, deadPort: number): string {
  const lines = [
    'no-resolv',
    'no-hosts',
    'no-poll',
    'bind-interfaces',
    'listen-address=127.0.0.1',
    `port=${port}`,
    'cache-size=0',
    'log-facility=-',
  ];
  for (const zone of options.zones ?? ['test']) lines.push(`local=/${checkName(zone)}/`);
  for (const zone of options.servfail ?? []) lines.push(`server=/${checkName(zone)}/127.0.0.1#${deadPort}`);
  const { txt = {}, mx = {}, a = {}, aaaa = {} } = options.records;
  for (const [name, records] of Object.entries(txt)) {
    for (const strings of records) lines.push(`txt-record=${checkName(name)},${strings.map(txtString).join(',')}`);
  }
  for (const [domain, records] of Object.entries(mx)) {
    for (const r of records) lines.push(`mx-host=${checkName(domain)},${checkName(r.exchange)},${r.priority}`);
  }
  for (const [host, addrs] of Object.entries(a)) for (const addr of addrs) lines.push(`host-record=${checkName(host)},${addr}`);
  for (const [host, addrs] of Object.entries(aaaa)) for (const addr of addrs) lines.push(`host-record=${checkName(host)},${addr}`);
  return `${lines.join('\n')}\n`;
}

async function waitUntilAnswering(server: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([server]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited with ${child.exitCode}: ${stderr()}`);
    try {
      await resolver.resolveTxt('harness-probe.invalid');
      return;
    } catch (err) {
      // REFUSED/NXDOMAIN/NOTFOUND mean it answers; a timeout or connection refusal means not yet
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ETIMEOUT' && code !== 'ECONNREFUSED') return;
    }
    if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${server}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts dnsmasq with the records; resolves once it answers queries. */
export async function startDns(options: StartDnsOptions): Promise<DnsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'dime-dns-'));
  const port = await freePort();
  const deadPort = await freePort();
  const conf = join(dir, 'dnsmasq.conf');
  writeFileSync(conf, dnsmasqConfig(port, options, deadPort));
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  const child = spawn(DNSMASQ, ['--keep-in-foreground', `--conf-file=${conf}`, '--pid-file=', ...user], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: false,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const unregister = registerPeer({ pid: child.pid, dir });
  const server = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    unregister();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilAnswering(server, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    server,
    resolver(timeoutMs = 2000) {
      const r = new Resolver({ timeout: timeoutMs, tries: 1 });
      r.setServers([server]);
      return r;
    },
    stop,
  };
}
