// One TLS context for the HSM-held key per process, shared by every listener (SMTP and submission
// STARTTLS, DMTP, dual-mode upgrades). pkcs11-provider 1.0 keeps the token objects it loads in a
// per-slot pool, and loading the same HSM key into several contexts leaves that pool inconsistent:
// later, when OpenSSL frees one of those objects (at a garbage collection), the provider raises
// "Objects pool in inconsistent state" without failing the call, and the error stays on OpenSSL's
// error queue, where the next TLS operation of ANY socket of the thread picks it up and fails.
// Reproduced outside the gateway: 4 contexts with the key, 10 idle TLS connections with a software
// key and forced garbage collections broke a connection in 7 of 10 runs; 1 context, in 0 of 10.
// The gateway made 5 such contexts (a boot check, one per SMTP listener, two for DMTP); under load
// a few established DMTP client sessions failed at once, now and then (~0.15% of messages).
import * as tls from 'node:tls';
import type { SecureContext, Server, TLSSocket, TlsOptions } from 'node:tls';

/** node:tls's SecureContext class (for instanceof: the type alone does not exist at run time). */
export const SecureContextClass = (tls as unknown as { SecureContext: new (...args: never[]) => SecureContext }).SecureContext;

/**
 * A tls.Server that uses `context` for every connection instead of building its own from key and
 * certificate options (node's Server has no secureContext option: it always calls
 * createSecureContext with what it is given, which would load the HSM key once more).
 */
export function sharedTlsServer(context: SecureContext, options: Pick<TlsOptions, 'handshakeTimeout'>, onConnection: (socket: TLSSocket) => void): Server {
  const server = tls.createServer({ ...options }, onConnection);
  const internal = server as unknown as { _sharedCreds?: SecureContext };
  if (!('_sharedCreds' in internal)) throw new Error('node:tls Server no longer keeps its context in _sharedCreds: the shared HSM TLS context cannot be used');
  internal._sharedCreds = context;
  return server;
}

/**
 * Makes an smtp-server instance answer STARTTLS with `context` (its '*' entry; names without an
 * entry of their own fall back to it). smtp-server builds its contexts in its constructor from key
 * options, so the listener passes none and the shared context is set here, before it listens.
 */
export function useSharedSmtpContext(server: object, context: SecureContext): void {
  const contexts = (server as { secureContext?: Map<string, SecureContext> }).secureContext;
  if (!(contexts instanceof Map) || !contexts.has('*')) throw new Error('smtp-server no longer keeps its TLS contexts in secureContext: the shared HSM TLS context cannot be used');
  contexts.clear();
  contexts.set('*', context);
}
