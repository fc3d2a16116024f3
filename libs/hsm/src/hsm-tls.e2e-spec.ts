// TLS with the key in the HSM, end to end: an SMTP listener (STARTTLS) in a child node process
// started with the HSM engine config serves HSM-held ECDSA and RSA keys; `openssl s_client`
// completes verified TLS 1.2 and 1.3 handshakes; the served certificate's public key is the
// token's non-extractable key; legacy protocols and non-forward-secret suites are refused.
import { execFile } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pkcs11 from 'pkcs11js';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';
import { spawnTsChild, type SpawnedChild } from '../../../test/hsm/hsm-child-process';
import { createSelfSignedCertificate } from './hsm-certificate';
import { keyLabel } from './hsm-key-roles';
import { HsmKeystore } from './hsm-keystore';
import { ecPointFromAttribute } from './hsm-public-key';
import { writeOpensslHsmConfig } from './hsm-tls';
import { DEFAULT_OPENSSL_PKCS11_ENGINE } from './hsm.config';

jest.setTimeout(90_000);

let token: TestToken;
let keystore: HsmKeystore;
let server: SpawnedChild<{ port: number; loggedIn: boolean }>;
let ecdsaCert: string;
let rsaCert: string;

interface SClientResult {
  code: number;
  output: string;
}

function sClient(args: string[]): Promise<SClientResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${server.ready.port}`, '-servername', 'localhost', ...args],
      { timeout: 15_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin?.end('QUIT\n');
  });
}

beforeAll(async () => {
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  await keystore.ensureKey('tls-ecdsa');
  await keystore.ensureKey('tls-rsa');
  const options = { commonName: 'localhost', ipAddresses: ['127.0.0.1'], organization: 'DIME Gateway test' };
  ecdsaCert = join(token.dir, 'tls-ecdsa.cert.pem');
  rsaCert = join(token.dir, 'tls-rsa.cert.pem');
  writeFileSync(ecdsaCert, (await createSelfSignedCertificate(keystore, keyLabel('tls-ecdsa'), options)).pem);
  writeFileSync(rsaCert, (await createSelfSignedCertificate(keystore, keyLabel('tls-rsa'), options)).pem);
  const opensslConfig = writeOpensslHsmConfig(join(token.dir, 'openssl-pkcs11.cnf'), {
    enginePath: DEFAULT_OPENSSL_PKCS11_ENGINE,
    modulePath: token.modulePath,
  });
  server = await spawnTsChild(
    'test/hsm/hsm-smtp-child.ts',
    { ...token.env, HSM_TLS_KEYS: `${keyLabel('tls-ecdsa')}=${ecdsaCert},${keyLabel('tls-rsa')}=${rsaCert}` },
    opensslConfig,
  );
});

afterAll(async () => {
  await server?.stop();
  keystore?.close();
  token?.cleanup();
});

it('runs the listener in a process that also holds a logged-in pkcs11js keystore', () => {
  expect(server.ready.loggedIn).toBe(true);
  expect(server.ready.port).toBeGreaterThan(0);
});

it.each([['-tls1_2'], ['-tls1_3']])('completes a verified STARTTLS handshake with %s and the HSM ECDSA key', async (version) => {
  const result = await sClient([version, '-CAfile', ecdsaCert, '-verify_return_error', '-sigalgs', 'ECDSA+SHA256']);
  expect(result.output).toContain('Verify return code: 0 (ok)');
  expect(result.output).toContain(version === '-tls1_3' ? 'TLSv1.3' : 'TLSv1.2');
  expect(result.code).toBe(0);
});

it('serves the certificate whose public key is the non-extractable token key', async () => {
  const result = await sClient(['-tls1_3', '-CAfile', ecdsaCert, '-verify_return_error', '-sigalgs', 'ECDSA+SHA256', '-showcerts']);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(result.output)?.[0];
  expect(pem).toBeDefined();
  const served = new X509Certificate(pem as string);
  const { point, extractable, sensitive } = await keystore.pool.withSession('inspect', (session) => {
    const p11 = keystore.pool.module;
    const find = (cls: number): Buffer => {
      p11.C_FindObjectsInit(session, [
        { type: pkcs11.CKA_CLASS, value: cls },
        { type: pkcs11.CKA_LABEL, value: keyLabel('tls-ecdsa') },
      ]);
      const handle = p11.C_FindObjects(session);
      p11.C_FindObjectsFinal(session);
      if (handle === null) throw new Error('object missing');
      return handle;
    };
    const pub = p11.C_GetAttributeValue(session, find(pkcs11.CKO_PUBLIC_KEY), [{ type: pkcs11.CKA_EC_POINT }]);
    const priv = p11.C_GetAttributeValue(session, find(pkcs11.CKO_PRIVATE_KEY), [{ type: pkcs11.CKA_EXTRACTABLE }, { type: pkcs11.CKA_SENSITIVE }]);
    return { point: pub[0]?.value as Buffer, extractable: priv[0]?.value?.[0], sensitive: priv[1]?.value?.[0] };
  });
  const servedPoint = Buffer.from(served.publicKey.export({ format: 'der', type: 'spki' })).subarray(-65);
  expect(servedPoint).toEqual(ecPointFromAttribute(point, 'P-256'));
  expect(extractable).toBe(0);
  expect(sensitive).toBe(1);
  expect(served.verify(createPublicKey(served.publicKey.export({ format: 'pem', type: 'spki' })))).toBe(true);
});

it('serves the HSM RSA key to a client that only accepts RSA (TLS 1.2 ECDHE-RSA and TLS 1.3 RSA-PSS)', async () => {
  const tls12 = await sClient(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256', '-CAfile', rsaCert, '-verify_return_error']);
  expect(tls12.output).toContain('Verify return code: 0 (ok)');
  expect(tls12.output).toContain('ECDHE-RSA-AES128-GCM-SHA256');
  const tls13 = await sClient(['-tls1_3', '-sigalgs', 'rsa_pss_rsae_sha256', '-CAfile', rsaCert, '-verify_return_error']);
  expect(tls13.output).toContain('Verify return code: 0 (ok)');
});

it('refuses a suite without forward secrecy', async () => {
  const result = await sClient(['-tls1_2', '-cipher', 'AES128-GCM-SHA256', '-CAfile', ecdsaCert]);
  expect(result.code).not.toBe(0);
  expect(result.output).toContain('Cipher is (NONE)');
  expect(result.output).toContain('no peer certificate available');
});

it('refuses TLS 1.1', async () => {
  const result = await sClient(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', '-CAfile', ecdsaCert]);
  expect(result.code).not.toBe(0);
  expect(result.output).toContain('Cipher is (NONE)');
  expect(result.output).toContain('alert protocol version');
});
