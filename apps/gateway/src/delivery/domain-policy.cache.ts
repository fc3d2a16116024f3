// The per-domain TLS and DIME policies as delivery reads them: from PostgreSQL, kept for
// POLICY_CACHE_TTL_MS. Every outbound message asked for them once or twice (classify: the DIME
// policy; delivery: the TLS or DIME policy of the domain), one query each, for a table an operator
// changes a few times a year. A change made by the CLI (another process) applies to deliveries that
// start at most this long after it; lookups for one domain in flight at once share one query, and a
// failed query is not kept.
import type { DimePolicy, DomainPolicies, DomainPolicyRepository, TlsPolicy } from '@lib/db';

export const POLICY_CACHE_TTL_MS = 2000;
const MAX_DOMAINS = 10_000;

export class DomainPolicyCache {
  private readonly entries = new Map<string, { readonly at: number; readonly value: Promise<DomainPolicies> }>();

  constructor(
    private readonly repository: Pick<DomainPolicyRepository, 'findPolicies'>,
    private readonly ttlMs = POLICY_CACHE_TTL_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  async findTlsPolicy(domain: string): Promise<TlsPolicy | null> {
    return (await this.findPolicies(domain)).tlsPolicy;
  }

  async findDimePolicy(domain: string): Promise<DimePolicy | null> {
    return (await this.findPolicies(domain)).dimePolicy;
  }

  findPolicies(domain: string): Promise<DomainPolicies> {
    const key = domain.toLowerCase();
    const now = this.clock();
    const cached = this.entries.get(key);
    if (cached && now - cached.at < this.ttlMs) return cached.value;
    const value = this.repository.findPolicies(key);
    if (this.entries.size >= MAX_DOMAINS) this.entries.clear();
    const entry = { at: now, value };
    this.entries.set(key, entry);
    value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return value;
  }
}
