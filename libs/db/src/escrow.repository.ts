// Thin repository of escrow recovery (principals, escrow_requests, escrow_approvals,
// escrow_exports) and of the escrow report's aggregations: queries named by intent, no decisions
// (STYLE.md 7). libs/escrow holds the rules; migration 1764600000000 enforces them again in SQL.
import type { DataSource, QueryRunner } from 'typeorm';

export type PrincipalRole = 'auditor' | 'escrow-approver' | 'compliance-officer' | 'admin';
export type EscrowRequestStatus = 'open' | 'approved' | 'denied' | 'expired' | 'exported';
export type EscrowDecision = 'approve' | 'deny';

export interface PrincipalRecord {
  name: string;
  roles: PrincipalRole[];
  /** DER SubjectPublicKeyInfo, or null when none is registered. */
  publicKey: Buffer | null;
  createdAt: Date;
}

export interface EscrowRequestRecord {
  id: string;
  caseRef: string;
  custodianIndex: Buffer | null;
  custodianDomain: string | null;
  dateFrom: Date | null;
  dateTo: Date | null;
  recordIds: string[] | null;
  justification: string;
  requester: string;
  status: EscrowRequestStatus;
  requiredApprovals: number;
  createdAt: Date;
  expiresAt: Date;
  approvedAt: Date | null;
  closedAt: Date | null;
}

export interface NewEscrowRequest {
  id: string;
  caseRef: string;
  custodianIndex: Buffer | null;
  custodianDomain: string | null;
  dateFrom: Date | null;
  dateTo: Date | null;
  recordIds: readonly string[] | null;
  justification: string;
  requester: string;
  requiredApprovals: number;
  createdAt: Date;
  expiresAt: Date;
}

export interface EscrowApprovalRecord {
  requestId: string;
  approver: string;
  decision: EscrowDecision;
  decidedAt: Date;
}

export interface EscrowExportRecord {
  id: string;
  requestId: string;
  fileSha256: Buffer;
  manifest: unknown;
  recordCount: number;
  exportedBy: string;
  exportedAt: Date;
}

/** What an approver's decision did, read inside the same transaction. */
export interface EscrowDecisionResult {
  request: EscrowRequestRecord;
  /** Distinct approvers (never the requester) who approved, after this decision. */
  approvals: number;
}

/** Escrow report aggregates of one period [from, to). */
export interface EscrowRequestCounts {
  domain: string | null;
  opened: number;
  approved: number;
  denied: number;
  expired: number;
  exported: number;
}

export interface EscrowPrincipalCounts {
  principal: string;
  opened: number;
  approvals: number;
  denials: number;
  exports: number;
}

export interface EscrowExportSummary {
  requestId: string;
  caseRef: string;
  domain: string | null;
  exportedBy: string;
  exportedAt: Date;
  recordCount: number;
  fileSha256: Buffer;
  approvers: string[];
}

export interface EscrowRecordCounts {
  /** The organisation domain of the records (local_domain; else that of a domain/user-scoped policy), or null. */
  domain: string | null;
  policyId: string | null;
  policy: string | null;
  direction: string;
  records: number;
}

export interface AuditAnchor {
  seq: number;
  hash: Buffer;
  time: Date;
}

interface RequestRow {
  id: string;
  case_ref: string;
  custodian_index: Buffer | null;
  custodian_domain: string | null;
  date_from: Date | null;
  date_to: Date | null;
  record_ids: string[] | null;
  justification: string;
  requester: string;
  status: EscrowRequestStatus;
  required_approvals: number;
  created_at: Date;
  expires_at: Date;
  approved_at: Date | null;
  closed_at: Date | null;
}

const REQUEST_COLUMNS = `id, case_ref, custodian_index, custodian_domain, date_from, date_to, record_ids, justification, requester,
  status, required_approvals, created_at, expires_at, approved_at, closed_at`;

