// Thin repository of retention policies and legal holds: queries named by intent, no decisions
// (STYLE.md 7). libs/escrow's RetentionService holds the rules; the triggers of the
// journal-retention migration enforce locked policies and active holds in PostgreSQL as well.
import type { DataSource } from 'typeorm';
import type { DispositionAction } from './journal.repository';

export type RetentionScope = 'all' | 'domain' | 'user' | 'direction';

export interface NewRetentionPolicy {
  name: string;
  scope: RetentionScope;
  /** Domain or address (lower-case), 'inbound'/'outbound', or null for 'all'. */
  scopeValue: string | null;
  retentionDays: number;
  action: DispositionAction;
  priority: number;
  enabled: boolean;
}

export interface RetentionPolicyRecord extends NewRetentionPolicy {
  id: string;
  locked: boolean;
  lockedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type RetentionPolicyChange = Partial<Pick<NewRetentionPolicy, 'name' | 'retentionDays' | 'action' | 'priority' | 'enabled'>>;

export interface NewLegalHold {
  caseName: string;
  custodianIndexes: Buffer[];
  dateFrom: Date | null;
  dateTo: Date | null;
  reason: string | null;
  placedBy: string;
  placedAt: Date;
}

export interface LegalHoldRecord extends NewLegalHold {
  id: string;
  releasedBy: string | null;
  releasedAt: Date | null;
}

const POLICY_COLUMNS = 'id, name, scope, scope_value, retention_days, action, priority, locked, locked_at, enabled, created_at, updated_at';
const HOLD_COLUMNS = 'id, case_name, custodian_indexes, date_from, date_to, reason, placed_by, placed_at, released_by, released_at';

interface RawPolicy {
  id: string;
  name: string;
  scope: RetentionScope;
  scope_value: string | null;
  retention_days: number;
  action: DispositionAction;
  priority: number;
  locked: boolean;
  locked_at: Date | null;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

interface RawHold {
  id: string;
  case_name: string;
  custodian_indexes: Buffer[];
  date_from: Date | null;
  date_to: Date | null;
  reason: string | null;
  placed_by: string;
  placed_at: Date;
  released_by: string | null;
  released_at: Date | null;
}

const fromRawPolicy = (r: RawPolicy): RetentionPolicyRecord => ({
  id: r.id,
  name: r.name,
  scope: r.scope,
  scopeValue: r.scope_value,
  retentionDays: r.retention_days,
  action: r.action,
  priority: r.priority,
  locked: r.locked,
  lockedAt: r.locked_at,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const fromRawHold = (r: RawHold): LegalHoldRecord => ({
  id: r.id,
  caseName: r.case_name,
  custodianIndexes: r.custodian_indexes,
  dateFrom: r.date_from,
  dateTo: r.date_to,
  reason: r.reason,
  placedBy: r.placed_by,
  placedAt: r.placed_at,
  releasedBy: r.released_by,
  releasedAt: r.released_at,
});

function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

export class RetentionRepository {
  constructor(private readonly ds: DataSource) {}

  async insertPolicy(p: NewRetentionPolicy): Promise<RetentionPolicyRecord> {
    const rows: RawPolicy[] = await this.ds.query(
      `INSERT INTO retention_policies (name, scope, scope_value, retention_days, action, priority, enabled)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${POLICY_COLUMNS}`,
      [p.name, p.scope, p.scopeValue, p.retentionDays, p.action, p.priority, p.enabled],
    );
    return fromRawPolicy(rows[0] as RawPolicy);
  }

  async findPolicy(id: string): Promise<RetentionPolicyRecord | null> {
    const rows: RawPolicy[] = await this.ds.query(`SELECT ${POLICY_COLUMNS} FROM retention_policies WHERE id = $1`, [id]);
    return rows[0] ? fromRawPolicy(rows[0]) : null;
  }

  async findPolicyByName(name: string): Promise<RetentionPolicyRecord | null> {
    const rows: RawPolicy[] = await this.ds.query(`SELECT ${POLICY_COLUMNS} FROM retention_policies WHERE name = $1`, [name]);
    return rows[0] ? fromRawPolicy(rows[0]) : null;
  }

  /** All policies (enabledOnly: the ones journaling considers), highest priority first. */
  async listPolicies(enabledOnly = false): Promise<RetentionPolicyRecord[]> {
    const rows: RawPolicy[] = await this.ds.query(
      `SELECT ${POLICY_COLUMNS} FROM retention_policies ${enabledOnly ? 'WHERE enabled' : ''} ORDER BY priority DESC, created_at, id`,
    );
    return rows.map(fromRawPolicy);
  }

  /** Applies the change; null when the policy does not exist. */
  async updatePolicy(id: string, change: RetentionPolicyChange, at: Date): Promise<RetentionPolicyRecord | null> {
    const result: unknown = await this.ds.query(
      `UPDATE retention_policies SET
         name = COALESCE($2, name), retention_days = COALESCE($3, retention_days), action = COALESCE($4, action),
         priority = COALESCE($5, priority), enabled = COALESCE($6, enabled), updated_at = $7
       WHERE id = $1 RETURNING ${POLICY_COLUMNS}`,
      [id, change.name ?? null, change.retentionDays ?? null, change.action ?? null, change.priority ?? null, change.enabled ?? null, at],
    );
    const row = rowsOf<RawPolicy>(result)[0];
    return row ? fromRawPolicy(row) : null;
  }

  /** Locks the policy (one-way); null when it does not exist. */
  async lockPolicy(id: string, at: Date): Promise<RetentionPolicyRecord | null> {
    const result: unknown = await this.ds.query(
      `UPDATE retention_policies SET locked = true, locked_at = COALESCE(locked_at, $2), updated_at = $2 WHERE id = $1 RETURNING ${POLICY_COLUMNS}`,
      [id, at],
    );
    const row = rowsOf<RawPolicy>(result)[0];
    return row ? fromRawPolicy(row) : null;
  }

  async deletePolicy(id: string): Promise<boolean> {
    const result: unknown = await this.ds.query(`DELETE FROM retention_policies WHERE id = $1 RETURNING id`, [id]);
    return rowsOf(result).length > 0;
  }

  async insertHold(h: NewLegalHold): Promise<LegalHoldRecord> {
    const rows: RawHold[] = await this.ds.query(
      `INSERT INTO legal_holds (case_name, custodian_indexes, date_from, date_to, reason, placed_by, placed_at)
       VALUES ($1, $2::bytea[], $3, $4, $5, $6, $7) RETURNING ${HOLD_COLUMNS}`,
      [h.caseName, h.custodianIndexes, h.dateFrom, h.dateTo, h.reason, h.placedBy, h.placedAt],
    );
    return fromRawHold(rows[0] as RawHold);
  }

  async findHold(id: string): Promise<LegalHoldRecord | null> {
    const rows: RawHold[] = await this.ds.query(`SELECT ${HOLD_COLUMNS} FROM legal_holds WHERE id = $1`, [id]);
    return rows[0] ? fromRawHold(rows[0]) : null;
  }

  async listHolds(activeOnly: boolean): Promise<LegalHoldRecord[]> {
    const rows: RawHold[] = await this.ds.query(
      `SELECT ${HOLD_COLUMNS} FROM legal_holds ${activeOnly ? 'WHERE released_at IS NULL' : ''} ORDER BY placed_at, id`,
    );
    return rows.map(fromRawHold);
  }

  /** Releases an active hold; null when there was no active hold with this id. */
  async releaseHold(id: string, by: string, at: Date): Promise<LegalHoldRecord | null> {
    const result: unknown = await this.ds.query(
      `UPDATE legal_holds SET released_by = $2, released_at = $3 WHERE id = $1 AND released_at IS NULL RETURNING ${HOLD_COLUMNS}`,
      [id, by, at],
    );
    const row = rowsOf<RawHold>(result)[0];
    return row ? fromRawHold(row) : null;
  }
}
