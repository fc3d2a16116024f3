// Escrow recovery under dual control (ARCHITECTURE.md §1): an auditor opens a request for a case
// (scope: custodian, date range or record ids, with a justification); M distinct principals with
// the escrow-approver role, none of them the requester, must approve it; one denial closes it; it
// expires after a time. Only then may its requester have it exported (escrow-export.service.ts).
// Every step, refusals included, is appended to the audit trail. The same rules are enforced in
// PostgreSQL (migration 1764600000000), so a bug here cannot approve a request by itself.
import { randomUUID } from 'node:crypto';
import type { AuditRecordInput } from '@lib/audit';
import type { EscrowRepository, EscrowRequestRecord, EscrowRequestStatus, PrincipalRecord, PrincipalRole } from '@lib/db';
import { EscrowError } from '../journal/escrow.error';
import type { EscrowRecordSource } from './escrow-record-source';
import { parseExportPublicKey } from './export-envelope';
import { isPrincipalRole } from './principal-role';

/** Where audit entries go (AuditService in production). */
export interface EscrowAuditLog {
  record(input: AuditRecordInput): Promise<unknown>;
}

/** Enqueues the export job of a request (EscrowExportQueue). */
export interface EscrowExportEnqueuer {
  enqueueExport(requestId: string): Promise<void>;
}

export interface EscrowRecoveryOptions {
  /** M: distinct approvals a new request needs. */
  readonly requiredApprovals: number;
  readonly requestTtlMs: number;
  readonly clock?: () => Date;
}

export interface OpenEscrowRequest {
  /** The acting principal (auditor role). */
  readonly as: string;
  readonly caseRef: string;
  /** Custodian address: stored only as its blind index (and its domain, for reports). */
  readonly custodian?: string | null;
  readonly from?: Date | null;
  readonly to?: Date | null;
  readonly recordIds?: readonly string[] | null;
  readonly justification: string;
  /** Where the action came from (client address), for the audit trail. */
  readonly actorAddress?: string | null;
}

export interface EscrowRequestView {
  readonly id: string;
  readonly caseRef: string;
  readonly status: EscrowRequestStatus;
  readonly requester: string;
  readonly custodianDomain: string | null;
  readonly from: string | null;
  readonly to: string | null;
  readonly recordIds: readonly string[] | null;
  readonly justification: string;
  readonly requiredApprovals: number;
  readonly approvals: number;
  readonly decisions: readonly { readonly approver: string; readonly decision: 'approve' | 'deny'; readonly at: string }[];
  readonly createdAt: string;
  readonly expiresAt: string;
}

export interface PrincipalView {
  readonly name: string;
  readonly roles: readonly PrincipalRole[];
  readonly hasPublicKey: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** A lower-cased UUID (request and record ids); INVALID_INPUT otherwise. */
export function checkUuid(id: string, what = 'escrow request id'): string {
  if (typeof id !== 'string' || !UUID.test(id.toLowerCase())) throw new EscrowError('INVALID_INPUT', `not a valid ${what}: ${JSON.stringify(id)}`);
  return id.toLowerCase();
}

function checkText(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.trim().length === 0) throw new EscrowError('INVALID_INPUT', `${what} is required`);
  if (value.length > max || /\0/.test(value)) throw new EscrowError('INVALID_INPUT', `${what} is longer than ${max} characters or contains NUL`);
  return value.trim();
}

