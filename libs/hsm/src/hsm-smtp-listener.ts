// An SMTP listener whose STARTTLS uses the HSM-held TLS key(s), configured the way the gateway
// runs it (plain connect, STARTTLS offered, no reverse DNS, errors handled). Reused by the
// gateway's listeners; the process must be started with hsmTlsNodeFlags().
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { hsmTlsOptions, type HsmTlsCredentials } from './hsm-tls';

export interface HsmSmtpListenerOptions {
  readonly credentials: HsmTlsCredentials | readonly HsmTlsCredentials[];
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
    ...hsmTlsOptions(options.credentials),
    name: options.name ?? 'localhost',
    secure: false,
    hideSTARTTLS: false,
    disableReverseLookup: true,
  } as SMTPServerOptions);
  server.on('error', (error: Error) => options.onError?.(error));
  return server;
}
