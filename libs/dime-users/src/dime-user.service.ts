// Local DIME users of trustful mode (issue #5, ARCHITECTURE.md §3): the gateway makes and holds each
// user's keys. Provisioning generates an Ed25519 signing seed and a secp256k1 key (libs/dime), wraps
// each under the HSM key-encryption key (AES key wrap with padding; PostgreSQL sees only the wrapped
// bytes), and issues the user signet as libdime does: SSR signed by the user key, crypto-signed by the
// org POK in the HSM, then full-signed, identified (254 = the address) and ID-signed (DIGEST.md §4.2–4.3).
// Keys are unwrapped per use (withUserKeys) and their bytes wiped afterwards. Suspension stops both
// directions: a suspended user's keys are never unwrapped and its signet is not served.
import {
  createSsr,
  fullSign,
  generateKeyFile,
  idSign,
  InMemoryKeyAgreement,
  InMemorySigner,
  isMailboxAddress,
  parseSignet,
  serializeSignet,
  setSignetId,
  signetEncryptionKey,
  signetFingerprint,
  signetSigningKey,
  signSsr,
  validateSignet,
  type KeyAgreement,
  type Signer,
  type Signet,
} from '@lib/dime';
import type { DimeUserRecord, DimeUserRepository, DimeUserStatus } from '@lib/db';
import type { AuditRecordInput } from '@lib/audit';
import { DimeUserError } from './dime-user.error';

/** What the service needs from the HSM keystore (HsmKeystore has both): AES key wrap with padding. */
export interface UserKeyWrapper {
  wrap(label: string, plaintext: Uint8Array): Promise<Buffer>;
  unwrap(label: string, wrapped: Uint8Array): Promise<Buffer>;
}

/** The audit trail, if the process has one (AuditService satisfies it). */
export interface UserAuditSink {
  record(input: AuditRecordInput): Promise<unknown>;
}

export interface DimeUserServiceOptions {
  /** The org signet made by hsm-init (`org.signet`), parsed; its POK must be orgSigner's key. */
  readonly orgSignet: Signet;
  /** Domains whose users this gateway holds (LOCAL_DOMAINS). */
  readonly localDomains: readonly string[];
  /** Label of the HSM user-kek (keyLabel('user-kek')). */
  readonly kekLabel: string;
  /** Audit actor of the actions (default `system:gateway`; the CLI passes its own). */
  readonly actor?: string;
  readonly clock?: () => Date;
}

/** A user without key material. */
export interface DimeUser {
  readonly address: string;
  readonly domain: string;
  readonly status: DimeUserStatus;
  /** Binary user signet (state ID). */
  readonly signet: Uint8Array;
  readonly fingerprints: { readonly crypto: string; readonly full: string; readonly id: string };
  readonly createdAt: Date;
  readonly suspendedAt: Date | null;
}

/** The unwrapped keys of one active user, valid only inside the withUserKeys callback. */
export interface DimeUserKeys {
  readonly user: DimeUser;
  readonly signet: Signet;
  /** Author signatures. */
  readonly signer: Signer;
  /** Opening keyslots addressed to the user (recipient). */
  readonly keyAgreement: KeyAgreement;
}

function toUser(r: DimeUserRecord): DimeUser {
  return {
    address: r.address,
    domain: r.domain,
    status: r.status,
    signet: r.signet,
    fingerprints: r.fingerprints,
    createdAt: r.createdAt,
    suspendedAt: r.suspendedAt,
  };
}

/** `local@domain` with the domain lower-cased (the local part keeps its case; lookups ignore it). */
export function normalizeAddress(address: string): { address: string; domain: string } {
  if (typeof address !== 'string') throw new TypeError(`"address" expected string, got ${typeof address}`);
  const trimmed = address.trim().replace(/^<(.*)>$/, '$1');
  const at = trimmed.lastIndexOf('@');
  const domain = trimmed.slice(at + 1).toLowerCase();
  const normalized = `${trimmed.slice(0, at)}@${domain}`;
  if (at <= 0 || !isMailboxAddress(normalized)) throw new DimeUserError('BAD_ADDRESS', `"${address}" is not a mailbox address`);
  return { address: normalized, domain };
}

/** Also the gateway's LocalSignetSource (apps/gateway/src/dime/local-signets.ts: orgSignet, userSignet). */
export class DimeUserService {
  private readonly localDomains: ReadonlySet<string>;
  private readonly orgSignetBytes: Buffer;
  private readonly clock: () => Date;
  private readonly actor: string;

