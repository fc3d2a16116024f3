// RetentionService rules without I/O (the repositories are in-memory stand-ins; the PostgreSQL
// enforcement of the same rules is in retention.medium-spec.ts): input validation, one-way
// locking, a locked policy only ever grows, and every decision audited.
import type { AuditRecordInput } from '@lib/audit';
import type { JournalRepository, RetentionPolicyRecord, RetentionRepository } from '@lib/db';
import { BlindIndexer } from '../journal/blind-index';
import { RetentionService } from './retention.service';

function setup() {
  const policies = new Map<string, RetentionPolicyRecord>();
  let n = 0;
  const repo = {
    insertPolicy: async (p: Omit<RetentionPolicyRecord, 'id' | 'locked' | 'lockedAt' | 'createdAt' | 'updatedAt'>) => {
      const r: RetentionPolicyRecord = { ...p, id: `00000000-0000-4000-8000-00000000000${++n}`, locked: false, lockedAt: null, createdAt: new Date(), updatedAt: new Date() };
      policies.set(r.id, r);
      return r;
    },
    findPolicy: async (id: string) => policies.get(id) ?? null,
    findPolicyByName: async (name: string) => [...policies.values()].find((p) => p.name === name) ?? null,
    lockPolicy: async (id: string, at: Date) => {
      const p = policies.get(id);
      if (!p) return null;
      const r = { ...p, locked: true, lockedAt: at };
      policies.set(id, r);
      return r;
    },
    updatePolicy: async (id: string, change: Partial<RetentionPolicyRecord>) => {
      const p = policies.get(id);
      if (!p) return null;
      const r = { ...p, ...change };
      policies.set(id, r);
      return r;
    },
    deletePolicy: async (id: string) => policies.delete(id),
  };
  const audits: AuditRecordInput[] = [];
  const service = new RetentionService(
    repo as unknown as RetentionRepository,
    {} as JournalRepository,
    new BlindIndexer({ hmacSha256: async () => Buffer.alloc(32) }, 'k'),
    { record: async (e: AuditRecordInput) => audits.push(e) },
  );
  return { service, audits };
}

const op = { id: 'operator:test' };

describe('RetentionService rules', () => {
  it('validates policy input and normalises scope values', async () => {
    const { service } = setup();
    await expect(service.addPolicy({ name: 'x', scope: 'domain', scopeValue: 'not a domain', retentionDays: 10 }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(service.addPolicy({ name: 'x', scope: 'all', scopeValue: 'x', retentionDays: 10 }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(service.addPolicy({ name: 'x', scope: 'all', retentionDays: 0 }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(service.addPolicy({ name: 'x', scope: 'direction', scopeValue: 'sideways', retentionDays: 1 }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect((await service.addPolicy({ name: 'd', scope: 'domain', scopeValue: 'ACME.Example', retentionDays: 10 }, op)).scopeValue).toBe('acme.example');
    expect((await service.addPolicy({ name: 'u', scope: 'user', scopeValue: '<CEO@Acme.example>', retentionDays: 10 }, op)).scopeValue).toBe('ceo@acme.example');
    await expect(service.addPolicy({ name: 'd', scope: 'all', retentionDays: 10 }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('lets a locked policy only grow, refuses deleting it, and audits the refusals', async () => {
    const { service, audits } = setup();
    const p = await service.addPolicy({ name: 'books', scope: 'all', retentionDays: 2555 }, op);
    await service.lockPolicy(p.id, op);
    for (const change of [{ retentionDays: 2554 }, { enabled: false }, { priority: 3 }, { action: 'review' as const }, { name: 'other' }]) {
      await expect(service.updatePolicy(p.id, change, op)).rejects.toMatchObject({ code: 'POLICY_LOCKED' });
    }
    await expect(service.deletePolicy(p.id, op)).rejects.toMatchObject({ code: 'POLICY_LOCKED' });
    expect((await service.updatePolicy(p.id, { retentionDays: 3650 }, op)).retentionDays).toBe(3650);
    expect(audits.filter((a) => a.outcome === 'denied')).toHaveLength(6);
    expect(audits.map((a) => a.action)).toEqual(expect.arrayContaining(['retention.policy.add', 'retention.policy.lock', 'retention.policy.update']));
  });

  it('refuses holds without custodians or with an inverted range', async () => {
    const { service } = setup();
    await expect(service.placeHold({ caseName: 'c', custodians: [] }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(service.placeHold({ caseName: 'c', custodians: ['nobody'] }, op)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(
      service.placeHold({ caseName: 'c', custodians: ['a@b.example'], dateFrom: new Date('2026-02-01'), dateTo: new Date('2026-01-01') }, op),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
