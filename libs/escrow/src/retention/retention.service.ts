// Retention policies, legal holds and disposition reviews: the rules (validation, one-way locking,
// a locked policy only ever grows) and the audit of every change. PostgreSQL enforces the same
// rules again in triggers (migration journal-retention); a refusal from there surfaces as
// EscrowError RETENTION_ENFORCED. Holds name custodians by address; only their blind indexes are stored.
import type { AuditRecordInput, RecordedAuditEntry } from '@lib/audit';
import type {
  DispositionAction,
  JournalRecord,
  JournalRepository,
  LegalHoldRecord,
  RetentionPolicyChange,
  RetentionPolicyRecord,
  RetentionRepository,
  RetentionScope,
} from '@lib/db';
import { normaliseAddress, type BlindIndexer } from '../journal/blind-index';
import { EscrowError } from '../journal/escrow.error';

export interface Actor {
  /** Who (`operator:<name>`, `api:<client>`, `system:...`). */
  readonly id: string;
  /** From where (client IP), null for local. */
  readonly address?: string | null;
}

export interface RetentionPolicyInput {
  readonly name: string;
  readonly scope: RetentionScope;
  readonly scopeValue?: string | null;
  readonly retentionDays: number;
  readonly action?: DispositionAction;
  readonly priority?: number;
  readonly enabled?: boolean;
}

export interface LegalHoldInput {
  readonly caseName: string;
  readonly custodians: readonly string[];
  readonly dateFrom?: Date | null;
  readonly dateTo?: Date | null;
  readonly reason?: string | null;
}

export interface RetentionAudit {
  record(input: AuditRecordInput): Promise<RecordedAuditEntry | unknown>;
}

const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** PostgreSQL's refusal from a retention trigger (SQLSTATE 42501 with our hint). */
export function isRetentionTriggerError(error: unknown): boolean {
  const e = error as { code?: unknown; hint?: unknown; driverError?: { code?: unknown; hint?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  const hint = e?.hint ?? e?.driverError?.hint;
  return code === '42501' && hint === 'dime-retention';
}

/** Runs fn, translating a trigger refusal into EscrowError RETENTION_ENFORCED. */
export async function translateTriggerError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isRetentionTriggerError(error)) throw new EscrowError('RETENTION_ENFORCED', (error as Error).message, { cause: error });
    throw error;
  }
}

function checkPolicyInput(input: RetentionPolicyInput): { scopeValue: string | null } {
  if (typeof input !== 'object' || input === null) throw new TypeError('"input" expected an object');
  const bad = (m: string): never => {
    throw new EscrowError('INVALID_INPUT', m);
  };
  if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 200) bad('policy name must be 1..200 characters');
  if (!Number.isInteger(input.retentionDays) || input.retentionDays < 1 || input.retentionDays > 36500) bad('retentionDays must be an integer in 1..36500');
  if (input.action !== undefined && input.action !== 'dispose' && input.action !== 'review') bad('action must be dispose or review');
  if (input.priority !== undefined && (!Number.isInteger(input.priority) || Math.abs(input.priority) > 1_000_000)) bad('priority must be an integer');
  const raw = input.scopeValue ?? null;
  switch (input.scope) {
    case 'all':
      if (raw !== null) bad('scope all takes no value');
      return { scopeValue: null };
    case 'direction':
      if (raw !== 'inbound' && raw !== 'outbound') bad('scope direction takes inbound or outbound');
      return { scopeValue: raw };
    case 'domain': {
      const d = (raw ?? '').trim().toLowerCase();
      if (!DOMAIN.test(d)) bad('scope domain takes a domain name');
      return { scopeValue: d };
    }
    case 'user': {
      const a = normaliseAddress(raw ?? '');
      if (!/^[^@]+@[^@]+$/.test(a)) bad('scope user takes a mail address');
      return { scopeValue: a };
    }
    default:
      return bad('scope must be all, domain, user or direction');
  }
}

export class RetentionService {
  private readonly clock: () => Date;