  constructor(
    private readonly repository: DimeUserRepository,
    private readonly keystore: UserKeyWrapper,
    /** The org POK in the HSM (HsmSigner for the current org-primary label). */
    private readonly orgSigner: Signer,
    private readonly options: DimeUserServiceOptions,
    private readonly audit?: UserAuditSink,
  ) {
    if (options.orgSignet.type !== 'org') throw new TypeError('"options.orgSignet" expected an org signet');
    if (!signetSigningKey(options.orgSignet).equals(Buffer.from(orgSigner.publicKey))) {
      throw new DimeUserError('ORG_SIGNET', 'the org signet does not carry the HSM POK: run appliance/hsm-init.sh again or fix ORG_SIGNET_FILE');
    }
    if (typeof options.kekLabel !== 'string' || options.kekLabel === '') throw new TypeError('"options.kekLabel" expected a label');
    this.localDomains = new Set(options.localDomains.map((d) => d.toLowerCase()));
    this.orgSignetBytes = serializeSignet(options.orgSignet);
    this.clock = options.clock ?? (() => new Date());
    this.actor = options.actor ?? 'system:gateway';
  }

  /** The org signet as hsm-init made it (state ID), parsed. */
  get localOrgSignet(): Signet {
    return this.options.orgSignet;
  }

  isLocalDomain(domain: string): boolean {
    return this.localDomains.has(domain.toLowerCase());
  }

  /** New keys, wrapped under the HSM KEK, and a user signet signed by the HSM POK. EXISTS if the address has keys. */
  async provision(address: string): Promise<DimeUser> {
    const made = await this.create(address);
    if (made.created) return made.user;
    throw new DimeUserError('EXISTS', `${made.user.address} is already provisioned`);
  }

  /** The user, provisioned now if it had no keys (first use); a concurrent provision of the same address wins harmlessly. */
  async ensure(address: string): Promise<DimeUser> {
    const existing = await this.find(address);
    if (existing) return existing;
    return (await this.create(address)).user;
  }

  private async create(address: string): Promise<{ user: DimeUser; created: boolean }> {
    const { address: normalized, domain } = normalizeAddress(address);
    if (!this.localDomains.has(domain)) throw new DimeUserError('NOT_LOCAL', `${domain} is not a local domain`);
    const existing = await this.repository.findByAddress(normalized);
    if (existing) return { user: toUser(existing), created: false };

    const keys = generateKeyFile('user');
    const signer = new InMemorySigner(keys.signingSeed);
    const agreement = new InMemoryKeyAgreement(keys.encryptionPrivateKey);
    try {
      const ssr = await createSsr({ signer, encryptionPublicKey: agreement.publicKey });
      let signet = await signSsr(ssr, this.orgSigner);
      signet = await fullSign(signet, this.orgSigner);
      signet = await idSign(setSignetId(signet, normalized), this.orgSigner);
      const state = validateSignet(signet, { orgSignet: this.options.orgSignet });
      if (state !== 'ID') throw new DimeUserError('ORG_SIGNET', `new user signet validates to ${state}, not ID, against the org signet`);
      const wrappedSigningSeed = await this.keystore.wrap(this.options.kekLabel, keys.signingSeed);
      const wrappedEncryptionKey = await this.keystore.wrap(this.options.kekLabel, keys.encryptionPrivateKey);
      const inserted = await this.repository.insertIfAbsent({
        address: normalized,
        domain,
        wrappedSigningSeed,
        wrappedEncryptionKey,
        kekLabel: this.options.kekLabel,
        signet: serializeSignet(signet),
        fingerprints: { crypto: signetFingerprint(signet, 'crypto'), full: signetFingerprint(signet, 'full'), id: signetFingerprint(signet, 'id') },
        createdAt: this.clock(),
      });
      if (!inserted) {
        const winner = await this.repository.findByAddress(normalized);
        if (!winner) throw new Error(`dime_users: ${normalized} neither inserted nor found`);
        return { user: toUser(winner), created: false };
      }
      await this.record('dime.user.provision', inserted.address, { fingerprint: inserted.fingerprints.crypto, kekLabel: inserted.kekLabel });
      return { user: toUser(inserted), created: true };
    } finally {
      keys.signingSeed.fill(0);
      keys.encryptionPrivateKey.fill(0);
      agreement.wipe();
    }
  }

  async suspend(address: string): Promise<DimeUser> {
    return this.setStatus(address, 'suspended');
  }

  async resume(address: string): Promise<DimeUser> {
    return this.setStatus(address, 'active');
  }

  private async setStatus(address: string, status: DimeUserStatus): Promise<DimeUser> {
    const { address: normalized } = normalizeAddress(address);
    const before = await this.repository.findByAddress(normalized);
    if (!before) throw new DimeUserError('UNKNOWN_USER', `no DIME user ${normalized}`);
    const after = await this.repository.setStatus(normalized, status, this.clock());
    if (!after) throw new DimeUserError('UNKNOWN_USER', `no DIME user ${normalized}`);
    await this.record(status === 'suspended' ? 'dime.user.suspend' : 'dime.user.resume', after.address, { changed: before.status !== after.status });
    return toUser(after);
  }

  async list(domain?: string): Promise<DimeUser[]> {
    return (await this.repository.list(domain?.toLowerCase())).map(toUser);
  }

  /** The user in any status, or undefined. */
  async find(address: string): Promise<DimeUser | undefined> {
    const { address: normalized } = normalizeAddress(address);
    const r = await this.repository.findByAddress(normalized);
    return r ? toUser(r) : undefined;
  }

