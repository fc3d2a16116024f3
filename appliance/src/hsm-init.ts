// `hsm-init`: initialise the gateway's HSM token and everything that lives in it.
//  - creates the token (random SO PIN, used once, never stored or printed) or reuses it;
//  - sets the user PIN (random, written 0600 to the PIN file, unless the file already exists);
//  - generates every key role of libs/hsm (hsm-key-roles.ts) that is missing: re-running never
//    destroys or replaces a key;
//  - makes the TLS certificates (self-signed for local use + CSR for a real CA), signed in the HSM;
//  - makes the org signet (signed by the HSM-held POK) and the `_dx` DNS record with its tls=
//    signatures (Ed25519 by the POK over SHA-512 of each TLS certificate's DER);
//  - writes only non-secret results to --out, plus the OpenSSL pkcs11-provider config;
//  - with --local, records where the token is in .local/appliance.env for the quickstart.
// Usage: appliance/hsm-init.sh --domain example.org [--out DIR] [--token-label L] [--module SO]
//        [--pin-file F] [--hostname H]... [--softhsm-dir DIR] [--local]
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  armorSignet,
  createOrgSignet,
  createTlsSignature,
  formatManagementRecord,
  fullSign,
  idSign,
  managementRecordName,
  setSignetId,
  toZoneFileText,
  validateSignet,
} from '@lib/dime';
import {
  ALL_HSM_KEY_ROLES,
  createCertificateSigningRequest,
  createSelfSignedCertificate,
  DEFAULT_HSM_MODULE,
  DEFAULT_HSM_TOKEN_LABEL,
  DEFAULT_OPENSSL_PKCS11_PROVIDER,
  HSM_KEY_ROLES,
  HsmError,
  HsmKeyAgreement,
  HsmKeyRotation,
  HsmKeystore,
  HsmSigner,
  initializeToken,
  randomPin,
  RedactedSecret,
  writeOpensslProviderConfig,
  type HsmKeyRole,
} from '@lib/hsm';

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
  readonly providerPath: string;
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
  const known = ['--domain', '--out', '--token-label', '--module', '--pin-file', '--hostname', '--softhsm-dir', '--provider'];
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
    providerPath: one('--provider') ?? DEFAULT_OPENSSL_PKCS11_PROVIDER,
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
  const write = (name: string, content: string | Buffer): string => {
    const path = join(options.outDir, name);
    writeFileSync(path, content);
    files.push(path);
    return path;
  };

  const keystore = HsmKeystore.open({
    modulePath: options.modulePath,
    tokenLabel: options.tokenLabel,
    pin: new RedactedSecret(pin),
    sessions: 2,
    reinitializeOnLoss: false,
  });
  try {
    const rotation = new HsmKeyRotation(keystore);
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
    const labelOf = (role: HsmKeyRole): string => keys.find((k) => k.role === role)?.label as string;

    // public keys: what operators and other services may see
    const publicKeys: Record<string, { label: string; spki: string }> = {};
    for (const { role, label } of keys) {
      if (HSM_KEY_ROLES[role].algorithm.type === 'aes' || HSM_KEY_ROLES[role].algorithm.type === 'hmac-sha256') continue;
      publicKeys[role] = { label, spki: (await keystore.publicKey(label)).spki.toString('base64') };
    }
    write('public-keys.json', `${JSON.stringify(publicKeys, null, 2)}\n`);

    // TLS certificates: reuse a certificate that still matches the HSM key
    const certOptions = { commonName: options.hostnames[0] ?? `mail.${options.domain}`, dnsNames: options.hostnames, ipAddresses: ['127.0.0.1'], organization: options.domain, ...(options.now ? { now: options.now } : {}) };
    const certDers: Buffer[] = [];
    for (const role of ['tls-ecdsa', 'tls-rsa'] as const) {
      const label = labelOf(role);
      const certPath = join(options.outDir, `${role}.cert.pem`);
      const spki = (await keystore.publicKey(label)).spki;
      let der: Buffer | undefined;
      if (existsSync(certPath)) {
        const existing = new X509Certificate(readFileSync(certPath));
        if (Buffer.from(existing.publicKey.export({ format: 'der', type: 'spki' })).equals(spki)) der = existing.raw;
      }
      if (der === undefined) {
        const cert = await createSelfSignedCertificate(keystore, label, certOptions);
        writeFileSync(certPath, cert.pem);
        der = cert.der;
      }
      files.push(certPath);
      write(`${role}.csr.pem`, (await createCertificateSigningRequest(keystore, label, certOptions)).pem);
      certDers.push(der);
    }

    // DIME: org signet signed by the HSM-held POK, and the _dx record
    const pok = await HsmSigner.create(keystore, labelOf('org-primary'));
    const encryption = await HsmKeyAgreement.create(keystore, labelOf('org-encryption'));
    let signet = await createOrgSignet({ pok, encryptionPublicKey: encryption.publicKey });
    signet = await fullSign(signet, pok);
    signet = await idSign(setSignetId(signet, options.domain), pok);
    const state = validateSignet(signet, { poks: [pok.publicKey] });
    if (state !== 'ID') throw new HsmError('DEVICE_ERROR', `org signet validates to ${state}, not ID`);
    write('org.signet', armorSignet(signet));
    const record = formatManagementRecord({
      version: 1,
      poks: [Buffer.from(pok.publicKey)],
      tls: await Promise.all(certDers.map((der) => createTlsSignature(pok, der))),
      policy: 'experimental',
      syndicates: [],
      deliver: [],
      expiryDays: null,
      subdomain: 'strict',
    });
    write('dx-record.txt', `${managementRecordName(options.domain)}. IN TXT ${toZoneFileText(record)}\n`);

    files.push(
      writeOpensslProviderConfig(join(options.outDir, 'openssl-pkcs11.cnf'), {
        providerPath: options.providerPath,
        modulePath: options.modulePath,
        pinFile: options.pinFile,
      }),
    );

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
