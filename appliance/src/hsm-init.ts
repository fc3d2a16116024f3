// `hsm-init`: initialise the gateway's HSM token and everything that lives in it.
//  - creates the token (random SO PIN, used once, never stored or printed) or reuses it;
//  - sets the user PIN (random, written 0600 to the PIN file, unless the file already exists);
//  - generates every key role of libs/hsm (hsm-key-roles.ts) that is missing: re-running never
//    destroys or replaces a key;
//  - writes the non-secret outputs to --out (hsm-outputs.ts, shared with hsm-rotate): TLS
//    certificates (self-signed + CSR, signed in the HSM), the org signet signed by the HSM-held POK,
//    the `_dx` DNS record with tls= signatures by the POK, the OpenSSL pkcs11 engine config;
//  - with --local, records where the token is in .local/appliance.env for the quickstart.
// Usage: appliance/hsm-init.sh --domain example.org [--out DIR] [--token-label L] [--module SO]
//        [--pin-file F] [--hostname H]... [--softhsm-dir DIR] [--local]
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  ALL_HSM_KEY_ROLES,
  DEFAULT_HSM_MODULE,
  DEFAULT_HSM_TOKEN_LABEL,
  DEFAULT_OPENSSL_PKCS11_ENGINE,
  HSM_KEY_ROLES,
  HsmError,
  HsmKeyRotation,
  HsmKeystore,
  initializeToken,
  randomPin,
  RedactedSecret,
  type HsmKeyRole,
} from '@lib/hsm';
import { writeHsmOutputs } from './hsm-outputs';

export interface HsmInitOptions {
  readonly domain: string;
  readonly outDir: string;
  readonly tokenLabel: string;
  readonly modulePath: string;
  readonly pinFile: string;
  readonly hostnames: readonly string[];
  /** SoftHSM2 only: token directory to create and use (writes softhsm2.conf beside it). */
  readonly softhsmDir?: string;
  /** Write .local/appliance.env (quickstart). */
  readonly localEnvFile?: string;
  readonly enginePath: string;
  readonly now?: Date;
}

export interface HsmInitReport {
  readonly tokenCreated: boolean;
  readonly keys: ReadonlyArray<{ role: HsmKeyRole; label: string; created: boolean }>;
  readonly files: readonly string[];
  readonly softhsmConf?: string;
}

const ROOT = resolve(__dirname, '..', '..');

function usage(message: string): never {
  process.stderr.write(`hsm-init: ${message}\n` +
    'usage: hsm-init --domain DOMAIN [--out DIR] [--token-label LABEL] [--module PATH] [--pin-file FILE]\n' +
    '                [--hostname NAME]... [--softhsm-dir DIR] [--local]\n');
  process.exit(2);
}

export function parseHsmInitArgs(argv: readonly string[]): HsmInitOptions {
  const values = new Map<string, string[]>();
  let local = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--local') { local = true; continue; }
    if (!arg.startsWith('--')) usage(`unexpected argument ${arg}`);
    const value = argv[++i];
    if (value === undefined) usage(`${arg} needs a value`);
    values.set(arg, [...(values.get(arg) ?? []), value]);
  }
  const one = (name: string): string | undefined => values.get(name)?.at(-1);
  const known = ['--domain', '--out', '--token-label', '--module', '--pin-file', '--hostname', '--softhsm-dir', '--engine'];
  for (const key of values.keys()) if (!known.includes(key)) usage(`unknown option ${key}`);
  const domain = one('--domain') ?? usage('--domain is required');
  const localDir = join(ROOT, '.local');
  const softhsmDir = one('--softhsm-dir') ?? (local ? join(localDir, 'softhsm') : undefined);
  return {
    domain,
    outDir: resolve(one('--out') ?? (local ? join(localDir, 'hsm') : usage('--out is required without --local'))),
    tokenLabel: one('--token-label') ?? DEFAULT_HSM_TOKEN_LABEL,
    modulePath: one('--module') ?? DEFAULT_HSM_MODULE,
    pinFile: resolve(one('--pin-file') ?? (local ? join(localDir, 'hsm-user.pin') : usage('--pin-file is required without --local'))),
    hostnames: values.get('--hostname') ?? [`mail.${domain}`, ...(local ? ['localhost'] : [])],
    ...(softhsmDir ? { softhsmDir: resolve(softhsmDir) } : {}),
    ...(local ? { localEnvFile: join(localDir, 'appliance.env') } : {}),
    enginePath: one('--engine') ?? DEFAULT_OPENSSL_PKCS11_ENGINE,
  };
}

