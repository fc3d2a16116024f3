// DIME discovery end to end with real peers on loopback: dnsmasq answers the `_dx` TXT (multi-string),
// MX and A records; two organisations' DmtpServers (a.test on 127.0.0.2, b.test on 127.0.0.3, one
// port) serve their signets over implicit TLS; DnsDimeDirectory resolves, connects, checks the
// certificate against `tls=`, fetches and validates the signets. Then a real sealed message goes from
// a.test to b.test over DMTP, and b.test's door verifies its origin signature with the org signet it
// discovered for a.test through DNS + SGNT.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dmtpReplyForError, openMessage, parseSignet, signetFingerprint, signetSigningKey } from '@lib/dime';
import { startDns, type DnsServer } from '../../../../../test/dns/dns-server';
import { freePort } from '../../../../../test/postfix/free-port';
import { createSelfSignedCert, type SelfSignedCert } from '../../../../../test/postfix/self-signed-cert';
import type { DimeDoorCheck, DimeDoorCheckInput, DimeDoorVerdict } from '../dime-inbound';
import type { LocalSignetSource } from '../local-signets';
import { createTestOrg, sealTestMessage, type TestOrg } from '../dmtp/dime-test-org.fixture';
import { DEFAULT_DMTP_LIMITS, DmtpServer, type DmtpLogger } from '../dmtp/dmtp-server';
import type { DmtpAcceptInput } from '../dmtp/dmtp-session';
import { DiscoveryError } from './discovery.error';
import { DnsDimeDirectory } from './dns-dime-directory';
import { connectDx } from './dx-connector';

const quiet: DmtpLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** b.test's door for this test: opens as destination and verifies the origin signature with the DISCOVERED origin org signet. */
class DiscoveringDoor implements DimeDoorCheck {
  constructor(
    private readonly me: TestOrg,
    private readonly directory: DnsDimeDirectory,
  ) {}
  async check(input: DimeDoorCheckInput): Promise<DimeDoorVerdict> {
    try {
      const origin = await this.directory.lookupDomain(input.originDomain);
      if (!origin) return { ok: false, reply: `550 5.7.5 no DIME management record for ${input.originDomain}` };
      const pok = signetSigningKey(parseSignet(origin.orgSignet));
      const opened = await openMessage(input.message, { actor: 'destination', keys: this.me.keys, originSigningKey: pok });
      if (opened.destination?.origin !== input.originDomain) return { ok: false, reply: '554 5.7.1 envelope does not match MAIL FROM / RCPT TO' };
      return { ok: true, recipient: opened.destination.recipient, author: '' };
    } catch (err) {
      const r = dmtpReplyForError(err);
      return { ok: false, reply: `${r.code} ${r.lines.join(' ')}` };
    }
  }
}

function signetsOf(...sources: [string, LocalSignetSource][]): LocalSignetSource {
  const pick = (domain: string) => sources.find(([d]) => d === domain)?.[1];
  return {
    orgSignet: (d) => pick(d)?.orgSignet(d) ?? Promise.resolve(undefined),
    userSignet: (a) => pick(a.slice(a.lastIndexOf('@') + 1))?.userSignet(a) ?? Promise.resolve(undefined),
  };
}

async function discoveryError(p: Promise<unknown>): Promise<DiscoveryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DiscoveryError);
  return err as DiscoveryError;
}

