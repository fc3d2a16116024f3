// The one schema: a TypeORM DataSource over PostgreSQL with explicit migrations (never synchronize).
import { DataSource } from 'typeorm';
import type { DbConfig } from './db.config';
import { HOT_SESSION_OPTIONS } from './hot-query';
import { DomainPolicyEntity } from './entities/domain-policy.entity';
import { MessageEntity } from './entities/message.entity';
import { RecipientEntity } from './entities/recipient.entity';
import { SpoolKeyEntity } from './entities/spool-key.entity';
import { GatewayQueue1764230400000 } from './migrations/1764230400000-gateway-queue';
import { AuditTrail1764320000000 } from './migrations/1764320000000-audit-trail';
import { DimeUsers1764400000000 } from './migrations/1764400000000-dime-users';
import { DimeRouting1764410000000 } from './migrations/1764410000000-dime-routing';
import { JournalRetention1764500000000 } from './migrations/1764500000000-journal-retention';
import { EscrowRecovery1764600000000 } from './migrations/1764600000000-escrow-recovery';
import { JournalBlobDeletions1764620000000 } from './migrations/1764620000000-journal-blob-deletions';
import { EscrowPrincipalKey1764630000000 } from './migrations/1764630000000-escrow-principal-key';
import { SpoolBodies1764700000000 } from './migrations/1764700000000-spool-bodies';

export const ENTITIES = [MessageEntity, RecipientEntity, DomainPolicyEntity, SpoolKeyEntity];
export const MIGRATIONS = [GatewayQueue1764230400000, AuditTrail1764320000000, DimeUsers1764400000000, DimeRouting1764410000000, JournalRetention1764500000000, EscrowRecovery1764600000000, JournalBlobDeletions1764620000000, EscrowPrincipalKey1764630000000, SpoolBodies1764700000000];

export function createDataSource(config: DbConfig, options: { applicationName?: string } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    host: config.host,
    port: config.port,
    database: config.database,
    username: config.user,
    password: config.password.reveal(),
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: options.applicationName ?? 'dime-gateway',
    extra: { max: config.poolSize, connectionTimeoutMillis: 5000, options: HOT_SESSION_OPTIONS },
  });
}

/**
 * Applies pending migrations as the owner role (config.migrationUser) over a short-lived
 * connection of its own, each migration in its own transaction.
 */
export async function migrateDatabase(config: DbConfig, options: { applicationName?: string } = {}): Promise<void> {
  const owner = createDataSource(
    { ...config, user: config.migrationUser ?? config.user, password: config.migrationPassword ?? config.password, poolSize: 1 },
    { applicationName: `${options.applicationName ?? 'dime-gateway'}-migrations` },
  );
  await owner.initialize();
  try {
    await owner.runMigrations({ transaction: 'each' });
  } finally {
    await owner.destroy();
  }
}

/**
 * Connects and applies pending migrations (each in its own transaction). With a separate owner
 * role the migrations run as the owner first and the returned pool uses the runtime role.
 */
export async function openDatabase(config: DbConfig, options: { applicationName?: string } = {}): Promise<DataSource> {
  const separateOwner = config.migrationUser !== undefined && config.migrationUser !== config.user;
  if (separateOwner) await migrateDatabase(config, options);
  const ds = createDataSource(config, options);
  await ds.initialize();
  try {
    if (!separateOwner) await ds.runMigrations({ transaction: 'each' });
  } catch (err) {
    await ds.destroy();
    throw err;
  }
  return ds;
}