/** Prepare a SoftHSM2 token directory and config; SoftHSM reads SOFTHSM2_CONF at C_Initialize. */
function prepareSoftHsm(dir: string): string {
  mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  if (!existsSync(conf)) {
    writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  }
  process.env['SOFTHSM2_CONF'] = conf;
  return conf;
}

function readOrCreatePin(pinFile: string): { pin: string; existed: boolean } {
  if (existsSync(pinFile)) {
    const pin = readFileSync(pinFile, 'utf8').split(/\r?\n/)[0] ?? '';
    if (pin === '') throw new HsmError('CONFIG_INVALID', `${pinFile} is empty`);
    return { pin, existed: true };
  }
  mkdirSync(dirname(pinFile), { recursive: true, mode: 0o700 });
  const pin = randomPin();
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  chmodSync(pinFile, 0o600);
  return { pin, existed: false };
}

export async function runHsmInit(options: HsmInitOptions): Promise<HsmInitReport> {
  const softhsmConf = options.softhsmDir ? prepareSoftHsm(options.softhsmDir) : undefined;
  const { pin, existed } = readOrCreatePin(options.pinFile);
  const token = initializeToken({ modulePath: options.modulePath, tokenLabel: options.tokenLabel, userPin: pin });
  if (!token.created && !existed) {
    throw new HsmError('CONFIG_INVALID', `token "${options.tokenLabel}" exists but ${options.pinFile} did not: give its PIN file`);
  }
  mkdirSync(options.outDir, { recursive: true });
  const files: string[] = [];

  const keystore = HsmKeystore.open({
    modulePath: options.modulePath,
    tokenLabel: options.tokenLabel,
    pin: new RedactedSecret(pin),
    sessions: 2,
    reinitializeOnLoss: false,
  });
  try {
    const rotation = new HsmKeyRotation(keystore, () => options.now ?? new Date());
    const current = async (role: HsmKeyRole): Promise<string> => {
      if (!HSM_KEY_ROLES[role].rotatable) return `${HSM_KEY_ROLES[role].baseLabel}.v1`;
      try {
        return await rotation.currentLabel(role);
      } catch (error) {
        if (error instanceof HsmError && error.code === 'KEY_NOT_FOUND') return `${HSM_KEY_ROLES[role].baseLabel}.v1`;
        throw error;
      }
    };
    const keys: Array<{ role: HsmKeyRole; label: string; created: boolean }> = [];
    for (const role of ALL_HSM_KEY_ROLES) {
      const label = await current(role);
      const version = Number(label.slice(label.lastIndexOf('.v') + 2));
      const ensured = await keystore.ensureKey(role, version);
      keys.push({ role, ...ensured });
    }
    files.push(...(await writeHsmOutputs(keystore, rotation, options)).files);

    if (options.localEnvFile) {
      mkdirSync(dirname(options.localEnvFile), { recursive: true });
      const lines = [
        '# Written by appliance/hsm-init.sh --local: where the quickstart HSM token is.',
        ...(softhsmConf ? [`SOFTHSM2_CONF=${softhsmConf}`] : []),
        `HSM_MODULE=${options.modulePath}`,
        `HSM_TOKEN_LABEL=${options.tokenLabel}`,
        `HSM_PIN_FILE=${options.pinFile}`,
        `HSM_OPENSSL_CONF=${join(options.outDir, 'openssl-pkcs11.cnf')}`,
      ];
      writeFileSync(options.localEnvFile, `${lines.join('\n')}\n`, { mode: 0o600 });
      files.push(options.localEnvFile);
    }
    return { tokenCreated: token.created, keys, files, ...(softhsmConf ? { softhsmConf } : {}) };
  } finally {
    keystore.close();
  }
}

if (require.main === module) {
  runHsmInit(parseHsmInitArgs(process.argv.slice(2)))
    .then((report) => {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    })
    .catch((error: unknown) => {
      const code = error instanceof HsmError ? error.code : 'UNKNOWN';
      process.stderr.write(`hsm-init failed (${code}): ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
