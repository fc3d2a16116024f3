// Thin repository of the compliance journal (journal_records, disposition_certificates): queries
// named by intent, no decisions (STYLE.md 7). libs/escrow builds and opens records; the retention
// rules themselves are triggers of the journal-retention migration and bind this repository too.
import type { DataSource } from 'typeorm';
import type { MessageDirection } from './entities/message.entity';

export type DispositionAction = 'dispose' | 'review';

export interface NewJournalRecord {
  id: string;
  messageId: string;
  direction: MessageDirection;
  journaledAt: Date;
  retainUntil: Date;
  policyId: string | null;
  dispositionAction: DispositionAction;
  contentSha256: Buffer;
  size: number;
  blobKey: string;
  escrowKeyLabel: string;
  wrappedKey: Buffer;
  ephemeralPublicKey: Buffer;
  senderIndex: Buffer;
  recipientIndexes: Buffer[];
  /** The organisation's own domain (outbound: sender's, inbound: first recipient's), for reports; null if unknown. */
  localDomain: string | null;
}

export interface JournalRecord extends Omit<NewJournalRecord, 'wrappedKey' | 'ephemeralPublicKey'> {
  /** NULL once crypto-shredded. */
  wrappedKey: Buffer | null;
  ephemeralPublicKey: Buffer | null;
  reviewState: 'pending' | 'approved' | null;
  disposedAt: Date | null;
  dispositionId: string | null;
}

/** What a disposition certificate lists per record. */
export interface ShreddedRecord {
  id: string;
  contentSha256: Buffer;
  journaledAt: Date;
  retainUntil: Date;
  blobKey: string;
}

export interface DispositionCertificateRecord {
  id: string;
  issuedAt: Date;
  recordCount: number;
  journaledFrom: Date | null;
  journaledTo: Date | null;
  keyLabel: string;
  /** The signed JSON text, exactly as signed. */
  certificate: string;
  signature: Buffer;
}

/** Which records a search covers: custodian blind indexes (sender or recipient), a journal time range, ids. */
export interface JournalRecordQuery {
  custodianIndexes?: readonly Buffer[];
  journaledFrom?: Date;
  /** Exclusive. */
  journaledTo?: Date;
  ids?: readonly string[];
  /** Keyset paging: records with id > afterId (ordered by id). */
  afterId?: string;
  limit: number;
  /** Include shredded records (default false). */
  includeShredded?: boolean;
}

const COLUMNS =
  'id, message_id, direction, journaled_at, retain_until, policy_id, disposition_action, content_sha256, size, blob_key, escrow_key_label, ' +
  'wrapped_key, ephemeral_public_key, sender_index, recipient_indexes, review_state, disposed_at, disposition_id, local_domain';

interface RawRecord {
  id: string;
  message_id: string;
  direction: MessageDirection;
  journaled_at: Date;
  retain_until: Date;
  policy_id: string | null;
  disposition_action: DispositionAction;
  content_sha256: Buffer;
  size: number;
  blob_key: string;
  escrow_key_label: string;
  wrapped_key: Buffer | null;
  ephemeral_public_key: Buffer | null;
  sender_index: Buffer;
  recipient_indexes: Buffer[];
  review_state: 'pending' | 'approved' | null;
  disposed_at: Date | null;
  disposition_id: string | null;
  local_domain: string | null;
}

const fromRaw = (r: RawRecord): JournalRecord => ({
  id: r.id,
  messageId: r.message_id,
  direction: r.direction,
  journaledAt: r.journaled_at,
  retainUntil: r.retain_until,
  policyId: r.policy_id,
  dispositionAction: r.disposition_action,
  contentSha256: r.content_sha256,
  size: r.size,
  blobKey: r.blob_key,
  escrowKeyLabel: r.escrow_key_label,
  wrappedKey: r.wrapped_key,
  ephemeralPublicKey: r.ephemeral_public_key,
  senderIndex: r.sender_index,
  recipientIndexes: r.recipient_indexes,
  reviewState: r.review_state,
  disposedAt: r.disposed_at,
  dispositionId: r.disposition_id,
  localDomain: r.local_domain,
});

interface RawCertificate {
  id: string;
  issued_at: Date;
  record_count: number;
  journaled_from: Date | null;
  journaled_to: Date | null;
  key_label: string;
  certificate: string;
  signature: Buffer;
}

const fromRawCertificate = (r: RawCertificate): DispositionCertificateRecord => ({
  id: r.id,
  issuedAt: r.issued_at,
  recordCount: r.record_count,
  journaledFrom: r.journaled_from,
  journaledTo: r.journaled_to,
  keyLabel: r.key_label,
  certificate: r.certificate,
  signature: r.signature,
});

// records that may be shredded now: due, not awaiting review, not under an active hold
const DUE_FOR_DISPOSAL = `disposed_at IS NULL AND retain_until <= $1
  AND (disposition_action = 'dispose' OR review_state = 'approved')
  AND NOT journal_record_held(sender_index, recipient_indexes, journaled_at)`;

