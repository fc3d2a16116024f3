// Delivery rules without I/O: backoff, the per-destination semaphore, next-hop resolution (MX
// order, fallback to A/AAAA, null MX, static routes, DNS failures) and the RFC 3464 DSN layout.
import { buildDsn, statusOfReply } from './dsn.builder';
import { KeyedSemaphore } from './keyed-semaphore';
import { NextHopResolver, type DnsLookup } from './next-hop.resolver';
import { retryDelayMs } from './retry-backoff';

describe('retryDelayMs', () => {
  it('doubles RETRY_BASE per attempt and caps at RETRY_MAX', () => {
    const mid = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => retryDelayMs(a, 60_000, 600_000, mid))).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000]);
    expect(retryDelayMs(1000, 60_000, 3_600_000, mid)).toBe(3_600_000);
  });

  it('jitters within ±20 % and never beyond the cap', () => {
    expect(retryDelayMs(1, 1000, 10_000, () => 0)).toBe(800);
    expect(retryDelayMs(1, 1000, 10_000, () => 0.999999)).toBe(1200);
    expect(retryDelayMs(9, 1000, 10_000, () => 0.999999)).toBe(10_000);
  });

  it('refuses a non-positive attempt', () => {
    expect(() => retryDelayMs(0, 1000, 10_000)).toThrow(RangeError);
  });
});

describe('KeyedSemaphore', () => {
  it('lets at most `limit` holders per key run at once, other keys independent', async () => {
    const sem = new KeyedSemaphore(2);
    let peak = 0;
    let running = 0;
    const gate: (() => void)[] = [];
    const task = () =>
      sem.run('a.test', async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gate.push(r));
        running--;
      });
    const all = [task(), task(), task(), task()];
    let otherRan = false;
    await sem.run('b.test', async () => void (otherRan = true));
    expect(otherRan).toBe(true);
    while (gate.length > 0 || running > 0) {
      await new Promise((r) => setImmediate(r));
      gate.shift()?.();
    }
    await Promise.all(all);
    expect(peak).toBe(2);
    expect(sem.active('a.test')).toBe(0);
  });

  it('releases the slot when the task throws', async () => {
    const sem = new KeyedSemaphore(1);
    await expect(sem.run('k', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(sem.run('k', async () => 7)).resolves.toBe(7);
  });
});

function dnsError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

function fakeDns(records: { mx?: Record<string, { exchange: string; priority: number }[] | string>; a?: Record<string, string[] | string>; aaaa?: Record<string, string[]> }): DnsLookup {
  const lookup = <T>(table: Record<string, T[] | string> | undefined, name: string): Promise<T[]> => {
    const v = table?.[name];
    if (v === undefined) return Promise.reject(dnsError('ENODATA'));
    if (typeof v === 'string') return Promise.reject(dnsError(v));
    return Promise.resolve(v);
  };
  return {
    resolveMx: (d) => lookup(records.mx, d),
    resolve4: (h) => lookup(records.a, h),
    resolve6: (h) => lookup(records.aaaa, h),
  };
}

