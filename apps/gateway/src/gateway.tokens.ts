// Nest injection tokens shared by the gateway's modules (listeners/acceptance and pipeline/delivery),
// for providers that are not classes. Class providers (QueueRepository, DomainPolicyRepository,
// SpoolService, GatewayMetrics) are injected by their class.

/** The frozen `GatewayConfig` (gateway.config.ts). */
export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
/** The root `GatewayLogger` (observability/logger.ts); children carry `queueId`. */
export const LOGGER = Symbol('LOGGER');
/** BullMQ connection: an ioredis `ConnectionOptions` object ({ host, port }) built from `config.jobs`. */
export const REDIS_CONNECTION = Symbol('REDIS_CONNECTION');
/** The TypeORM `DataSource` from `openDatabase(config.db)` (migrations already run). */
export const DATA_SOURCE = Symbol('DATA_SOURCE');
/** The `HotStatementPool` (libs/db hot-pool.ts) of the QueueRepository's group-committed statements; closed after the workers, before the DataSource. */
export const QUEUE_BATCH_POOL = Symbol('QUEUE_BATCH_POOL');
/** `() => number`, the clock (ms since epoch); tests pass a fake one (STYLE.md 9). */
export const CLOCK = Symbol('CLOCK');
/** The gateway's `AuditService` (libs/audit): appends to the hash-chained trail, HSM-signed checkpoints. */
export const AUDIT_SERVICE = Symbol('AUDIT_SERVICE');
/** `ComplianceJournal | null` (libs/escrow createComplianceJournal): null when JOURNAL_ENABLED is off. */
export const COMPLIANCE_JOURNAL = Symbol('COMPLIANCE_JOURNAL');
/** `DimeServices | null` (dime/dime.services.ts): null when DIME_ENABLED is off. */
export const DIME_SERVICES = Symbol('DIME_SERVICES');
