// An SMTP listener whose STARTTLS uses the HSM-held TLS key(s), configured the way the gateway
// runs it (plain connect, STARTTLS offered, no reverse DNS, errors handled). The process must be
// started with hsmTlsNodeFlags() and make its HSM TLS context once (createHsmSecureContext).
import type { SecureContext } from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { hsmTlsBaseOptions, useHsmSmtpContext } from './hsm-tls';

export interface HsmSmtpListenerOptions {
  /** The process's HSM TLS context (createHsmSecureContext). */
  readonly context: SecureContext;
  /** Greeting host name. */
  readonly name?: string;
  /** Called with server-level errors (never thrown: an unhandled 'error' would kill the process). */
  readonly onError?: (error: Error) => void;
  /** Extra smtp-server options (handlers such as onData, onRcptTo); TLS settings are not overridable. */
  readonly smtp?: Omit<SMTPServerOptions, 'secure' | 'key' | 'cert' | 'ca' | 'minVersion' | 'ciphers'>;
}

export function createHsmSmtpServer(options: HsmSmtpListenerOptions): SMTPServer {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH'],
    ...options.smtp,
    ...hsmTlsBaseOptions(),
    name: options.name ?? 'localhost',
    secure: false,
    hideSTARTTLS: false,
    disableReverseLookup: true,
  } as SMTPServerOptions);
  useHsmSmtpContext(server, options.context);
  server.on('error', (error: Error) => options.onError?.(error));
  return server;
}
