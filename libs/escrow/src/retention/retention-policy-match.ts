// Which retention policy governs a message (pure). Several may match: the highest priority wins;
// on equal priority the longest retention (keeping too long is the safe error), then the oldest
// policy. `user` and `domain` scopes match the sender or any recipient; `direction` the message's.
import type { DispositionAction, MessageDirection, RetentionPolicyRecord, RetentionScope } from '@lib/db';

export interface RetentionSubject {
  readonly direction: MessageDirection;
  /** Normalised (lower-case) addresses. */
  readonly sender: string;
  readonly recipients: readonly string[];
}

export interface RetentionDecision {
  readonly policyId: string | null;
  readonly retainUntil: Date;
  readonly action: DispositionAction;
}

const DAY_MS = 86_400_000;

type MatchablePolicy = Pick<RetentionPolicyRecord, 'id' | 'scope' | 'scopeValue' | 'retentionDays' | 'priority' | 'enabled' | 'createdAt' | 'action'>;

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

export function policyMatches(policy: Pick<MatchablePolicy, 'scope' | 'scopeValue'>, subject: RetentionSubject): boolean {
  const scope: RetentionScope = policy.scope;
  const value = policy.scopeValue ?? '';
  switch (scope) {
    case 'all':
      return true;
    case 'direction':
      return subject.direction === value;
    case 'user':
      return subject.sender === value || subject.recipients.includes(value);
    case 'domain':
      return domainOf(subject.sender) === value || subject.recipients.some((r) => domainOf(r) === value);
  }
}

export function selectPolicy<P extends MatchablePolicy>(policies: readonly P[], subject: RetentionSubject): P | null {
  let best: P | null = null;
  for (const p of policies) {
    if (!p.enabled || !policyMatches(p, subject)) continue;
    if (
      best === null ||
      p.priority > best.priority ||
      (p.priority === best.priority && (p.retentionDays > best.retentionDays || (p.retentionDays === best.retentionDays && p.createdAt < best.createdAt)))
    ) {
      best = p;
    }
  }
  return best;
}

export function retainUntil(journaledAt: Date, retentionDays: number): Date {
  return new Date(journaledAt.getTime() + retentionDays * DAY_MS);
}

/** The decision fixed on the record at journaling; null when no policy matches and there is no default. */
export function decideRetention(
  policies: readonly MatchablePolicy[],
  subject: RetentionSubject,
  journaledAt: Date,
  defaultRetentionDays: number,
): RetentionDecision | null {
  const policy = selectPolicy(policies, subject);
  if (policy !== null) return { policyId: policy.id, retainUntil: retainUntil(journaledAt, policy.retentionDays), action: policy.action };
  if (defaultRetentionDays > 0) return { policyId: null, retainUntil: retainUntil(journaledAt, defaultRetentionDays), action: 'review' };
  return null;
}
