// Test harness: a fresh SoftHSM2 token in its own temp dir with its own SOFTHSM2_CONF, found by
// label (never by slot number). Medium and e2e tests of libs/hsm (and later the gateway) use it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { DEFAULT_HSM_MODULE, DEFAULT_OPENSSL_PKCS11_ENGINE, RedactedSecret, type HsmConfig } from '@lib/hsm';

export interface TestToken {
  readonly dir: string;
  readonly tokenDir: string;
  readonly softhsmConf: string;
  readonly tokenLabel: string;
  readonly pin: string;
  readonly pinFile: string;
  readonly modulePath: string;
  /** Environment for child processes using this token (HSM_* and SOFTHSM2_CONF). */
  readonly env: Record<string, string>;
  config(overrides?: Partial<HsmConfig>): HsmConfig;
  cleanup(): void;
}

/** Write a softhsm2.conf pointing at tokenDir. */
export function writeSoftHsmConf(path: string, tokenDir: string): void {
  writeFileSync(path, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
}

/**
 * Create a token (softhsm2-util picks a free slot). The SO PIN is random and discarded, as in
 * production. `init: false` only prepares the directory and config (for the init command's tests).
 */
export function createTestToken(options: { label?: string; init?: boolean } = {}): TestToken {
  const dir = mkdtempSync(join(tmpdir(), 'dime-hsm-'));
  const tokenDir = join(dir, 'tokens');
  execFileSync('mkdir', ['-p', tokenDir]);
  const softhsmConf = join(dir, 'softhsm2.conf');
  writeSoftHsmConf(softhsmConf, tokenDir);
  const tokenLabel = options.label ?? `test-${randomBytes(4).toString('hex')}`;
  const pin = randomBytes(8).toString('hex');
  const pinFile = join(dir, 'user.pin');
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  if (options.init !== false) {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', tokenLabel, '--so-pin', randomBytes(8).toString('hex'), '--pin', pin],
      { env: { PATH: '/usr/bin:/bin', SOFTHSM2_CONF: softhsmConf }, stdio: 'pipe' },
    );
  }
  const env = {
    SOFTHSM2_CONF: softhsmConf,
    HSM_MODULE: DEFAULT_HSM_MODULE,
    HSM_TOKEN_LABEL: tokenLabel,
    HSM_PIN_FILE: pinFile,
  };
  return {
    dir,
    tokenDir,
    softhsmConf,
    tokenLabel,
    pin,
    pinFile,
    modulePath: DEFAULT_HSM_MODULE,
    env,
    config: (overrides = {}) =>
      Object.freeze({
        modulePath: DEFAULT_HSM_MODULE,
        tokenLabel,
        pin: new RedactedSecret(pin),
        pinFile,
        softhsmConf,
        sessions: 4,
        opensslEnginePath: DEFAULT_OPENSSL_PKCS11_ENGINE,
        reinitializeOnLoss: false,
        ...overrides,
      }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Set a variable in the real OS environment of this process. SoftHSM reads SOFTHSM2_CONF with
 * getenv() at C_Initialize, but jest gives each test file a copy of process.env, so assigning to
 * it never reaches libc. A worker thread sharing the environment (SHARE_ENV) writes the real one.
 */
export async function setRealEnv(name: string, value: string): Promise<void> {
  const worker = new Worker(`process.env[${JSON.stringify(name)}] = ${JSON.stringify(value)};`, { eval: true, env: SHARE_ENV });
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  process.env[name] = value;
}

/** Point SoftHSM in this process at the test token (before opening a keystore). */
export async function useTokenInThisProcess(token: TestToken): Promise<void> {
  await setRealEnv('SOFTHSM2_CONF', token.softhsmConf);
}
