// Where a (route, domain) group goes: the legacy server for 'legacy'; for 'remote' a STATIC_ROUTES
// entry, else the domain's MX hosts by preference (equal preferences shuffled), falling back to
// the domain's own A/AAAA records when it has no MX (RFC 5321 5.1). A null MX (RFC 7505) or a
// domain that does not exist is a permanent failure; any other DNS trouble is temporary.
import { Resolver } from 'node:dns/promises';
import type { RecipientRoute } from '@lib/db';
import type { StaticRoute } from '../gateway.config';

export interface NextHop {
  /** What to connect to: an address (MX hosts are resolved here) or a host name. */
  readonly host: string;
  readonly port: number;
  /** The name the server's certificate must match (MX host name), also reported as Remote-MTA. */
  readonly name: string;
}

export type NextHopResult =
  | { readonly kind: 'hops'; readonly hops: readonly NextHop[] }
  | { readonly kind: 'failed'; readonly permanent: boolean; readonly reply: string };

/** The DNS queries the resolver needs (node:dns/promises Resolver fits; tests pass a fake). */
export interface DnsLookup {
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
}

export interface NextHopConfig {
  readonly legacy: { readonly host: string; readonly port: number };
  readonly remotePort: number;
  readonly staticRoutes: Readonly<Record<string, StaticRoute>>;
}

/** At most this many addresses are tried per attempt (as Postfix's smtp_mx_address_limit). */
export const MAX_HOPS = 5;

/** A node:dns Resolver, on DNS_SERVERS (`ip` or `ip:port`, `[v6]:port`) when given. */
export function createDnsLookup(servers: readonly string[], timeoutMs = 10_000): DnsLookup {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

function dnsCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
}

export class NextHopResolver {
  constructor(
    private readonly config: NextHopConfig,
    private readonly dns: DnsLookup,
    private readonly random: () => number = Math.random,
  ) {}

  async resolve(route: RecipientRoute, domain: string): Promise<NextHopResult> {
    if (route === 'legacy') {
      const { host, port } = this.config.legacy;
      return { kind: 'hops', hops: [{ host, port, name: host }] };
    }
    const key = domain.toLowerCase();
    if (Object.hasOwn(this.config.staticRoutes, key)) {
      const r = this.config.staticRoutes[key]!;
      return { kind: 'hops', hops: [{ host: r.host, port: r.port, name: r.host }] };
    }
    return this.resolveMx(key);
  }

  private async resolveMx(domain: string): Promise<NextHopResult> {
    let mx: { exchange: string; priority: number }[];
    try {
      mx = await this.dns.resolveMx(domain);
    } catch (err) {
      const code = dnsCode(err);
      if (code === 'ENOTFOUND') return { kind: 'failed', permanent: true, reply: `550 5.1.2 domain ${domain} not found` };
      if (code !== 'ENODATA') return { kind: 'failed', permanent: false, reply: `451 4.4.3 MX lookup for ${domain} failed (${code})` };
      mx = [];
    }
    if (mx.some((r) => r.exchange === '' || r.exchange === '.')) {
      return { kind: 'failed', permanent: true, reply: `556 5.1.10 domain ${domain} does not accept mail (null MX)` };
    }
    const port = this.config.remotePort;
    if (mx.length === 0) {
      const addrs = await this.addresses(domain);
      if (addrs.kind === 'temporary') return { kind: 'failed', permanent: false, reply: `451 4.4.3 address lookup for ${domain} failed (${addrs.code})` };
      if (addrs.list.length === 0) return { kind: 'failed', permanent: true, reply: `550 5.1.2 domain ${domain} has no MX or address record` };
      return { kind: 'hops', hops: addrs.list.slice(0, MAX_HOPS).map((host) => ({ host, port, name: domain })) };
    }
    const ordered = mx
      .map((r) => ({ ...r, exchange: r.exchange.replace(/\.$/, '').toLowerCase(), tie: this.random() }))
      .sort((a, b) => a.priority - b.priority || a.tie - b.tie);
    const hops: NextHop[] = [];
    let temporary: string | undefined;
    for (const r of ordered) {
      if (hops.length >= MAX_HOPS) break;
      const addrs = await this.addresses(r.exchange);
      if (addrs.kind === 'temporary') temporary ??= addrs.code;
      else for (const host of addrs.list) if (hops.length < MAX_HOPS) hops.push({ host, port, name: r.exchange });
    }
    if (hops.length > 0) return { kind: 'hops', hops };
    return { kind: 'failed', permanent: false, reply: `451 4.4.3 no usable address for the MX hosts of ${domain}${temporary ? ` (${temporary})` : ''}` };
  }

  private async addresses(host: string): Promise<{ kind: 'ok'; list: string[] } | { kind: 'temporary'; code: string }> {
    const [v4, v6] = await Promise.allSettled([this.dns.resolve4(host), this.dns.resolve6(host)]);
    const list: string[] = [];
    let temporary: string | undefined;
    for (const r of [v4, v6]) {
      if (r.status === 'fulfilled') list.push(...r.value);
      else if (!['ENODATA', 'ENOTFOUND'].includes(dnsCode(r.reason))) temporary ??= dnsCode(r.reason);
    }
    if (list.length === 0 && temporary) return { kind: 'temporary', code: temporary };
    return { kind: 'ok', list };
  }
}
