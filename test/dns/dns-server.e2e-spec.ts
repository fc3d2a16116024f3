// The DNS harness against node's resolver: what the discovery tests rely on (multi-string TXT
// kept as separate strings, MX, A, NXDOMAIN for unlisted names, SERVFAIL zones) really comes back.
import { startDns, type DnsServer } from './dns-server';

describe('startDns (dnsmasq on a loopback port)', () => {
  let dns: DnsServer;

  beforeAll(async () => {
    dns = await startDns({
      zones: ['test'],
      servfail: ['broken.test'],
      records: {
        txt: { '_dx.a.test': [['ver=1 pok=abc', 'def tail']] },
        mx: { 'a.test': [{ exchange: 'mx2.a.test', priority: 20 }, { exchange: 'mx1.a.test', priority: 10 }] },
        a: { 'mx1.a.test': ['127.0.0.1'], 'dx.a.test': ['127.0.0.2'] },
      },
    });
  }, 20_000);

  afterAll(async () => {
    await dns?.stop();
  });

  it('answers a multi-string TXT record as its separate character-strings', async () => {
    await expect(dns.resolver().resolveTxt('_dx.a.test')).resolves.toEqual([['ver=1 pok=abc', 'def tail']]);
  });

  it('answers MX and A records', async () => {
    const mx = await dns.resolver().resolveMx('a.test');
    expect(mx.sort((x, y) => x.priority - y.priority)).toEqual([
      { exchange: 'mx1.a.test', priority: 10 },
      { exchange: 'mx2.a.test', priority: 20 },
    ]);
    await expect(dns.resolver().resolve4('dx.a.test')).resolves.toEqual(['127.0.0.2']);
  });

  it('says NXDOMAIN (ENOTFOUND) for names it does not list', async () => {
    await expect(dns.resolver().resolveTxt('_dx.b.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('fails queries under a servfail zone with a transient error', async () => {
    const err = (await dns
      .resolver(1000)
      .resolveTxt('_dx.broken.test')
      .catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(['ESERVFAIL', 'ETIMEOUT', 'EREFUSED']).toContain(err.code);
  });

  it('stops: the port no longer answers', async () => {
    const extra = await startDns({ records: {} });
    const resolver = extra.resolver(300);
    await extra.stop();
    await expect(resolver.resolveTxt('_dx.a.test')).rejects.toMatchObject({ code: expect.stringMatching(/ETIMEOUT|ECONNREFUSED/) });
  });
});
