// Every key the gateway keeps in the HSM, with its label, algorithm and use, defined in this one
// place (ARCHITECTURE.md §3, key custody). Labels carry a version (`<base>.v<N>`) so a rotated key
// and its predecessor live side by side; version 1 is created at token initialisation.
import type { HsmCurve } from './pkcs11.constants';

export type HsmKeyRole =
  | 'org-primary'
  | 'org-encryption'
  | 'user-kek'
  | 'escrow'
  | 'audit-signing'
  | 'blind-index'
  | 'tls-ecdsa'
  | 'tls-rsa';

export type HsmKeyAlgorithm =
  | { readonly type: 'ed25519' }
  | { readonly type: 'ec'; readonly curve: Exclude<HsmCurve, 'ed25519'> }
  | { readonly type: 'rsa'; readonly bits: 2048 | 3072 | 4096 }
  | { readonly type: 'aes'; readonly bits: 256 }
  | { readonly type: 'hmac-sha256'; readonly bytes: 32 };

/** What the private/secret object may do (becomes CKA_SIGN / CKA_DERIVE / CKA_WRAP+UNWRAP). */
export type HsmKeyUsage = 'sign' | 'derive' | 'wrap' | 'mac';

export interface HsmKeyRoleSpec {
  readonly role: HsmKeyRole;
  readonly baseLabel: string;
  readonly algorithm: HsmKeyAlgorithm;
  readonly usage: HsmKeyUsage;
  /** Roles with an operational rotation procedure (hsm-rotation.ts). */
  readonly rotatable: boolean;
  readonly purpose: string;
}

function spec(s: HsmKeyRoleSpec): HsmKeyRoleSpec {
  return Object.freeze(s);
}

export const HSM_KEY_ROLES: Readonly<Record<HsmKeyRole, HsmKeyRoleSpec>> = Object.freeze({
  'org-primary': spec({
    role: 'org-primary',
    baseLabel: 'dime-org-pok',
    algorithm: { type: 'ed25519' },
    usage: 'sign',
    rotatable: true,
    purpose: 'DIME primary organisational key: signs signets, origin signatures and the tls= field',
  }),
  'org-encryption': spec({
    role: 'org-encryption',
    baseLabel: 'dime-org-encryption',
    algorithm: { type: 'ec', curve: 'secp256k1' },
    usage: 'derive',
    rotatable: false,
    purpose: 'DIME org encryption key: ECDH to open origin/destination envelope chunks',
  }),
  'user-kek': spec({
    role: 'user-kek',
    baseLabel: 'dime-user-kek',
    algorithm: { type: 'aes', bits: 256 },
    usage: 'wrap',
    rotatable: false,
    purpose: 'wraps user key material (AES key wrap with padding) for storage in PostgreSQL',
  }),
  escrow: spec({
    role: 'escrow',
    baseLabel: 'dime-escrow',
    algorithm: { type: 'ec', curve: 'P-384' },
    usage: 'derive',
    rotatable: false,
    purpose: 'escrow key: ECDH to unwrap journal record keys after quorum approval',
  }),
  'audit-signing': spec({
    role: 'audit-signing',
    baseLabel: 'dime-audit-signing',
    algorithm: { type: 'ec', curve: 'P-256' },
    usage: 'sign',
    rotatable: false,
    purpose: 'signs audit checkpoints, disposition certificates and escrow reports',
  }),
  'blind-index': spec({
    role: 'blind-index',
    baseLabel: 'dime-blind-index',
    algorithm: { type: 'hmac-sha256', bytes: 32 },
    usage: 'mac',
    rotatable: false,
    purpose: 'HMAC-SHA256 blind indexes of custodian addresses',
  }),
  'tls-ecdsa': spec({
    role: 'tls-ecdsa',
    baseLabel: 'dime-tls-ecdsa',
    algorithm: { type: 'ec', curve: 'P-256' },
    usage: 'sign',
    rotatable: true,
    purpose: 'TLS server key (SMTP STARTTLS, DMTP, admin HTTPS) through the OpenSSL pkcs11 engine (libp11)',
  }),
  'tls-rsa': spec({
    role: 'tls-rsa',
    baseLabel: 'dime-tls-rsa',
    algorithm: { type: 'rsa', bits: 2048 },
    usage: 'sign',
    rotatable: true,
    purpose: 'TLS server key for peers without ECDSA',
  }),
});

export const ALL_HSM_KEY_ROLES: readonly HsmKeyRole[] = Object.freeze(Object.keys(HSM_KEY_ROLES) as HsmKeyRole[]);

/** `<base>.v<version>`: the CKA_LABEL (and CKA_ID) of one version of a role's key. */
export function keyLabel(role: HsmKeyRole, version = 1): string {
  if (!Number.isInteger(version) || version < 1) throw new RangeError(`"version" expected a positive integer, got ${version}`);
  return `${HSM_KEY_ROLES[role].baseLabel}.v${version}`;
}

/** The CKO_DATA object holding a role's rotation state. */
export function rotationStateLabel(role: HsmKeyRole): string {
  return `${HSM_KEY_ROLES[role].baseLabel}.rotation`;
}

/** Inverse of keyLabel; undefined for labels this project did not make. */
export function parseKeyLabel(label: string): { role: HsmKeyRole; version: number } | undefined {
  const match = /^(.+)\.v([1-9][0-9]{0,5})$/.exec(label);
  if (!match) return undefined;
  const role = ALL_HSM_KEY_ROLES.find((r) => HSM_KEY_ROLES[r].baseLabel === match[1]);
  return role === undefined ? undefined : { role, version: Number(match[2]) };
}