function checkDate(value: Date | null | undefined, what: string): Date | null {
  if (value === null || value === undefined) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new EscrowError('INVALID_INPUT', `${what} is not a valid date`);
  return value;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export class EscrowRecoveryService {
  private readonly clock: () => Date;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly repository: EscrowRepository,
    private readonly records: Pick<EscrowRecordSource, 'custodianIndex'>,
    private readonly audit: EscrowAuditLog,
    private readonly exports: EscrowExportEnqueuer,
    private readonly options: EscrowRecoveryOptions,
  ) {
    if (!Number.isInteger(options.requiredApprovals) || options.requiredApprovals < 1 || options.requiredApprovals > 16) {
      throw new RangeError('"requiredApprovals" expected an integer in 1..16');
    }
    if (!(options.requestTtlMs > 0)) throw new RangeError('"requestTtlMs" expected a positive number');
    this.clock = options.clock ?? (() => new Date());
  }

  // ---- principals -------------------------------------------------------------------------------

  /** Registers a principal with roles and, for auditors who export, the public key exports are encrypted to. */
  async addPrincipal(name: string, roles: readonly string[], publicKeyPem: string | null, actor = 'system:operator-cli'): Promise<PrincipalView> {
    if (typeof name !== 'string' || !NAME.test(name)) throw new EscrowError('INVALID_INPUT', `principal name must match ${NAME.source}`);
    if (!Array.isArray(roles) || roles.length === 0) throw new EscrowError('INVALID_INPUT', 'at least one role is required');
    const unique = [...new Set(roles)];
    for (const r of unique) if (!isPrincipalRole(r)) throw new EscrowError('INVALID_INPUT', `unknown role "${r}" (auditor, escrow-approver, compliance-officer, admin)`);
    const spki = publicKeyPem === null ? null : parseExportPublicKey(publicKeyPem);
    const created = await this.repository.insertPrincipal(name, unique as PrincipalRole[], spki, this.clock());
    await this.audit.record({
      actor,
      action: 'principal.add',
      objectType: 'principal',
      objectId: name,
      outcome: created ? 'success' : 'failure',
      details: { roles: unique, publicKey: spki !== null, ...(created ? {} : { reason: 'exists' }) },
    });
    if (!created) throw new EscrowError('PRINCIPAL_EXISTS', `principal "${name}" exists already`);
    return { name, roles: unique as PrincipalRole[], hasPublicKey: spki !== null };
  }

  async listPrincipals(): Promise<PrincipalView[]> {
    return (await this.repository.listPrincipals()).map((p) => ({ name: p.name, roles: p.roles, hasPublicKey: p.publicKey !== null }));
  }

  /** The principal if it holds the role; FORBIDDEN (audited) otherwise. */
  private async requireRole(name: string, role: PrincipalRole, action: string, objectId: string | null, actorAddress: string | null): Promise<PrincipalRecord> {
    if (typeof name !== 'string' || !NAME.test(name)) throw new EscrowError('INVALID_INPUT', 'the acting principal\'s name is invalid');
    const p = await this.repository.findPrincipal(name);
    if (p === null || !p.roles.includes(role)) {
      await this.refused(name, actorAddress, action, objectId, p === null ? 'unknown principal' : `lacks the ${role} role`);
      if (p === null) throw new EscrowError('PRINCIPAL_NOT_FOUND', `no principal "${name}"`);
      throw new EscrowError('FORBIDDEN', `principal "${name}" lacks the ${role} role`);
    }
    return p;
  }

  private async refused(actor: string, actorAddress: string | null, action: string, objectId: string | null, reason: string): Promise<void> {
    await this.audit.record({ actor, actorAddress, action, objectType: 'escrow-request', objectId, outcome: 'denied', details: { reason } });
  }

  // ---- requests ---------------------------------------------------------------------------------

  async openRequest(input: OpenEscrowRequest): Promise<EscrowRequestView> {
    const actorAddress = input.actorAddress ?? null;
    await this.requireRole(input.as, 'auditor', 'escrow.request.open', null, actorAddress);
    const caseRef = checkText(input.caseRef, 'case', 200);
    const justification = checkText(input.justification, 'justification', 4000);
    const from = checkDate(input.from, 'from');
    const to = checkDate(input.to, 'to');
    if (from !== null && to !== null && from.getTime() >= to.getTime()) throw new EscrowError('INVALID_INPUT', '"from" must be before "to"');
    let recordIds: string[] | null = null;
    if (input.recordIds !== undefined && input.recordIds !== null) {
      if (input.recordIds.length === 0 || input.recordIds.length > 100_000) throw new EscrowError('INVALID_INPUT', 'record ids: 1..100000 of them');
      recordIds = [...new Set(input.recordIds.map((id) => checkUuid(id, 'record id')))];
    }
    let custodianIndex: Buffer | null = null;
    let custodianDomain: string | null = null;
    if (input.custodian !== undefined && input.custodian !== null) {
      const custodian = checkText(input.custodian, 'custodian', 320).toLowerCase();
      const at = custodian.lastIndexOf('@');
      if (at < 1 || at === custodian.length - 1) throw new EscrowError('INVALID_INPUT', 'custodian must be a mail address');
      custodianDomain = custodian.slice(at + 1);
      custodianIndex = await this.records.custodianIndex(custodian);
    }
    if (custodianIndex === null && recordIds === null && from === null) {
      throw new EscrowError('INVALID_INPUT', 'a request needs a scope: a custodian, a date range or record ids');
    }
    const now = this.clock();
    const request = await this.repository.insertRequest({
      id: randomUUID(),
      caseRef,
      custodianIndex,
      custodianDomain,
      dateFrom: from,
      dateTo: to,
      recordIds,
      justification,
      requester: input.as,
      requiredApprovals: this.options.requiredApprovals,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.options.requestTtlMs),
    });
    await this.audit.record({
      actor: input.as,
      actorAddress,
      action: 'escrow.request.open',
      objectType: 'escrow-request',
      objectId: request.id,
      outcome: 'success',
      details: {
        case: caseRef,
        custodianDomain,
        custodianIndex: custodianIndex?.toString('hex') ?? null,
        from: iso(from),
        to: iso(to),
        recordIds: recordIds?.length ?? 0,
        requiredApprovals: request.requiredApprovals,
        expiresAt: request.expiresAt.toISOString(),
      },
    });
    return this.view(request);
  }

  approve(id: string, as: string, actorAddress: string | null = null): Promise<EscrowRequestView> {
    return this.decide(id, as, 'approve', actorAddress);
  }

  deny(id: string, as: string, actorAddress: string | null = null): Promise<EscrowRequestView> {
    return this.decide(id, as, 'deny', actorAddress);
  }

  private async decide(rawId: string, as: string, decision: 'approve' | 'deny', actorAddress: string | null): Promise<EscrowRequestView> {
    const id = checkUuid(rawId);
    const action = `escrow.request.${decision}`;
    await this.requireRole(as, 'escrow-approver', action, id, actorAddress);
    const request = await this.openOrRefuse(id, as, action, actorAddress);
    if (request.requester === as) {
      await this.refused(as, actorAddress, action, id, 'the requester cannot decide on their own request');
      throw new EscrowError('FORBIDDEN', 'the requester cannot approve or deny their own request');
    }
    const now = this.clock();
    let result;
    try {
      result = await this.repository.recordDecision(id, as, decision, now);
    } catch (err) {
      // the triggers refused (a race with another decision or expiry): report it as the state now
      const again = await this.repository.findRequest(id);
      if (again !== null && again.status !== 'open') {
        await this.refused(as, actorAddress, action, id, `request is ${again.status}`);
        throw new EscrowError('REQUEST_NOT_OPEN', `escrow request ${id} is ${again.status}`, { cause: err });
      }
      throw err;
    }
    if (result === null) {
      await this.refused(as, actorAddress, action, id, 'this approver decided already');
      throw new EscrowError('ALREADY_DECIDED', `${as} decided on escrow request ${id} already; a second decision does not count`);
    }
    await this.audit.record({
      actor: as,
      actorAddress,
      action,
      objectType: 'escrow-request',
      objectId: id,
      outcome: 'success',
      details: { approvals: result.approvals, requiredApprovals: result.request.requiredApprovals, status: result.request.status },
    });
    if (decision === 'approve' && result.request.status === 'approved') {
      await this.audit.record({
        actor: 'system:escrow',
        action: 'escrow.request.approved',
        objectType: 'escrow-request',
        objectId: id,
        outcome: 'success',
        details: { approvers: (await this.repository.listApprovals(id)).filter((a) => a.decision === 'approve').map((a) => a.approver) },
      });
    }
    return this.view(result.request);
  }

  /** The request if it is open now; expires it (audited) when its time is up; refuses otherwise. */
  private async openOrRefuse(id: string, as: string, action: string, actorAddress: string | null): Promise<EscrowRequestRecord> {
    const request = await this.repository.findRequest(id);
    if (request === null) {
      await this.refused(as, actorAddress, action, id, 'no such request');
      throw new EscrowError('REQUEST_NOT_FOUND', `no escrow request ${id}`);
    }
    if (request.status === 'open' && request.expiresAt.getTime() <= this.clock().getTime()) {
      await this.expireDue(id);
      await this.refused(as, actorAddress, action, id, 'request expired');
      throw new EscrowError('REQUEST_EXPIRED', `escrow request ${id} expired at ${request.expiresAt.toISOString()}`);
    }
    if (request.status !== 'open') {
      await this.refused(as, actorAddress, action, id, `request is ${request.status}`);
      throw new EscrowError('REQUEST_NOT_OPEN', `escrow request ${id} is ${request.status}`);
    }
    return request;
  }

  /**
   * The expiry sweep: open or approved (not yet exported) requests past their expiry become
   * expired, each audited. Run it periodically (or let any operation on a request trigger it).
   */
  async expireDue(onlyId?: string): Promise<string[]> {
    const expired = await this.repository.expireDue(this.clock(), onlyId);
    for (const r of expired) {
      await this.audit.record({
        actor: 'system:escrow',
        action: 'escrow.request.expire',
        objectType: 'escrow-request',
        objectId: r.id,
        outcome: 'success',
        details: { expiresAt: r.expiresAt.toISOString(), approvedAt: iso(r.approvedAt) },
      });
    }
    return expired.map((r) => r.id);
  }

  /** Runs expireDue every intervalMs (errors go to onError); stopExpirySweep ends it. */
  startExpirySweep(intervalMs: number, onError: (err: unknown) => void = () => undefined): void {
    if (!(intervalMs > 0)) throw new RangeError('"intervalMs" expected a positive number');
    if (this.sweep !== undefined) return;
    this.sweep = setInterval(() => {
      this.expireDue().catch(onError);
    }, intervalMs);
    this.sweep.unref();
  }

  stopExpirySweep(): void {
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.sweep = undefined;
  }

  /**
   * Queues the export of an approved request for its requester. Refused (and audited) unless
   * `as` is the requester, the request is approved by its quorum and unexpired (the export job
   * checks all of it again, in SQL too). Returns 'exported' when the export exists already.
   */
  async requestExport(rawId: string, as: string, actorAddress: string | null = null): Promise<'queued' | 'exported'> {
    const id = checkUuid(rawId);
    const action = 'escrow.export.request';
    const principal = await this.requireRole(as, 'auditor', action, id, actorAddress);
    const request = await this.repository.findRequest(id);
    if (request === null) {
      await this.refused(as, actorAddress, action, id, 'no such request');
      throw new EscrowError('REQUEST_NOT_FOUND', `no escrow request ${id}`);
    }
    if (request.requester !== as) {
      await this.refused(as, actorAddress, action, id, 'only the requester may export');
      throw new EscrowError('FORBIDDEN', 'only the requester may export an escrow request');
    }
    if (request.status === 'exported') return 'exported';
    if (request.status === 'approved' && request.expiresAt.getTime() <= this.clock().getTime()) await this.expireDue(id);
    const exportable = await this.repository.findExportableRequest(id, this.clock());
    if (exportable === null) {
      const status = (await this.repository.findRequest(id))?.status ?? 'unknown';
      await this.refused(as, actorAddress, action, id, `request is ${status}, not approved by its quorum`);
      throw new EscrowError('NOT_APPROVED', `escrow request ${id} is ${status}: nothing can be exported without a completed approval`);
    }
    if (principal.publicKey === null) {
      await this.refused(as, actorAddress, action, id, 'requester has no public key');
      throw new EscrowError('NO_PUBLIC_KEY', `principal "${as}" has no public key to encrypt the export to (principal add --public-key)`);
    }
    await this.exports.enqueueExport(id);
    await this.audit.record({ actor: as, actorAddress, action, objectType: 'escrow-request', objectId: id, outcome: 'success', details: {} });
    return 'queued';
  }

  async get(rawId: string): Promise<EscrowRequestView> {
    const id = checkUuid(rawId);
    const r = await this.repository.findRequest(id);
    if (r === null) throw new EscrowError('REQUEST_NOT_FOUND', `no escrow request ${id}`);
    return this.view(r);
  }

  async list(limit = 100): Promise<EscrowRequestView[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new RangeError('"limit" expected an integer in 1..10000');
    const out: EscrowRequestView[] = [];
    for (const r of await this.repository.listRequests(limit)) out.push(await this.view(r));
    return out;
  }

  private async view(r: EscrowRequestRecord): Promise<EscrowRequestView> {
    const decisions = await this.repository.listApprovals(r.id);
    return {
      id: r.id,
      caseRef: r.caseRef,
      status: r.status,
      requester: r.requester,
      custodianDomain: r.custodianDomain,
      from: iso(r.dateFrom),
      to: iso(r.dateTo),
      recordIds: r.recordIds,
      justification: r.justification,
      requiredApprovals: r.requiredApprovals,
      approvals: new Set(decisions.filter((d) => d.decision === 'approve' && d.approver !== r.requester).map((d) => d.approver)).size,
      decisions: decisions.map((d) => ({ approver: d.approver, decision: d.decision, at: d.decidedAt.toISOString() })),
      createdAt: r.createdAt.toISOString(),
      expiresAt: r.expiresAt.toISOString(),
    };
  }
}

