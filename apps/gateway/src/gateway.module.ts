// The gateway process as a Nest application context (no HTTP framework): config, logger, metrics,
// PostgreSQL, Redis (BullMQ), the HSM keystore, the encrypted spool, the pipeline and delivery
// workers (DeliveryModule), the two SMTP listeners, the DMTP listener (when DIME is on) and the
// metrics server. Start and stop order
// live in one place, GatewayLifecycle: stop accepting and let SMTP sessions in a transaction finish,
// then stop the workers, then close PostgreSQL (the HSM module closes the keystore last).
import { readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import {
  Global,
  Inject,
  Injectable,
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConnectionOptions } from 'bullmq';
import { AuditService, HsmAuditSigner } from '@lib/audit';
import { AuditRepository, autovacuumWarnings, batchPoolSize, HotStatementPool, openDatabase, QueueRepository, SpoolKeyRepository, type DataSource } from '@lib/db';
import { createComplianceJournal, createEscrowRecovery, startRetentionSweep, type ComplianceJournal, type EscrowRecovery, type RetentionSweepRuntime } from '@lib/escrow';
import {
  createHsmSecureContext,
  HsmError,
  HsmHealthCheck,
  HsmKeyRotation,
  HsmKeystore,
  HsmModule,
  keyLabel,
  pkcs11KeyUri,
  type HsmTlsCredentials,
} from '@lib/hsm';
import { AcceptanceError, AcceptanceService } from './acceptance/acceptance.service';
import { DeliveryModule, DeliveryRuntime } from './delivery/delivery.module';
import { createDimeServices, type DimeServices } from './dime/dime.services';
import { DEFAULT_DMTP_LIMITS, DmtpServer } from './dime/dmtp/dmtp-server';
import type { DmtpAcceptor } from './dime/dmtp/dmtp-session';
import type { GatewayConfig } from './gateway.config';
import { AUDIT_SERVICE, CLOCK, COMPLIANCE_JOURNAL, DATA_SOURCE, DIME_SERVICES, GATEWAY_CONFIG, LOGGER, QUEUE_BATCH_POOL, REDIS_CONNECTION } from './gateway.tokens';
import type { GatewayLogger } from './observability/logger';
import { GatewayMetrics } from './observability/metrics';
import { MetricsServer } from './observability/metrics.server';
import { GatewayQueues } from './pipeline/gateway-queues';
import { SmtpListener } from './smtp/smtp-listener';
import { SubmissionAuthFile } from './smtp/submission-auth';
import { SpoolKeyring } from './spool/spool-keyring';
import { SpoolService } from './spool/spool.service';

/** The TLS key label currently in use for a role (after a rotation it is no longer .v1). */
async function currentTlsLabel(keystore: HsmKeystore, role: 'tls-ecdsa' | 'tls-rsa'): Promise<string> {
  try {
    return await new HsmKeyRotation(keystore).currentLabel(role);
  } catch (error) {
    if (error instanceof HsmError && error.code === 'KEY_NOT_FOUND') return keyLabel(role);
    throw error;
  }
}

/**
 * The TLS context of the HSM-held keys with their certificates, made ONCE for the process and
 * shared by every listener (tls/shared-tls-context.ts says why). Fails at boot, naming the cause,
 * when a certificate is missing or node was started without the HSM OpenSSL engine config.
 */
export async function hsmListenerTls(config: GatewayConfig, keystore: HsmKeystore): Promise<SecureContext> {
  if (!config.tls.certFile) throw new Error('TLS_CERT_FILE is not set: STARTTLS needs the certificate of the HSM-held tls-ecdsa key');
  const credentials: HsmTlsCredentials[] = [];
  for (const [role, file] of [['tls-ecdsa', config.tls.certFile], ['tls-rsa', config.tls.rsaCertFile]] as const) {
    if (!file) continue;
    const label = await currentTlsLabel(keystore, role);
    if (!(await keystore.hasObject(label, 'private'))) throw new Error(`the HSM token has no private key "${label}" for ${role} (run appliance/hsm-init.sh)`);
    credentials.push({ keyUri: pkcs11KeyUri(config.hsm.tokenLabel, label), cert: readFileSync(file) });
  }
  try {
    return createHsmSecureContext(credentials);
  } catch (error) {
    if (error instanceof HsmError && error.code === 'TLS_ENGINE_UNAVAILABLE') {
      throw new Error(
        'TLS with the HSM key is unavailable: node was not started with the OpenSSL config of the HSM engine ' +
          '(node --openssl-config=<HSM_OPENSSL_CONF> ...; appliance/start.sh does this)',
      );
    }
    throw error;
  }
}

@Injectable()
export class GatewayListeners {
  constructor(
    readonly smtp: SmtpListener,
    readonly submission: SmtpListener,
    /** Implicit-TLS DMTP, when DIME is on. */
    readonly dmtp?: DmtpServer,
  ) {}
}

/**
 * Durable acceptance of a D/MIME message the DMTP door verified: stored byte for byte (format
 * 'dime'), one recipient (the local user the destination envelope names), the author as envelope
 * sender; `250 OK [id]` only once it is on disk, in PostgreSQL and enqueued.
 */
export function dmtpAcceptor(acceptor: AcceptanceService, clock: () => number): DmtpAcceptor {
  return async (input) => {
    const dataEndedAt = clock();
    try {
      await acceptor.accept({
        listener: 'dmtp',
        direction: 'inbound',
        format: 'dime',
        mailFrom: input.author,
        recipients: [{ address: input.recipient, domain: input.recipient.slice(input.recipient.lastIndexOf('@') + 1).toLowerCase() }],
        clientAddress: input.peer.address,
        clientHelo: input.peer.helo ?? input.originDomain,
        authUser: null,
        secure: true,
        message: Buffer.from(input.message.buffer, input.message.byteOffset, input.message.byteLength),
        dataEndedAt,
      });
      return { reply: `250 OK [${input.transactionId}]` };
    } catch (error) {
      if (error instanceof AcceptanceError) return { reply: '451 4.3.0 message not stored, try again later' };
      throw error;
    }
  };
}

@Injectable()
export class GatewayLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Bound ports, known after bootstrap (0 in the config picks free ones). */
  ports = { smtp: 0, submission: 0, dmtp: 0, metrics: 0 };

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: GatewayLogger,
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(GatewayListeners) private readonly listeners: GatewayListeners,
    @Inject(MetricsServer) private readonly metricsServer: MetricsServer,
    @Inject(DeliveryRuntime) private readonly runtime: DeliveryRuntime,
    @Inject(AUDIT_SERVICE) private readonly audit: AuditService,
    @Inject(COMPLIANCE_JOURNAL) private readonly journal: ComplianceJournal | null,
    @Inject(HsmKeystore) private readonly keystore: HsmKeystore,
    @Inject(REDIS_CONNECTION) private readonly redis: ConnectionOptions,
    @Inject(QUEUE_BATCH_POOL) private readonly batchPool: HotStatementPool,
  ) {}

  private sweep: RetentionSweepRuntime | undefined;
  private escrow: EscrowRecovery | undefined;

  async onApplicationBootstrap(): Promise<void> {
    const { address, smtpPort, submissionPort, metricsPort } = this.config.listen;
    this.ports = {
      metrics: await this.metricsServer.listen(metricsPort, address),
      smtp: await this.listeners.smtp.listen(smtpPort, address),
      submission: await this.listeners.submission.listen(submissionPort, address),
      dmtp: this.listeners.dmtp ? await this.listeners.dmtp.listen(this.config.dime.dmtpPort, address) : 0,
    };
    const warn = (what: string) => (err: unknown) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, what);
    await autovacuumWarnings(this.dataSource).then(
      (warnings) => warnings.forEach((w) => this.logger.warn(w)),
      warn('could not read the autovacuum settings'),
    );
    if (this.journal) {
      // the disposition sweep: a repeatable BullMQ job (one runs per period across all gateways)
      this.sweep = await startRetentionSweep(
        this.config.journal,
        { dataSource: this.dataSource, store: this.journal.store, signer: new HsmAuditSigner(this.keystore, keyLabel('audit-signing')), audit: this.audit },
        { connection: this.redis, prefix: this.config.jobs.prefix },
        warn('retention sweep failed'),
      );
      // escrow exports enqueued by operators run here too; open requests past their lifetime expire
      this.escrow = createEscrowRecovery({
        config: this.config.escrow,
        dataSource: this.dataSource,
        keystore: this.keystore,
        store: this.journal.store,
        indexer: this.journal.indexer,
        audit: this.audit,
        connection: this.redis,
        prefix: this.config.jobs.prefix,
        runWorker: true,
        expirySweepMs: 60_000,
        onError: warn('escrow export or expiry failed'),
      });
      // an idle tail of the audit trail gets its HSM-signed checkpoint within AUDIT_CHECKPOINT_SECONDS
      this.audit.startCheckpointTimer(warn('audit checkpoint failed'));
    } else if (this.config.dime.enabled) {
      this.audit.startCheckpointTimer(warn('audit checkpoint failed'));
    }
    this.logger.info(
      { address, ...this.ports, hostname: this.config.hostname, localDomains: this.config.localDomains, dime: this.config.dime.enabled, journal: this.journal !== null },
      'gateway ready',
    );
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const grace = this.config.shutdownGraceMs;
    const busy = this.listeners.smtp.activeSessions + this.listeners.submission.activeSessions + (this.listeners.dmtp?.activeSessions ?? 0);
    this.logger.info({ signal, sessions: busy, graceMs: grace }, 'shutting down: no new connections, finishing sessions in a transaction');
    await Promise.all([this.listeners.smtp.drain(grace), this.listeners.submission.drain(grace), this.listeners.dmtp?.drain(grace)]);
    this.logger.info('listeners closed; stopping workers');
    await this.runtime.stop();
    await this.sweep?.close();
    await this.escrow?.close();
    this.audit.stopCheckpointTimer();
    await this.metricsServer.close();
    await this.batchPool.close();
    await this.dataSource.destroy();
    this.logger.info('gateway stopped');
  }
}

