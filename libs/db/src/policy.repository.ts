// Per-domain TLS policies and the wrapped spool keys.
import type { DataSource } from 'typeorm';
import type { DimePolicy, TlsPolicy } from './entities/domain-policy.entity';
import { SpoolKeyEntity } from './entities/spool-key.entity';

export interface DomainPolicies {
  readonly tlsPolicy: TlsPolicy | null;
  readonly dimePolicy: DimePolicy | null;
}

/** Per-domain policies in plain SQL (read on every delivery; a row holds NULL for "the default"). */
export class DomainPolicyRepository {
  constructor(private readonly ds: DataSource) {}

  async findPolicies(domain: string): Promise<DomainPolicies> {
    const rows: { tls_policy: TlsPolicy | null; dime_policy: DimePolicy | null }[] = await this.ds.query(
      'SELECT tls_policy, dime_policy FROM domain_policies WHERE domain = $1',
      [domain.toLowerCase()],
    );
    return { tlsPolicy: rows[0]?.tls_policy ?? null, dimePolicy: rows[0]?.dime_policy ?? null };
  }

  async findTlsPolicy(domain: string): Promise<TlsPolicy | null> {
    return (await this.findPolicies(domain)).tlsPolicy;
  }

  async findDimePolicy(domain: string): Promise<DimePolicy | null> {
    return (await this.findPolicies(domain)).dimePolicy;
  }

  async setTlsPolicy(domain: string, tlsPolicy: TlsPolicy | null): Promise<void> {
    await this.upsert(domain, 'tls_policy', tlsPolicy);
  }

  async setDimePolicy(domain: string, dimePolicy: DimePolicy | null): Promise<void> {
    await this.upsert(domain, 'dime_policy', dimePolicy);
  }

  async removeTlsPolicy(domain: string): Promise<void> {
    await this.setTlsPolicy(domain, null);
  }

  /** Sets one column; a row left with only defaults is deleted. */
  private async upsert(domain: string, column: 'tls_policy' | 'dime_policy', value: string | null): Promise<void> {
    const d = domain.toLowerCase();
    await this.ds.query(
      `INSERT INTO domain_policies (domain, ${column}, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (domain) DO UPDATE SET ${column} = EXCLUDED.${column}, updated_at = now()`,
      [d, value],
    );
    await this.ds.query('DELETE FROM domain_policies WHERE domain = $1 AND tls_policy IS NULL AND dime_policy IS NULL', [d]);
  }
}

export interface StoredSpoolKey {
  id: number;
  wrappedKey: Buffer;
  kekLabel: string;
}

export class SpoolKeyRepository {
  constructor(private readonly ds: DataSource) {}

  async findAll(): Promise<StoredSpoolKey[]> {
    const rows = await this.ds.getRepository(SpoolKeyEntity).find({ order: { id: 'ASC' } });
    return rows.map((r) => ({ id: r.id, wrappedKey: r.wrappedKey, kekLabel: r.kekLabel }));
  }

  async insert(wrappedKey: Buffer, kekLabel: string): Promise<StoredSpoolKey> {
    const saved = await this.ds.getRepository(SpoolKeyEntity).save({ wrappedKey, kekLabel });
    return { id: saved.id, wrappedKey: saved.wrappedKey, kekLabel: saved.kekLabel };
  }
}
