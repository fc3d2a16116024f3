// Spooled message bodies in PostgreSQL, next to their queue row. An accepted message's sealed body
// (the spool file format: AES-256-GCM under a spool key, the message id as associated data) is
// inserted by the same statement as its messages and recipients rows, so one commit (one WAL
// fsync, shared by the group) makes the message durable, instead of a file fsync, a directory
// fsync and then the commit, one after the other, before the 250 (bench/stack-floor-bench.ts,
// level "queue, body in db"). Row and body exist together or not at all: no torn or missing file
// behind a committed row. The body is deleted when its message becomes 'done' (a trigger, so no
// finishing statement can forget it; a delete in each finishing statement lengthened their
// planning, which then ran at every execution), and with the message row (cascade). Large messages stay
// in spool files (AcceptanceSettings). STORAGE EXTERNAL: ciphertext does not compress, so TOAST
// does not try.
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764320000000-audit-trail';

export class SpoolBodies1764700000000 implements MigrationInterface {
  name = 'SpoolBodies1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE spool_bodies (
        message_id uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
        sealed bytea NOT NULL
      )`);
    await q.query('ALTER TABLE spool_bodies ALTER COLUMN sealed SET STORAGE EXTERNAL');
    await q.query(`
      CREATE FUNCTION spool_body_release() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM spool_bodies WHERE message_id = NEW.id;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER messages_done_release_body AFTER UPDATE OF state ON messages
                   FOR EACH ROW WHEN (NEW.state = 'done' AND OLD.state <> 'done') EXECUTE FUNCTION spool_body_release()`);
    await q.query('REVOKE ALL ON spool_bodies FROM PUBLIC');
    // a body is written once and never changed: no UPDATE
    await q.query(`REVOKE ALL ON spool_bodies FROM ${APP_ROLE}`);
    await q.query(`GRANT SELECT, INSERT, DELETE ON spool_bodies TO ${APP_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER messages_done_release_body ON messages');
    await q.query('DROP FUNCTION spool_body_release()');
    await q.query('DROP TABLE spool_bodies');
  }
}
