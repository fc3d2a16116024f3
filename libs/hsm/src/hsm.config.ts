// The HSM connection settings, read from process.env once (STYLE.md 4), validated and frozen.
// Nothing else in libs/hsm reads process.env. The PIN is held in a RedactedSecret so that logging
// or serialising the config never prints it.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { RedactedSecret } from '@lib/config';
import { HsmError } from './hsm.error';

export const DEFAULT_HSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const DEFAULT_OPENSSL_PKCS11_ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so';
export const DEFAULT_HSM_TOKEN_LABEL = 'dime-gateway';

export { RedactedSecret };

export interface HsmConfig {
  /** PKCS#11 module (HSM_MODULE). */
  readonly modulePath: string;
  /** Token label (HSM_TOKEN_LABEL); slots are always found by label, never by number. */
  readonly tokenLabel: string;
  /** The user PIN (from HSM_PIN_FILE, else HSM_PIN). */
  readonly pin: RedactedSecret;
  /** Where the PIN lives on disk, when it came from a file: OpenSSL's provider reads it from there. */
  readonly pinFile: string | undefined;
  /** SoftHSM2 only: its config file (SOFTHSM2_CONF), passed on to child processes. */
  readonly softhsmConf: string | undefined;
  /** Concurrent PKCS#11 sessions (HSM_SESSIONS, default 4). */
  readonly sessions: number;
  /** libp11's OpenSSL engine shared object (HSM_OPENSSL_ENGINE). */
  readonly opensslEnginePath: string;
  /**
   * Whether recovery may C_Finalize/C_Initialize the module (HSM_REINITIALIZE_ON_LOSS, default
   * false). SoftHSM2 only re-reads a token directory on C_Initialize; keep it false in processes
   * where OpenSSL's provider uses the same module (a finalize would pull the token from under TLS).
   */
  readonly reinitializeOnLoss: boolean;
}

export type HsmEnv = Readonly<Record<string, string | undefined>>;

/** Build and validate the config from an environment map; every bad key is named at once. */
export function hsmConfigFromEnv(env: HsmEnv): HsmConfig {
  const problems: string[] = [];
  const modulePath = env['HSM_MODULE'] || DEFAULT_HSM_MODULE;
  if (!isAbsolute(modulePath)) problems.push('HSM_MODULE must be an absolute path');
  else if (!existsSync(modulePath)) problems.push(`HSM_MODULE: ${modulePath} does not exist`);

  const tokenLabel = env['HSM_TOKEN_LABEL'] || DEFAULT_HSM_TOKEN_LABEL;
  if (Buffer.byteLength(tokenLabel) > 32) problems.push('HSM_TOKEN_LABEL is longer than 32 bytes');

  const pinFile = env['HSM_PIN_FILE'] || undefined;
  let pin: string | undefined;
  if (pinFile !== undefined) {
    try {
      pin = readFileSync(pinFile, 'utf8').split(/\r?\n/)[0];
    } catch {
      problems.push(`HSM_PIN_FILE: cannot read ${pinFile}`);
    }
  } else {
    pin = env['HSM_PIN'];
  }
  if (pin === undefined || pin === '') problems.push('HSM_PIN_FILE or HSM_PIN must give the user PIN');

  const softhsmConf = env['SOFTHSM2_CONF'] || undefined;
  if (softhsmConf !== undefined && !existsSync(softhsmConf)) problems.push(`SOFTHSM2_CONF: ${softhsmConf} does not exist`);

  const sessionsText = env['HSM_SESSIONS'] ?? '4';
  const sessions = Number(sessionsText);
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > 64) problems.push('HSM_SESSIONS must be an integer in 1..64');

  const opensslEnginePath = env['HSM_OPENSSL_ENGINE'] || DEFAULT_OPENSSL_PKCS11_ENGINE;
  const reinitText = env['HSM_REINITIALIZE_ON_LOSS'] ?? 'false';
  if (reinitText !== 'true' && reinitText !== 'false') problems.push('HSM_REINITIALIZE_ON_LOSS must be true or false');

  if (problems.length > 0) throw new HsmError('CONFIG_INVALID', `invalid HSM configuration: ${problems.join('; ')}`);
  return Object.freeze({
    modulePath,
    tokenLabel,
    pin: new RedactedSecret(pin as string),
    pinFile,
    softhsmConf,
    sessions,
    opensslEnginePath,
    reinitializeOnLoss: reinitText === 'true',
  });
}

let loaded: HsmConfig | undefined;

/** The process's HSM config: process.env is read on the first call only. */
export function loadHsmConfig(): HsmConfig {
  loaded ??= hsmConfigFromEnv(process.env);
  return loaded;
}
