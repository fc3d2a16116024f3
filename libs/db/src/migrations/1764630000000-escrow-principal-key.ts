// An escrow export is encrypted to its requester's public key (principals.public_key). Without
// this, a holder of the runtime role (dime_app may UPDATE principals) could swap an auditor's key
// between approval and export and receive the records. A key is therefore set once: it never
// changes afterwards, and it cannot be set at all for a principal who already has escrow requests
// (a new key means a new principal, and new approvals). Roles may still change; names never do.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class EscrowPrincipalKey1764630000000 implements MigrationInterface {
  name = 'EscrowPrincipalKey1764630000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION principals_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.name IS DISTINCT FROM OLD.name THEN
          RAISE EXCEPTION 'a principal''s name never changes' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.public_key IS DISTINCT FROM OLD.public_key THEN
          IF OLD.public_key IS NOT NULL THEN
            RAISE EXCEPTION 'principal %: the export key is fixed once set (register a new principal)', OLD.name USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF EXISTS (SELECT 1 FROM escrow_requests r WHERE r.requester = OLD.name) THEN
            RAISE EXCEPTION 'principal % has escrow requests: an export key cannot be added now', OLD.name USING ERRCODE = 'insufficient_privilege';
          END IF;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER principals_key_fixed BEFORE UPDATE ON principals FOR EACH ROW EXECUTE FUNCTION principals_key_fixed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER principals_key_fixed ON principals`);
    await q.query(`DROP FUNCTION principals_key_fixed()`);
  }
}
