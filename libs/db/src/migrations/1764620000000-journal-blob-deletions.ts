// Blob deletion after crypto-shredding as a narrow queue table instead of a column on
// journal_records: marking 10,000 wide rows (GIN-indexed) "blob deleted" cost a third of the
// retention sweep (bench/compliance-bench.ts). A shredded record's blob key is queued in the
// shredding transaction and the row removed once the archive store deleted the blob.
// The queue is guarded like the journal: a row can only be queued for a record that is shredded,
// under its own blob key, so dime_app cannot use it to delete a live record's blob.
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764320000000-audit-trail';

export class JournalBlobDeletions1764620000000 implements MigrationInterface {
  name = 'JournalBlobDeletions1764620000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE journal_blob_deletions (
        record_id uuid PRIMARY KEY REFERENCES journal_records (id),
        blob_key text NOT NULL,
        queued_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE FUNCTION journal_blob_deletion_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM journal_records r WHERE r.id = NEW.record_id AND r.disposed_at IS NOT NULL AND r.wrapped_key IS NULL AND r.blob_key = NEW.blob_key) THEN
          PERFORM retention_refuse(format('journal record %s is not shredded: its blob cannot be queued for deletion', NEW.record_id));
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER journal_blob_deletions_guard BEFORE INSERT OR UPDATE ON journal_blob_deletions FOR EACH ROW EXECUTE FUNCTION journal_blob_deletion_guard()`);
    // records shredded before this migration whose blob was not deleted yet
    await q.query(`INSERT INTO journal_blob_deletions (record_id, blob_key, queued_at)
                   SELECT id, blob_key, disposed_at FROM journal_records WHERE disposed_at IS NOT NULL AND blob_deleted_at IS NULL`);
    await q.query(`DROP INDEX journal_records_blob_pending`);
    await q.query(`ALTER TABLE journal_records DROP COLUMN blob_deleted_at`);
    await q.query(`REVOKE ALL ON journal_blob_deletions FROM PUBLIC`);
    await q.query(`REVOKE ALL ON journal_blob_deletions FROM ${APP_ROLE}`);
    await q.query(`GRANT SELECT, INSERT, DELETE ON journal_blob_deletions TO ${APP_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE journal_records ADD COLUMN blob_deleted_at timestamptz CHECK (blob_deleted_at IS NULL OR disposed_at IS NOT NULL)`);
    await q.query(`UPDATE journal_records SET blob_deleted_at = disposed_at
                   WHERE disposed_at IS NOT NULL AND id NOT IN (SELECT record_id FROM journal_blob_deletions)`);
    await q.query(`CREATE INDEX journal_records_blob_pending ON journal_records (disposed_at) WHERE disposed_at IS NOT NULL AND blob_deleted_at IS NULL`);
    await q.query('DROP TABLE journal_blob_deletions');
    await q.query('DROP FUNCTION journal_blob_deletion_guard()');
  }
}
