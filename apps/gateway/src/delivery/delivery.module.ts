// Nest wiring of the pipeline and delivery: the `process` and `deliver` workers, the recovery
// sweeper and queue depth gauge, started at application bootstrap and closed at shutdown.
// It expects these providers to be visible to it (from a global module, or a module passed in
// `imports`): GATEWAY_CONFIG, LOGGER, REDIS_CONNECTION, DATA_SOURCE (gateway.tokens.ts),
// SpoolService and GatewayMetrics (by class), and optionally DIME_SERVICES (the DIME route: classify
// by DIME policy, open received D/MIME in `transform`, DMTP delivery). It exports GatewayQueues (the acceptance side
// enqueues `process` jobs with it) and LocalMessageEnqueuer.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Module, type DynamicModule, type ModuleMetadata, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { ConnectionOptions, Worker } from 'bullmq';
import { DeliveredRecorder, DomainPolicyRepository, QueueRepository, type DataSource } from '@lib/db';
import type { GatewayConfig } from '../gateway.config';
import type { DimeServices } from '../dime/dime.services';
import type { ComplianceJournal } from '@lib/escrow';
import { COMPLIANCE_JOURNAL, DATA_SOURCE, DIME_SERVICES, GATEWAY_CONFIG, LOGGER, REDIS_CONNECTION } from '../gateway.tokens';
import type { GatewayLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { ClassifyStep } from '../pipeline/classify.step';
import { DimeOpenTransformer } from '../pipeline/dime-open.transformer';
import { DispatchStep } from '../pipeline/dispatch.step';
import { GatewayQueues } from '../pipeline/gateway-queues';
import { NOOP_JOURNAL_SINK, type JournalSink } from '../pipeline/journal-sink';
import { JournalStep } from '../pipeline/journal.step';
import { MessageBodyStore } from '../pipeline/message-body.store';
import { IDENTITY_TRANSFORMER, type MessageTransformer } from '../pipeline/message-transformer';
import { PolicyStep } from '../pipeline/policy.step';
import { Pipeline } from '../pipeline/pipeline';
import { MessageProcessor } from '../pipeline/process.processor';
import { TransformStep } from '../pipeline/transform.step';
import { SpoolService } from '../spool/spool.service';
import { DeliveryService } from './delivery.service';
import { RecentlyAccepted } from '../pipeline/recently-accepted';
import { DmtpDelivery } from './dmtp-delivery';
import { DomainPolicyCache } from './domain-policy.cache';
import { isDimeSealError } from '../dime/seal/dime-seal.error';
import { DsnService } from './dsn.service';
import { FirstAttemptDispatcher } from './first-attempt.dispatcher';
import { LocalMessageEnqueuer } from './local-message.enqueuer';
import { MessageFinisher } from './message-finisher';
import { createDnsLookup, NextHopResolver, type DnsLookup } from './next-hop.resolver';
import { RecoverySweeper } from './recovery.sweeper';
import { closeIdleSmtpSessions } from './smtp-transaction';

export interface DeliveryModuleOptions {
  /** Modules providing the expected tokens when they are not global. */
  readonly imports?: ModuleMetadata['imports'];
  /** The compliance journal (default: records nothing). */
  readonly journalSink?: JournalSink;
  /** The transform step's transformer (default: identity; the DIME issue seals here). */
  readonly transformer?: MessageTransformer;
  /** DNS for MX lookups (default: node:dns on DNS_SERVERS). */
  readonly dns?: DnsLookup;
  /** Run the workers and sweeper in this process (default true; false for enqueue-only processes). */
  readonly runWorkers?: boolean;
}

/** Builds every pipeline and delivery object from plain dependencies (also used without Nest, in tests). */
export function createDeliveryRuntime(
  deps: {
    config: GatewayConfig;
    logger: GatewayLogger;
    connection: ConnectionOptions;
    dataSource: DataSource;
    spool: SpoolService;
    metrics?: GatewayMetrics | undefined;
    /** The DIME side; without it every non-local recipient goes over SMTP and D/MIME is not opened. */
    dime?: DimeServices | null | undefined;
    /** The process's QueueRepository (shared with acceptance: one group commit); default a new one on dataSource. */
    queue?: QueueRepository | undefined;
  },
  options: Omit<DeliveryModuleOptions, 'imports'> & { clock?: () => number; random?: () => number } = {},
): DeliveryRuntime {
  const { config, logger, metrics } = deps;
  const clock = options.clock ?? Date.now;
  const queue = deps.queue ?? new QueueRepository(deps.dataSource);
  const policies = new DomainPolicyCache(new DomainPolicyRepository(deps.dataSource));
  const queues = new GatewayQueues(deps.connection, config.jobs.prefix);
  const bodies = new MessageBodyStore(deps.spool);
  const finisher = new MessageFinisher(queue, bodies);
  const enqueuer = new LocalMessageEnqueuer(queue, deps.spool, queues, { hostname: config.hostname, localDomains: config.localDomains, queueLifetimeMs: config.delivery.queueLifetimeMs }, clock);
  const dsn = new DsnService(queue, bodies, enqueuer, finisher, config.hostname, logger, metrics, clock);
  const t = config.stepTimeoutMs;
  const dime = deps.dime ?? undefined;
  const policyOf = (domain: string) => policies.findDimePolicy(domain);
  // first attempts straight from the process job when a slot is free (first-attempt.dispatcher.ts); `delivery` is made below, called later
  const firstAttempts = new FirstAttemptDispatcher(queues, (job, routed) => delivery.deliver(job, routed), config.delivery.workerConcurrency, logger);
  const pipeline = new Pipeline(
    [
      new PolicyStep(t),
      new ClassifyStep(config.localDomains, t, dime ? { directory: dime.directory, policyOf, defaultPolicy: config.dime.defaultPolicy } : undefined),
      new TransformStep(t, options.transformer ?? (dime ? new DimeOpenTransformer(dime.opener, config.hostname) : IDENTITY_TRANSFORMER)),
      new JournalStep(t, options.journalSink ?? NOOP_JOURNAL_SINK),
      new DispatchStep(t, queue, bodies, firstAttempts, dsn),
    ],
    metrics,
  );
  const recentlyAccepted = new RecentlyAccepted(clock);
  const processor = new MessageProcessor(queue, bodies, pipeline, dsn, logger, clock, recentlyAccepted);
  const resolver = new NextHopResolver(
    { legacy: config.legacy, remotePort: config.delivery.remotePort, staticRoutes: config.delivery.staticRoutes },
    options.dns ?? createDnsLookup(config.delivery.dnsServers),
  );
  const recorder = new DeliveredRecorder(config.db, { size: config.delivery.deliveredPoolSize, applicationName: 'dime-gateway-delivered' });
  const dmtp = dime
    ? new DmtpDelivery({
        directory: dime.directory,
        sealer: dime.sealer,
        policyOf,
        defaultPolicy: config.dime.defaultPolicy,
        localDomains: config.localDomains,
        orgDomain: config.orgDomain,
        hostname: config.hostname,
        timeouts: { connectMs: config.delivery.connectTimeoutMs, commandMs: config.delivery.commandTimeoutMs },
        ca: [...rootCertificates, ...(config.delivery.caFile ? [readFileSync(config.delivery.caFile)] : [])],
        refusalOf: (err) => (isDimeSealError(err) ? { reply: err.reply } : undefined),
      })
    : undefined;
  const delivery = new DeliveryService({
    config,
    queue,
    recorder,
    policies,
    bodies,
    resolver,
    queues,
    dsn,
    finisher,
    logger,
    metrics,
    clock,
    dmtp,
    ...(options.random ? { random: options.random } : {}),
  });
  const sweeper = new RecoverySweeper(queue, queues, logger, metrics, clock, 5000, finisher);
  return new DeliveryRuntime(deps.connection, config, queues, enqueuer, processor, delivery, sweeper, options.runWorkers ?? true, recorder, logger, firstAttempts, dmtp, recentlyAccepted);
}

/** The running pipeline and delivery of one process: workers, sweeper, queues. */
export class DeliveryRuntime implements OnApplicationBootstrap, OnApplicationShutdown {
  private workers: Worker[] = [];

  constructor(
    private readonly connection: ConnectionOptions,
    private readonly config: GatewayConfig,
    readonly queues: GatewayQueues,
    readonly enqueuer: LocalMessageEnqueuer,
    readonly processor: MessageProcessor,
    readonly delivery: DeliveryService,
    readonly sweeper: RecoverySweeper,
    private readonly runWorkers: boolean,
    private readonly recorder?: DeliveredRecorder,
    private readonly logger?: GatewayLogger,
    private readonly firstAttempts?: FirstAttemptDispatcher,
    private readonly dmtp?: DmtpDelivery,
    /** Acceptance in this process leaves the rows it wrote here for the `process` job (AcceptanceService). */
    readonly recentlyAccepted?: RecentlyAccepted,
  ) {}

  /** True while this process runs the workers and the sweeper. */
  get running(): boolean {
    return this.workers.length > 0;
  }

  start(): void {
    if (!this.runWorkers || this.workers.length > 0) return;
    const prefix = this.config.jobs.prefix;
    // connections opened before the first delivery; if PostgreSQL is down now, the first mark retries
    void this.recorder?.warm().catch((err: unknown) => this.logger?.warn({ err: (err as Error).message }, 'delivered-recorder pool not warmed'));
    this.workers = [
      this.processor.createWorker(this.connection, prefix, Math.max(1, Math.min(this.config.delivery.workerConcurrency, 50)), this.config.workers),
      this.delivery.createWorker(this.connection, prefix),
    ];
    this.sweeper.start(this.config.delivery.recoveryIntervalMs);
  }

  async stop(): Promise<void> {
    await this.sweeper.stop();
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers = [];
    // direct first attempts started by process jobs: they record their 2xx before the recorder closes
    await this.firstAttempts?.drain();
    closeIdleSmtpSessions();
    await this.dmtp?.close();
    await this.queues.close();
    // after the workers: a delivery finishing during close still records its 2xx
    await this.recorder?.close();
  }

  onApplicationBootstrap(): void {
    this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }
}

@Module({})
export class DeliveryModule {
  static forRoot(options: DeliveryModuleOptions = {}): DynamicModule {
    return {
      module: DeliveryModule,
      imports: options.imports ?? [],
      providers: [
        {
          provide: DeliveryRuntime,
          useFactory: (
            config: GatewayConfig,
            logger: GatewayLogger,
            connection: ConnectionOptions,
            dataSource: DataSource,
            spool: SpoolService,
            metrics: GatewayMetrics,
            dime: DimeServices | null | undefined,
            journal: ComplianceJournal | null | undefined,
            queue: QueueRepository | undefined,
          ) =>
            createDeliveryRuntime(
              { config, logger, connection, dataSource, spool, metrics, dime, queue },
              // the compliance journal's sink when JOURNAL_ENABLED (journal step: before any delivery job exists)
              journal && !options.journalSink ? { ...options, journalSink: journal.sink } : options,
            ),
          inject: [
            GATEWAY_CONFIG,
            LOGGER,
            REDIS_CONNECTION,
            DATA_SOURCE,
            SpoolService,
            GatewayMetrics,
            { token: DIME_SERVICES, optional: true },
            { token: COMPLIANCE_JOURNAL, optional: true },
            { token: QueueRepository, optional: true },
          ],
        },
        { provide: GatewayQueues, useFactory: (r: DeliveryRuntime) => r.queues, inject: [DeliveryRuntime] },
        { provide: LocalMessageEnqueuer, useFactory: (r: DeliveryRuntime) => r.enqueuer, inject: [DeliveryRuntime] },
      ],
      exports: [DeliveryRuntime, GatewayQueues, LocalMessageEnqueuer],
    };
  }
}
