// The non-secret files made from the keys in the HSM token, shared by `hsm-init` and `hsm-rotate`
// so both always produce the same set from the token's current state (docs/hsm.md):
//  - public-keys.json: the current public key of every asymmetric role, plus versions in overlap;
//  - <tls-role>.cert.pem (self-signed, reused while it matches the current HSM key), .csr.pem, and
//    <tls-role>.v<N>.cert.pem for older TLS keys still within their overlap (removed afterwards);
//  - org.signet: signed in the HSM by the current POK, validates to ID; after a POK rotation it
//    carries the Previous-POK chain fields (libs/dime signet-chain.ts);
//  - dx-record.txt: `pok=` current POK then POKs in overlap, `tls=` by the current POK for every
//    usable certificate;
//  - openssl-pkcs11.cnf declaring libp11's pkcs11 engine (TLS with the HSM-held keys; no PIN: the
//    process logs in through libs/hsm first).
// Ed25519 is deterministic, so regenerating from an unchanged token gives identical bytes.
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addSignetFields,
  armorSignet,
  createOrgSignet,
  createTlsSignature,
  formatManagementRecord,
  fullSign,
  idSign,
  managementRecordName,
  orgSignetChainFields,
  setSignetId,
  toZoneFileText,
  validateSignet,
} from '@lib/dime';
import {
  ALL_HSM_KEY_ROLES,
  createCertificateSigningRequest,
  createSelfSignedCertificate,
  HSM_KEY_ROLES,
  HsmError,
  HsmKeyAgreement,
  HsmSigner,
  keyLabel,
  writeOpensslHsmConfig,
  type HsmKeyRole,
  type HsmKeyRotation,
  type HsmKeystore,
  type HsmRotationState,
} from '@lib/hsm';

export interface HsmOutputOptions {
  readonly domain: string;
  readonly outDir: string;
  readonly hostnames: readonly string[];
  readonly modulePath: string;
  readonly enginePath: string;
  /** Certificate validity start (the rotation's own clock decides overlaps). */
  readonly now?: Date;
}

export interface HsmOutputResult {
  readonly files: readonly string[];
  /** Versioned certificates of TLS keys whose overlap has ended. */
  readonly removed: readonly string[];
}

export const TLS_ROLES = ['tls-ecdsa', 'tls-rsa'] as const;

interface RoleKeys {
  readonly current: string;
  /** Older versions still usable (newest first), with the end of their overlap. */
  readonly overlap: ReadonlyArray<{ label: string; version: number; usableUntil: string }>;
  readonly state?: HsmRotationState;
}

async function roleKeys(rotation: HsmKeyRotation, role: HsmKeyRole): Promise<RoleKeys> {
  if (!HSM_KEY_ROLES[role].rotatable) return { current: keyLabel(role, 1), overlap: [] };
  const state = await rotation.state(role);
  const usable = new Set(await rotation.usableLabels(role));
  const overlap = state.versions
    .filter((v) => v.version !== state.current && usable.has(v.label))
    .sort((a, b) => b.version - a.version)
    .map((v) => ({ label: v.label, version: v.version, usableUntil: v.usableUntil as string }));
  return { current: keyLabel(role, state.current), overlap, state };
}

function certMatches(path: string, spki: Buffer): Buffer | undefined {
  if (!existsSync(path)) return undefined;
  const cert = new X509Certificate(readFileSync(path));
  return Buffer.from(cert.publicKey.export({ format: 'der', type: 'spki' })).equals(spki) ? cert.raw : undefined;
}

/** `<role>.v<N>.cert.pem`: a TLS certificate kept during its key's overlap. */
export function versionedCertName(role: HsmKeyRole, version: number): string {
  return `${role}.v${version}.cert.pem`;
}

