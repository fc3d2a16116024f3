// Child process for the TLS handshake benchmark: a bare TLS server (hsmTlsBaseOptions) answering
// each connection with one byte. Keys come from HSM_TLS_KEYS ("label=certFile", HSM-held, needs
// the HSM engine config) or SOFT_TLS_KEY/SOFT_TLS_CERT (software baseline, same options).
// Prints {"port":N} when listening.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { createHsmSecureContext, hsmConfigFromEnv, hsmTlsBaseOptions, pkcs11KeyUri, hsmTlsServer, HsmKeystore, type HsmTlsCredentials } from '@lib/hsm';

const env = process.env;
const answer = (socket: TLSSocket): void => void socket.end('x');

async function makeServer(): Promise<Server> {
  if (env['SOFT_TLS_KEY']) {
    return createServer({ ...hsmTlsBaseOptions(), key: readFileSync(env['SOFT_TLS_KEY'], 'utf8'), cert: readFileSync(env['SOFT_TLS_CERT'] ?? '') }, answer);
  }
  // the engine uses the process's login: made by a keystore first, as in the gateway
  const keystore = HsmKeystore.open(hsmConfigFromEnv(env));
  await keystore.pool.status();
  const credentials: HsmTlsCredentials[] = (env['HSM_TLS_KEYS'] ?? '').split(',').filter(Boolean).map((pair) => {
    const [label = '', certFile = ''] = pair.split('=');
    return { keyUri: pkcs11KeyUri(env['HSM_TOKEN_LABEL'] ?? '', label), cert: readFileSync(certFile) };
  });
  return hsmTlsServer(createHsmSecureContext(credentials), {}, answer);
}

void makeServer().then(
  (server) => {
    server.on('tlsClientError', () => undefined);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
    });
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
  },
  (error: unknown) => {
    process.stderr.write(`tls-server-child: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
