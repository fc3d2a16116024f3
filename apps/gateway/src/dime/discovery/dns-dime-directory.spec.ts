// DnsDimeDirectory without I/O: a scripted resolver and a scripted DMTP connect. What is checked:
// record parsing (multi-string), host choice (dx, MX top 3 by preference, bare domain, routes),
// signet validation (POK / org signet / name), error classes, and caching (exp, max TTL, negative).
import { parseSignet, serializeSignet, signetFingerprint, type DimeError } from '@lib/dime';
import type { DmtpClient, DmtpConnectOptions, DmtpSignetResult } from '../dmtp/dmtp-client';
import { DmtpError } from '../dmtp/dmtp.error';
import { createTestOrg, createTestUser, type TestOrg } from '../dmtp/dime-test-org.fixture';
import { servedSignet } from '../dmtp/served-signet';
import type { LocalSignetSource } from '../local-signets';
import { DISCOVERY_ERROR_CLASS, DiscoveryError } from './discovery.error';
import { DnsDimeDirectory, type DimeDiscoveryConfig, type DimeDnsLookup } from './dns-dime-directory';

const dnsError = (code: string) => Object.assign(new Error(code), { code });

class FakeDns implements DimeDnsLookup {
  txt = new Map<string, string[][] | Error>();
  mx = new Map<string, { exchange: string; priority: number }[]>();
  a = new Map<string, string[]>();
  queries: string[] = [];

  resolveTxt(name: string): Promise<string[][]> {
    this.queries.push(`TXT ${name}`);
    const v = this.txt.get(name);
    if (v instanceof Error) return Promise.reject(v);
    return v ? Promise.resolve(v) : Promise.reject(dnsError('ENOTFOUND'));
  }
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]> {
    this.queries.push(`MX ${domain}`);
    const v = this.mx.get(domain);
    return v ? Promise.resolve(v) : Promise.reject(dnsError('ENODATA'));
  }
  resolve4(host: string): Promise<string[]> {
    const v = this.a.get(host);
    return v ? Promise.resolve(v) : Promise.reject(dnsError('ENOTFOUND'));
  }
  resolve6(): Promise<string[]> {
    return Promise.reject(dnsError('ENODATA'));
  }
}

/** A DMTP "network": host:port -> the signets served there (FULL view, as DmtpServer serves them). */
class FakeNet {
  hosts = new Map<string, LocalSignetSource | DmtpError | ((name: string) => DmtpSignetResult)>();
  connects: DmtpConnectOptions[] = [];

  connect = (o: DmtpConnectOptions): Promise<DmtpClient> => {
    this.connects.push(o);
    const served = this.hosts.get(`${o.host}:${o.port}`);
    if (!served) return Promise.reject(new DmtpError('CONNECT_FAILED', `nothing at ${o.host}:${o.port}`));
    if (served instanceof DmtpError) return Promise.reject(served);
    const client = {
      sgnt: async (name: string): Promise<DmtpSignetResult> => {
        if (typeof served === 'function') return served(name);
        const bytes = name.includes('@') ? await served.userSignet(name) : await served.orgSignet(name);
        if (!bytes) return { ok: false, reply: { code: 550, lines: [`5.1.1 no signet for ${name}`] } };
        return { ok: true, signet: servedSignet(parseSignet(bytes)), reply: { code: 250, lines: ['OK [..]'] } };
      },
      quit: () => Promise.resolve(),
    };
    return Promise.resolve(client as unknown as DmtpClient);
  };
}

const CONFIG: DimeDiscoveryConfig = { dmtpPort: 26, routes: {}, maxTtlMs: 3_600_000, negativeTtlMs: 60_000 };

async function expectDiscoveryError(p: Promise<unknown>, code: DiscoveryError['code']): Promise<DiscoveryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DiscoveryError);
  expect((err as DiscoveryError).code).toBe(code);
  return err as DiscoveryError;
}

