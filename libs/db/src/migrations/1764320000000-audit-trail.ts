// The tamper-evident audit trail (docs/audit.md): append-only `audit_entries` (hash chain) and
// `audit_checkpoints` (HSM-signed), enforced twice in PostgreSQL: triggers refuse UPDATE, DELETE
// and TRUNCATE, and the runtime role `dime_app` gets only SELECT/INSERT on them. It is not the
// owner, so it can neither drop nor disable the triggers. The migration runs as the owner role and
// also gives `dime_app` ordinary DML on the operational tables (existing and future ones).
import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The runtime role of a split deployment (scripts/setup/services.sh creates it with LOGIN). */
export const APP_ROLE = 'dime_app';

export class AuditTrail1764320000000 implements MigrationInterface {
  name = 'AuditTrail1764320000000';

  async up(q: QueryRunner): Promise<void> {
    // NOLOGIN when the migration has to make it: a migration never carries a password; the setup
    // script (or the operator) gives it LOGIN and one. Several test databases migrate at once.
    await q.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
          CREATE ROLE ${APP_ROLE} NOLOGIN;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
    await q.query(`DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO ${APP_ROLE}', current_database()); END $$`);
    await q.query(`GRANT USAGE ON SCHEMA public TO ${APP_ROLE}`);

    await q.query(`
      CREATE TABLE audit_entries (
        seq bigint PRIMARY KEY CHECK (seq >= 1),
        time timestamptz NOT NULL,
        actor text NOT NULL,
        actor_address text,
        action text NOT NULL,
        object_type text,
        object_id text,
        outcome text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        prev_hash bytea NOT NULL UNIQUE CHECK (octet_length(prev_hash) = 32),
        hash bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32)
      )`);
    await q.query(`CREATE INDEX audit_entries_time ON audit_entries (time)`);
    await q.query(`
      CREATE TABLE audit_checkpoints (
        seq bigint PRIMARY KEY REFERENCES audit_entries (seq),
        hash bytea NOT NULL CHECK (octet_length(hash) = 32),
        time timestamptz NOT NULL,
        prev_checkpoint_seq bigint NOT NULL CHECK (prev_checkpoint_seq >= 0 AND prev_checkpoint_seq < seq),
        checkpoint_interval integer NOT NULL CHECK (checkpoint_interval >= 1),
        key_label text NOT NULL,
        signature bytea NOT NULL
      )`);
    await q.query(`
      CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    for (const table of ['audit_entries', 'audit_checkpoints']) {
      await q.query(`CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()`);
      await q.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);
    }

    // operational tables (all of them, and those later migrations of this owner create), then
    // the exceptions: the audit tables append-only, the migration history read-only
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${APP_ROLE}`);
    await q.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${APP_ROLE}`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${APP_ROLE}`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${APP_ROLE}`);
    await q.query(`REVOKE ALL ON audit_entries, audit_checkpoints, schema_migrations FROM ${APP_ROLE}`);
    await q.query(`REVOKE ALL ON audit_entries, audit_checkpoints FROM PUBLIC`);
    await q.query(`GRANT SELECT, INSERT ON audit_entries, audit_checkpoints TO ${APP_ROLE}`);
    await q.query(`GRANT SELECT ON schema_migrations TO ${APP_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM ${APP_ROLE}`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM ${APP_ROLE}`);
    await q.query('DROP TABLE audit_checkpoints');
    await q.query('DROP TABLE audit_entries');
    await q.query('DROP FUNCTION audit_refuse_change()');
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${APP_ROLE}`);
    await q.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${APP_ROLE}`);
    await q.query(`REVOKE USAGE ON SCHEMA public FROM ${APP_ROLE}`);
    await q.query(`DO $$ BEGIN EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM ${APP_ROLE}', current_database()); END $$`);
    // the role itself stays: roles are cluster-wide and other databases may use it
  }
}
