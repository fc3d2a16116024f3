// DeliveryModule in a Nest application context: resolves from the shared tokens, starts its
// workers at bootstrap, exports GatewayQueues and LocalMessageEnqueuer, and closes at shutdown.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Global, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { openDatabase, type DataSource } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../../test/database';
import { gatewayConfigFromEnv } from '../gateway.config';
import { DATA_SOURCE, GATEWAY_CONFIG, LOGGER, REDIS_CONNECTION } from '../gateway.tokens';
import { createLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { GatewayQueues } from '../pipeline/gateway-queues';
import { SpoolKeyring } from '../spool/spool-keyring';
import { SpoolService } from '../spool/spool.service';
import { DeliveryModule, DeliveryRuntime } from './delivery.module';
import { LocalMessageEnqueuer } from './local-message.enqueuer';

let db: TestDatabase;
let ds: DataSource;
const spoolDir = mkdtempSync(join(tmpdir(), 'delivery-module-'));

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
});

afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
  rmSync(spoolDir, { recursive: true, force: true });
});

it('wires the pipeline and delivery from the shared tokens, runs the workers, and stops them at shutdown', async () => {
  const config = { ...gatewayConfigFromEnv({ ...process.env, SOFTHSM2_CONF: undefined, HSM_PIN: '1234', QUEUE_PREFIX: `dm-${randomBytes(4).toString('hex')}` }), db: db.config };
  @Global()
  @Module({
    providers: [
      { provide: GATEWAY_CONFIG, useValue: config },
      { provide: LOGGER, useValue: createLogger({ level: 'silent' }) },
      { provide: REDIS_CONNECTION, useValue: { host: config.jobs.host, port: config.jobs.port } },
      { provide: DATA_SOURCE, useValue: ds },
      { provide: SpoolService, useValue: new SpoolService(spoolDir, SpoolKeyring.fromKeys(new Map([[1, randomBytes(32)]]), 1)) },
      { provide: GatewayMetrics, useValue: new GatewayMetrics() },
    ],
    exports: [GATEWAY_CONFIG, LOGGER, REDIS_CONNECTION, DATA_SOURCE, SpoolService, GatewayMetrics],
  })
  class CoreModule {}

  @Module({ imports: [CoreModule, DeliveryModule.forRoot()] })
  class AppModule {}

  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
  const runtime = app.get(DeliveryRuntime);
  expect(runtime.running).toBe(true);
  expect(app.get(GatewayQueues)).toBe(runtime.queues);
  expect(app.get(LocalMessageEnqueuer)).toBe(runtime.enqueuer);
  await app.close();
  expect(runtime.running).toBe(false);
});
