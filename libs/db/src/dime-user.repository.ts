// Thin repository of the local DIME users (dime_users): queries named by intent, no decisions
// (STYLE.md 7). Key material arrives and leaves only wrapped; the gateway's DimeUserService wraps,
// unwraps and decides. Addresses are matched case-insensitively (the unique index on lower(address)).
import type { DataSource } from 'typeorm';
import { hotQuery } from './hot-query';

export type DimeUserStatus = 'active' | 'suspended';

/** What provisioning stores: the keys already wrapped under the HSM KEK named by kekLabel. */
export interface NewDimeUser {
  readonly address: string;
  readonly domain: string;
  readonly wrappedSigningSeed: Buffer;
  readonly wrappedEncryptionKey: Buffer;
  readonly kekLabel: string;
  /** The binary user signet (magic 1789). */
  readonly signet: Buffer;
  readonly fingerprints: { readonly crypto: string; readonly full: string; readonly id: string };
  readonly createdAt: Date;
}

/** One dime_users row without its key material (listings, signet service). */
export interface DimeUserRecord {
  readonly id: number;
  readonly address: string;
  readonly domain: string;
  readonly status: DimeUserStatus;
  readonly kekLabel: string;
  readonly signet: Buffer;
  readonly fingerprints: { readonly crypto: string; readonly full: string; readonly id: string };
  readonly createdAt: Date;
  readonly suspendedAt: Date | null;
}

/** A row with its wrapped keys (only withUserKeys reads these). */
export interface DimeUserKeysRecord extends DimeUserRecord {
  readonly wrappedSigningSeed: Buffer;
  readonly wrappedEncryptionKey: Buffer;
}

interface Row {
  id: string;
  address: string;
  domain: string;
  status: DimeUserStatus;
  kek_label: string;
  signet: Buffer;
  fingerprint_crypto: string;
  fingerprint_full: string;
  fingerprint_id: string;
  created_at: Date;
  suspended_at: Date | null;
  wrapped_signing_seed?: Buffer;
  wrapped_encryption_key?: Buffer;
}

const COLUMNS = 'id, address, domain, status, kek_label, signet, fingerprint_crypto, fingerprint_full, fingerprint_id, created_at, suspended_at';

function toRecord(r: Row): DimeUserRecord {
  return {
    id: Number(r.id),
    address: r.address,
    domain: r.domain,
    status: r.status,
    kekLabel: r.kek_label,
    signet: r.signet,
    fingerprints: { crypto: r.fingerprint_crypto, full: r.fingerprint_full, id: r.fingerprint_id },
    createdAt: r.created_at,
    suspendedAt: r.suspended_at,
  };
}

export class DimeUserRepository {
  constructor(private readonly ds: DataSource) {}

  /** Inserts a new user; null when the address (any case) already exists. */
  async insertIfAbsent(user: NewDimeUser): Promise<DimeUserRecord | null> {
    const rows = (await this.ds.query(
      `INSERT INTO dime_users (address, domain, status, wrapped_signing_seed, wrapped_encryption_key, kek_label, signet,
                               fingerprint_crypto, fingerprint_full, fingerprint_id, created_at)
       VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT ((lower(address))) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        user.address,
        user.domain,
        user.wrappedSigningSeed,
        user.wrappedEncryptionKey,
        user.kekLabel,
        user.signet,
        user.fingerprints.crypto,
        user.fingerprints.full,
        user.fingerprints.id,
        user.createdAt,
      ],
    )) as Row[];
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async findByAddress(address: string): Promise<DimeUserRecord | null> {
    // on every DIME message's path (sender at the origin, recipient at the destination): prepared
    const rows = await hotQuery<Row>(this.ds, 'du_find_by_address', `SELECT ${COLUMNS} FROM dime_users WHERE lower(address) = lower($1)`, [address]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async findKeysByAddress(address: string): Promise<DimeUserKeysRecord | null> {
    const rows = await hotQuery<Row>(this.ds, 'du_find_keys_by_address', `SELECT ${COLUMNS}, wrapped_signing_seed, wrapped_encryption_key FROM dime_users WHERE lower(address) = lower($1)`, [address]);
    const r = rows[0];
    if (!r) return null;
    return { ...toRecord(r), wrappedSigningSeed: r.wrapped_signing_seed!, wrappedEncryptionKey: r.wrapped_encryption_key! };
  }

  /** Every user, by address (optionally of one domain). */
  async list(domain?: string): Promise<DimeUserRecord[]> {
    const rows = (domain === undefined
      ? await this.ds.query(`SELECT ${COLUMNS} FROM dime_users ORDER BY lower(address)`)
      : await this.ds.query(`SELECT ${COLUMNS} FROM dime_users WHERE domain = lower($1) ORDER BY lower(address)`, [domain])) as Row[];
    return rows.map(toRecord);
  }

  /** Sets the status (suspended_at = at when suspending, null when resuming); null when there is no such user. */
  async setStatus(address: string, status: DimeUserStatus, at: Date): Promise<DimeUserRecord | null> {
    const rows = (await this.ds.query(
      `UPDATE dime_users SET status = $2,
              suspended_at = CASE WHEN $2 = 'suspended' THEN COALESCE(suspended_at, $3::timestamptz) ELSE NULL END
        WHERE lower(address) = lower($1)
        RETURNING ${COLUMNS}`,
      [address, status, at],
    )) as [Row[], number] | Row[];
    // TypeORM's postgres driver returns [rows, affected] for UPDATE ... RETURNING
    const list = Array.isArray(rows[0]) ? (rows[0] as Row[]) : (rows as Row[]);
    return list[0] ? toRecord(list[0]) : null;
  }
}
