// `hsm-rotate`: rotate the org signing key (POK) and/or the TLS keys in the HSM token, retire old
// versions whose overlap has ended, and regenerate the non-secret outputs (hsm-outputs.ts, the same
// code hsm-init uses) from the token's new state:
//  - `--role R` (repeatable; org-primary, tls-ecdsa, tls-rsa): HsmKeyRotation generates
//    `<base>.v<N+1>` in the HSM; the previous version stays usable for `--overlap` (default 30d);
//    for the POK the previous key signs the new raw POK, and the new org signet carries that link;
//  - `--retire-expired`: for every rotatable role, destroy the private keys whose overlap ended
//    (public keys stay in the token for verification);
//  - then org.signet, dx-record.txt (both POKs during the overlap), certificates (old ones kept as
//    <role>.v<N>.cert.pem during the overlap), CSRs and public-keys.json are rewritten.
// The org encryption key does not rotate with the POK: the new signet names the same key.
// Usage: appliance/hsm-rotate.sh [--role ROLE]... [--overlap 30d] [--retire-expired] [--out DIR]
//        [--pin-file F] [--token-label L] [--module SO] [--softhsm-dir DIR] [--domain D]
//        [--hostname H]... [--now ISO-TIME] [--local]
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSignet, signetId } from '@lib/dime';
import {
  ALL_HSM_KEY_ROLES,
  DEFAULT_HSM_MODULE,
  DEFAULT_HSM_TOKEN_LABEL,
  DEFAULT_OPENSSL_PKCS11_ENGINE,
  HSM_KEY_ROLES,
  HsmError,
  HsmKeyRotation,
  HsmKeystore,
  keyLabel,
  RedactedSecret,
  type HsmKeyRole,
} from '@lib/hsm';
import { TLS_ROLES, writeHsmOutputs } from './hsm-outputs';

export const ROTATABLE_ROLES: readonly HsmKeyRole[] = ALL_HSM_KEY_ROLES.filter((role) => HSM_KEY_ROLES[role].rotatable);

export interface HsmRotateOptions {
  readonly roles: readonly HsmKeyRole[];
  readonly overlapSeconds: number;
  readonly retireExpired: boolean;
  readonly outDir: string;
  readonly tokenLabel: string;
  readonly modulePath: string;
  readonly pinFile: string;
  /** SoftHSM2 only: the token directory hsm-init made (its softhsm2.conf is used). */
  readonly softhsmDir?: string;
  /** Default: the Signet-Identifier of the existing org.signet. */
  readonly domain?: string;
  /** Default: the DNS names of the existing TLS certificate. */
  readonly hostnames?: readonly string[];
  readonly enginePath: string;
  /** The clock for overlaps and certificates (default: now). */
  readonly now?: Date;
}

export interface HsmRotateReport {
  readonly rotated: ReadonlyArray<{ role: HsmKeyRole; from: string; to: string; usableUntil: string }>;
  readonly retired: readonly string[];
  readonly files: readonly string[];
  readonly removed: readonly string[];
}

const ROOT = resolve(__dirname, '..', '..');
const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

function usage(message: string): never {
  process.stderr.write(`hsm-rotate: ${message}\n` +
    'usage: hsm-rotate [--role org-primary|tls-ecdsa|tls-rsa]... [--overlap 30d] [--retire-expired] [--out DIR]\n' +
    '                  [--pin-file FILE] [--token-label LABEL] [--module PATH] [--softhsm-dir DIR] [--domain DOMAIN]\n' +
    '                  [--hostname NAME]... [--now ISO-TIME] [--local]\n');
  process.exit(2);
}

/** `30d`, `12h`, `90m`, `3600s` or plain seconds. */
export function parseOverlap(text: string): number | undefined {
  const match = /^([0-9]{1,9})([smhd]?)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] || 's'] as number);
}