describe('NextHopResolver', () => {
  const base = { legacy: { host: 'legacy.org.test', port: 2525 }, remotePort: 25, staticRoutes: {} };

  it('sends the legacy route to LEGACY_HOST:LEGACY_PORT', async () => {
    const r = new NextHopResolver(base, fakeDns({}));
    expect(await r.resolve('legacy', 'org.test')).toEqual({ kind: 'hops', hops: [{ host: 'legacy.org.test', port: 2525, name: 'legacy.org.test' }] });
  });

  it('orders MX hosts by preference and connects to their addresses, verifying the MX name', async () => {
    const r = new NextHopResolver(
      base,
      fakeDns({
        mx: { 'remote.test': [{ exchange: 'mx2.remote.test', priority: 20 }, { exchange: 'mx1.remote.test.', priority: 10 }] },
        a: { 'mx1.remote.test': ['192.0.2.1'], 'mx2.remote.test': ['192.0.2.2'] },
        aaaa: { 'mx1.remote.test': ['2001:db8::1'] },
      }),
    );
    expect(await r.resolve('remote', 'remote.test')).toEqual({
      kind: 'hops',
      hops: [
        { host: '192.0.2.1', port: 25, name: 'mx1.remote.test' },
        { host: '2001:db8::1', port: 25, name: 'mx1.remote.test' },
        { host: '192.0.2.2', port: 25, name: 'mx2.remote.test' },
      ],
    });
  });

  it('shuffles MX hosts of equal preference', async () => {
    const dns = fakeDns({
      mx: { 'remote.test': [{ exchange: 'a.remote.test', priority: 10 }, { exchange: 'b.remote.test', priority: 10 }] },
      a: { 'a.remote.test': ['192.0.2.1'], 'b.remote.test': ['192.0.2.2'] },
    });
    let i = 0;
    const first = await new NextHopResolver(base, dns, () => [0.9, 0.1][i++ % 2]!).resolve('remote', 'remote.test');
    expect(first.kind === 'hops' && first.hops[0]!.name).toBe('b.remote.test');
  });

  it('falls back to the domain address when there is no MX (RFC 5321 5.1)', async () => {
    const r = new NextHopResolver(base, fakeDns({ a: { 'remote.test': ['192.0.2.9'] } }));
    expect(await r.resolve('remote', 'remote.test')).toEqual({ kind: 'hops', hops: [{ host: '192.0.2.9', port: 25, name: 'remote.test' }] });
  });

  it('bounces a null MX (RFC 7505), a domain that does not exist, and one without any address', async () => {
    const nullMx = await new NextHopResolver(base, fakeDns({ mx: { 'remote.test': [{ exchange: '', priority: 0 }] } })).resolve('remote', 'remote.test');
    expect(nullMx).toMatchObject({ kind: 'failed', permanent: true, reply: expect.stringMatching(/^556 5\.1\.10/) });
    const nx = await new NextHopResolver(base, fakeDns({ mx: { 'remote.test': 'ENOTFOUND' } })).resolve('remote', 'remote.test');
    expect(nx).toMatchObject({ kind: 'failed', permanent: true, reply: expect.stringMatching(/^550 5\.1\.2/) });
    const none = await new NextHopResolver(base, fakeDns({})).resolve('remote', 'remote.test');
    expect(none).toMatchObject({ kind: 'failed', permanent: true });
  });

  it('defers on DNS trouble (SERVFAIL, timeout) instead of bouncing', async () => {
    const servfail = await new NextHopResolver(base, fakeDns({ mx: { 'remote.test': 'ESERVFAIL' } })).resolve('remote', 'remote.test');
    expect(servfail).toMatchObject({ kind: 'failed', permanent: false, reply: expect.stringMatching(/^451 4\.4\.3/) });
    const mxHostDown = await new NextHopResolver(base, fakeDns({ mx: { 'remote.test': [{ exchange: 'mx.remote.test', priority: 1 }] }, a: { 'mx.remote.test': 'ETIMEOUT' } })).resolve('remote', 'remote.test');
    expect(mxHostDown).toMatchObject({ kind: 'failed', permanent: false });
  });

  it('uses a STATIC_ROUTES entry without asking DNS', async () => {
    const r = new NextHopResolver({ ...base, staticRoutes: { 'remote.test': { host: '127.0.0.1', port: 2526 } } }, fakeDns({ mx: { 'remote.test': 'ESERVFAIL' } }));
    expect(await r.resolve('remote', 'REMOTE.test')).toEqual({ kind: 'hops', hops: [{ host: '127.0.0.1', port: 2526, name: '127.0.0.1' }] });
  });
});

