// Child process for the TLS handshake benchmark: a bare TLS server (hsmTlsOptions) answering
// each connection with one byte. Keys come from HSM_TLS_KEYS ("label=certFile", HSM-held, needs
// the pkcs11-provider config) or SOFT_TLS_KEY/SOFT_TLS_CERT (software baseline, same options).
// Prints {"port":N} when listening.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';
import { hsmTlsKeyPem, hsmTlsOptions, type HsmTlsCredentials } from '@lib/hsm';

const env = process.env;
const credentials: HsmTlsCredentials[] = env['SOFT_TLS_KEY']
  ? [{ key: readFileSync(env['SOFT_TLS_KEY'], 'utf8'), cert: readFileSync(env['SOFT_TLS_CERT'] ?? '') }]
  : (env['HSM_TLS_KEYS'] ?? '').split(',').filter(Boolean).map((pair) => {
      const [label = '', certFile = ''] = pair.split('=');
      return { key: hsmTlsKeyPem(env['HSM_TOKEN_LABEL'] ?? '', label), cert: readFileSync(certFile) };
    });
const server = createServer(hsmTlsOptions(credentials), (socket) => socket.end('x'));
server.on('tlsClientError', () => undefined);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
