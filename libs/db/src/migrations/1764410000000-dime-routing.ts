// DIME routing (issue #5): a recipient may go out over DMTP (`route = 'dmtp'`); an accepted message
// is either an RFC 5322 message or a D/MIME message received over DMTP (`format`), which the
// pipeline opens before relaying it to the legacy server; each domain may carry a DIME policy
// (required: never plain SMTP; preferred: DMTP when the domain publishes `_dx`, else SMTP; off).
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class DimeRouting1764410000000 implements MigrationInterface {
  name = 'DimeRouting1764410000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE recipients DROP CONSTRAINT IF EXISTS recipients_route_check`);
    await q.query(`ALTER TABLE recipients ADD CONSTRAINT recipients_route_check CHECK (route IN ('legacy', 'remote', 'dmtp'))`);
    await q.query(`ALTER TABLE messages ADD COLUMN format text NOT NULL DEFAULT 'rfc5322' CHECK (format IN ('rfc5322', 'dime'))`);
    await q.query(`ALTER TABLE domain_policies ALTER COLUMN tls_policy DROP NOT NULL`);
    await q.query(`ALTER TABLE domain_policies ADD COLUMN dime_policy text CHECK (dime_policy IN ('required', 'preferred', 'off'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE domain_policies DROP COLUMN dime_policy`);
    await q.query(`DELETE FROM domain_policies WHERE tls_policy IS NULL`);
    await q.query(`ALTER TABLE domain_policies ALTER COLUMN tls_policy SET NOT NULL`);
    await q.query(`ALTER TABLE messages DROP COLUMN format`);
    await q.query(`DELETE FROM recipients WHERE route = 'dmtp'`);
    await q.query(`ALTER TABLE recipients DROP CONSTRAINT IF EXISTS recipients_route_check`);
    await q.query(`ALTER TABLE recipients ADD CONSTRAINT recipients_route_check CHECK (route IN ('legacy', 'remote'))`);
  }
}