describe('DIME discovery over real DNS (dnsmasq) and DMTP (TLS on loopback)', () => {
  let certA: SelfSignedCert;
  let certB: SelfSignedCert;
  let a: TestOrg;
  let b: TestOrg;
  let evilRecord: TestOrg;
  let evilServed: TestOrg;
  let mismatch: TestOrg;
  let dns: DnsServer;
  let port: number;
  let serverA: DmtpServer;
  let serverB: DmtpServer;
  const accepted: DmtpAcceptInput[] = [];
  const directory = (): DnsDimeDirectory =>
    new DnsDimeDirectory({ dmtpPort: port, routes: {}, maxTtlMs: 60_000, negativeTtlMs: 1000, timeouts: { connectMs: 3000, commandMs: 3000 } }, dns.resolver(1500));

  beforeAll(async () => {
    [certA, certB] = await Promise.all([createSelfSignedCert('dx.a.test'), createSelfSignedCert('dx.b.test')]);
    const derA = new X509Certificate(certA.certPem).raw;
    const derB = new X509Certificate(certB.certPem).raw;
    a = await createTestOrg({ domain: 'a.test', dx: ['dx.a.test'], certificates: [derA], users: ['alice'] });
    b = await createTestOrg({ domain: 'b.test', certificates: [derB], users: ['bob'] }); // no dx=: MX
    // evil.test: its record's POK signs A's certificate (so TLS passes), but the host serves the signet of another key
    evilRecord = await createTestOrg({ domain: 'evil.test', dx: ['dx.a.test'], certificates: [derA] });
    evilServed = await createTestOrg({ domain: 'evil.test' });
    // mismatch.test: points at A's host but its tls= signs B's certificate
    mismatch = await createTestOrg({ domain: 'mismatch.test', dx: ['dx.a.test'], certificates: [derB] });

    port = await freePort();
    dns = await startDns({
      zones: ['test'],
      servfail: ['broken.test'],
      records: {
        txt: {
          // a.test's record split mid-token into two character-strings (as genrec does past 255): they must be joined
          '_dx.a.test': [[a.recordText.slice(0, 100), a.recordText.slice(100)]],
          '_dx.b.test': [b.txt],
          '_dx.evil.test': [evilRecord.txt],
          '_dx.mismatch.test': [mismatch.txt],
        },
        mx: { 'b.test': [{ exchange: 'mx.b.test', priority: 10 }] },
        a: { 'dx.a.test': ['127.0.0.2'], 'mx.b.test': ['127.0.0.3'] },
      },
    });
    const limits = { ...DEFAULT_DMTP_LIMITS, maxMessageBytes: 1024 * 1024 };
    serverA = new DmtpServer({
      hostname: 'dx.a.test',
      localDomains: ['a.test', 'evil.test'],
      tls: { key: readFileSync(certA.keyFile), cert: readFileSync(certA.certFile) },
      signets: signetsOf(['a.test', a.signets], ['evil.test', evilServed.signets]),
      doorCheck: { check: () => Promise.resolve({ ok: false, reply: '554 5.7.1 not used' }) },
      acceptor: () => Promise.reject(new Error('not used')),
      limits,
      logger: quiet,
    });
    serverB = new DmtpServer({
      hostname: 'mx.b.test',
      localDomains: ['b.test'],
      tls: { key: readFileSync(certB.keyFile), cert: readFileSync(certB.certFile) },
      signets: b.signets,
      doorCheck: new DiscoveringDoor(b, directory()),
      acceptor: (input) => {
        accepted.push(input);
        return Promise.resolve({ reply: `250 OK [${input.transactionId}]` });
      },
      directory: directory(),
      limits,
      logger: quiet,
    });
    await serverA.listen(port, '127.0.0.2');
    await serverB.listen(port, '127.0.0.3');
  }, 30_000);

  afterAll(async () => {
    await Promise.all([serverA?.drain(500), serverB?.drain(500)]);
    await dns?.stop();
    await Promise.all([certA?.remove(), certB?.remove()]);
  });

  it('discovers a DIME domain: _dx TXT (multi-string) -> dx host A record -> TLS checked against tls= -> SGNT -> org signet validated', async () => {
    const found = await directory().lookupDomain('a.test');
    expect(found).toBeDefined();
    expect(found!.endpoints).toEqual([{ host: '127.0.0.2', port, serverName: 'dx.a.test' }]);
    expect(signetFingerprint(parseSignet(found!.orgSignet), 'full')).toBe(signetFingerprint(a.signet, 'full'));
    expect(found!.record.tls).toHaveLength(1);
  });

  it('without dx= the MX host is used, and user signets chain to the discovered org signet', async () => {
    const dir = directory();
    const found = await dir.lookupDomain('b.test');
    expect(found!.endpoints).toEqual([{ host: '127.0.0.3', port, serverName: 'mx.b.test' }]);
    const bob = await dir.userSignet('bob@b.test');
    expect(signetFingerprint(parseSignet(bob), 'crypto')).toBe(signetFingerprint(b.users.get('bob@b.test')!.signet, 'crypto'));
    expect((await discoveryError(dir.userSignet('nobody@b.test'))).code).toBe('SIGNET_NOT_FOUND');
  });

  it('refuses an org signet that does not chain to the POK of the record', async () => {
    const err = await discoveryError(directory().lookupDomain('evil.test'));
    expect(err.code).toBe('SIGNET_INVALID');
    expect(err.message).toMatch(/POK/);
  });

  it('refuses a DX host whose certificate does not match the tls= signature, before any command', async () => {
    const err = await discoveryError(directory().lookupDomain('mismatch.test'));
    expect(err.code).toBe('TLS_MISMATCH');
    expect(err.transient).toBe(true);
  });

  it('NXDOMAIN is "not a DIME domain"; SERVFAIL is a transient DNS failure', async () => {
    await expect(directory().lookupDomain('plain.test')).resolves.toBeUndefined();
    const err = await discoveryError(directory().lookupDomain('broken.test'));
    expect(err.code).toBe('DNS_FAILURE');
    expect(err.transient).toBe(true);
  });

  it('delivers a sealed message a.test -> b.test over DMTP; b.test verifies the origin with the signet it discovered', async () => {
    const message = await sealTestMessage(a, 'alice@a.test', b, 'bob@b.test', 'Quarterly numbers');
    const target = (await directory().lookupDomain('b.test'))!;
    const { client, endpoint } = await connectDx(target.record, target.endpoints);
    expect(endpoint.serverName).toBe('mx.b.test');
    try {
      expect((await client.ehlo('dx.a.test')).code).toBe(250);
      const result = await client.deliver({
        originDomain: 'a.test',
        destinationDomain: 'b.test',
        message,
        originFingerprint: signetFingerprint(a.signet, 'crypto'),
        destinationFingerprint: signetFingerprint(parseSignet(target.orgSignet), 'crypto'),
      });
      expect(result).toMatchObject({ accepted: true, stage: 'MESSAGE', reply: { code: 250 } });
      expect(accepted.at(-1)).toMatchObject({ originDomain: 'a.test', destinationDomain: 'b.test', recipient: 'bob@b.test', transactionId: result.transactionId });
      expect(Buffer.from(accepted.at(-1)!.message).equals(message)).toBe(true);

      // a message claiming a.test but origin-signed by another key: the discovered POK refuses it
      const impostor = await createTestOrg({ domain: 'a.test', users: ['alice'] });
      const forged = await sealTestMessage(impostor, 'alice@a.test', b, 'bob@b.test');
      const refused = await client.deliver({ originDomain: 'a.test', destinationDomain: 'b.test', message: forged });
      expect(refused).toMatchObject({ accepted: false, stage: 'MESSAGE' });
      expect(refused.reply).toEqual({ code: 554, lines: ['5.7.7 DIME signature invalid: message forged or tampered'] });

      // MAIL FROM a domain whose org signet does not chain to its record's POK: refused at MAIL, precisely
      const bad = await client.deliver({ originDomain: 'evil.test', destinationDomain: 'b.test', message });
      expect(bad).toMatchObject({ accepted: false, stage: 'MAIL' });
      expect(bad.reply).toEqual({ code: 554, lines: ['5.7.5 organisational signet of evil.test does not validate against its DIME management record'] });
      // a DX whose certificate does not match its record's tls=: transient (the origin's DX may be under attack)
      const mism = await client.deliver({ originDomain: 'mismatch.test', destinationDomain: 'b.test', message });
      expect(mism.reply).toEqual({ code: 451, lines: ['4.4.3 DIME lookup of mismatch.test failed (TLS_MISMATCH), try again later'] });

      // MAIL FROM a domain without a _dx record
      const noRecord = await client.deliver({ originDomain: 'plain.test', destinationDomain: 'b.test', message });
      expect(noRecord.reply).toEqual({ code: 550, lines: ['5.7.5 no DIME management record for plain.test'] });
    } finally {
      await client.quit();
    }
  });
});
