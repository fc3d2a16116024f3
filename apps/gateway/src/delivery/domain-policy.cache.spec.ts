import type { DomainPolicies } from '@lib/db';
import { DomainPolicyCache } from './domain-policy.cache';

function repository(answers: Record<string, DomainPolicies>) {
  const calls: string[] = [];
  let failNext = false;
  return {
    calls,
    failOnce: () => (failNext = true),
    set: (domain: string, p: DomainPolicies) => (answers[domain] = p),
    async findPolicies(domain: string): Promise<DomainPolicies> {
      calls.push(domain);
      if (failNext) {
        failNext = false;
        throw new Error('connection refused');
      }
      return answers[domain] ?? { tlsPolicy: null, dimePolicy: null };
    },
  };
}

describe('DomainPolicyCache', () => {
  it('asks PostgreSQL once per domain and TTL, whatever the case, and again after the TTL', async () => {
    let now = 0;
    const repo = repository({ 'a.test': { tlsPolicy: 'required', dimePolicy: 'preferred' } });
    const cache = new DomainPolicyCache(repo, 2000, () => now);
    expect(await cache.findTlsPolicy('a.test')).toBe('required');
    expect(await cache.findDimePolicy('A.Test')).toBe('preferred');
    expect(await cache.findTlsPolicy('b.test')).toBeNull();
    expect(repo.calls).toEqual(['a.test', 'b.test']);
    repo.set('a.test', { tlsPolicy: 'required-verified', dimePolicy: 'required' });
    now = 1999;
    expect(await cache.findTlsPolicy('a.test')).toBe('required');
    now = 2000;
    expect(await cache.findTlsPolicy('a.test')).toBe('required-verified');
    expect(await cache.findDimePolicy('a.test')).toBe('required');
    expect(repo.calls).toEqual(['a.test', 'b.test', 'a.test']);
  });

  it('shares one query between lookups in flight and does not keep a failure', async () => {
    const repo = repository({ 'a.test': { tlsPolicy: 'opportunistic', dimePolicy: null } });
    const cache = new DomainPolicyCache(repo);
    const [x, y] = await Promise.all([cache.findTlsPolicy('a.test'), cache.findDimePolicy('a.test')]);
    expect([x, y]).toEqual(['opportunistic', null]);
    expect(repo.calls).toHaveLength(1);

    const fresh = new DomainPolicyCache(repo);
    repo.failOnce();
    await expect(fresh.findTlsPolicy('a.test')).rejects.toThrow('connection refused');
    expect(await fresh.findTlsPolicy('a.test')).toBe('opportunistic');
    expect(repo.calls).toHaveLength(3);
  });
});
