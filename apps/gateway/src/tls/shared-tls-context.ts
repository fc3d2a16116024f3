// One TLS context for the HSM-held keys per process, shared by every listener (SMTP and submission
// STARTTLS, DMTP, dual-mode upgrades): each context made from the keys logs in to the token and
// loads them again through the OpenSSL engine (libs/hsm hsm-tls.ts), so the gateway makes it once
// at boot (gateway.module.ts hsmListenerTls) and hands it to the listeners through the helpers
// below. (With pkcs11-provider, which the gateway used before, several loads of one key also left
// the provider's object pool inconsistent; the engine has no such pool.)
import * as tls from 'node:tls';
import type { SecureContext } from 'node:tls';
import { hsmTlsServer, useHsmSmtpContext } from '@lib/hsm';

/** node:tls's SecureContext class (for instanceof: the type alone does not exist at run time). */
export const SecureContextClass = (tls as unknown as { SecureContext: new (...args: never[]) => SecureContext }).SecureContext;

/** A tls.Server that uses `context` for every connection (libs/hsm hsmTlsServer). */
export const sharedTlsServer = hsmTlsServer;

/** Makes an smtp-server instance answer STARTTLS with `context` (libs/hsm useHsmSmtpContext). */
export const useSharedSmtpContext = useHsmSmtpContext;
