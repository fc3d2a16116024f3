// The DMTP listener with its TLS key in the HSM (SoftHSM2 token, libp11's OpenSSL engine), end to end: the
// server runs in a child node process with the engine config (as appliance/start.sh runs the
// gateway); dnsmasq publishes the `_dx` record whose `tls=` signs the certificate of the HSM-held
// key; DnsDimeDirectory discovers the domain through it and validates the org signet served over SGNT.
import { verify, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSelfSignedCertificate, DEFAULT_OPENSSL_PKCS11_ENGINE, HsmKeystore, keyLabel, writeOpensslHsmConfig } from '@lib/hsm';
import { parseSignet, signetFingerprint } from '@lib/dime';
import { startDns, type DnsServer } from '../../../../../test/dns/dns-server';
import { spawnTsChild, type SpawnedChild } from '../../../../../test/hsm/hsm-child-process';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../../../test/hsm/softhsm-token';
import { DnsDimeDirectory } from '../discovery/dns-dime-directory';
import { DmtpClient } from './dmtp-client';
import { createTestOrg, type TestOrg } from './dime-test-org.fixture';

jest.setTimeout(90_000);

describe('DmtpServer with the HSM-held TLS key', () => {
  let token: TestToken;
  let keystore: HsmKeystore;
  let server: SpawnedChild<{ port: number }>;
  let dns: DnsServer;
  let org: TestOrg;
  let certDer: Buffer;

  beforeAll(async () => {
    token = createTestToken();
    await useTokenInThisProcess(token);
    keystore = HsmKeystore.open(token.config());
    await keystore.ensureKey('tls-ecdsa');
    const cert = await createSelfSignedCertificate(keystore, keyLabel('tls-ecdsa'), { commonName: 'dx.h.test', ipAddresses: ['127.0.0.1'], organization: 'DIME Gateway test' });
    const certFile = join(token.dir, 'tls-ecdsa.cert.pem');
    writeFileSync(certFile, cert.pem);
    certDer = new X509Certificate(cert.pem).raw;
    org = await createTestOrg({ domain: 'h.test', dx: ['dx.h.test'], certificates: [certDer] });
    const opensslConfig = writeOpensslHsmConfig(join(token.dir, 'openssl-pkcs11.cnf'), {
      enginePath: DEFAULT_OPENSSL_PKCS11_ENGINE,
      modulePath: token.modulePath,
    });
    server = await spawnTsChild(
      'apps/gateway/src/dime/dmtp/dmtp-hsm-server.child.ts',
      { ...token.env, HSM_TLS_KEYS: `${keyLabel('tls-ecdsa')}=${certFile}`, DIME_DOMAIN: 'h.test', ORG_SIGNET_B64: org.signetBytes.toString('base64') },
      opensslConfig,
      60_000,
    );
    dns = await startDns({ records: { txt: { '_dx.h.test': [org.txt] }, a: { 'dx.h.test': ['127.0.0.1'] } } });
  });

  afterAll(async () => {
    await server?.stop();
    await dns?.stop();
    keystore?.close();
    token?.cleanup();
  });

  it('presents the certificate of the HSM key; the client checks it against tls= and reads the DMTPv1 banner', async () => {
    const client = await DmtpClient.connect({ host: '127.0.0.1', port: server.ready.port, serverName: 'dx.h.test', peerCheck: { kind: 'tls-signature', record: org.record } });
    try {
      expect(client.peerCertificate.equals(certDer)).toBe(true);
      expect(client.banner.lines[0]).toBe('dx.h.test DMTPv1 DIME Gateway ready');
      // the served certificate's key is the token's key: verify a fresh HSM signature with it
      const data = Buffer.from('proof of possession');
      const signature = await keystore.signEcdsa(keyLabel('tls-ecdsa'), data);
      expect(verify('sha256', data, new X509Certificate(certDer).publicKey, signature)).toBe(true);
    } finally {
      await client.quit();
    }
  });

  it('is discovered through DNS: _dx record -> dx host -> HSM-key TLS checked against tls= -> SGNT -> org signet validated', async () => {
    const directory = new DnsDimeDirectory({ dmtpPort: server.ready.port, routes: {}, maxTtlMs: 60_000, negativeTtlMs: 1000 }, dns.resolver());
    const found = await directory.lookupDomain('h.test');
    expect(found?.endpoints).toEqual([{ host: '127.0.0.1', port: server.ready.port, serverName: 'dx.h.test' }]);
    expect(signetFingerprint(parseSignet(found!.orgSignet), 'full')).toBe(signetFingerprint(org.signet, 'full'));
  });
});
