// journal_records.local_domain: the organisation's own domain a record belongs to (outbound: the
// sender's domain, inbound: the first recipient's), in plaintext so escrow reports can count records
// per domain. It names the organisation's own domain, never a correspondent or a mailbox: who wrote
// to whom stays blind-indexed. The record guard is replaced so the new column is immutable too.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const GUARD_WITH_LOCAL_DOMAIN = `
      CREATE OR REPLACE FUNCTION journal_record_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
      END $$`;

const GUARD_BEFORE = `
      CREATE OR REPLACE FUNCTION journal_record_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.retain_until > now() THEN PERFORM retention_refuse(format('journal record %s is retained until %s', OLD.id, OLD.retain_until)); END IF;
          IF journal_record_held(OLD.sender_index, OLD.recipient_indexes, OLD.journaled_at) THEN
            PERFORM retention_refuse(format('journal record %s is under legal hold', OLD.id));
          END IF;
          RETURN OLD;
        END IF;
        IF (NEW.id, NEW.message_id, NEW.direction, NEW.journaled_at, NEW.policy_id, NEW.disposition_action, NEW.content_sha256,
            NEW.size, NEW.blob_key, NEW.escrow_key_label, NEW.sender_index, NEW.recipient_indexes)
           IS DISTINCT FROM (OLD.id, OLD.message_id, OLD.direction, OLD.journaled_at, OLD.policy_id, OLD.disposition_action, OLD.content_sha256,
            OLD.size, OLD.blob_key, OLD.escrow_key_label, OLD.sender_index, OLD.recipient_indexes) THEN
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
      END $$`;

export class JournalLocalDomain1764610000000 implements MigrationInterface {
  name = 'JournalLocalDomain1764610000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE journal_records ADD COLUMN local_domain text CHECK (local_domain = lower(local_domain))`);
    await q.query(`CREATE INDEX journal_records_domain_policy ON journal_records (journaled_at, local_domain, policy_id)`);
    await q.query(GUARD_WITH_LOCAL_DOMAIN);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(GUARD_BEFORE);
    await q.query(`DROP INDEX journal_records_domain_policy`);
    await q.query(`ALTER TABLE journal_records DROP COLUMN local_domain`);
  }
}