describe('buildDsn', () => {
  const original = Buffer.from('From: Alice <alice@org.test>\r\nTo: bob@remote.test\r\nSubject: the plan\r\n\r\nTOP SECRET BODY\r\n');
  const headers = original.subarray(0, original.indexOf('\r\n\r\n') + 2);
  const dsn = buildDsn({
    reportingMta: 'gateway.org.test',
    to: 'alice@org.test',
    dsnId: '0b7c7d1e-1111-8222-9333-444455556666',
    originalQueueId: 'ABCDEF0123456789',
    arrivalDate: new Date(Date.UTC(2025, 0, 2, 3, 4, 5)),
    date: new Date(Date.UTC(2025, 0, 2, 4, 0, 0)),
    recipients: [
      { address: 'bob@remote.test', action: 'failed', reply: '550 5.1.1 <bob@remote.test>: no such user', remoteMta: 'mx.remote.test' },
      { address: 'carol@remote.test', action: 'failed', reply: '554 no\r\ninjected: header' },
    ],
    originalHeaders: headers,
  }).toString('utf8');

  it('is a multipart/report of type delivery-status from MAILER-DAEMON to the sender', () => {
    const [head] = dsn.split('\r\n\r\n');
    expect(head).toContain('From: Mail Delivery System <MAILER-DAEMON@gateway.org.test>');
    expect(head).toContain('To: <alice@org.test>');
    expect(head).toContain('Auto-Submitted: auto-replied');
    expect(head).toMatch(/Content-Type: multipart\/report; report-type=delivery-status; boundary="([^"]+)"/);
    const boundary = /boundary="([^"]+)"/.exec(head!)![1]!;
    const parts = dsn.split(`--${boundary}`);
    expect(parts).toHaveLength(5); // preamble, 3 parts, epilogue after the closing delimiter
    expect(parts[1]).toContain('Content-Type: text/plain');
    expect(parts[2]).toContain('Content-Type: message/delivery-status');
    expect(parts[3]).toContain('Content-Type: text/rfc822-headers');
    expect(parts[4]).toBe('--\r\n');
  });

  it('has per-message and per-recipient delivery-status fields', () => {
    expect(dsn).toContain('Reporting-MTA: dns; gateway.org.test\r\n');
    expect(dsn).toContain('Arrival-Date: Thu, 02 Jan 2025 03:04:05 +0000\r\n');
    expect(dsn).toContain(
      'Final-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user\r\n',
    );
    expect(dsn).toContain('Final-Recipient: rfc822; carol@remote.test\r\nAction: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: smtp; 554 no injected: header\r\n');
    expect(dsn).not.toMatch(/\r\ninjected: header/);
  });

  it('carries the original headers and never the body', () => {
    expect(dsn).toContain('Subject: the plan\r\n');
    expect(dsn).not.toContain('TOP SECRET BODY');
  });

  it('takes the status from the reply, else from its class', () => {
    expect(statusOfReply('451 4.7.10 TLS required', 'delayed')).toBe('4.7.10');
    expect(statusOfReply('5.4.7 expired', 'failed')).toBe('5.4.7');
    expect(statusOfReply('421 busy', 'delayed')).toBe('4.0.0');
    expect(statusOfReply('connection refused', 'failed')).toBe('5.0.0');
  });

  it('says the message is still being retried in a delay notice', () => {
    const notice = buildDsn({
      reportingMta: 'gw.test',
      to: 'a@org.test',
      dsnId: 'x',
      originalQueueId: 'Q',
      arrivalDate: new Date(0),
      date: new Date(0),
      recipients: [{ address: 'b@remote.test', action: 'delayed', reply: '451 4.3.0 later' }],
      originalHeaders: undefined,
      willRetryUntil: new Date(86400_000),
    }).toString();
    expect(notice).toContain('Subject: Delayed Mail (still being retried)');
    expect(notice).toContain('Action: delayed\r\nStatus: 4.3.0\r\n');
    expect(notice).toContain('Will-Retry-Until: Fri, 02 Jan 1970 00:00:00 +0000');
    expect(notice).not.toContain('text/rfc822-headers');
  });
});
