// PostgreSQL connection settings, read from the environment once (STYLE.md 4) and frozen.
import { RedactedSecret } from '@lib/config';

/** The database password: a RedactedSecret (never printed by logs, JSON or util.inspect). */
export { RedactedSecret as DbPassword };

export interface DbConfig {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The runtime role of this process's pool (DB_USER; `dime_app` in a split deployment). */
  readonly user: string;
  readonly password: RedactedSecret;
  /**
   * The owner role that runs migrations (DB_MIGRATION_USER / DB_MIGRATION_PASSWORD). Absent or
   * equal to `user`: migrations run on the runtime pool itself (the single-role setup).
   */
  readonly migrationUser?: string;
  readonly migrationPassword?: RedactedSecret;
  /** Connections in this process's pool (DB_POOL_SIZE, default 20: at 50 concurrent senders 10 made acceptances wait for a connection, accept/database mean 354 -> 137 ms with 30). */
  readonly poolSize: number;
}

export type DbEnv = Readonly<Record<string, string | undefined>>;

/**
 * From DATABASE_URL (postgres://user:pass@host:port/db) or DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD,
 * plus DB_MIGRATION_USER/DB_MIGRATION_PASSWORD for the owner role (default: the runtime role).
 */
export function dbConfigFromEnv(env: DbEnv): DbConfig {
  const problems: string[] = [];
  let host = env['DB_HOST'] || '127.0.0.1';
  let port = Number(env['DB_PORT'] || 5432);
  let database = env['DB_NAME'] || 'dime_gateway';
  let user = env['DB_USER'] || 'dime';
  let password = env['DB_PASSWORD'] ?? 'dime';
  const url = env['DATABASE_URL'];
  if (url) {
    try {
      const u = new URL(url);
      if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') problems.push('DATABASE_URL must be a postgres:// URL');
      host = u.hostname || host;
      port = u.port ? Number(u.port) : 5432;
      database = decodeURIComponent(u.pathname.replace(/^\//, '')) || database;
      user = decodeURIComponent(u.username) || user;
      password = decodeURIComponent(u.password);
    } catch {
      problems.push('DATABASE_URL is not a valid URL');
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push('DB_PORT must be a port number');
  const poolSize = Number(env['DB_POOL_SIZE'] || 20);
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 200) problems.push('DB_POOL_SIZE must be 1..200');
  if (problems.length > 0) throw new Error(`invalid database configuration: ${problems.join('; ')}`);
  const migrationUser = env['DB_MIGRATION_USER'] || user;
  // an owner role of its own without its password gets the same default as DB_PASSWORD
  const migrationPassword = env['DB_MIGRATION_PASSWORD'] || (migrationUser === user ? password : 'dime');
  return Object.freeze({
    host,
    port,
    database,
    user,
    password: new RedactedSecret(password),
    migrationUser,
    migrationPassword: new RedactedSecret(migrationPassword),
    poolSize,
  });
}