const toRequest = (r: RequestRow): EscrowRequestRecord => ({
  id: r.id,
  caseRef: r.case_ref,
  custodianIndex: r.custodian_index,
  custodianDomain: r.custodian_domain,
  dateFrom: r.date_from,
  dateTo: r.date_to,
  recordIds: r.record_ids,
  justification: r.justification,
  requester: r.requester,
  status: r.status,
  requiredApprovals: r.required_approvals,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  approvedAt: r.approved_at,
  closedAt: r.closed_at,
});

interface PrincipalRow {
  name: string;
  roles: PrincipalRole[];
  public_key: Buffer | null;
  created_at: Date;
}

const toPrincipal = (r: PrincipalRow): PrincipalRecord => ({ name: r.name, roles: r.roles, publicKey: r.public_key, createdAt: r.created_at });

const APPROVAL_COUNT_SQL = `SELECT count(DISTINCT a.approver)::int AS n FROM escrow_approvals a JOIN escrow_requests r ON r.id = a.request_id
  WHERE a.request_id = $1 AND a.decision = 'approve' AND a.approver <> r.requester`;

/** TypeORM returns [rows, rowCount] for UPDATE/DELETE ... RETURNING and the rows otherwise. */
function updated<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

export class EscrowRepository {
  constructor(private readonly ds: DataSource) {}

