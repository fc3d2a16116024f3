// Child process for TLS tests and the benchmark: an SMTP listener (STARTTLS) whose TLS keys stay
// in the HSM. Must be started with the HSM OpenSSL engine config (hsmTlsNodeFlags) and the
// HSM_* / SOFTHSM2_CONF environment; HSM_TLS_KEYS lists "keyLabel=certFile" pairs. Also opens a
// pkcs11js keystore first, as the gateway does, to prove both share the module in one process.
// Prints {"port":N} on stdout once listening.
import { readFileSync } from 'node:fs';
import { createHsmSecureContext, hsmConfigFromEnv, pkcs11KeyUri, createHsmSmtpServer, HsmKeystore, type HsmTlsCredentials } from '@lib/hsm';

async function main(): Promise<void> {
  const env = process.env;
  const config = hsmConfigFromEnv(env);
  const keystore = HsmKeystore.open(config);
  const status = await keystore.pool.status();
  const credentials: HsmTlsCredentials[] = (env['HSM_TLS_KEYS'] ?? '').split(',').filter(Boolean).map((pair) => {
    const [label, certFile] = pair.split('=');
    if (!label || !certFile) throw new Error(`bad HSM_TLS_KEYS entry ${pair}`);
    return { keyUri: pkcs11KeyUri(config.tokenLabel, label), cert: readFileSync(certFile) };
  });
  const server = createHsmSmtpServer({
    context: createHsmSecureContext(credentials),
    onError: (error) => process.stderr.write(`smtp error: ${error.message}\n`),
    smtp: {
      logger: false,
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => callback());
      },
    },
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ port, loggedIn: status.loggedIn })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main().catch((error: unknown) => {
  process.stderr.write(`hsm-smtp-child: ${error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''} ${error.message}` : String(error)}\n`);
  process.exit(1);
});