export function parseHsmRotateArgs(argv: readonly string[]): HsmRotateOptions {
  const values = new Map<string, string[]>();
  let local = false;
  let retireExpired = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--local') { local = true; continue; }
    if (arg === '--retire-expired') { retireExpired = true; continue; }
    if (!arg.startsWith('--')) usage(`unexpected argument ${arg}`);
    const value = argv[++i];
    if (value === undefined) usage(`${arg} needs a value`);
    values.set(arg, [...(values.get(arg) ?? []), value]);
  }
  const one = (name: string): string | undefined => values.get(name)?.at(-1);
  const known = ['--role', '--overlap', '--out', '--token-label', '--module', '--pin-file', '--softhsm-dir', '--domain', '--hostname', '--now', '--engine'];
  for (const key of values.keys()) if (!known.includes(key)) usage(`unknown option ${key}`);
  const roles = (values.get('--role') ?? []).map((role) =>
    ROTATABLE_ROLES.includes(role as HsmKeyRole) ? (role as HsmKeyRole) : usage(`--role must be one of ${ROTATABLE_ROLES.join(', ')}`),
  );
  if (roles.length === 0 && !retireExpired) usage('nothing to do: give --role and/or --retire-expired');
  const overlapSeconds = parseOverlap(one('--overlap') ?? '30d') ?? usage('--overlap expects e.g. 30d, 12h, 90m or seconds');
  const nowText = one('--now');
  const now = nowText === undefined ? undefined : new Date(nowText);
  if (now !== undefined && Number.isNaN(now.getTime())) usage('--now expects an ISO 8601 time');
  const localDir = join(ROOT, '.local');
  const softhsmDir = one('--softhsm-dir') ?? (local ? join(localDir, 'softhsm') : undefined);
  const domain = one('--domain');
  return {
    roles: [...new Set(roles)],
    overlapSeconds,
    retireExpired,
    outDir: resolve(one('--out') ?? (local ? join(localDir, 'hsm') : usage('--out is required without --local'))),
    tokenLabel: one('--token-label') ?? DEFAULT_HSM_TOKEN_LABEL,
    modulePath: one('--module') ?? DEFAULT_HSM_MODULE,
    pinFile: resolve(one('--pin-file') ?? (local ? join(localDir, 'hsm-user.pin') : usage('--pin-file is required without --local'))),
    ...(softhsmDir ? { softhsmDir: resolve(softhsmDir) } : {}),
    ...(domain ? { domain } : {}),
    ...(values.has('--hostname') ? { hostnames: values.get('--hostname') as string[] } : {}),
    enginePath: one('--engine') ?? DEFAULT_OPENSSL_PKCS11_ENGINE,
    ...(now ? { now } : {}),
  };
}

/** The domain the token was initialised for: the ID of the org signet hsm-init wrote. */
function existingDomain(outDir: string): string {
  const path = join(outDir, 'org.signet');
  if (!existsSync(path)) throw new HsmError('CONFIG_INVALID', `no ${path}: give --domain (or run hsm-init first)`);
  const id = signetId(readSignet(readFileSync(path)));
  if (id === null) throw new HsmError('CONFIG_INVALID', `${path} has no Signet-Identifier: give --domain`);
  return id;
}

/** The host names of the existing TLS certificate (CN first, as hsm-init made it). */
function existingHostnames(outDir: string, domain: string): string[] {
  for (const role of TLS_ROLES) {
    const path = join(outDir, `${role}.cert.pem`);
    if (!existsSync(path)) continue;
    const cert = new X509Certificate(readFileSync(path));
    const names = (cert.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
    if (cn !== undefined) return [cn, ...names.filter((n) => n !== cn)];
    if (names.length > 0) return names;
  }
  return [`mail.${domain}`];
}

function readPin(pinFile: string): string {
  if (!existsSync(pinFile)) throw new HsmError('CONFIG_INVALID', `${pinFile} does not exist: rotate needs the user PIN file hsm-init wrote`);
  const pin = readFileSync(pinFile, 'utf8').split(/\r?\n/)[0] ?? '';
  if (pin === '') throw new HsmError('CONFIG_INVALID', `${pinFile} is empty`);
  return pin;
}

export async function runHsmRotate(options: HsmRotateOptions): Promise<HsmRotateReport> {
  if (options.softhsmDir) {
    const conf = join(options.softhsmDir, 'softhsm2.conf');
    if (!existsSync(conf)) throw new HsmError('CONFIG_INVALID', `no ${conf}: run hsm-init first`);
    process.env['SOFTHSM2_CONF'] = conf;
  }
  const pin = readPin(options.pinFile);
  const domain = options.domain ?? existingDomain(options.outDir);
  const hostnames = options.hostnames ?? existingHostnames(options.outDir, domain);
  const keystore = HsmKeystore.open({
    modulePath: options.modulePath,
    tokenLabel: options.tokenLabel,
    pin: new RedactedSecret(pin),
    sessions: 2,
    reinitializeOnLoss: false,
  });
  try {
    const rotation = new HsmKeyRotation(keystore, () => options.now ?? new Date());
    const rotated: Array<HsmRotateReport['rotated'][number]> = [];
    for (const role of options.roles) {
      const before = await rotation.state(role);
      const after = await rotation.rotate(role, options.overlapSeconds);
      const from = keyLabel(role, before.current);
      const usableUntil = after.versions.find((v) => v.version === before.current)?.usableUntil as string;
      rotated.push({ role, from, to: keyLabel(role, after.current), usableUntil });
    }
    const retired: string[] = [];
    if (options.retireExpired) {
      for (const role of ROTATABLE_ROLES) retired.push(...(await rotation.retireExpired(role)));
    }
    const outputs = await writeHsmOutputs(keystore, rotation, {
      domain,
      outDir: options.outDir,
      hostnames,
      modulePath: options.modulePath,
      enginePath: options.enginePath,
      ...(options.now ? { now: options.now } : {}),
    });
    return { rotated, retired, files: outputs.files, removed: outputs.removed };
  } finally {
    keystore.close();
  }
}

if (require.main === module) {
  runHsmRotate(parseHsmRotateArgs(process.argv.slice(2)))
    .then((report) => {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    })
    .catch((error: unknown) => {
      const code = error instanceof HsmError ? error.code : 'UNKNOWN';
      process.stderr.write(`hsm-rotate failed (${code}): ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
