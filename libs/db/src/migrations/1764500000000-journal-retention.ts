// The compliance journal and its retention rules (docs/compliance.md, libs/escrow):
// `retention_policies`, `journal_records` (ciphertext lives in the archive store; this table holds
// the wrapped record key, the content hash and blind indexes, never an address), `legal_holds`,
// `disposition_certificates` and `disposition_reviews`.
// The rules that make retention trustworthy are enforced HERE, in triggers, so that the runtime
// role dime_app (which is not the owner and cannot drop or disable triggers) cannot break them
// through SQL either:
//   - a locked policy cannot be unlocked, disabled, deleted, shortened or otherwise changed (only
//     its duration may grow);
//   - a record's retain_until may only grow; its identity, hash, blob and indexes never change;
//   - a record cannot be shredded (wrapped key set to NULL) or deleted before its retain_until,
//     nor while an active legal hold covers it; a shredded key never comes back;
//   - an active hold cannot be deleted or narrowed, only released (once);
//   - disposition certificates are append-only.
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764320000000-audit-trail';

export class JournalRetention1764500000000 implements MigrationInterface {
  name = 'JournalRetention1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE retention_policies (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE CHECK (name <> ''),
        scope text NOT NULL CHECK (scope IN ('all', 'domain', 'user', 'direction')),
        scope_value text,
        retention_days integer NOT NULL CHECK (retention_days >= 1 AND retention_days <= 36500),
        action text NOT NULL CHECK (action IN ('dispose', 'review')),
        priority integer NOT NULL DEFAULT 0,
        locked boolean NOT NULL DEFAULT false,
        locked_at timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((scope = 'all') = (scope_value IS NULL)),
        CHECK (scope <> 'direction' OR scope_value IN ('inbound', 'outbound')),
        CHECK (locked = (locked_at IS NOT NULL))
      )`);

    await q.query(`
      CREATE TABLE disposition_certificates (
        id uuid PRIMARY KEY,
        issued_at timestamptz NOT NULL,
        record_count integer NOT NULL CHECK (record_count >= 0),
        journaled_from timestamptz,
        journaled_to timestamptz,
        key_label text NOT NULL,
        certificate text NOT NULL,
        signature bytea NOT NULL
      )`);
    await q.query(`CREATE INDEX disposition_certificates_issued ON disposition_certificates (issued_at)`);

    await q.query(`
      CREATE TABLE journal_records (
        id uuid PRIMARY KEY,
        message_id uuid NOT NULL UNIQUE,
        direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        journaled_at timestamptz NOT NULL,
        retain_until timestamptz NOT NULL CHECK (retain_until > journaled_at),
        policy_id uuid REFERENCES retention_policies (id),
        disposition_action text NOT NULL CHECK (disposition_action IN ('dispose', 'review')),
        content_sha256 bytea NOT NULL CHECK (octet_length(content_sha256) = 32),
        size integer NOT NULL CHECK (size >= 0),
        blob_key text NOT NULL UNIQUE,
        escrow_key_label text NOT NULL,
        wrapped_key bytea CHECK (octet_length(wrapped_key) = 40),
        ephemeral_public_key bytea CHECK (octet_length(ephemeral_public_key) = 97),
        sender_index bytea NOT NULL CHECK (octet_length(sender_index) = 32),
        recipient_indexes bytea[] NOT NULL,
        review_state text CHECK (review_state IN ('pending', 'approved')),
        disposed_at timestamptz,
        disposition_id uuid REFERENCES disposition_certificates (id) DEFERRABLE INITIALLY DEFERRED,
        -- the organisation's own domain of the record (outbound: the sender's, inbound: the first
        -- recipient's), in plaintext for per-domain escrow reports; never a correspondent or mailbox
        local_domain text CHECK (local_domain = lower(local_domain)),
        blob_deleted_at timestamptz,
        CHECK ((wrapped_key IS NULL) = (ephemeral_public_key IS NULL)),
        CHECK ((disposed_at IS NULL) = (wrapped_key IS NOT NULL)),
        CHECK ((disposed_at IS NULL) = (disposition_id IS NULL)),
        CHECK (blob_deleted_at IS NULL OR disposed_at IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX journal_records_sender ON journal_records (sender_index)`);
    await q.query(`CREATE INDEX journal_records_recipients ON journal_records USING GIN (recipient_indexes)`);
    await q.query(`CREATE INDEX journal_records_journaled ON journal_records (journaled_at)`);
    await q.query(`CREATE INDEX journal_records_due ON journal_records (retain_until, id) WHERE disposed_at IS NULL`);
    await q.query(`CREATE INDEX journal_records_blob_pending ON journal_records (disposed_at) WHERE disposed_at IS NOT NULL AND blob_deleted_at IS NULL`);
    await q.query(`CREATE INDEX journal_records_policy ON journal_records (policy_id)`);
    await q.query(`CREATE INDEX journal_records_domain_policy ON journal_records (journaled_at, local_domain, policy_id)`);

    await q.query(`
      CREATE TABLE legal_holds (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        case_name text NOT NULL CHECK (case_name <> ''),
        custodian_indexes bytea[] NOT NULL CHECK (cardinality(custodian_indexes) >= 1),
        date_from timestamptz,
        date_to timestamptz,
        reason text,
        placed_by text NOT NULL,
        placed_at timestamptz NOT NULL,
        released_by text,
        released_at timestamptz,
        CHECK (date_from IS NULL OR date_to IS NULL OR date_from < date_to),
        CHECK ((released_by IS NULL) = (released_at IS NULL))
      )`);
    await q.query(`CREATE INDEX legal_holds_active ON legal_holds (placed_at) WHERE released_at IS NULL`);

    // ---- the rules --------------------------------------------------------------------------
    await q.query(`
      CREATE FUNCTION retention_refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '%', message USING ERRCODE = 'insufficient_privilege', HINT = 'dime-retention';
      END $$`);

    await q.query(`
      CREATE FUNCTION retention_policy_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.locked THEN PERFORM retention_refuse(format('retention policy %s is locked: it cannot be deleted', OLD.id)); END IF;
          IF EXISTS (SELECT 1 FROM journal_records WHERE policy_id = OLD.id) THEN
            PERFORM retention_refuse(format('retention policy %s governs journal records: disable it instead', OLD.id));
          END IF;
          RETURN OLD;
        END IF;
        IF OLD.locked THEN
          IF NOT NEW.locked THEN PERFORM retention_refuse(format('retention policy %s is locked: locking is one-way', OLD.id)); END IF;
          IF NEW.retention_days < OLD.retention_days THEN PERFORM retention_refuse(format('retention policy %s is locked: it cannot be shortened', OLD.id)); END IF;
          IF NOT NEW.enabled AND OLD.enabled THEN PERFORM retention_refuse(format('retention policy %s is locked: it cannot be disabled', OLD.id)); END IF;
          IF (NEW.id, NEW.name, NEW.scope, NEW.scope_value, NEW.action, NEW.priority, NEW.locked_at, NEW.enabled, NEW.created_at)
             IS DISTINCT FROM (OLD.id, OLD.name, OLD.scope, OLD.scope_value, OLD.action, OLD.priority, OLD.locked_at, OLD.enabled, OLD.created_at) THEN
            PERFORM retention_refuse(format('retention policy %s is locked: only its duration may grow', OLD.id));
          END IF;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER retention_policies_guard BEFORE UPDATE OR DELETE ON retention_policies FOR EACH ROW EXECUTE FUNCTION retention_policy_guard()`);

    // is the record (its sender index, recipient indexes, journal time) under an active hold?
    await q.query(`
      CREATE FUNCTION journal_record_held(sender bytea, recipients bytea[], journaled timestamptz) RETURNS boolean
      LANGUAGE sql STABLE AS $$
        SELECT EXISTS (
          SELECT 1 FROM legal_holds h
          WHERE h.released_at IS NULL
            AND (sender = ANY (h.custodian_indexes) OR recipients && h.custodian_indexes)
            AND (h.date_from IS NULL OR journaled >= h.date_from)
            AND (h.date_to IS NULL OR journaled < h.date_to))
      $$`);

    await q.query(`
      CREATE FUNCTION journal_record_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.retain_until > now() THEN PERFORM retention_refuse(format('journal record %s is retained until %s', OLD.id, OLD.retain_until)); END IF;
          IF journal_record_held(OLD.sender_index, OLD.recipient_indexes, OLD.journaled_at) THEN
            PERFORM retention_refuse(format('journal record %s is under legal hold', OLD.id));
          END IF;
          RETURN OLD;
        END IF;
        IF (NEW.id, NEW.message_id, NEW.direction, NEW.journaled_at, NEW.policy_id, NEW.disposition_action, NEW.content_sha256,
            NEW.size, NEW.blob_key, NEW.escrow_key_label, NEW.sender_index, NEW.recipient_indexes, NEW.local_domain)
           IS DISTINCT FROM (OLD.id, OLD.message_id, OLD.direction, OLD.journaled_at, OLD.policy_id, OLD.disposition_action, OLD.content_sha256,
            OLD.size, OLD.blob_key, OLD.escrow_key_label, OLD.sender_index, OLD.recipient_indexes, OLD.local_domain) THEN
          PERFORM retention_refuse(format('journal record %s: only retention, review and disposition fields may change', OLD.id));
        END IF;
        IF NEW.retain_until < OLD.retain_until THEN PERFORM retention_refuse(format('journal record %s: retain_until cannot be shortened', OLD.id)); END IF;
        IF OLD.wrapped_key IS NULL THEN
          IF NEW.wrapped_key IS NOT NULL OR NEW.disposed_at IS DISTINCT FROM OLD.disposed_at OR NEW.disposition_id IS DISTINCT FROM OLD.disposition_id THEN
            PERFORM retention_refuse(format('journal record %s was shredded: its disposition is final', OLD.id));
          END IF;
        ELSIF NEW.wrapped_key IS NULL OR NEW.wrapped_key IS DISTINCT FROM OLD.wrapped_key OR NEW.ephemeral_public_key IS DISTINCT FROM OLD.ephemeral_public_key THEN
          IF OLD.retain_until > now() THEN PERFORM retention_refuse(format('journal record %s is retained until %s', OLD.id, OLD.retain_until)); END IF;
          IF journal_record_held(OLD.sender_index, OLD.recipient_indexes, OLD.journaled_at) THEN
            PERFORM retention_refuse(format('journal record %s is under legal hold', OLD.id));
          END IF;
          IF NEW.wrapped_key IS NOT NULL THEN PERFORM retention_refuse(format('journal record %s: the wrapped key cannot be replaced', OLD.id)); END IF;
          IF OLD.disposition_action = 'review' AND OLD.review_state IS DISTINCT FROM 'approved' THEN
            PERFORM retention_refuse(format('journal record %s awaits disposition review', OLD.id));
          END IF;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER journal_records_guard BEFORE UPDATE OR DELETE ON journal_records FOR EACH ROW EXECUTE FUNCTION journal_record_guard()`);

    await q.query(`
      CREATE FUNCTION legal_hold_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          PERFORM retention_refuse(format('legal hold %s cannot be deleted (release it)', OLD.id));
        END IF;
        IF OLD.released_at IS NOT NULL THEN PERFORM retention_refuse(format('legal hold %s was released: it is final', OLD.id)); END IF;
        IF (NEW.id, NEW.case_name, NEW.custodian_indexes, NEW.date_from, NEW.date_to, NEW.reason, NEW.placed_by, NEW.placed_at)
           IS DISTINCT FROM (OLD.id, OLD.case_name, OLD.custodian_indexes, OLD.date_from, OLD.date_to, OLD.reason, OLD.placed_by, OLD.placed_at) THEN
          PERFORM retention_refuse(format('legal hold %s: an active hold can only be released', OLD.id));
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER legal_holds_guard BEFORE UPDATE OR DELETE ON legal_holds FOR EACH ROW EXECUTE FUNCTION legal_hold_guard()`);

    await q.query(`
      CREATE FUNCTION retention_refuse_statement() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM retention_refuse(format('%s on %s refused: retention rules apply row by row', TG_OP, TG_TABLE_NAME));
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION disposition_certificate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM retention_refuse(format('disposition certificates are append-only: %s refused', TG_OP));
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER disposition_certificates_append_only BEFORE UPDATE OR DELETE ON disposition_certificates FOR EACH ROW EXECUTE FUNCTION disposition_certificate_guard()`);
    for (const table of ['retention_policies', 'journal_records', 'legal_holds', 'disposition_certificates']) {
      await q.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION retention_refuse_statement()`);
    }

    // runtime role: ordinary DML where the triggers guard it; certificates append-only
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON retention_policies, journal_records, legal_holds TO ${APP_ROLE}`);
    await q.query(`REVOKE ALL ON disposition_certificates FROM ${APP_ROLE}`);
    await q.query(`GRANT SELECT, INSERT ON disposition_certificates TO ${APP_ROLE}`);
    await q.query(`REVOKE ALL ON retention_policies, journal_records, legal_holds, disposition_certificates FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE legal_holds');
    await q.query('DROP TABLE journal_records');
    await q.query('DROP TABLE disposition_certificates');
    await q.query('DROP TABLE retention_policies');
    await q.query('DROP FUNCTION journal_record_guard()');
    await q.query('DROP FUNCTION journal_record_held(bytea, bytea[], timestamptz)');
    await q.query('DROP FUNCTION legal_hold_guard()');
    await q.query('DROP FUNCTION retention_policy_guard()');
    await q.query('DROP FUNCTION disposition_certificate_guard()');
    await q.query('DROP FUNCTION retention_refuse_statement()');
    await q.query('DROP FUNCTION retention_refuse(text)');
  }
}
