// Test harness: a fresh PostgreSQL database per test file (real server, real migrations), dropped
// afterwards. Connects as the project role created by scripts/setup/services.sh.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { dbConfigFromEnv, type DbConfig } from '@lib/db';

function adminConfig(): DbConfig {
  return dbConfigFromEnv({ ...process.env, DB_NAME: process.env['DB_NAME'] ?? 'dime_gateway_test' });
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const cfg = adminConfig();
  const client = new Client({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password.reveal(), database: cfg.database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * The DB_* settings a child process (gateway, operator CLI) reads for `config`; with `owner`, also
 * the role that runs migrations (DB_MIGRATION_*) when `config` is the runtime role.
 */
export function dbEnv(config: DbConfig, owner?: DbConfig): Record<string, string> {
  return {
    DB_HOST: config.host,
    DB_PORT: String(config.port),
    DB_NAME: config.database,
    DB_USER: config.user,
    DB_PASSWORD: config.password.reveal(),
    ...(owner ? { DB_MIGRATION_USER: owner.user, DB_MIGRATION_PASSWORD: owner.password.reveal() } : {}),
  };
}

export interface TestDatabase {
  readonly config: DbConfig;
  readonly name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'dime_t'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const config = dbConfigFromEnv({ ...process.env, DATABASE_URL: undefined, DB_NAME: name });
  return {
    config,
    name,
    drop: () => dropDatabase(name),
  };
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * DROP ... WITH (FORCE) terminates the database's other sessions, which the project role may only
 * do to its own: a pool of the runtime role (dime_app) that a test has just closed can still have a
 * backend on its way out, and the drop then fails with 42501. So: wait (briefly) for the sessions to
 * go, and try again on that error.
 */
async function dropDatabase(name: string): Promise<void> {
  await admin(async (c) => {
    for (let i = 0; i < 50; i++) {
      const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (Number(rows[0]?.n ?? 0) === 0) break;
      await pause(100);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '42501' || attempt >= 20) throw err;
        await pause(100);
      }
    }
  });
}
