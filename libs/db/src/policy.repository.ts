// Per-domain TLS policies and the wrapped spool keys.
import type { DataSource } from 'typeorm';
import { DomainPolicyEntity, type TlsPolicy } from './entities/domain-policy.entity';
import { SpoolKeyEntity } from './entities/spool-key.entity';

export class DomainPolicyRepository {
  constructor(private readonly ds: DataSource) {}

  async findTlsPolicy(domain: string): Promise<TlsPolicy | null> {
    const row = await this.ds.getRepository(DomainPolicyEntity).findOneBy({ domain: domain.toLowerCase() });
    return row?.tlsPolicy ?? null;
  }

  async setTlsPolicy(domain: string, tlsPolicy: TlsPolicy): Promise<void> {
    await this.ds.getRepository(DomainPolicyEntity).upsert({ domain: domain.toLowerCase(), tlsPolicy, updatedAt: new Date() }, ['domain']);
  }

  async removeTlsPolicy(domain: string): Promise<void> {
    await this.ds.getRepository(DomainPolicyEntity).delete({ domain: domain.toLowerCase() });
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
