// The gateway's durable queue: messages, recipients, per-domain TLS policy, wrapped spool keys.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class GatewayQueue1764230400000 implements MigrationInterface {
  name = 'GatewayQueue1764230400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE spool_keys (
        id serial PRIMARY KEY,
        wrapped_key bytea NOT NULL,
        kek_label text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE messages (
        id uuid PRIMARY KEY,
        queue_id text NOT NULL UNIQUE,
        direction text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
        mail_from text NOT NULL,
        size integer NOT NULL CHECK (size >= 0),
        sha256 bytea NOT NULL CHECK (octet_length(sha256) = 32),
        spool_key_id integer NOT NULL REFERENCES spool_keys (id),
        header_message_id text,
        client_address text NOT NULL,
        client_helo text,
        auth_user text,
        received_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done'))
      )`);
    await q.query(`CREATE INDEX messages_header_message_id ON messages (header_message_id)`);
    await q.query(`CREATE INDEX messages_queued ON messages (received_at) WHERE state = 'queued'`);
    await q.query(`
      CREATE TABLE recipients (
        id uuid PRIMARY KEY,
        message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        address text NOT NULL,
        domain text NOT NULL,
        route text CHECK (route IN ('legacy', 'remote')),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'queued', 'deferred', 'delivered', 'bounced')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_reply text,
        delivered_at timestamptz,
        delay_notified_at timestamptz,
        bounced_at timestamptz
      )`);
    await q.query(`CREATE INDEX recipients_message_id ON recipients (message_id)`);
    await q.query(`CREATE INDEX recipients_due ON recipients (status, next_attempt_at) WHERE status IN ('pending', 'queued', 'deferred')`);
    await q.query(`
      CREATE TABLE domain_policies (
        domain text PRIMARY KEY CHECK (domain = lower(domain)),
        tls_policy text NOT NULL CHECK (tls_policy IN ('opportunistic', 'required', 'required-verified')),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE domain_policies');
    await q.query('DROP TABLE recipients');
    await q.query('DROP TABLE messages');
    await q.query('DROP TABLE spool_keys');
  }
}
