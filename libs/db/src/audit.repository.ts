// Thin repository of the audit trail (audit_entries, audit_checkpoints): queries named by intent,
// no decisions (STYLE.md 7); libs/audit computes hashes and signatures. Appends happen inside
// withChainLock: one transaction holding a PostgreSQL advisory lock, so writers in any number of
// processes see the previous head and the chain stays linear.
import type { ClientBase as PgClient } from 'pg';
import type { DataSource, QueryRunner } from 'typeorm';

/** One audit_entries row as plain values (seq within Number.MAX_SAFE_INTEGER). */
export interface AuditEntryRecord {
  seq: number;
  time: Date;
  actor: string;
  actorAddress: string | null;
  action: string;
  objectType: string | null;
  objectId: string | null;
  outcome: string;
  /** The jsonb value as node-postgres parses it. */
  details: unknown;
  prevHash: Buffer;
  hash: Buffer;
}

export interface AuditCheckpointRecord {
  seq: number;
  hash: Buffer;
  time: Date;
  prevCheckpointSeq: number;
  interval: number;
  keyLabel: string;
  signature: Buffer;
}

export interface AuditChainState {
  head: { seq: number; hash: Buffer } | null;
  lastCheckpoint: { seq: number; time: Date } | null;
}

/** What a writer may do while it holds the chain lock. */
export interface AuditChainWriter {
  state(): Promise<AuditChainState>;
  insertEntry(entry: AuditEntryRecord): Promise<void>;
  insertCheckpoint(checkpoint: AuditCheckpointRecord): Promise<void>;
}

/** Reads over one REPEATABLE READ snapshot (an export sees one consistent trail). */
export interface AuditSnapshotReader {
  state(): Promise<AuditChainState>;
  entriesAfter(seq: number, upTo: number, limit: number): Promise<AuditEntryRecord[]>;
  checkpointsAfter(seq: number, upTo: number, limit: number): Promise<AuditCheckpointRecord[]>;
}

// pg_advisory_xact_lock key: 'DIMEAUDT' as a bigint
const CHAIN_LOCK_KEY = '4920558866661967188';

interface EntryRow {
  seq: string;
  time: Date;
  actor: string;
  actor_address: string | null;
  action: string;
  object_type: string | null;
  object_id: string | null;
  outcome: string;
  details: unknown;
  prev_hash: Buffer;
  hash: Buffer;
}

interface CheckpointRow {
  seq: string;
  hash: Buffer;
  time: Date;
  prev_checkpoint_seq: string;
  checkpoint_interval: number;
  key_label: string;
  signature: Buffer;
}

const toEntry = (r: EntryRow): AuditEntryRecord => ({
  seq: Number(r.seq),
  time: r.time,
  actor: r.actor,
  actorAddress: r.actor_address,
  action: r.action,
  objectType: r.object_type,
  objectId: r.object_id,
  outcome: r.outcome,
  details: r.details,
  prevHash: r.prev_hash,
  hash: r.hash,
});

const toCheckpoint = (r: CheckpointRow): AuditCheckpointRecord => ({
  seq: Number(r.seq),
  hash: r.hash,
  time: r.time,
  prevCheckpointSeq: Number(r.prev_checkpoint_seq),
  interval: r.checkpoint_interval,
  keyLabel: r.key_label,
  signature: r.signature,
});

interface StateRow {
  head_seq: string | null;
  head_hash: Buffer | null;
  cp_seq: string | null;
  cp_time: Date | null;
}

const STATE_SQL = `
  SELECT h.seq AS head_seq, h.hash AS head_hash, c.seq AS cp_seq, c.time AS cp_time
    FROM (SELECT 1) one
    LEFT JOIN (SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1) h ON true
    LEFT JOIN (SELECT seq, time FROM audit_checkpoints ORDER BY seq DESC LIMIT 1) c ON true`;

function toState(r: StateRow | undefined): AuditChainState {
  return {
    head: r?.head_seq != null && r.head_hash != null ? { seq: Number(r.head_seq), hash: r.head_hash } : null,
    lastCheckpoint: r?.cp_seq != null && r.cp_time != null ? { seq: Number(r.cp_seq), time: r.cp_time } : null,
  };
}

async function readState(q: QueryRunner): Promise<AuditChainState> {
  const rows: StateRow[] = await q.query(STATE_SQL);
  return toState(rows[0]);
}

export class AuditRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Runs fn in one transaction holding the chain lock; commits if it resolves. Three round trips
   * for an append: BEGIN + lock + chain state in one simple query (each statement takes its own
   * READ COMMITTED snapshot, so the state read after the lock sees the previous holder's
   * commit), the INSERT, the COMMIT. The pg client of the runner is used directly for that.
   */
  async withChainLock<T>(fn: (writer: AuditChainWriter) => Promise<T>): Promise<T> {
    const q = this.ds.createQueryRunner();
    const client = (await q.connect()) as PgClient;
    try {
      try {
        const opened = (await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY}); ${STATE_SQL}`)) as unknown as { rows: StateRow[] }[];
        let prefetched: AuditChainState | undefined = toState(opened[2]?.rows[0]);
        const result = await fn({
          state: async () => {
            const state = prefetched ?? toState((await client.query<StateRow>(STATE_SQL)).rows[0]);
            prefetched = undefined;
            return state;
          },
          insertEntry: async (e) => {
            await client.query(
              `INSERT INTO audit_entries (seq, time, actor, actor_address, action, object_type, object_id, outcome, details, prev_hash, hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)`,
              [e.seq, e.time, e.actor, e.actorAddress, e.action, e.objectType, e.objectId, e.outcome, JSON.stringify(e.details), e.prevHash, e.hash],
            );
          },
          insertCheckpoint: async (c) => {
            await client.query(
              `INSERT INTO audit_checkpoints (seq, hash, time, prev_checkpoint_seq, checkpoint_interval, key_label, signature)
               VALUES ($1, $2, $3, $4, $5, $6, $7)`,
              [c.seq, c.hash, c.time, c.prevCheckpointSeq, c.interval, c.keyLabel, c.signature],
            );
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      await q.release();
    }
  }

  /** Runs fn over one read-only REPEATABLE READ snapshot. */
  async readSnapshot<T>(fn: (reader: AuditSnapshotReader) => Promise<T>): Promise<T> {
    const q = this.ds.createQueryRunner();
    await q.connect();
    try {
      await q.query('START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await fn({
          state: () => readState(q),
          entriesAfter: async (seq, upTo, limit) => {
            const rows: EntryRow[] = await q.query(
              `SELECT seq, time, actor, actor_address, action, object_type, object_id, outcome, details, prev_hash, hash
                 FROM audit_entries WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
              [seq, upTo, limit],
            );
            return rows.map(toEntry);
          },
          checkpointsAfter: async (seq, upTo, limit) => {
            const rows: CheckpointRow[] = await q.query(
              `SELECT seq, hash, time, prev_checkpoint_seq, checkpoint_interval, key_label, signature
                 FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
              [seq, upTo, limit],
            );
            return rows.map(toCheckpoint);
          },
        });
      } finally {
        await q.query('ROLLBACK');
      }
    } finally {
      await q.release();
    }
  }
}