  private async inTransaction<T>(fn: (q: QueryRunner) => Promise<T>): Promise<T> {
    const q = this.ds.createQueryRunner();
    await q.connect();
    try {
      await q.startTransaction('READ COMMITTED');
      try {
        const result = await fn(q);
        await q.commitTransaction();
        return result;
      } catch (err) {
        await q.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await q.release();
    }
  }

  // ---- principals -------------------------------------------------------------------------------

  /** Inserts a principal; false when the name exists already. */
  async insertPrincipal(name: string, roles: readonly PrincipalRole[], publicKey: Buffer | null, createdAt: Date): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `INSERT INTO principals (name, roles, public_key, created_at) VALUES ($1, $2::text[], $3, $4) ON CONFLICT (name) DO NOTHING RETURNING name`,
      [name, roles, publicKey, createdAt],
    );
    return rows.length === 1;
  }

  async findPrincipal(name: string): Promise<PrincipalRecord | null> {
    const rows: PrincipalRow[] = await this.ds.query(`SELECT name, roles, public_key, created_at FROM principals WHERE name = $1`, [name]);
    return rows[0] ? toPrincipal(rows[0]) : null;
  }

  async listPrincipals(): Promise<PrincipalRecord[]> {
    const rows: PrincipalRow[] = await this.ds.query(`SELECT name, roles, public_key, created_at FROM principals ORDER BY name`);
    return rows.map(toPrincipal);
  }

  // ---- requests ---------------------------------------------------------------------------------

  async insertRequest(r: NewEscrowRequest): Promise<EscrowRequestRecord> {
    const rows: RequestRow[] = await this.ds.query(
      `INSERT INTO escrow_requests (id, case_ref, custodian_index, custodian_domain, date_from, date_to, record_ids, justification, requester,
                                    required_approvals, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::uuid[], $8, $9, $10, $11, $12) RETURNING ${REQUEST_COLUMNS}`,
      [r.id, r.caseRef, r.custodianIndex, r.custodianDomain, r.dateFrom, r.dateTo, r.recordIds, r.justification, r.requester, r.requiredApprovals, r.createdAt, r.expiresAt],
    );
    return toRequest(rows[0] as RequestRow);
  }

  async findRequest(id: string): Promise<EscrowRequestRecord | null> {
    const rows: RequestRow[] = await this.ds.query(`SELECT ${REQUEST_COLUMNS} FROM escrow_requests WHERE id = $1`, [id]);
    return rows[0] ? toRequest(rows[0]) : null;
  }

  async listRequests(limit: number): Promise<EscrowRequestRecord[]> {
    const rows: RequestRow[] = await this.ds.query(`SELECT ${REQUEST_COLUMNS} FROM escrow_requests ORDER BY created_at DESC, id LIMIT $1`, [limit]);
    return rows.map(toRequest);
  }

  async listApprovals(requestId: string): Promise<EscrowApprovalRecord[]> {
    const rows: { request_id: string; approver: string; decision: EscrowDecision; decided_at: Date }[] = await this.ds.query(
      `SELECT request_id, approver, decision, decided_at FROM escrow_approvals WHERE request_id = $1 ORDER BY decided_at, approver`,
      [requestId],
    );
    return rows.map((r) => ({ requestId: r.request_id, approver: r.approver, decision: r.decision, decidedAt: r.decided_at }));
  }

  /** Distinct approvers (never the requester) who approved. */
  async countApprovals(requestId: string): Promise<number> {
    const rows: { n: number }[] = await this.ds.query(APPROVAL_COUNT_SQL, [requestId]);
    return rows[0]?.n ?? 0;
  }

  /**
   * Records one decision and applies its consequence in one transaction: a denial closes the
   * request; an approval that brings the distinct approvals to the quorum approves it. Returns null
   * when this approver had decided already (nothing changed). The triggers refuse the requester,
   * a principal without the approver role and a request that is not open.
   */
  async recordDecision(requestId: string, approver: string, decision: EscrowDecision, at: Date): Promise<EscrowDecisionResult | null> {
    return this.inTransaction(async (q) => {
      // concurrent decisions on one request queue up here, so each one counts the others' approvals
      await q.query(`SELECT id FROM escrow_requests WHERE id = $1 FOR UPDATE`, [requestId]);
      const inserted: unknown[] = await q.query(
        `INSERT INTO escrow_approvals (request_id, approver, decision, decided_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (request_id, approver) DO NOTHING RETURNING approver`,
        [requestId, approver, decision, at],
      );
      if (inserted.length === 0) return null;
      const counted: { n: number }[] = await q.query(APPROVAL_COUNT_SQL, [requestId]);
      const approvals = counted[0]?.n ?? 0;
      let rows: RequestRow[];
      if (decision === 'deny') {
        rows = updated(await q.query(`UPDATE escrow_requests SET status = 'denied', closed_at = $2 WHERE id = $1 AND status = 'open' RETURNING ${REQUEST_COLUMNS}`, [requestId, at]));
      } else {
        rows = updated(
          await q.query(
            `UPDATE escrow_requests SET status = 'approved', approved_at = $2 WHERE id = $1 AND status = 'open' AND required_approvals <= $3 RETURNING ${REQUEST_COLUMNS}`,
            [requestId, at, approvals],
          ),
        );
        if (rows.length === 0) rows = await q.query(`SELECT ${REQUEST_COLUMNS} FROM escrow_requests WHERE id = $1`, [requestId]);
      }
      const row = rows[0];
      if (!row) throw new Error(`escrow request ${requestId} vanished inside its decision`);
      return { request: toRequest(row), approvals };
    });
  }

  /** Open or approved requests whose expiry is at or before `now` become expired; returns them. */
  async expireDue(now: Date, onlyId?: string): Promise<EscrowRequestRecord[]> {
    const rows = updated<RequestRow>(
      await this.ds.query(
        `UPDATE escrow_requests SET status = 'expired', closed_at = $1
        WHERE status IN ('open', 'approved') AND expires_at <= $1 AND ($2::uuid IS NULL OR id = $2::uuid)
        RETURNING ${REQUEST_COLUMNS}`,
        [now, onlyId ?? null],
      ),
    );
    return rows.map(toRequest);
  }

  /**
   * The request only if SQL agrees it may be exported at `now`: approved, unexpired, with at least
   * its quorum of distinct approvals from principals other than the requester.
   */
  async findExportableRequest(id: string, now: Date): Promise<EscrowRequestRecord | null> {
    const rows: RequestRow[] = await this.ds.query(
      `SELECT ${REQUEST_COLUMNS} FROM escrow_requests r
        WHERE r.id = $1 AND r.status = 'approved' AND r.expires_at > $2
          AND (SELECT count(DISTINCT a.approver) FROM escrow_approvals a
                WHERE a.request_id = r.id AND a.decision = 'approve' AND a.approver <> r.requester) >= r.required_approvals`,
      [id, now],
    );
    return rows[0] ? toRequest(rows[0]) : null;
  }

  /**
   * Records a finished export and marks the request exported, in one transaction (the triggers
   * check the status and the quorum again). False when the request was no longer exportable.
   */
  async recordExport(e: EscrowExportRecord, now: Date): Promise<boolean> {
    return this.inTransaction(async (q) => {
      const locked: { id: string }[] = await q.query(
        `SELECT id FROM escrow_requests WHERE id = $1 AND status = 'approved' AND expires_at > $2 FOR UPDATE`,
        [e.requestId, now],
      );
      if (locked.length === 0) return false;
      await q.query(
        `INSERT INTO escrow_exports (id, request_id, file_sha256, manifest, record_count, exported_by, exported_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
        [e.id, e.requestId, e.fileSha256, JSON.stringify(e.manifest), e.recordCount, e.exportedBy, e.exportedAt],
      );
      await q.query(`UPDATE escrow_requests SET status = 'exported', closed_at = $2 WHERE id = $1`, [e.requestId, e.exportedAt]);
      return true;
    });
  }

  async findExport(requestId: string): Promise<EscrowExportRecord | null> {
    const rows: { id: string; request_id: string; file_sha256: Buffer; manifest: unknown; record_count: number; exported_by: string; exported_at: Date }[] =
      await this.ds.query(`SELECT id, request_id, file_sha256, manifest, record_count, exported_by, exported_at FROM escrow_exports WHERE request_id = $1`, [requestId]);
    const r = rows[0];
    return r
      ? { id: r.id, requestId: r.request_id, fileSha256: r.file_sha256, manifest: r.manifest, recordCount: r.record_count, exportedBy: r.exported_by, exportedAt: r.exported_at }
      : null;
  }

  // ---- report aggregates ([from, to), SQL aggregation) ------------------------------------------

  /**
   * Journal records escrowed (journaled) in [from, to) per organisation domain (journal_records.local_domain;
   * for records journaled before that column, the domain of a domain- or user-scoped policy), policy and
   * direction: one aggregation over journal_records (index journal_records_domain_policy), then the
   * few policy rows joined.
   */
  async recordCountsByPolicy(from: Date, to: Date): Promise<EscrowRecordCounts[]> {
    const rows: { domain: string | null; policy_id: string | null; policy: string | null; direction: string; records: number }[] = await this.ds.query(
      `WITH counts AS (
         SELECT local_domain, policy_id, direction, count(*) AS n FROM journal_records
          WHERE journaled_at >= $1 AND journaled_at < $2
          GROUP BY local_domain, policy_id, direction),
       named AS (
         SELECT COALESCE(c.local_domain,
                         CASE p.scope WHEN 'domain' THEN lower(p.scope_value) WHEN 'user' THEN lower(split_part(p.scope_value, '@', 2)) END) AS domain,
                c.policy_id, p.name AS policy, c.direction, c.n
           FROM counts c LEFT JOIN retention_policies p ON p.id = c.policy_id)
       SELECT domain, policy_id, policy, direction, sum(n)::int AS records FROM named
        GROUP BY domain, policy_id, policy, direction
        ORDER BY domain NULLS LAST, policy NULLS LAST, direction`,
      [from, to],
    );
    return rows.map((r) => ({ domain: r.domain, policyId: r.policy_id, policy: r.policy, direction: r.direction, records: r.records }));
  }

  async requestCountsByDomain(from: Date, to: Date): Promise<EscrowRequestCounts[]> {
    const rows: { domain: string | null; opened: number; approved: number; denied: number; expired: number; exported: number }[] = await this.ds.query(
      `SELECT custodian_domain AS domain,
              count(*) FILTER (WHERE created_at >= $1 AND created_at < $2)::int AS opened,
              count(*) FILTER (WHERE approved_at >= $1 AND approved_at < $2)::int AS approved,
              count(*) FILTER (WHERE status = 'denied' AND closed_at >= $1 AND closed_at < $2)::int AS denied,
              count(*) FILTER (WHERE status = 'expired' AND closed_at >= $1 AND closed_at < $2)::int AS expired,
              count(*) FILTER (WHERE status = 'exported' AND closed_at >= $1 AND closed_at < $2)::int AS exported
         FROM escrow_requests
        WHERE (created_at >= $1 AND created_at < $2) OR (approved_at >= $1 AND approved_at < $2) OR (closed_at >= $1 AND closed_at < $2)
        GROUP BY custodian_domain
        ORDER BY custodian_domain NULLS LAST`,
      [from, to],
    );
    return rows;
  }

  async principalCounts(from: Date, to: Date): Promise<EscrowPrincipalCounts[]> {
    const rows: EscrowPrincipalCounts[] = await this.ds.query(
      `WITH acts AS (
         SELECT requester AS principal, 'opened' AS kind FROM escrow_requests WHERE created_at >= $1 AND created_at < $2
         UNION ALL
         SELECT approver, CASE decision WHEN 'approve' THEN 'approvals' ELSE 'denials' END FROM escrow_approvals WHERE decided_at >= $1 AND decided_at < $2
         UNION ALL
         SELECT exported_by, 'exports' FROM escrow_exports WHERE exported_at >= $1 AND exported_at < $2
       )
       SELECT principal,
              count(*) FILTER (WHERE kind = 'opened')::int AS opened,
              count(*) FILTER (WHERE kind = 'approvals')::int AS approvals,
              count(*) FILTER (WHERE kind = 'denials')::int AS denials,
              count(*) FILTER (WHERE kind = 'exports')::int AS exports
         FROM acts GROUP BY principal ORDER BY principal`,
      [from, to],
    );
    return rows;
  }

  async exportsIn(from: Date, to: Date): Promise<EscrowExportSummary[]> {
    const rows: {
      request_id: string;
      case_ref: string;
      domain: string | null;
      exported_by: string;
      exported_at: Date;
      record_count: number;
      file_sha256: Buffer;
      approvers: string[];
    }[] = await this.ds.query(
      `SELECT e.request_id, r.case_ref, r.custodian_domain AS domain, e.exported_by, e.exported_at, e.record_count, e.file_sha256,
              ARRAY(SELECT a.approver FROM escrow_approvals a WHERE a.request_id = e.request_id AND a.decision = 'approve' ORDER BY a.approver) AS approvers
         FROM escrow_exports e JOIN escrow_requests r ON r.id = e.request_id
        WHERE e.exported_at >= $1 AND e.exported_at < $2
        ORDER BY e.exported_at, e.request_id`,
      [from, to],
    );
    return rows.map((r) => ({
      requestId: r.request_id,
      caseRef: r.case_ref,
      domain: r.domain,
      exportedBy: r.exported_by,
      exportedAt: r.exported_at,
      recordCount: r.record_count,
      fileSha256: r.file_sha256,
      approvers: r.approvers,
    }));
  }

  /** The latest signed audit checkpoint (what a report is anchored to), or null before the first. */
  async latestAuditCheckpoint(): Promise<AuditAnchor | null> {
    const rows: { seq: string; hash: Buffer; time: Date }[] = await this.ds.query(`SELECT seq, hash, time FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`);
    const r = rows[0];
    return r ? { seq: Number(r.seq), hash: r.hash, time: r.time } : null;
  }
}
