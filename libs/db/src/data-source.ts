// The one schema: a TypeORM DataSource over PostgreSQL with explicit migrations (never synchronize).
import { DataSource } from 'typeorm';
import type { DbConfig } from './db.config';
import { DomainPolicyEntity } from './entities/domain-policy.entity';
import { MessageEntity } from './entities/message.entity';
import { RecipientEntity } from './entities/recipient.entity';
import { SpoolKeyEntity } from './entities/spool-key.entity';
import { GatewayQueue1764230400000 } from './migrations/1764230400000-gateway-queue';

export const ENTITIES = [MessageEntity, RecipientEntity, DomainPolicyEntity, SpoolKeyEntity];
export const MIGRATIONS = [GatewayQueue1764230400000];

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
    extra: { max: config.poolSize, connectionTimeoutMillis: 5000 },
  });
}

/** Connects and applies pending migrations (each in its own transaction). */
export async function openDatabase(config: DbConfig, options: { applicationName?: string } = {}): Promise<DataSource> {
  const ds = createDataSource(config, options);
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}
