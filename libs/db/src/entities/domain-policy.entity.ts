// Per-destination-domain delivery policy (TLS now; DIME policy joins it in the DIME issue).
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type TlsPolicy = 'opportunistic' | 'required' | 'required-verified';

@Entity({ name: 'domain_policies' })
export class DomainPolicyEntity {
  /** Lower-cased domain. */
  @PrimaryColumn({ type: 'text' })
  domain!: string;

  @Column({ name: 'tls_policy', type: 'text' })
  tlsPolicy!: TlsPolicy;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
