// Which policy governs a message: scope matching, priority, then the longest retention.
import type { RetentionPolicyRecord } from '@lib/db';
import { decideRetention, selectPolicy } from './retention-policy-match';

let n = 0;
function policy(p: Partial<RetentionPolicyRecord>): RetentionPolicyRecord {
  n++;
  return {
    id: `p${n}`,
    name: `p${n}`,
    scope: 'all',
    scopeValue: null,
    retentionDays: 30,
    action: 'dispose',
    priority: 0,
    locked: false,
    lockedAt: null,
    enabled: true,
    createdAt: new Date(1000 + n),
    updatedAt: new Date(1000 + n),
    ...p,
  };
}

const subject = { direction: 'outbound' as const, sender: 'ceo@acme.example', recipients: ['x@bank.example'] };

describe('retention policy selection', () => {
  it('matches scopes by sender or recipient, domain and direction', () => {
    expect(selectPolicy([policy({ scope: 'user', scopeValue: 'x@bank.example' })], subject)).not.toBeNull();
    expect(selectPolicy([policy({ scope: 'domain', scopeValue: 'acme.example' })], subject)).not.toBeNull();
    expect(selectPolicy([policy({ scope: 'domain', scopeValue: 'other.example' })], subject)).toBeNull();
    expect(selectPolicy([policy({ scope: 'direction', scopeValue: 'inbound' })], subject)).toBeNull();
    expect(selectPolicy([policy({ scope: 'all', enabled: false })], subject)).toBeNull();
  });

  it('takes the highest priority, then the longest retention', () => {
    const low = policy({ retentionDays: 3650, priority: 0 });
    const high = policy({ scope: 'domain', scopeValue: 'acme.example', retentionDays: 90, priority: 5 });
    expect(selectPolicy([low, high], subject)?.id).toBe(high.id);
    const a = policy({ retentionDays: 90 });
    const b = policy({ retentionDays: 365 });
    expect(selectPolicy([a, b], subject)?.id).toBe(b.id);
  });

  it('fixes retain_until from the journal time; unmatched mail uses the default (review) or is skipped', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    expect(decideRetention([policy({ retentionDays: 10 })], subject, at, 0)?.retainUntil.toISOString()).toBe('2026-01-11T00:00:00.000Z');
    expect(decideRetention([], subject, at, 7)).toEqual({ policyId: null, retainUntil: new Date('2026-01-08T00:00:00Z'), action: 'review' });
    expect(decideRetention([], subject, at, 0)).toBeNull();
  });
});
