// One TLS context for the HSM-held keys per process, shared by every listener (SMTP and submission
// STARTTLS, DMTP, dual-mode upgrades): each context made from the keys logs in to the token and
// loads them again through the OpenSSL engine (libs/hsm hsm-tls.ts), so the gateway makes it once
// at boot (gateway.module.ts hsmListenerTls) and hands it to the listeners through libs/hsm's
// hsmTlsServer (DMTP) and useHsmSmtpContext (smtp-server). (With pkcs11-provider, which the gateway
// used before, several loads of one key also left the provider's object pool inconsistent; the
// engine has no such pool.) A listener tells the shared context from key options by its class:
import * as tls from 'node:tls';
import type { SecureContext } from 'node:tls';

/** node:tls's SecureContext class (for instanceof: the type alone does not exist at run time). */
export const SecureContextClass = (tls as unknown as { SecureContext: new (...args: never[]) => SecureContext }).SecureContext;