  constructor(
    private readonly retention: RetentionRepository,
    private readonly journal: JournalRepository,
    private readonly indexer: BlindIndexer,
    private readonly audit: RetentionAudit,
    options: { clock?: () => Date } = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  private async record(actor: Actor, action: string, objectType: string, objectId: string | null, outcome: 'success' | 'denied', details: Record<string, string | number | boolean | null>): Promise<void> {
    await this.audit.record({ actor: actor.id, actorAddress: actor.address ?? null, action, objectType, objectId, outcome, details });
  }

  private async policyOrThrow(id: string): Promise<RetentionPolicyRecord> {
    const policy = await this.retention.findPolicy(id);
    if (policy === null) throw new EscrowError('POLICY_NOT_FOUND', `no retention policy ${id}`);
    return policy;
  }

  /** A policy by id or by name. */
  async findPolicy(idOrName: string): Promise<RetentionPolicyRecord> {
    const byId = /^[0-9a-f-]{36}$/i.test(idOrName) ? await this.retention.findPolicy(idOrName) : null;
    const policy = byId ?? (await this.retention.findPolicyByName(idOrName));
    if (policy === null) throw new EscrowError('POLICY_NOT_FOUND', `no retention policy ${idOrName}`);
    return policy;
  }

  listPolicies(): Promise<RetentionPolicyRecord[]> {
    return this.retention.listPolicies(false);
  }

  async addPolicy(input: RetentionPolicyInput, actor: Actor): Promise<RetentionPolicyRecord> {
    const { scopeValue } = checkPolicyInput(input);
    if ((await this.retention.findPolicyByName(input.name.trim())) !== null) throw new EscrowError('INVALID_INPUT', `a policy named "${input.name}" exists`);
    const policy = await this.retention.insertPolicy({
      name: input.name.trim(),
      scope: input.scope,
      scopeValue,
      retentionDays: input.retentionDays,
      action: input.action ?? 'dispose',
      priority: input.priority ?? 0,
      enabled: input.enabled ?? true,
    });
    await this.record(actor, 'retention.policy.add', 'retention-policy', policy.id, 'success', {
      name: policy.name,
      scope: policy.scope,
      scopeValue: policy.scopeValue,
      retentionDays: policy.retentionDays,
      action: policy.action,
      priority: policy.priority,
    });
    return policy;
  }

  /** Changes a policy; a locked policy may only have its duration extended. */
  async updatePolicy(id: string, change: RetentionPolicyChange, actor: Actor): Promise<RetentionPolicyRecord> {
    const policy = await this.policyOrThrow(id);
    if (change.retentionDays !== undefined && (!Number.isInteger(change.retentionDays) || change.retentionDays < 1 || change.retentionDays > 36500)) {
      throw new EscrowError('INVALID_INPUT', 'retentionDays must be an integer in 1..36500');
    }
    if (policy.locked) {
      const refused =
        (change.retentionDays !== undefined && change.retentionDays < policy.retentionDays && 'shortened') ||
        (change.enabled === false && 'disabled') ||
        (change.name !== undefined && change.name !== policy.name && 'renamed') ||
        (change.action !== undefined && change.action !== policy.action && 'given another action') ||
        (change.priority !== undefined && change.priority !== policy.priority && 'reprioritised');
      if (refused) {
        await this.record(actor, 'retention.policy.update', 'retention-policy', id, 'denied', { reason: `locked policy cannot be ${refused}` });
        throw new EscrowError('POLICY_LOCKED', `retention policy ${policy.name} is locked: it cannot be ${refused}`);
      }
    }
    const updated = await translateTriggerError(() => this.retention.updatePolicy(id, change, this.clock()));
    if (updated === null) throw new EscrowError('POLICY_NOT_FOUND', `no retention policy ${id}`);
    await this.record(actor, 'retention.policy.update', 'retention-policy', id, 'success', {
      retentionDays: updated.retentionDays,
      enabled: updated.enabled,
      priority: updated.priority,
      action: updated.action,
    });
    return updated;
  }

  /** Locks a policy (SEC 17a-4(f)): one-way. */
  async lockPolicy(id: string, actor: Actor): Promise<RetentionPolicyRecord> {
    const policy = await this.policyOrThrow(id);
    if (!policy.enabled) throw new EscrowError('INVALID_INPUT', `retention policy ${policy.name} is disabled: enable it before locking`);
    const locked = policy.locked ? policy : await this.retention.lockPolicy(id, this.clock());
    if (locked === null) throw new EscrowError('POLICY_NOT_FOUND', `no retention policy ${id}`);
    if (!policy.locked) await this.record(actor, 'retention.policy.lock', 'retention-policy', id, 'success', { name: locked.name, retentionDays: locked.retentionDays });
    return locked;
  }

  async deletePolicy(id: string, actor: Actor): Promise<void> {
    const policy = await this.policyOrThrow(id);
    if (policy.locked) {
      await this.record(actor, 'retention.policy.delete', 'retention-policy', id, 'denied', { reason: 'locked' });
      throw new EscrowError('POLICY_LOCKED', `retention policy ${policy.name} is locked: it cannot be deleted`);
    }
    await translateTriggerError(() => this.retention.deletePolicy(id));
    await this.record(actor, 'retention.policy.delete', 'retention-policy', id, 'success', { name: policy.name });
  }

  // ---- legal holds -------------------------------------------------------------------------------

  async placeHold(input: LegalHoldInput, actor: Actor): Promise<LegalHoldRecord> {
    if (typeof input !== 'object' || input === null) throw new TypeError('"input" expected an object');
    if (typeof input.caseName !== 'string' || input.caseName.trim() === '' || input.caseName.length > 200) throw new EscrowError('INVALID_INPUT', 'case name must be 1..200 characters');
    if (!Array.isArray(input.custodians) || input.custodians.length === 0 || input.custodians.length > 10_000) {
      throw new EscrowError('INVALID_INPUT', 'a hold needs 1..10000 custodian addresses');
    }
    for (const c of input.custodians) {
      if (!/^.+@[^@\s]+$/.test(normaliseAddress(c))) throw new EscrowError('INVALID_INPUT', 'custodians must be mail addresses');
    }
    const from = input.dateFrom ?? null;
    const to = input.dateTo ?? null;
    for (const d of [from, to]) if (d !== null && (!(d instanceof Date) || Number.isNaN(d.getTime()))) throw new EscrowError('INVALID_INPUT', 'hold dates must be valid dates');
    if (from !== null && to !== null && from >= to) throw new EscrowError('INVALID_INPUT', 'hold dateFrom must be before dateTo');
    const hold = await this.retention.insertHold({
      caseName: input.caseName.trim(),
      custodianIndexes: await this.indexer.addressIndexes(input.custodians),
      dateFrom: from,
      dateTo: to,
      reason: input.reason ?? null,
      placedBy: actor.id,
      placedAt: this.clock(),
    });
    // the audit names the case and counts custodians: addresses stay out of the database
    await this.record(actor, 'retention.hold.place', 'legal-hold', hold.id, 'success', {
      caseName: hold.caseName,
      custodians: hold.custodianIndexes.length,
      dateFrom: from?.toISOString() ?? null,
      dateTo: to?.toISOString() ?? null,
    });
    return hold;
  }

  async releaseHold(id: string, actor: Actor): Promise<LegalHoldRecord> {
    const hold = await this.retention.findHold(id);
    if (hold === null) throw new EscrowError('HOLD_NOT_FOUND', `no legal hold ${id}`);
    if (hold.releasedAt !== null) throw new EscrowError('HOLD_RELEASED', `legal hold ${id} was released already`);
    const released = await translateTriggerError(() => this.retention.releaseHold(id, actor.id, this.clock()));
    if (released === null) throw new EscrowError('HOLD_RELEASED', `legal hold ${id} was released already`);
    await this.record(actor, 'retention.hold.release', 'legal-hold', id, 'success', { caseName: hold.caseName });
    return released;
  }

  listHolds(activeOnly = true): Promise<LegalHoldRecord[]> {
    return this.retention.listHolds(activeOnly);
  }

  // ---- disposition review ------------------------------------------------------------------------

  listPendingReview(limit = 1000, afterId?: string): Promise<JournalRecord[]> {
    return this.journal.findPendingReview(limit, afterId);
  }

  /** Approves records for disposal (the next sweep shreds them). */
  async approveDisposal(ids: readonly string[], actor: Actor): Promise<string[]> {
    const approved = await this.journal.approveReview(ids);
    await this.record(actor, 'retention.review.approve', 'journal-records', null, 'success', { requested: ids.length, approved: approved.length });
    return approved;
  }

  /** Keeps records under review for `days` more (retention only grows). */
  async extendRetention(ids: readonly string[], days: number, actor: Actor): Promise<string[]> {
    if (!Number.isInteger(days) || days < 1 || days > 36500) throw new EscrowError('INVALID_INPUT', 'days must be an integer in 1..36500');
    const until = new Date(this.clock().getTime() + days * 86_400_000);
    const extended = await translateTriggerError(() => this.journal.extendReview(ids, until));
    await this.record(actor, 'retention.review.extend', 'journal-records', null, 'success', { requested: ids.length, extended: extended.length, days });
    return extended;
  }
}
