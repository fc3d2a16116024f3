// DimeDirectory over DNS and DMTP (DIGEST.md §5, docs/dmtp.md §1 and §6): the `_dx.<domain>` TXT
// record through the configured resolver (multi-string records joined by parseManagementRecord),
// the delivery hosts (`dx=`, else up to 3 MX, else the bare domain; DMTP_ROUTES overrides), the org
// signet fetched with SGNT from the first authenticated host and validated against the record's
// POKs, user signets validated against that org signet. Answers are cached until the record's
// `exp` (capped by maxTtl) and then fetched and validated again; "not a DIME domain" is cached
// briefly; failures are not cached. Concurrent lookups of one name share one fetch.
import {
  isDimeError,
  managementRecordName,
  parseManagementRecord,
  parseSignet,
  SIGNET_MAX_SIZE,
  signetFingerprint,
  signetId,
  validateSignet,
  type ManagementRecord,
  type Signet,
  type SignetState,
} from '@lib/dime';
import type { DimeDirectory, DimeDomain, DmtpEndpoint } from '../dime-directory';
import type { DmtpTimeouts } from '../dmtp/dmtp-client';
import { isDmtpError } from '../dmtp/dmtp.error';
import { DiscoveryError, isDiscoveryError } from './discovery.error';
import { connectDx, type DmtpConnect } from './dx-connector';

/** The DNS queries discovery needs (node:dns/promises Resolver fits; createDnsLookup in delivery/ makes one on DNS_SERVERS). */
export interface DimeDnsLookup {
  resolveTxt(name: string): Promise<string[][]>;
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
}

export interface DimeDiscoveryConfig {
  /** Port of DX hosts (REMOTE_DMTP_PORT, 26). */
  readonly dmtpPort: number;
  /**
   * SMTP port of MX hosts for the dual-mode fallback (REMOTE_SMTP_PORT, 25): each MX host is tried on
   * dmtpPort, then here with `STARTTLS MODE=DMTPv1` (libdime's order, DIGEST.md §5). Omitted: no dual mode.
   */
  readonly dualModePort?: number;
  /** `domain -> host:port` that replaces the host choice for a domain (DMTP_ROUTES; tests, private links). */
  readonly routes: Readonly<Record<string, { readonly host: string; readonly port: number }>>;
  /** Longest time a validated answer is used before it is fetched and validated again (DIME_DISCOVERY_MAX_TTL). */
  readonly maxTtlMs: number;
  /** How long "no `_dx` record" is remembered (DIME_DISCOVERY_NEGATIVE_TTL). */
  readonly negativeTtlMs: number;
  /** CA bundle for DX hosts whose record has no `tls=` (TLS_CA_FILE contents). */
  readonly ca?: string | Buffer;
  readonly timeouts?: Partial<DmtpTimeouts>;
}

/** At most this many MX hosts are tried (libdime's resolver, DIGEST.md §5). */
export const MAX_MX_HOSTS = 3;
const ACCEPTED_STATES: readonly SignetState[] = ['FULL', 'ID'];

interface CacheEntry<T> {
  readonly value: T;
  readonly until: number;
}

function dnsCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
}

/** "No such name" or "no data of that type": an answer, not a failure. */
function isNoData(err: unknown): boolean {
  return ['ENOTFOUND', 'ENODATA'].includes(dnsCode(err));
}

function normalise(domain: string): string {
  if (typeof domain !== 'string') throw new TypeError(`"domain" expected string, got ${typeof domain}`);
  return domain.toLowerCase().replace(/\.$/, '');
}