  /** The active user, or undefined for an unknown, suspended or non-local address. */
  async findActive(address: string): Promise<DimeUser | undefined> {
    let normalized: string;
    try {
      normalized = normalizeAddress(address).address;
    } catch (err) {
      if (err instanceof DimeUserError) return undefined;
      throw err;
    }
    const r = await this.repository.findByAddress(normalized);
    return r && r.status === 'active' && this.localDomains.has(r.domain) ? toUser(r) : undefined;
  }

  /**
   * Runs fn with the active user's keys, each unwrapped from PostgreSQL by the HSM on its first use in
   * this call (sealing needs only the signing key, opening only the encryption key: one HSM unwrap each)
   * and overwritten when fn settles; afterwards the keys refuse to work. A key that does not match the
   * user's signet is refused (wrong KEK, swapped rows). UNKNOWN_USER / SUSPENDED otherwise.
   * (The Ed25519 KeyObject node:crypto builds inside InMemorySigner cannot be wiped; it is dropped.)
   */
  async withUserKeys<T>(address: string, fn: (keys: DimeUserKeys) => Promise<T>): Promise<T> {
    const { address: normalized } = normalizeAddress(address);
    const r = await this.repository.findKeysByAddress(normalized);
    if (!r) throw new DimeUserError('UNKNOWN_USER', `no DIME user ${normalized}`);
    if (r.status !== 'active') throw new DimeUserError('SUSPENDED', `DIME user ${r.address} is suspended`);
    const signet = parseSignet(r.signet, 'user');
    const signingPublic = signetSigningKey(signet);
    const encryptionPublic = signetEncryptionKey(signet);
    const secrets: Buffer[] = [];
    const pending: Promise<unknown>[] = [];
    let agreement: InMemoryKeyAgreement | undefined;
    let closed = false;
    const unwrap = async (wrapped: Buffer, what: string): Promise<Buffer> => {
      if (closed) throw new Error(`the keys of ${r.address} were released`);
      const bytes = await this.keystore.unwrap(r.kekLabel, wrapped);
      secrets.push(bytes);
      if (closed) throw new Error(`the keys of ${r.address} were released`);
      if (bytes.length !== 32) throw new DimeUserError('ORG_SIGNET', `${what} of ${r.address} is not 32 bytes`);
      return bytes;
    };
    let signerPromise: Promise<InMemorySigner> | undefined;
    let agreementPromise: Promise<InMemoryKeyAgreement> | undefined;
    const realSigner = (): Promise<InMemorySigner> => {
      if (!signerPromise) {
        signerPromise = unwrap(r.wrappedSigningSeed, 'signing key').then((seed) => {
          const s = new InMemorySigner(seed);
          if (!Buffer.from(s.publicKey).equals(signingPublic)) throw new DimeUserError('ORG_SIGNET', `signing key of ${r.address} does not match its signet`);
          return s;
        });
        pending.push(signerPromise.catch(() => undefined));
      }
      return signerPromise;
    };
    const realAgreement = (): Promise<InMemoryKeyAgreement> => {
      if (!agreementPromise) {
        agreementPromise = unwrap(r.wrappedEncryptionKey, 'encryption key').then((scalar) => {
          agreement = new InMemoryKeyAgreement(scalar);
          if (!Buffer.from(agreement.publicKey).equals(encryptionPublic)) throw new DimeUserError('ORG_SIGNET', `encryption key of ${r.address} does not match its signet`);
          return agreement;
        });
        pending.push(agreementPromise.catch(() => undefined));
      }
      return agreementPromise;
    };
    const signer: Signer = {
      publicKey: Uint8Array.from(signingPublic),
      sign: async (data) => {
        const s = await realSigner();
        if (closed) throw new Error(`the keys of ${r.address} were released`);
        return s.sign(data);
      },
    };
    const keyAgreement: KeyAgreement = {
      publicKey: Uint8Array.from(encryptionPublic),
      deriveSharedSecret: async (peer) => {
        const a = await realAgreement();
        if (closed) throw new Error(`the keys of ${r.address} were released`);
        return a.deriveSharedSecret(peer);
      },
    };
    try {
      return await fn({ user: toUser(r), signet, signer, keyAgreement });
    } finally {
      closed = true;
      await Promise.allSettled(pending); // an unwrap still in flight lands before the wipe
      for (const b of secrets) b.fill(0);
      agreement?.wipe();
    }
  }

  // LocalSignetSource (DMTP SGNT): the binary signets as stored (state ID); the SGNT server serves their FULL view.
  async orgSignet(domain: string): Promise<Uint8Array | undefined> {
    return this.localDomains.has(domain.toLowerCase()) ? this.orgSignetBytes : undefined;
  }

  async userSignet(address: string): Promise<Uint8Array | undefined> {
    return (await this.findActive(address))?.signet;
  }

  private async record(action: string, address: string, details: Record<string, string | boolean>): Promise<void> {
    if (!this.audit) return;
    await this.audit.record({ actor: this.actor, action, objectType: 'dime-user', objectId: address, outcome: 'success', details });
  }
}
