// Child process for dmtp-server-hsm.e2e-spec.ts: a DmtpServer whose TLS key stays in the HSM, with
// its TLS context built exactly as the gateway's hsmListenerTls builds it (pkcs11KeyUri +
// createHsmSecureContext, one context for the process). Must run with the HSM OpenSSL engine config (hsmTlsNodeFlags) and the HSM_*
// environment; HSM_TLS_KEYS lists "keyLabel=certFile". Serves the org signet ORG_SIGNET_B64 for
// DIME_DOMAIN over SGNT; refuses every message at the door (this process tests TLS and SGNT only).
// Prints {"port":N} once listening.
import { readFileSync } from 'node:fs';
import { createHsmSecureContext, hsmConfigFromEnv, pkcs11KeyUri, HsmKeystore, type HsmTlsCredentials } from '@lib/hsm';
import { DEFAULT_DMTP_LIMITS, DmtpServer } from './dmtp-server';

async function main(): Promise<void> {
  const env = process.env;
  const config = hsmConfigFromEnv(env);
  // as in the gateway: a pkcs11js keystore is open in the same process as the engine
  const keystore = HsmKeystore.open(config);
  await keystore.pool.status();
  const credentials: HsmTlsCredentials[] = (env['HSM_TLS_KEYS'] ?? '').split(',').filter(Boolean).map((pair) => {
    const [label, certFile] = pair.split('=');
    if (!label || !certFile) throw new Error(`bad HSM_TLS_KEYS entry ${pair}`);
    return { keyUri: pkcs11KeyUri(config.tokenLabel, label), cert: readFileSync(certFile) };
  });
  const domain = env['DIME_DOMAIN'] ?? '';
  const orgSignet = Buffer.from(env['ORG_SIGNET_B64'] ?? '', 'base64');
  const server = new DmtpServer({
    hostname: `dx.${domain}`,
    localDomains: [domain],
    tls: createHsmSecureContext(credentials),
    signets: { orgSignet: (d) => Promise.resolve(d === domain ? orgSignet : undefined), userSignet: () => Promise.resolve(undefined) },
    doorCheck: { check: () => Promise.resolve({ ok: false, reply: '554 5.7.1 this test server accepts no messages' }) },
    acceptor: () => Promise.reject(new Error('not reached')),
    limits: { ...DEFAULT_DMTP_LIMITS, maxMessageBytes: 1024 * 1024 },
    logger: { info: () => undefined, warn: () => undefined, error: (fields, msg) => process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`) },
  });
  const port = await server.listen(0, '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.on('SIGTERM', () => {
    void server.drain(1000).then(() => {
      keystore.close();
      process.exit(0);
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`dmtp-hsm-server.child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