describe('DnsDimeDirectory', () => {
  let a: TestOrg;
  let dns: FakeDns;
  let net: FakeNet;
  let now: number;
  const directory = (config: Partial<DimeDiscoveryConfig> = {}) => new DnsDimeDirectory({ ...CONFIG, ...config }, dns, net.connect, () => now);

  beforeAll(async () => {
    a = await createTestOrg({ domain: 'a.test', dx: ['dx1.a.test', 'dx2.a.test'], users: ['alice'], expiryDays: 1 });
  });

  beforeEach(() => {
    dns = new FakeDns();
    net = new FakeNet();
    now = 1_000_000;
    // the record split in the middle of a token, as genrec does: the strings must be joined
    const text = a.recordText;
    dns.txt.set('_dx.a.test', [[text.slice(0, 20), text.slice(20)]]);
    dns.a.set('dx1.a.test', ['192.0.2.1']);
    dns.a.set('dx2.a.test', ['192.0.2.2']);
    net.hosts.set('192.0.2.1:26', a.signets);
  });

  it('discovers a DIME domain: record from joined TXT strings, org signet validated against the POK, dx hosts in order', async () => {
    const found = await directory().lookupDomain('A.Test.');
    expect(found?.domain).toBe('a.test');
    expect(found?.record.poks[0]).toEqual(Buffer.from(a.pok.publicKey));
    expect(signetFingerprint(parseSignet(found!.orgSignet), 'crypto')).toBe(signetFingerprint(a.signet, 'crypto'));
    expect(found?.endpoints).toEqual([
      { host: '192.0.2.1', port: 26, serverName: 'dx1.a.test' },
      { host: '192.0.2.2', port: 26, serverName: 'dx2.a.test' },
    ]);
    expect(found?.expiresAt.getTime()).toBe(now + 86_400_000 > now + 3_600_000 ? now + 3_600_000 : now + 86_400_000);
    expect(net.connects[0]).toMatchObject({ serverName: 'dx1.a.test', peerCheck: { kind: 'x509' } });
  });

  it('tries the next dx host when the first is unreachable', async () => {
    net.hosts.delete('192.0.2.1:26');
    net.hosts.set('192.0.2.2:26', a.signets);
    const found = await directory().lookupDomain('a.test');
    expect(found).toBeDefined();
    expect(net.connects.map((c) => c.host)).toEqual(['192.0.2.1', '192.0.2.2']);
  });

  it('without dx= uses at most 3 MX hosts by preference, and without MX the bare domain', async () => {
    const b = await createTestOrg({ domain: 'b.test' });
    dns.txt.set('_dx.b.test', [b.txt]);
    dns.mx.set('b.test', [
      { exchange: 'mx4.b.test', priority: 40 },
      { exchange: 'mx1.b.test', priority: 10 },
      { exchange: 'mx3.b.test', priority: 30 },
      { exchange: 'mx2.b.test', priority: 20 },
    ]);
    for (const n of [1, 2, 3, 4]) dns.a.set(`mx${n}.b.test`, [`198.51.100.${n}`]);
    net.hosts.set('198.51.100.1:26', b.signets);
    const viaMx = await directory().lookupDomain('b.test');
    expect(viaMx?.endpoints.map((e) => e.serverName)).toEqual(['mx1.b.test', 'mx2.b.test', 'mx3.b.test']);

    dns.mx.delete('b.test');
    dns.a.set('b.test', ['198.51.100.9']);
    net.hosts.set('198.51.100.9:26', b.signets);
    const bare = await directory().lookupDomain('b.test');
    expect(bare?.endpoints).toEqual([{ host: '198.51.100.9', port: 26, serverName: 'b.test' }]);
  });

  it('with a dual-mode port, each MX host is tried on the DMTP port, then in dual mode on its SMTP port (not dx= hosts, not the bare domain)', async () => {
    const b = await createTestOrg({ domain: 'b.test' });
    dns.txt.set('_dx.b.test', [b.txt]);
    dns.mx.set('b.test', [
      { exchange: 'mx2.b.test', priority: 20 },
      { exchange: 'mx1.b.test', priority: 10 },
    ]);
    dns.a.set('mx1.b.test', ['198.51.100.1']);
    dns.a.set('mx2.b.test', ['198.51.100.2']);
    net.hosts.set('198.51.100.2:25', b.signets);
    const found = await directory({ dualModePort: 25 }).lookupDomain('b.test');
    expect(found?.endpoints).toEqual([
      { host: '198.51.100.1', port: 26, serverName: 'mx1.b.test' },
      { host: '198.51.100.1', port: 25, serverName: 'mx1.b.test', dualMode: true },
      { host: '198.51.100.2', port: 26, serverName: 'mx2.b.test' },
      { host: '198.51.100.2', port: 25, serverName: 'mx2.b.test', dualMode: true },
    ]);
    expect(net.connects.map((c) => `${c.host}:${c.port}${c.dualMode ? ' dual' : ''}`)).toEqual(['198.51.100.1:26', '198.51.100.1:25 dual', '198.51.100.2:26', '198.51.100.2:25 dual']);
    const viaDx = await directory({ dualModePort: 25 }).lookupDomain('a.test');
    expect(viaDx?.endpoints.every((e) => e.dualMode === undefined)).toBe(true);
    dns.mx.delete('b.test');
    dns.a.set('b.test', ['198.51.100.9']);
    net.hosts.set('198.51.100.9:26', b.signets);
    const bare = await directory({ dualModePort: 25 }).lookupDomain('b.test');
    expect(bare?.endpoints).toEqual([{ host: '198.51.100.9', port: 26, serverName: 'b.test' }]);
  });

  it('a DMTP_ROUTES entry replaces the host choice (tests, private links)', async () => {
    net.hosts.set('127.0.0.1:2626', a.signets);
    const found = await directory({ routes: { 'a.test': { host: '127.0.0.1', port: 2626 } } }).lookupDomain('a.test');
    expect(found?.endpoints).toEqual([{ host: '127.0.0.1', port: 2626, serverName: 'dx1.a.test' }]);
  });

  it('a record with tls= makes the peer check the tls= signatures, not X.509', async () => {
    const c = await createTestOrg({ domain: 'c.test', dx: ['dx.c.test'], certificates: [Buffer.from('fake DER')] });
    dns.txt.set('_dx.c.test', [c.txt]);
    dns.a.set('dx.c.test', ['192.0.2.3']);
    net.hosts.set('192.0.2.3:26', c.signets);
    await directory().lookupDomain('c.test');
    expect(net.connects[0]?.peerCheck).toMatchObject({ kind: 'tls-signature' });
  });

  it('NXDOMAIN / no TXT: not a DIME domain, remembered for the negative TTL only', async () => {
    const dir = directory();
    await expect(dir.lookupDomain('plain.test')).resolves.toBeUndefined();
    await expect(dir.lookupDomain('plain.test')).resolves.toBeUndefined();
    expect(dns.queries.filter((q) => q === 'TXT _dx.plain.test')).toHaveLength(1);
    now += 60_001;
    await expect(dir.lookupDomain('plain.test')).resolves.toBeUndefined();
    expect(dns.queries.filter((q) => q === 'TXT _dx.plain.test')).toHaveLength(2);
  });

  it('SERVFAIL and timeouts are transient DNS_FAILURE, and not cached', async () => {
    dns.txt.set('_dx.a.test', dnsError('ESERVFAIL'));
    const dir = directory();
    const err = await expectDiscoveryError(dir.lookupDomain('a.test'), 'DNS_FAILURE');
    expect(err.transient).toBe(true);
    dns.txt.set('_dx.a.test', dnsError('ETIMEOUT'));
    await expectDiscoveryError(dir.lookupDomain('a.test'), 'DNS_FAILURE');
    dns.txt.set('_dx.a.test', [a.txt]);
    await expect(dir.lookupDomain('a.test')).resolves.toBeDefined();
  });

  it('an unparseable record, or two records, is a permanent RECORD_INVALID', async () => {
    dns.txt.set('_dx.a.test', [['ver=1 pok=tooshort']]);
    const err = await expectDiscoveryError(directory().lookupDomain('a.test'), 'RECORD_INVALID');
    expect(err.transient).toBe(false);
    expect((err.cause as DimeError).code).toBe('BAD_RECORD');
    dns.txt.set('_dx.a.test', [a.txt, a.txt]);
    await expectDiscoveryError(directory().lookupDomain('a.test'), 'RECORD_INVALID');
  });

  it('refuses an org signet that does not chain to the record POK', async () => {
    const impostor = await createTestOrg({ domain: 'a.test' });
    net.hosts.set('192.0.2.1:26', impostor.signets);
    const err = await expectDiscoveryError(directory().lookupDomain('a.test'), 'SIGNET_INVALID');
    expect(err.message).toMatch(/POK/);
  });

  it('refuses an org signet whose ID names another domain, and a user signet served as the org signet', async () => {
    const other = await createTestOrg({ domain: 'other.test' });
    // same POK as a.test's record would be needed to pass the POK check: serve a.test's user signet instead
    net.hosts.set('192.0.2.1:26', { orgSignet: () => Promise.resolve(a.users.get('alice@a.test')!.bytes), userSignet: () => Promise.resolve(undefined) });
    await expectDiscoveryError(directory().lookupDomain('a.test'), 'SIGNET_INVALID');
    dns.txt.set('_dx.other.test', [other.txt]);
    dns.mx.set('other.test', [{ exchange: 'mx.other.test', priority: 1 }]);
    dns.a.set('mx.other.test', ['192.0.2.7']);
    // served in the ID view (254 = "other.test"), as a non-libdime server might: the name must match
    const idView = (name: string): DmtpSignetResult => ({ ok: true, signet: name === 'other.test' || name === 'alias.test' ? other.signetBytes : Buffer.alloc(0), reply: { code: 250, lines: [] } });
    net.hosts.set('192.0.2.7:26', idView);
    await expect(directory().lookupDomain('other.test')).resolves.toBeDefined();
    // other.test's signet (ID "other.test") served for a domain whose record has other.test's POK
    dns.txt.set('_dx.alias.test', [other.txt]);
    dns.a.set('alias.test', ['192.0.2.7']);
    await expectDiscoveryError(directory().lookupDomain('alias.test'), 'SIGNET_INVALID');
  });

  it('a certificate that does not match tls= is TLS_MISMATCH when no host is usable', async () => {
    net.hosts.set('192.0.2.1:26', new DmtpError('TLS_MISMATCH', 'certificate does not match'));
    net.hosts.set('192.0.2.2:26', new DmtpError('CONNECT_FAILED', 'refused'));
    const err = await expectDiscoveryError(directory().lookupDomain('a.test'), 'TLS_MISMATCH');
    expect(err.transient).toBe(true);
  });

  it('SGNT 5xx is SIGNET_NOT_FOUND (permanent), 4xx on every host SIGNET_UNAVAILABLE (transient)', async () => {
    net.hosts.set('192.0.2.1:26', () => ({ ok: false, reply: { code: 550, lines: ['5.1.2 a.test is not served here'] } }));
    await expectDiscoveryError(directory().lookupDomain('a.test'), 'SIGNET_NOT_FOUND');
    net.hosts.set('192.0.2.1:26', () => ({ ok: false, reply: { code: 451, lines: ['4.3.0 later'] } }));
    net.hosts.set('192.0.2.2:26', () => ({ ok: false, reply: { code: 451, lines: ['4.3.0 later'] } }));
    const err = await expectDiscoveryError(directory().lookupDomain('a.test'), 'SIGNET_UNAVAILABLE');
    expect(err.message).toContain('dx2.a.test');
    // 4xx from the first host, the second unreachable: still "unavailable", with both reasons
    net.hosts.delete('192.0.2.2:26');
    const mixed = await expectDiscoveryError(directory().lookupDomain('a.test'), 'SIGNET_UNAVAILABLE');
    expect(mixed.message).toMatch(/451 4\.3\.0 later.*CONNECT_FAILED/);
  });

  it('caches a validated domain until the record exp (capped by maxTtl), then fetches and validates again', async () => {
    const dir = directory({ maxTtlMs: 7 * 86_400_000 }); // exp=1 day is the shorter one
    await dir.lookupDomain('a.test');
    await dir.lookupDomain('a.test');
    expect(net.connects).toHaveLength(1);
    now += 86_400_000 - 1;
    await dir.lookupDomain('a.test');
    expect(net.connects).toHaveLength(1);
    now += 2;
    // meanwhile the domain started serving a signet that does not validate: the re-validation notices
    const impostor = await createTestOrg({ domain: 'a.test' });
    net.hosts.set('192.0.2.1:26', impostor.signets);
    await expectDiscoveryError(dir.lookupDomain('a.test'), 'SIGNET_INVALID');
    expect(net.connects).toHaveLength(2);
  });

  it('concurrent lookups of one domain share one fetch', async () => {
    const dir = directory();
    const results = await Promise.all([dir.lookupDomain('a.test'), dir.lookupDomain('a.test'), dir.lookupDomain('a.test')]);
    expect(new Set(results).size).toBe(1);
    expect(net.connects).toHaveLength(1);
  });

  it('fetches a user signet and validates it against the org signet; cached with the domain', async () => {
    const dir = directory();
    const bytes = await dir.userSignet('alice@A.TEST');
    const alice = a.users.get('alice@a.test')!;
    expect(signetFingerprint(parseSignet(bytes), 'full')).toBe(signetFingerprint(alice.signet, 'full'));
    await dir.userSignet('alice@a.test');
    expect(net.connects).toHaveLength(2); // one for the org signet, one for the user's
    await expect(dir.userSignet('alice@a.test', undefined, signetFingerprint(alice.signet, 'crypto'))).resolves.toBeDefined();
  });

  it('refuses a user signet signed by another organisation, or served for another name', async () => {
    const stranger = await createTestOrg({ domain: 'a.test', users: ['alice'] });
    const forged = stranger.users.get('alice@a.test')!.bytes;
    net.hosts.set('192.0.2.1:26', { orgSignet: a.signets.orgSignet, userSignet: () => Promise.resolve(forged) });
    await expectDiscoveryError(directory().userSignet('alice@a.test'), 'SIGNET_INVALID');

    // bob's signet in the ID view (254 = bob@a.test) served when alice's was asked for
    const bob = await createTestUser('bob@a.test', a.pok);
    net.hosts.set('192.0.2.1:26', (name) =>
      name.includes('@') ? { ok: true, signet: bob.bytes, reply: { code: 250, lines: [] } } : { ok: true, signet: a.signetBytes, reply: { code: 250, lines: [] } },
    );
    const err = await expectDiscoveryError(directory().userSignet('alice@a.test'), 'SIGNET_INVALID');
    expect(err.message).toContain('bob@a.test');
  });

  it('a user without a signet is SIGNET_NOT_FOUND; a user of a non-DIME domain too', async () => {
    await expectDiscoveryError(directory().userSignet('nobody@a.test'), 'SIGNET_NOT_FOUND');
    await expectDiscoveryError(directory().userSignet('x@plain.test'), 'SIGNET_NOT_FOUND');
  });

  it('maps every code to a reply whose class matches transient/permanent', () => {
    for (const [code, c] of Object.entries(DISCOVERY_ERROR_CLASS)) {
      expect(`${code} ${c.reply[0]}`).toBe(`${code} ${c.transient ? '4' : '5'}`);
    }
  });

  it('serves fixtures in the libdime FULL view (sanity of the fake network)', () => {
    const full = servedSignet(a.signet);
    expect(full.length).toBeLessThan(serializeSignet(a.signet).length);
  });
});