@Global()
@Module({})
class GatewayCoreModule {
  static forRoot(config: GatewayConfig, logger: GatewayLogger, metrics: GatewayMetrics, clock: () => number): DynamicModule {
    return {
      module: GatewayCoreModule,
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: CLOCK, useValue: clock },
        { provide: GatewayMetrics, useValue: metrics },
        { provide: REDIS_CONNECTION, useValue: { host: config.jobs.host, port: config.jobs.port } satisfies ConnectionOptions },
        { provide: DATA_SOURCE, useFactory: () => openDatabase(config.db, { applicationName: 'dime-gateway' }) },
        // the statements every message makes, on connections that plan each of them once (hot-pool.ts)
        { provide: QUEUE_BATCH_POOL, useFactory: () => new HotStatementPool(config.db, { size: batchPoolSize(), applicationName: 'dime-gateway-queue' }) },
        { provide: QueueRepository, useFactory: (ds: DataSource, batchPool: HotStatementPool) => new QueueRepository(ds, { batchPool }), inject: [DATA_SOURCE, QUEUE_BATCH_POOL] },
        {
          provide: AUDIT_SERVICE,
          useFactory: (ds: DataSource, keystore: HsmKeystore) => new AuditService(new AuditRepository(ds), new HsmAuditSigner(keystore, keyLabel('audit-signing')), config.audit),
          inject: [DATA_SOURCE, HsmKeystore],
        },
        {
          provide: COMPLIANCE_JOURNAL,
          useFactory: (ds: DataSource, keystore: HsmKeystore): Promise<ComplianceJournal | null> => createComplianceJournal(config.journal, keystore, ds),
          inject: [DATA_SOURCE, HsmKeystore],
        },
        {
          provide: DIME_SERVICES,
          useFactory: async (ds: DataSource, keystore: HsmKeystore, audit: AuditService): Promise<DimeServices | null> =>
            config.dime.enabled ? createDimeServices(config, keystore, ds, audit) : null,
          inject: [DATA_SOURCE, HsmKeystore, AUDIT_SERVICE],
        },
        {
          provide: SpoolService,
          useFactory: async (ds: DataSource, keystore: HsmKeystore, queue: QueueRepository) =>
            new SpoolService(config.spoolDir, await SpoolKeyring.load(new SpoolKeyRepository(ds), keystore, keyLabel('user-kek')), { bodies: queue }),
          inject: [DATA_SOURCE, HsmKeystore, QueueRepository],
        },
      ],
      exports: [GATEWAY_CONFIG, LOGGER, CLOCK, GatewayMetrics, REDIS_CONNECTION, DATA_SOURCE, QUEUE_BATCH_POOL, QueueRepository, SpoolService, DIME_SERVICES, AUDIT_SERVICE, COMPLIANCE_JOURNAL],
    };
  }
}

