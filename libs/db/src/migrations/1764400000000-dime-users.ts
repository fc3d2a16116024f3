// Local DIME users of trustful mode (issue #5): the gateway holds each user's keys, wrapped under the
// HSM key-encryption key (AES key wrap with padding, never in the clear here), and the user signet
// signed by the org POK in the HSM. Users are suspended, never deleted by the runtime: a deleted key
// would make mail already sealed to it unreadable, so dime_app gets SELECT/INSERT/UPDATE only.
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764320000000-audit-trail';

export class DimeUsers1764400000000 implements MigrationInterface {
  name = 'DimeUsers1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE dime_users (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        address text NOT NULL CHECK (address = split_part(address, '@', 1) || '@' || domain AND position('@' IN address) > 1),
        domain text NOT NULL CHECK (domain = lower(domain) AND domain <> ''),
        status text NOT NULL CHECK (status IN ('active', 'suspended')),
        wrapped_signing_seed bytea NOT NULL,
        wrapped_encryption_key bytea NOT NULL,
        kek_label text NOT NULL,
        signet bytea NOT NULL,
        fingerprint_crypto text NOT NULL,
        fingerprint_full text NOT NULL,
        fingerprint_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        suspended_at timestamptz,
        CHECK ((status = 'suspended') = (suspended_at IS NOT NULL))
      )`);
    // one user per address whatever the case of its local part (lookups go through this index)
    await q.query(`CREATE UNIQUE INDEX dime_users_address ON dime_users (lower(address))`);
    await q.query(`CREATE INDEX dime_users_fingerprint_crypto ON dime_users (fingerprint_crypto)`);
    await q.query(`REVOKE ALL ON dime_users FROM ${APP_ROLE}`);
    await q.query(`GRANT SELECT, INSERT, UPDATE ON dime_users TO ${APP_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE dime_users');
  }
}
