// libs/db public API: the one schema (entities, migrations) behind thin repositories. TypeORM
// entity classes do not leave this lib; callers use the plain record types below.
export { dbConfigFromEnv, DbPassword, type DbConfig, type DbEnv } from './db.config';
export { createDataSource, migrateDatabase, openDatabase } from './data-source';
export { autovacuumWarnings } from './maintenance';
export { APP_ROLE } from './migrations/1764320000000-audit-trail';
export type { DataSource } from 'typeorm';
export type { MessageDirection, MessageFormat, MessageState } from './entities/message.entity';
export type { RecipientRoute, RecipientStatus } from './entities/recipient.entity';
export type { DimePolicy, TlsPolicy } from './entities/domain-policy.entity';
export { HotStatementPool, HOT_GENERIC_SESSION_OPTIONS, type HotStatementPoolOptions, type HotStatementRunner } from './hot-pool';
export {
  batchPoolSize,
  QueueRepository,
  type AcceptedMessage,
  type AcceptedRecipient,
  type DeliveredMarker,
  type FinishedGroups,
  type SpoolGroup,
  type QueuedMessage,
  type QueuedRecipient,
} from './queue.repository';
export { DeliveredRecorder, type DeliveredRecorderOptions } from './delivered-recorder';
export { DomainPolicyRepository, SpoolKeyRepository, type DomainPolicies, type StoredSpoolKey } from './policy.repository';
export {
  AuditRepository,
  type AuditChainState,
  type AuditChainWriter,
  type AuditCheckpointRecord,
  type AuditEntryRecord,
  type AuditSnapshotReader,
} from './audit.repository';
export { DimeUserRepository, type DimeUserKeysRecord, type DimeUserRecord, type DimeUserStatus, type NewDimeUser } from './dime-user.repository';
export {
  JournalRepository,
  type DispositionAction,
  type DispositionCertificateRecord,
  type JournalRecord,
  type JournalRecordQuery,
  type NewJournalRecord,
  type ShreddedRecord,
} from './journal.repository';
export {
  RetentionRepository,
  type LegalHoldRecord,
  type NewLegalHold,
  type NewRetentionPolicy,
  type RetentionPolicyChange,
  type RetentionPolicyRecord,
  type RetentionScope,
} from './retention.repository';
export {
  EscrowRepository,
  type AuditAnchor,
  type EscrowApprovalRecord,
  type EscrowDecision,
  type EscrowDecisionResult,
  type EscrowExportRecord,
  type EscrowExportSummary,
  type EscrowPrincipalCounts,
  type EscrowRecordCounts,
  type EscrowRequestCounts,
  type EscrowRequestRecord,
  type EscrowRequestStatus,
  type NewEscrowRequest,
  type PrincipalRecord,
  type PrincipalRole,
} from './escrow.repository';
