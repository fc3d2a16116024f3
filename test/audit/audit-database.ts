// Test harness for the audit trail on the shared PostgreSQL: the runtime-role config of a test
// database (dime_app, migrations as the owner), a superuser psql through the local socket (the
// tamperer of the tests), and database copies made from a template.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { APP_ROLE, DbPassword, type DbConfig } from '@lib/db';

export const APP_PASSWORD = 'dime';

/** The same database as the runtime role dime_app; migrations run as the owner of `owner`. */
export function appRoleConfig(owner: DbConfig): DbConfig {
  return Object.freeze({
    ...owner,
    user: APP_ROLE,
    password: new DbPassword(APP_PASSWORD),
    migrationUser: owner.user,
    migrationPassword: owner.password,
  });
}

/** Runs SQL as the PostgreSQL superuser `postgres` (local socket, as scripts/setup/services.sh does). */
export function superuserSql(config: DbConfig, sql: string): string {
  return execFileSync(
    '/usr/sbin/runuser',
    ['-u', 'postgres', '--', 'psql', '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-p', String(config.port), '-d', config.database, '-c', sql],
    { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
  ).toString();
}

/** What services.sh does on a fresh machine: the runtime role may log in (a migration makes it NOLOGIN). */
export function ensureAppRoleLogin(config: DbConfig): void {
  superuserSql(
    config,
    `DO $$ BEGIN
       IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}' AND NOT rolcanlogin) THEN
         ALTER ROLE ${APP_ROLE} LOGIN PASSWORD '${APP_PASSWORD}';
       END IF;
     END $$`,
  );
}

/** A connected pg client as the given config's role (close it with end()). */
export async function connectAs(config: DbConfig): Promise<Client> {
  const client = new Client({ host: config.host, port: config.port, user: config.user, password: config.password.reveal(), database: config.database });
  await client.connect();
  return client;
}

/** CREATE DATABASE copy TEMPLATE source (no session may be connected to source). */
export async function copyDatabase(owner: DbConfig, prefix = 'dime_audit_copy'): Promise<{ config: DbConfig; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = await connectAs({ ...owner, database: 'postgres' });
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${owner.database}"`);
  } finally {
    await admin.end();
  }
  const config = Object.freeze({ ...owner, database: name });
  return {
    config,
    drop: async () => {
      const c = await connectAs({ ...owner, database: 'postgres' });
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