export class JournalRepository {
  constructor(private readonly ds: DataSource) {}

  /** Inserts the record unless the message was journaled already; returns the record id that holds the message. */
  async insertRecord(r: NewJournalRecord): Promise<{ id: string; inserted: boolean }> {
    const rows: { id: string; inserted: boolean }[] = await this.ds.query(
      `WITH ins AS (
         INSERT INTO journal_records (id, message_id, direction, journaled_at, retain_until, policy_id, disposition_action, content_sha256,
           size, blob_key, escrow_key_label, wrapped_key, ephemeral_public_key, sender_index, recipient_indexes, local_domain)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::bytea[], $16)
         ON CONFLICT (message_id) DO NOTHING
         RETURNING id)
       SELECT id, true AS inserted FROM ins
       UNION ALL
       SELECT id, false AS inserted FROM journal_records WHERE message_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [
        r.id,
        r.messageId,
        r.direction,
        r.journaledAt,
        r.retainUntil,
        r.policyId,
        r.dispositionAction,
        r.contentSha256,
        r.size,
        r.blobKey,
        r.escrowKeyLabel,
        r.wrappedKey,
        r.ephemeralPublicKey,
        r.senderIndex,
        r.recipientIndexes,
        r.localDomain,
      ],
    );
    const row = rows[0];
    if (row === undefined) throw new Error(`journal record for message ${r.messageId} neither inserted nor found`);
    return row;
  }

  async findById(id: string): Promise<JournalRecord | null> {
    const rows: RawRecord[] = await this.ds.query(`SELECT ${COLUMNS} FROM journal_records WHERE id = $1`, [id]);
    return rows[0] ? fromRaw(rows[0]) : null;
  }

  /** Which of these blob keys a journal record names (shredded records included). */
  async blobKeysInUse(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows: { blob_key: string }[] = await this.ds.query('SELECT blob_key FROM journal_records WHERE blob_key = ANY($1::text[])', [keys]);
    return new Set(rows.map((r) => r.blob_key));
  }

  async findByMessageId(messageId: string): Promise<JournalRecord | null> {
    const rows: RawRecord[] = await this.ds.query(`SELECT ${COLUMNS} FROM journal_records WHERE message_id = $1`, [messageId]);
    return rows[0] ? fromRaw(rows[0]) : null;
  }

  /** Records matching every given criterion, ordered by id (keyset paging with afterId). */
  async find(query: JournalRecordQuery): Promise<JournalRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: (n: string) => string, value: unknown): void => {
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    if (query.custodianIndexes !== undefined) add((n) => `(sender_index = ANY (${n}::bytea[]) OR recipient_indexes && ${n}::bytea[])`, [...query.custodianIndexes]);
    if (query.journaledFrom !== undefined) add((n) => `journaled_at >= ${n}`, query.journaledFrom);
    if (query.journaledTo !== undefined) add((n) => `journaled_at < ${n}`, query.journaledTo);
    if (query.ids !== undefined) add((n) => `id = ANY (${n}::uuid[])`, [...query.ids]);
    if (query.afterId !== undefined) add((n) => `id > ${n}`, query.afterId);
    if (!query.includeShredded) where.push('disposed_at IS NULL');
    params.push(query.limit);
    const rows: RawRecord[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM journal_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return rows.map(fromRaw);
  }

  /** Is the record under an active legal hold now? */
  async isHeld(id: string): Promise<boolean> {
    const rows: { held: boolean }[] = await this.ds.query(
      `SELECT journal_record_held(sender_index, recipient_indexes, journaled_at) AS held FROM journal_records WHERE id = $1`,
      [id],
    );
    return rows[0]?.held ?? false;
  }

  /**
   * One disposition batch in one transaction: shreds up to `limit` records due at `now` (wrapped
   * key and ephemeral key set to NULL), lets `certify` build and sign the certificate of exactly
   * those records, stores it, commits. Nothing is shredded without its certificate. Returns the
   * shredded records (empty: nothing was due, no certificate written).
   */
  async shredDueBatch(
    now: Date,
    limit: number,
    certificateId: string,
    certify: (records: ShreddedRecord[]) => Promise<DispositionCertificateRecord>,
  ): Promise<ShreddedRecord[]> {
    return this.ds.transaction(async (m) => {
      const result: unknown = await m.query(
        `UPDATE journal_records SET wrapped_key = NULL, ephemeral_public_key = NULL, disposed_at = $1, disposition_id = $3
         WHERE id IN (SELECT id FROM journal_records WHERE ${DUE_FOR_DISPOSAL} ORDER BY retain_until, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, content_sha256, journaled_at, retain_until, blob_key`,
        [now, limit, certificateId],
      );
      const rows = rowsOf<{ id: string; content_sha256: Buffer; journaled_at: Date; retain_until: Date; blob_key: string }>(result);
      if (rows.length === 0) return [];
      // the blobs to delete once this commits (a narrow queue: cheaper than marking the wide rows later)
      await m.query(`INSERT INTO journal_blob_deletions (record_id, blob_key, queued_at) SELECT u.id, u.k, $3::timestamptz FROM unnest($1::uuid[], $2::text[]) AS u(id, k)`, [
        rows.map((r) => r.id),
        rows.map((r) => r.blob_key),
        now,
      ]);
      const records = rows
        .map((r) => ({ id: r.id, contentSha256: r.content_sha256, journaledAt: r.journaled_at, retainUntil: r.retain_until, blobKey: r.blob_key }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const c = await certify(records);
      if (c.id !== certificateId) throw new Error('certificate id differs from the one the records point to');
      await m.query(
        `INSERT INTO disposition_certificates (id, issued_at, record_count, journaled_from, journaled_to, key_label, certificate, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [c.id, c.issuedAt, c.recordCount, c.journaledFrom, c.journaledTo, c.keyLabel, c.certificate, c.signature],
      );
      return records;
    });
  }

