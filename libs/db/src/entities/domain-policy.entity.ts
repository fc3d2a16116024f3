// Per-destination-domain delivery policy: TLS for SMTP, and whether mail to the domain must, may or
// must not go as DIME over DMTP. A NULL column means "the configured default".
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type TlsPolicy = 'opportunistic' | 'required' | 'required-verified';
/** required: DMTP only (defer, then bounce; never SMTP); preferred: DMTP when the domain publishes `_dx`, else SMTP; off: SMTP only. */
export type DimePolicy = 'required' | 'preferred' | 'off';

@Entity({ name: 'domain_policies' })
export class DomainPolicyEntity {
  /** Lower-cased domain. */
  @PrimaryColumn({ type: 'text' })
  domain!: string;

  @Column({ name: 'tls_policy', type: 'text', nullable: true })
  tlsPolicy!: TlsPolicy | null;

  @Column({ name: 'dime_policy', type: 'text', nullable: true })
  dimePolicy!: DimePolicy | null;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
