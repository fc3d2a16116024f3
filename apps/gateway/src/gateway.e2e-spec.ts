// The whole gateway process (main.ts) in a child node started with the HSM engine's OpenSSL
// config, against a fresh SoftHSM token, PostgreSQL database and Redis queue prefix: STARTTLS with
// the HSM-held key, readiness, acceptance, SIGTERM letting an in-flight session finish, and a clear
// boot failure when node lacks the engine config.
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../../test/database';
import { createGatewayToken, removeSpoolDir, startGatewayProcess, type GatewayProcess, type GatewayProcessOptions, type GatewayToken } from '../../../test/gateway/gateway-process';
import { SmtpDialog } from '../../../test/gateway/smtp-dialog';

jest.setTimeout(60_000);

let token: GatewayToken;
let db: TestDatabase;
let certPem: string;
let options: GatewayProcessOptions;
let gateway: GatewayProcess;

beforeAll(async () => {
  token = await createGatewayToken();
  certPem = token.certPem;
  db = await createTestDatabase();
  options = {
    token,
    db: db.config,
    env: {
      // nothing listens there: deliveries defer, which this test does not look at
      LEGACY_HOST: '127.0.0.1',
      LEGACY_PORT: '9',
      RECOVERY_INTERVAL: '1h',
      SHUTDOWN_GRACE: '15s',
      // pkcs11-provider writes this trace as soon as OpenSSL loads it: it must never be loaded
      PKCS11_PROVIDER_DEBUG: `file:${providerTrace()},level:1`,
    },
  };
  gateway = await startGatewayProcess(options);
  expect(gateway.ports.smtp).toBeGreaterThan(0);
});

afterAll(async () => {
  if (gateway?.running()) await gateway.crash();
  if (gateway) removeSpoolDir(gateway.spoolDir);
  await db?.drop();
  token?.cleanup();
});

function providerTrace(): string {
  return join(token.token.dir, 'pkcs11-provider.trace');
}

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

it('serves both SMTP listeners from the HSM through the OpenSSL engine, with no pkcs11-provider in the process', async () => {
  for (const port of [gateway.ports.smtp, gateway.ports.submission]) {
    const { dialog } = await SmtpDialog.open(port);
    await dialog.cmd('EHLO client.test');
    expect((await dialog.starttls(certPem)).code).toBe(220);
    expect(new X509Certificate(dialog.tlsSocket!.getPeerX509Certificate()!.raw).fingerprint256).toBe(new X509Certificate(certPem).fingerprint256);
    await dialog.quit();
  }
  // libs/hsm hsm-tls.ts: once a provider-held key had signed, OpenSSL 3.0 routed the process's
  // other ECDSA verifications (its TLS client handshakes) through pkcs11-provider too, whose
  // object pool then broke unrelated TLS connections. The engine keeps the HSM to the HSM keys.
  expect(existsSync(providerTrace())).toBe(false);
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
  gateway.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await expect(SmtpDialog.open(gateway.ports.submission)).rejects.toThrow(/ECONNREFUSED/);
  dialog.write('second half\r\n.\r\n');
  expect((await dialog.read()).line).toMatch(/^250 2\.0\.0 Ok: queued as /);
  expect((await dialog.cmd('QUIT')).code).toBe(221);
  const exit = await gateway.exited;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(gateway.output()).toContain('"msg":"gateway stopped"');
});

it('refuses to start, saying why, when node lacks the OpenSSL config of the HSM engine', async () => {
  const failed = await startGatewayProcess({ ...options, withHsmConfig: false });
  try {
    const exit = await failed.exited;
    expect(exit.code).toBe(1);
    expect(failed.output()).toContain('node was not started with the OpenSSL config of the HSM engine');
  } finally {
    removeSpoolDir(failed.spoolDir);
  }
});