  /** Marks due `review` records as pending review (not shredded); returns their ids. */
  async queueDueForReview(now: Date, limit: number): Promise<string[]> {
    const result: unknown = await this.ds.query(
      `UPDATE journal_records SET review_state = 'pending'
       WHERE id IN (SELECT id FROM journal_records
                    WHERE disposed_at IS NULL AND retain_until <= $1 AND disposition_action = 'review' AND review_state IS NULL
                      AND NOT journal_record_held(sender_index, recipient_indexes, journaled_at)
                    ORDER BY retain_until, id LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [now, limit],
    );
    return rowsOf<{ id: string }>(result).map((r) => r.id);
  }

  /** Records awaiting a disposition review decision, oldest due first. */
  async findPendingReview(limit: number, afterId?: string): Promise<JournalRecord[]> {
    const rows: RawRecord[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM journal_records WHERE review_state = 'pending' AND disposed_at IS NULL ${afterId ? 'AND id > $2' : ''} ORDER BY id LIMIT $1`,
      afterId ? [limit, afterId] : [limit],
    );
    return rows.map(fromRaw);
  }

  /** Approves pending reviews for disposal; returns the ids changed. */
  async approveReview(ids: readonly string[]): Promise<string[]> {
    const result: unknown = await this.ds.query(
      `UPDATE journal_records SET review_state = 'approved' WHERE id = ANY ($1::uuid[]) AND review_state = 'pending' AND disposed_at IS NULL RETURNING id`,
      [[...ids]],
    );
    return rowsOf<{ id: string }>(result).map((r) => r.id);
  }

  /** Extends retention of pending reviews (the reviewer keeps them): retain_until may only grow. */
  async extendReview(ids: readonly string[], retainUntil: Date): Promise<string[]> {
    const result: unknown = await this.ds.query(
      `UPDATE journal_records SET review_state = NULL, retain_until = GREATEST(retain_until, $2)
       WHERE id = ANY ($1::uuid[]) AND review_state = 'pending' AND disposed_at IS NULL RETURNING id`,
      [[...ids], retainUntil],
    );
    return rowsOf<{ id: string }>(result).map((r) => r.id);
  }

  /** Shredded records whose blob is still in the archive store (queued by shredDueBatch). */
  async findBlobsToDelete(limit: number): Promise<{ id: string; blobKey: string }[]> {
    const rows: { record_id: string; blob_key: string }[] = await this.ds.query(
      `SELECT record_id, blob_key FROM journal_blob_deletions ORDER BY queued_at, record_id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ id: r.record_id, blobKey: r.blob_key }));
  }

  /** The archive store deleted these records' blobs. */
  async markBlobsDeleted(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.ds.query(`DELETE FROM journal_blob_deletions WHERE record_id = ANY ($1::uuid[])`, [[...ids]]);
  }

  /** Is the record's blob still waiting for deletion? */
  async isBlobDeletionPending(id: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM journal_blob_deletions WHERE record_id = $1`, [id]);
    return rows.length > 0;
  }

  async findCertificate(id: string): Promise<DispositionCertificateRecord | null> {
    const rows: RawCertificate[] = await this.ds.query(
      `SELECT id, issued_at, record_count, journaled_from, journaled_to, key_label, certificate, signature FROM disposition_certificates WHERE id = $1`,
      [id],
    );
    return rows[0] ? fromRawCertificate(rows[0]) : null;
  }

  async listCertificates(from: Date, to: Date, limit: number): Promise<DispositionCertificateRecord[]> {
    const rows: RawCertificate[] = await this.ds.query(
      `SELECT id, issued_at, record_count, journaled_from, journaled_to, key_label, certificate, signature FROM disposition_certificates
       WHERE issued_at >= $1 AND issued_at < $2 ORDER BY issued_at, id LIMIT $3`,
      [from, to, limit],
    );
    return rows.map(fromRawCertificate);
  }
}

/** node-postgres via TypeORM returns [rows, count] for UPDATE ... RETURNING, rows for SELECT. */
function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}