export interface GatewayModuleOptions {
  readonly metrics?: GatewayMetrics;
  readonly clock?: () => number;
}

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig, logger: GatewayLogger, options: GatewayModuleOptions = {}): DynamicModule {
    const metrics = options.metrics ?? new GatewayMetrics();
    const clock = options.clock ?? Date.now;
    return {
      module: GatewayModule,
      imports: [HsmModule.forRoot(config.hsm), GatewayCoreModule.forRoot(config, logger, metrics, clock), DeliveryModule.forRoot()],
      providers: [
        {
          provide: AcceptanceService,
          useFactory: (spool: SpoolService, queue: QueueRepository, queues: GatewayQueues, runtime: DeliveryRuntime) =>
            new AcceptanceService(
              { hostname: config.hostname, queueLifetimeMs: config.delivery.queueLifetimeMs, stageTimeoutMs: Math.min(config.stepTimeoutMs, 30_000), bodyInDatabaseMaxBytes: config.spoolDbMaxBytes },
              spool,
              queue,
              queues,
              metrics,
              logger,
              clock,
              runtime.recentlyAccepted,
            ),
          inject: [SpoolService, QueueRepository, GatewayQueues, DeliveryRuntime],
        },
        {
          provide: GatewayListeners,
          useFactory: async (acceptor: AcceptanceService, keystore: HsmKeystore, dime: DimeServices | null) => {
            const tls = await hsmListenerTls(config, keystore);
            const auth = config.submission.authFile ? SubmissionAuthFile.load(config.submission.authFile) : undefined;
            const common = { config, acceptor, metrics, logger, tls, clock };
            const dmtp = dime
              ? new DmtpServer({
                  hostname: config.hostname,
                  localDomains: config.localDomains,
                  tls,
                  signets: dime.users,
                  doorCheck: dime.doorCheck,
                  acceptor: dmtpAcceptor(acceptor, clock),
                  directory: dime.directory,
                  // a sealed message is larger than the mail it carries (chunk framing, keyslots, signatures: ~40% on 10 KB)
                  limits: { ...DEFAULT_DMTP_LIMITS, maxMessageBytes: Math.ceil(config.limits.maxMessageBytes * 1.5) + 65_536, maxSessions: config.limits.maxConnections },
                  logger: logger.child({ listener: 'dmtp' }),
                })
              : undefined;
            return new GatewayListeners(
              // the inbound SMTP port also offers STARTTLS MODE=DMTPv1 (dual mode) when DIME is on
              new SmtpListener({ ...common, name: 'smtp', ...(dmtp ? { dmtpDualMode: dmtp } : {}) }),
              new SmtpListener({ ...common, name: 'submission', ...(auth ? { auth } : {}) }),
              dmtp,
            );
          },
          inject: [AcceptanceService, HsmKeystore, DIME_SERVICES],
        },
        {
          provide: MetricsServer,
          useFactory: (health: HsmHealthCheck, ds: DataSource, queues: GatewayQueues) =>
            new MetricsServer(metrics, {
              hsm: async () => {
                const r = await health.check();
                return r.ready ? { ready: true } : { ready: false, detail: `${r.code ?? 'UNKNOWN'}: ${r.detail ?? ''}` };
              },
              database: async () => {
                await ds.query('SELECT 1');
                return { ready: true };
              },
              // a real round trip through the queue's own connection (a hung Redis times out the check)
              redis: async () => {
                await queues.process.getJobCounts('wait');
                return { ready: true };
              },
            }),
          inject: [HsmHealthCheck, DATA_SOURCE, GatewayQueues],
        },
        GatewayLifecycle,
      ],
      exports: [GatewayLifecycle],
    };
  }
}