export class DnsDimeDirectory implements DimeDirectory {
  private readonly domains = new Map<string, CacheEntry<DimeDomain | undefined>>();
  private readonly users = new Map<string, CacheEntry<Buffer>>();
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly config: DimeDiscoveryConfig,
    private readonly dns: DimeDnsLookup,
    private readonly connect?: DmtpConnect,
    private readonly clock: () => number = Date.now,
  ) {
    if (!Number.isInteger(config.dmtpPort) || config.dmtpPort < 1 || config.dmtpPort > 65535) throw new RangeError(`"config.dmtpPort" must be a port, got ${config.dmtpPort}`);
    if (!(config.maxTtlMs > 0) || !(config.negativeTtlMs >= 0)) throw new RangeError('"config.maxTtlMs" must be > 0 and "config.negativeTtlMs" >= 0');
  }

  async lookupDomain(domain: string, signal?: AbortSignal): Promise<DimeDomain | undefined> {
    const name = normalise(domain);
    const cached = this.domains.get(name);
    if (cached && cached.until > this.clock()) return cached.value;
    return this.once(`d:${name}`, async () => {
      const fresh = await this.discover(name, signal);
      const until = fresh ? fresh.expiresAt.getTime() : this.clock() + this.config.negativeTtlMs;
      this.domains.set(name, { value: fresh, until });
      return fresh;
    });
  }

  async userSignet(address: string, signal?: AbortSignal, fingerprint?: string): Promise<Uint8Array> {
    if (typeof address !== 'string' || !address.includes('@')) throw new TypeError(`"address" expected a mailbox address, got ${String(address)}`);
    const at = address.lastIndexOf('@');
    const mailbox = `${address.slice(0, at)}@${normalise(address.slice(at + 1))}`;
    const key = `${mailbox}\n${fingerprint ?? ''}`;
    const cached = this.users.get(key);
    if (cached && cached.until > this.clock()) return cached.value;
    return this.once(`u:${key}`, async () => {
      const domain = await this.lookupDomain(mailbox.slice(at + 1), signal);
      if (!domain) throw new DiscoveryError('SIGNET_NOT_FOUND', `${mailbox}: ${mailbox.slice(at + 1)} is not a DIME domain (no _dx record)`);
      const signet = await this.fetchUserSignet(domain, mailbox, fingerprint, signal);
      this.users.set(key, { value: signet, until: domain.expiresAt.getTime() });
      return signet;
    });
  }

  /** Drops cached answers (a domain, or everything): the next lookup fetches and validates again. */
  forget(domain?: string): void {
    if (domain === undefined) {
      this.domains.clear();
      this.users.clear();
      return;
    }
    const name = normalise(domain);
    this.domains.delete(name);
    for (const key of this.users.keys()) if (key.split('\n')[0]!.endsWith(`@${name}`)) this.users.delete(key);
  }

  // ------------------------------------------------------------------------------------------

  private once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key);
    if (running) return running as Promise<T>;
    const p = work().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async discover(domain: string, signal: AbortSignal | undefined): Promise<DimeDomain | undefined> {
    const record = await this.record(domain);
    if (!record) return undefined;
    const endpoints = await this.endpoints(domain, record);
    const orgSignet = await this.fetchOrgSignet(domain, record, endpoints, signal);
    const ttl = Math.min(this.config.maxTtlMs, record.expiryDays === null ? Infinity : record.expiryDays * 86_400_000);
    return Object.freeze({ domain, record, orgSignet, endpoints, expiresAt: new Date(this.clock() + ttl) });
  }

  /** The parsed `_dx` record; undefined when there is none (NXDOMAIN / no TXT). */
  private async record(domain: string): Promise<ManagementRecord | undefined> {
    let name: string;
    try {
      name = managementRecordName(domain);
    } catch (err) {
      if (isDimeError(err)) throw new DiscoveryError('RECORD_INVALID', `"${domain}" is not a domain name`, { cause: err });
      throw err;
    }
    let answers: string[][];
    try {
      answers = await this.dns.resolveTxt(name);
    } catch (err) {
      if (isNoData(err)) return undefined;
      throw new DiscoveryError('DNS_FAILURE', `TXT ${name}: ${dnsCode(err)}`, { cause: err });
    }
    if (answers.length === 0) return undefined;
    if (answers.length > 1) throw new DiscoveryError('RECORD_INVALID', `TXT ${name}: ${answers.length} records, exactly one expected`);
    try {
      return parseManagementRecord(answers[0]!);
    } catch (err) {
      if (isDimeError(err)) throw new DiscoveryError('RECORD_INVALID', `TXT ${name}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** Delivery hosts in preference order (docs/dmtp.md §1), each name resolved through our resolver. */
  private async endpoints(domain: string, record: ManagementRecord): Promise<DmtpEndpoint[]> {
    const route = Object.hasOwn(this.config.routes, domain) ? this.config.routes[domain] : undefined;
    if (route) return [{ host: route.host, port: route.port, serverName: record.deliver[0] ?? domain }];
    const port = this.config.dmtpPort;
    let hosts: string[] = record.deliver.map((h) => h.toLowerCase());
    let viaMx = false;
    if (hosts.length === 0) {
      try {
        const mx = await this.dns.resolveMx(domain);
        hosts = mx
          .filter((m) => m.exchange !== '' && m.exchange !== '.')
          .sort((a, b) => a.priority - b.priority)
          .slice(0, MAX_MX_HOSTS)
          .map((m) => m.exchange.replace(/\.$/, '').toLowerCase());
        viaMx = hosts.length > 0;
      } catch (err) {
        if (!isNoData(err)) throw new DiscoveryError('DNS_FAILURE', `MX ${domain}: ${dnsCode(err)}`, { cause: err });
      }
      if (hosts.length === 0) hosts = [domain];
    }
    // dual mode is an MX fallback only (DIGEST.md §5): not for dx= hosts nor the bare domain
    const dual = viaMx ? this.config.dualModePort : undefined;
    const out: DmtpEndpoint[] = [];
    let temporary: string | undefined;
    for (const host of hosts) {
      const [v4, v6] = await Promise.allSettled([this.dns.resolve4(host), this.dns.resolve6(host)]);
      const addresses: string[] = [];
      for (const r of [v4, v6]) {
        if (r.status === 'fulfilled') addresses.push(...r.value);
        else if (!isNoData(r.reason)) temporary ??= `${host}: ${dnsCode(r.reason)}`;
      }
      for (const address of addresses) out.push({ host: address, port, serverName: host });
      if (dual !== undefined) for (const address of addresses) out.push({ host: address, port: dual, serverName: host, dualMode: true });
    }
    if (out.length === 0 && temporary) throw new DiscoveryError('DNS_FAILURE', `address of the DIME delivery hosts of ${domain}: ${temporary}`);
    if (out.length === 0) throw new DiscoveryError('DX_UNREACHABLE', `no address for the DIME delivery hosts of ${domain} (${hosts.join(', ')})`);
    return out;
  }

  private async fetchOrgSignet(domain: string, record: ManagementRecord, endpoints: readonly DmtpEndpoint[], signal: AbortSignal | undefined): Promise<Buffer> {
    const bytes = await this.sgnt(record, endpoints, domain, undefined, signal);
    const signet = parseOrRefuse(bytes, 'org', domain);
    const state = validateSignet(signet, { poks: record.poks });
    if (!ACCEPTED_STATES.includes(state)) throw new DiscoveryError('SIGNET_INVALID', `org signet of ${domain} does not validate against the POKs of its _dx record (${state})`);
    checkName(signet, domain);
    return bytes;
  }

  private async fetchUserSignet(domain: DimeDomain, address: string, fingerprint: string | undefined, signal: AbortSignal | undefined): Promise<Buffer> {
    const bytes = await this.sgnt(domain.record, domain.endpoints, address, fingerprint, signal);
    const signet = parseOrRefuse(bytes, 'user', address);
    const state = validateSignet(signet, { orgSignet: parseSignet(domain.orgSignet, 'org') });
    if (!ACCEPTED_STATES.includes(state)) throw new DiscoveryError('SIGNET_INVALID', `signet of ${address} does not validate against the org signet of ${domain.domain} (${state})`);
    checkName(signet, address);
    if (fingerprint !== undefined && ![signetFingerprint(signet, 'crypto'), signetFingerprint(signet, 'full'), signetFingerprint(signet, 'id')].includes(fingerprint)) {
      throw new DiscoveryError('SIGNET_INVALID', `signet served for ${address} does not have the fingerprint asked for`);
    }
    return bytes;
  }

  /** SGNT on the first authenticated DX host that answers; a 5xx is final, a 4xx tries the next host. */
  private async sgnt(record: ManagementRecord, endpoints: readonly DmtpEndpoint[], name: string, fingerprint: string | undefined, signal: AbortSignal | undefined): Promise<Buffer> {
    let remaining = [...endpoints];
    const problems: string[] = [];
    while (remaining.length > 0) {
      let connection: Awaited<ReturnType<typeof connectDx>>;
      try {
        connection = await connectDx(record, remaining, {
          ...(this.config.ca !== undefined ? { ca: this.config.ca } : {}),
          ...(this.config.timeouts ? { timeouts: this.config.timeouts } : {}),
          ...(signal ? { signal } : {}),
          ...(this.connect ? { connect: this.connect } : {}),
        });
      } catch (err) {
        // a host that answered 4xx before the rest failed to connect: the signet is "unavailable"
        if (isDiscoveryError(err) && err.code === 'DX_UNREACHABLE' && problems.length > 0) {
          throw new DiscoveryError('SIGNET_UNAVAILABLE', `SGNT ${name}: ${[...problems, err.message].join('; ')}`, { cause: err });
        }
        throw err;
      }
      const { client, endpoint } = connection;
      remaining = remaining.slice(remaining.indexOf(endpoint) + 1);
      try {
        const result = await client.sgnt(name, fingerprint);
        if (result.ok) return result.signet;
        const text = `${result.reply.code} ${result.reply.lines.join(' ')}`;
        if (result.reply.code >= 500) throw new DiscoveryError('SIGNET_NOT_FOUND', `SGNT ${name} at ${endpoint.serverName}: ${text}`);
        problems.push(`${endpoint.serverName}: ${text}`);
      } catch (err) {
        if (isDiscoveryError(err)) throw err;
        if (!isDmtpError(err)) throw err;
        if (err.code === 'ABORTED') throw new DiscoveryError('ABORTED', err.message, { cause: err });
        problems.push(`${endpoint.serverName}: ${err.code} ${err.message}`);
      } finally {
        await client.quit();
      }
    }
    throw new DiscoveryError('SIGNET_UNAVAILABLE', `SGNT ${name}: ${problems.join('; ')}`);
  }
}

function parseOrRefuse(bytes: Buffer, type: 'org' | 'user', name: string): Signet {
  if (bytes.length > SIGNET_MAX_SIZE) throw new DiscoveryError('SIGNET_INVALID', `signet served for ${name} is larger than ${SIGNET_MAX_SIZE} bytes`);
  try {
    return parseSignet(bytes, type);
  } catch (err) {
    if (isDimeError(err)) throw new DiscoveryError('SIGNET_INVALID', `signet served for ${name} is not a ${type} signet: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A signet that names itself (field 254, ID state) must name what was asked for (docs/dmtp.md §6). */
function checkName(signet: Signet, name: string): void {
  const id = signetId(signet);
  if (id !== null && id.toLowerCase() !== name.toLowerCase()) throw new DiscoveryError('SIGNET_INVALID', `signet served for ${name} is the signet of ${id}`);
}
