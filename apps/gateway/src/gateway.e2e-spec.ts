// The whole gateway process (main.ts) in a child node started with the pkcs11-provider OpenSSL
// config, against a fresh SoftHSM token, PostgreSQL database and Redis queue prefix: STARTTLS with
// the HSM-held key, readiness, acceptance, SIGTERM letting an in-flight session finish, and a clear
// boot failure when node lacks the provider config.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedCertificate, DEFAULT_OPENSSL_PKCS11_PROVIDER, hsmTlsNodeFlags, HsmKeystore, keyLabel, writeOpensslProviderConfig } from '@lib/hsm';
import { createTestDatabase, type TestDatabase } from '../../../test/database';
import { SmtpDialog } from '../../../test/gateway/smtp-dialog';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..', '..');
let token: TestToken;
let db: TestDatabase;
let certPem: string;
let env: Record<string, string>;
let opensslConfig: string;

interface Gateway {
  child: ChildProcess;
  ports: { smtp: number; submission: number; metrics: number };
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startGateway(withProvider: boolean): Promise<Gateway> {
  const child = spawn(
    process.execPath,
    [...(withProvider ? hsmTlsNodeFlags(opensslConfig) : []), '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(ROOT, 'apps/gateway/src/main.ts')],
    { cwd: ROOT, env: { PATH: '/usr/local/bin:/usr/bin:/bin', TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway not ready: ${out}`));
    }, 40_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const ready = out.split('\n').find((l) => l.includes('"msg":"gateway ready"'));
      if (ready) {
        clearTimeout(timer);
        const r = JSON.parse(ready) as { smtp: number; submission: number; metrics: number };
        resolve({ child, ports: { smtp: r.smtp, submission: r.submission, metrics: r.metrics }, output: () => out, exited });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      resolve({ child, ports: { smtp: 0, submission: 0, metrics: 0 }, output: () => out, exited });
    });
  });
}

let gateway: Gateway;

beforeAll(async () => {
  token = createTestToken();
  await useTokenInThisProcess(token);
  const keystore = HsmKeystore.open(token.config());
  try {
    await keystore.ensureKey('tls-ecdsa');
    await keystore.ensureKey('user-kek');
    certPem = (await createSelfSignedCertificate(keystore, keyLabel('tls-ecdsa'), { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], organization: 'gateway e2e' })).pem;
  } finally {
    keystore.close();
  }
  writeFileSync(join(token.dir, 'tls-ecdsa.cert.pem'), certPem);
  opensslConfig = writeOpensslProviderConfig(join(token.dir, 'openssl-pkcs11.cnf'), { providerPath: DEFAULT_OPENSSL_PKCS11_PROVIDER, modulePath: token.modulePath, pinFile: token.pinFile });
  db = await createTestDatabase();
  env = {
    ...token.env,
    DB_NAME: db.name,
    QUEUE_PREFIX: `t-gw-${randomBytes(4).toString('hex')}`,
    ORG_DOMAIN: 'example.test',
    GATEWAY_HOSTNAME: 'gw.example.test',
    SMTP_PORT: '0',
    SUBMISSION_PORT: '0',
    METRICS_PORT: '0',
    TLS_CERT_FILE: join(token.dir, 'tls-ecdsa.cert.pem'),
    SPOOL_DIR: mkdtempSync(join(tmpdir(), 'gw-e2e-spool-')),
    // nothing listens there: deliveries defer, which this test does not look at
    LEGACY_HOST: '127.0.0.1',
    LEGACY_PORT: '9',
    RECOVERY_INTERVAL: '1h',
    SHUTDOWN_GRACE: '15s',
  };
  gateway = await startGateway(true);
  expect(gateway.ports.smtp).toBeGreaterThan(0);
});

afterAll(async () => {
  if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) {
    gateway.child.kill('SIGKILL');
    await gateway.exited;
  }
  await db?.drop();
  token?.cleanup();
});

const MESSAGE = 'From: a@sender.test\r\nTo: u@example.test\r\nSubject: e2e\r\n\r\nhello\r\n';

it('completes STARTTLS on the inbound listener with the HSM-held key and accepts the message', async () => {
  const { dialog } = await SmtpDialog.open(gateway.ports.smtp);
  await dialog.cmd('EHLO client.test');
  expect((await dialog.starttls(certPem)).code).toBe(220);
  const served = new X509Certificate(dialog.tlsSocket!.getPeerX509Certificate()!.raw);
  expect(served.fingerprint256).toBe(new X509Certificate(certPem).fingerprint256);
  expect(dialog.tlsSocket!.authorized).toBe(true);
  const reply = await dialog.send('a@sender.test', ['u@example.test'], MESSAGE);
  expect(reply.line).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]{16}$/);
  await dialog.quit();
});

it('reports ready (HSM, PostgreSQL, Redis) and exports the acceptance metrics', async () => {
  const ready = await fetch(`http://127.0.0.1:${gateway.ports.metrics}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready', checks: { hsm: { ready: true }, database: { ready: true }, redis: { ready: true } } });
  const metrics = await (await fetch(`http://127.0.0.1:${gateway.ports.metrics}/metrics`)).text();
  expect(metrics).toMatch(/dime_gateway_messages_accepted_total\{listener="smtp"\} [1-9]/);
  expect(metrics).toMatch(/dime_gateway_accept_latency_seconds_count\{listener="smtp"\} [1-9]/);
});

it('on SIGTERM refuses new connections but lets a session inside DATA finish with 250', async () => {
  const { dialog } = await SmtpDialog.open(gateway.ports.submission);
  await dialog.cmd('EHLO legacy.example.test');
  await dialog.cmd('MAIL FROM:<user@example.test>');
  await dialog.cmd('RCPT TO:<someone@elsewhere.test>');
  expect((await dialog.cmd('DATA')).code).toBe(354);
  dialog.write('Subject: in flight\r\n\r\nfirst half\r\n');
  gateway.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await expect(SmtpDialog.open(gateway.ports.submission)).rejects.toThrow(/ECONNREFUSED/);
  dialog.write('second half\r\n.\r\n');
  expect((await dialog.read()).line).toMatch(/^250 2\.0\.0 Ok: queued as /);
  expect((await dialog.cmd('QUIT')).code).toBe(221);
  const exit = await gateway.exited;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(gateway.output()).toContain('"msg":"gateway stopped"');
});

it('refuses to start, saying why, when node lacks the pkcs11-provider OpenSSL config', async () => {
  const failed = await startGateway(false);
  const exit = await failed.exited;
  expect(exit.code).toBe(1);
  expect(failed.output()).toContain('node was not started with the OpenSSL pkcs11-provider config');
});