/** Write every non-secret output from the token's current state (keys must exist). */
export async function writeHsmOutputs(keystore: HsmKeystore, rotation: HsmKeyRotation, options: HsmOutputOptions): Promise<HsmOutputResult> {
  const files: string[] = [];
  const removed: string[] = [];
  const write = (name: string, content: string | Buffer): string => {
    const path = join(options.outDir, name);
    writeFileSync(path, content);
    files.push(path);
    return path;
  };
  const keys = new Map<HsmKeyRole, RoleKeys>();
  for (const role of ALL_HSM_KEY_ROLES) keys.set(role, await roleKeys(rotation, role));
  const keysOf = (role: HsmKeyRole): RoleKeys => keys.get(role) as RoleKeys;

  // public keys: what operators and other services may see
  const publicKeys: Record<string, { label: string; spki: string; overlap?: Array<{ label: string; spki: string; usableUntil: string }> }> = {};
  for (const role of ALL_HSM_KEY_ROLES) {
    const type = HSM_KEY_ROLES[role].algorithm.type;
    if (type === 'aes' || type === 'hmac-sha256') continue;
    const { current, overlap } = keysOf(role);
    const entry: (typeof publicKeys)[string] = { label: current, spki: (await keystore.publicKey(current)).spki.toString('base64') };
    if (overlap.length > 0) {
      entry.overlap = [];
      for (const old of overlap) entry.overlap.push({ label: old.label, spki: (await keystore.publicKey(old.label)).spki.toString('base64'), usableUntil: old.usableUntil });
    }
    publicKeys[role] = entry;
  }
  write('public-keys.json', `${JSON.stringify(publicKeys, null, 2)}\n`);

  // TLS certificates: the current key's at <role>.cert.pem, older keys in overlap at <role>.v<N>.cert.pem
  const certOptions = {
    commonName: options.hostnames[0] ?? `mail.${options.domain}`,
    dnsNames: options.hostnames,
    ipAddresses: ['127.0.0.1'],
    organization: options.domain,
    ...(options.now ? { now: options.now } : {}),
  };
  const currentDers: Buffer[] = [];
  const overlapDers: Buffer[] = [];
  for (const role of TLS_ROLES) {
    const { current, overlap } = keysOf(role);
    const certPath = join(options.outDir, `${role}.cert.pem`);
    for (const old of overlap) {
      const oldSpki = (await keystore.publicKey(old.label)).spki;
      const oldPath = join(options.outDir, versionedCertName(role, old.version));
      let der = certMatches(oldPath, oldSpki);
      if (der === undefined && (der = certMatches(certPath, oldSpki)) !== undefined) renameSync(certPath, oldPath);
      if (der === undefined) {
        const cert = await createSelfSignedCertificate(keystore, old.label, certOptions);
        writeFileSync(oldPath, cert.pem);
        der = cert.der;
      }
      files.push(oldPath);
      overlapDers.push(der);
    }
    const kept = new Set(overlap.map((old) => versionedCertName(role, old.version)));
    for (const name of readdirSync(options.outDir)) {
      if (name.startsWith(`${role}.v`) && /^[0-9]+\.cert\.pem$/.test(name.slice(role.length + 2)) && !kept.has(name)) {
        rmSync(join(options.outDir, name));
        removed.push(join(options.outDir, name));
      }
    }
    let der = certMatches(certPath, (await keystore.publicKey(current)).spki);
    if (der === undefined) {
      const cert = await createSelfSignedCertificate(keystore, current, certOptions);
      writeFileSync(certPath, cert.pem);
      der = cert.der;
    }
    files.push(certPath);
    write(`${role}.csr.pem`, (await createCertificateSigningRequest(keystore, current, certOptions)).pem);
    currentDers.push(der);
  }

  // DIME: org signet signed by the current HSM POK, chained to the previous POK after a rotation
  const poks = keysOf('org-primary');
  const pok = await HsmSigner.create(keystore, poks.current);
  // The org encryption key does not rotate with the POK: the new signet names the same one.
  const encryption = await HsmKeyAgreement.create(keystore, keysOf('org-encryption').current);
  let signet = await createOrgSignet({ pok, encryptionPublicKey: encryption.publicKey });
  const link = chainLink(poks.state);
  if (link !== undefined) {
    const previousPok = (await keystore.publicKey(link.previousLabel)).raw;
    signet = addSignetFields(signet, orgSignetChainFields(previousPok, Buffer.from(link.signature, 'base64')));
  }
  signet = await fullSign(signet, pok);
  signet = await idSign(setSignetId(signet, options.domain), pok);
  const state = validateSignet(signet, { poks: [pok.publicKey] });
  if (state !== 'ID') throw new HsmError('DEVICE_ERROR', `org signet validates to ${state}, not ID`);
  write('org.signet', armorSignet(signet));

  const recordPoks: Buffer[] = [Buffer.from(pok.publicKey)];
  for (const old of poks.overlap) recordPoks.push((await keystore.publicKey(old.label)).raw);
  const record = formatManagementRecord({
    version: 1,
    poks: recordPoks,
    tls: await Promise.all([...currentDers, ...overlapDers].map((der) => createTlsSignature(pok, der))),
    policy: 'experimental',
    syndicates: [],
    deliver: [],
    expiryDays: null,
    subdomain: 'strict',
  });
  write('dx-record.txt', `${managementRecordName(options.domain)}. IN TXT ${toZoneFileText(record)}\n`);

  files.push(
    writeOpensslHsmConfig(join(options.outDir, 'openssl-pkcs11.cnf'), {
      enginePath: options.enginePath,
      modulePath: options.modulePath,
    }),
  );
  return { files, removed };
}

/** The current POK's custody signature by its predecessor (HsmKeyRotation), if it was rotated in. */
function chainLink(state: HsmRotationState | undefined): { previousLabel: string; signature: string } | undefined {
  if (state === undefined) return undefined;
  const current = state.versions.find((v) => v.version === state.current);
  if (current?.custodySignature === undefined) return undefined;
  const previous = state.versions.filter((v) => v.version < state.current).sort((a, b) => b.version - a.version)[0];
  return previous === undefined ? undefined : { previousLabel: previous.label, signature: current.custodySignature };
}
