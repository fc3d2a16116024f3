// Escrow recovery under dual control (issue #6): principals with roles, escrow requests, their
// approvals and the exports made from approved ones. The rules the service enforces are enforced
// again here, so that the application's role `dime_app` cannot bypass them with plain SQL:
// - an approval comes from a principal holding `escrow-approver`, never the requester, only while
//   the request is open, once per approver (UNIQUE); approvals and exports are append-only;
// - a request becomes `approved` (and later `exported`) only when at least `required_approvals`
//   distinct approvers approved it; `denied` only with a denial recorded; scope, requester and
//   quorum never change after the request is opened; status moves only forward.
// Self-contained: the journal tables (migration 1764500000000) are not referenced, so the order
// of the two migrations does not matter.
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764320000000-audit-trail';

export class EscrowRecovery1764600000000 implements MigrationInterface {
  name = 'EscrowRecovery1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE principals (
        name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$'),
        roles text[] NOT NULL CHECK (
          cardinality(roles) >= 1
          AND roles <@ ARRAY['auditor', 'escrow-approver', 'compliance-officer', 'admin']::text[]
        ),
        -- DER SubjectPublicKeyInfo (P-256 or X25519) that escrow exports are encrypted to
        public_key bytea,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE escrow_requests (
        id uuid PRIMARY KEY,
        case_ref text NOT NULL CHECK (length(case_ref) BETWEEN 1 AND 200),
        -- scope: a custodian (blind index only, never the address) and/or a date range and/or record ids
        custodian_index bytea CHECK (octet_length(custodian_index) = 32),
        custodian_domain text,
        date_from timestamptz,
        date_to timestamptz,
        record_ids uuid[],
        justification text NOT NULL CHECK (length(justification) BETWEEN 1 AND 4000),
        requester text NOT NULL REFERENCES principals (name),
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'denied', 'expired', 'exported')),
        required_approvals integer NOT NULL CHECK (required_approvals BETWEEN 1 AND 16),
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        approved_at timestamptz,
        closed_at timestamptz,
        CHECK (expires_at > created_at),
        CHECK (date_from IS NULL OR date_to IS NULL OR date_from < date_to),
        CHECK (custodian_index IS NOT NULL OR record_ids IS NOT NULL OR date_from IS NOT NULL),
        CHECK (record_ids IS NULL OR cardinality(record_ids) BETWEEN 1 AND 100000)
      )`);
    await q.query(`CREATE INDEX escrow_requests_created ON escrow_requests (created_at)`);
    await q.query(`CREATE INDEX escrow_requests_open_expiry ON escrow_requests (expires_at) WHERE status IN ('open', 'approved')`);

    await q.query(`
      CREATE TABLE escrow_approvals (
        request_id uuid NOT NULL REFERENCES escrow_requests (id),
        approver text NOT NULL REFERENCES principals (name),
        decision text NOT NULL CHECK (decision IN ('approve', 'deny')),
        decided_at timestamptz NOT NULL,
        PRIMARY KEY (request_id, approver)
      )`);
    await q.query(`CREATE INDEX escrow_approvals_decided ON escrow_approvals (decided_at)`);

    await q.query(`
      CREATE TABLE escrow_exports (
        id uuid PRIMARY KEY,
        request_id uuid NOT NULL UNIQUE REFERENCES escrow_requests (id),
        file_sha256 bytea NOT NULL CHECK (octet_length(file_sha256) = 32),
        manifest jsonb NOT NULL,
        record_count integer NOT NULL CHECK (record_count >= 0),
        exported_by text NOT NULL REFERENCES principals (name),
        exported_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX escrow_exports_at ON escrow_exports (exported_at)`);

    // distinct approvers (never the requester) who approved a request
    await q.query(`
      CREATE FUNCTION escrow_approval_count(req uuid) RETURNS integer LANGUAGE sql STABLE AS $$
        SELECT count(DISTINCT a.approver)::integer
          FROM escrow_approvals a JOIN escrow_requests r ON r.id = a.request_id
         WHERE a.request_id = req AND a.decision = 'approve' AND a.approver <> r.requester
      $$`);

    await q.query(`
      CREATE FUNCTION escrow_request_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.status <> 'open' THEN
            RAISE EXCEPTION 'an escrow request starts open' USING ERRCODE = 'check_violation';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.name = NEW.requester AND 'auditor' = ANY (p.roles)) THEN
            RAISE EXCEPTION 'escrow requester % lacks the auditor role', NEW.requester USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END IF;
        IF NEW.id IS DISTINCT FROM OLD.id OR NEW.case_ref IS DISTINCT FROM OLD.case_ref
           OR NEW.custodian_index IS DISTINCT FROM OLD.custodian_index OR NEW.custodian_domain IS DISTINCT FROM OLD.custodian_domain
           OR NEW.date_from IS DISTINCT FROM OLD.date_from OR NEW.date_to IS DISTINCT FROM OLD.date_to
           OR NEW.record_ids IS DISTINCT FROM OLD.record_ids OR NEW.justification IS DISTINCT FROM OLD.justification
           OR NEW.requester IS DISTINCT FROM OLD.requester OR NEW.required_approvals IS DISTINCT FROM OLD.required_approvals
           OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
          RAISE EXCEPTION 'an escrow request''s scope, requester, quorum and dates never change' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status = OLD.status THEN
          IF NEW.approved_at IS DISTINCT FROM OLD.approved_at OR NEW.closed_at IS DISTINCT FROM OLD.closed_at THEN
            RAISE EXCEPTION 'escrow request timestamps change only with the status' USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END IF;
        IF NOT (
             (OLD.status = 'open' AND NEW.status IN ('approved', 'denied', 'expired'))
          OR (OLD.status = 'approved' AND NEW.status IN ('exported', 'expired'))
        ) THEN
          RAISE EXCEPTION 'escrow request % cannot go from % to %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status IN ('approved', 'exported') AND escrow_approval_count(OLD.id) < OLD.required_approvals THEN
          RAISE EXCEPTION 'escrow request % has fewer than % distinct approvals', OLD.id, OLD.required_approvals USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status = 'approved' AND NEW.approved_at IS NULL THEN
          RAISE EXCEPTION 'approved_at is required' USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status = 'denied' AND NOT EXISTS (SELECT 1 FROM escrow_approvals a WHERE a.request_id = OLD.id AND a.decision = 'deny') THEN
          RAISE EXCEPTION 'escrow request % has no denial', OLD.id USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status = 'exported' AND NOT EXISTS (SELECT 1 FROM escrow_exports e WHERE e.request_id = OLD.id) THEN
          RAISE EXCEPTION 'escrow request % has no recorded export', OLD.id USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER escrow_requests_guard BEFORE INSERT OR UPDATE ON escrow_requests FOR EACH ROW EXECUTE FUNCTION escrow_request_guard()`);

    await q.query(`
      CREATE FUNCTION escrow_approval_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        req escrow_requests%ROWTYPE;
      BEGIN
        SELECT * INTO req FROM escrow_requests WHERE id = NEW.request_id FOR UPDATE;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'no escrow request %', NEW.request_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF NEW.approver = req.requester THEN
          RAISE EXCEPTION 'the requester cannot decide on their own escrow request' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF req.status <> 'open' THEN
          RAISE EXCEPTION 'escrow request % is %, not open', req.id, req.status USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.name = NEW.approver AND 'escrow-approver' = ANY (p.roles)) THEN
          RAISE EXCEPTION 'principal % lacks the escrow-approver role', NEW.approver USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER escrow_approvals_guard BEFORE INSERT ON escrow_approvals FOR EACH ROW EXECUTE FUNCTION escrow_approval_guard()`);

    await q.query(`
      CREATE FUNCTION escrow_export_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        req escrow_requests%ROWTYPE;
      BEGIN
        SELECT * INTO req FROM escrow_requests WHERE id = NEW.request_id FOR UPDATE;
        IF NOT FOUND OR req.status <> 'approved' THEN
          RAISE EXCEPTION 'escrow request % is not approved', NEW.request_id USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF escrow_approval_count(req.id) < req.required_approvals THEN
          RAISE EXCEPTION 'escrow request % has fewer than % distinct approvals', req.id, req.required_approvals USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.exported_by <> req.requester THEN
          RAISE EXCEPTION 'an escrow export is made for its requester only' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER escrow_exports_guard BEFORE INSERT ON escrow_exports FOR EACH ROW EXECUTE FUNCTION escrow_export_guard()`);

    await q.query(`
      CREATE FUNCTION escrow_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    for (const table of ['escrow_approvals', 'escrow_exports']) {
      await q.query(`CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION escrow_refuse_change()`);
      await q.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION escrow_refuse_change()`);
    }
    await q.query(`CREATE TRIGGER escrow_requests_no_delete BEFORE DELETE ON escrow_requests FOR EACH ROW EXECUTE FUNCTION escrow_refuse_change()`);
    await q.query(`CREATE TRIGGER escrow_requests_no_truncate BEFORE TRUNCATE ON escrow_requests FOR EACH STATEMENT EXECUTE FUNCTION escrow_refuse_change()`);

    // the default privileges of the audit migration gave dime_app full DML: narrow it
    await q.query(`REVOKE ALL ON principals, escrow_requests, escrow_approvals, escrow_exports FROM ${APP_ROLE}`);
    await q.query(`REVOKE ALL ON principals, escrow_requests, escrow_approvals, escrow_exports FROM PUBLIC`);
    await q.query(`GRANT SELECT, INSERT, UPDATE ON principals, escrow_requests TO ${APP_ROLE}`);
    await q.query(`GRANT SELECT, INSERT ON escrow_approvals, escrow_exports TO ${APP_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE escrow_exports');
    await q.query('DROP TABLE escrow_approvals');
    await q.query('DROP TABLE escrow_requests');
    await q.query('DROP TABLE principals');
    await q.query('DROP FUNCTION escrow_refuse_change()');
    await q.query('DROP FUNCTION escrow_export_guard()');
    await q.query('DROP FUNCTION escrow_approval_guard()');
    await q.query('DROP FUNCTION escrow_request_guard()');
    await q.query('DROP FUNCTION escrow_approval_count(uuid)');
  }
}
