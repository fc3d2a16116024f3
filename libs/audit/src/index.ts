// libs/audit public API: the tamper-evident audit trail (hash chain, HSM-signed checkpoints,
// JSON Lines export) and its offline verifier, which needs only node:crypto and the public key.
export { AuditError, isAuditError, type AuditErrorCode } from './audit.error';
export {
  AUDIT_EXPORT_FORMAT,
  AUDIT_OUTCOMES,
  type AuditEntry,
  type AuditExportCheckpoint,
  type AuditExportEntry,
  type AuditExportHeader,
  type AuditExportLine,
  type AuditExportSeal,
  type AuditJson,
  type AuditOutcome,
  type AuditRecordInput,
  type RecordedAuditEntry,
} from './audit.types';
export { canonicalEntry, canonicalJson, isAuditString } from './audit-canonical';
export {
  AUDIT_CANONICALIZATION,
  AUDIT_GENESIS_HASH,
  checkpointSigningInput,
  entryHash,
  parseAuditTime,
  publicKeyFingerprint,
  sealSigningInput,
  type CheckpointFields,
  type SealFields,
} from './audit-chain';
export { HsmAuditSigner, spkiToPem, type AuditSigner } from './audit-signer';
export { auditConfigFromEnv, type AuditConfig, type AuditEnv } from './audit.config';
export { AuditService, type AuditCheckpointMade, type AuditServiceOptions } from './audit.service';
export { exportCheckpointLine, exportEntryLine, writeAuditExport, type AuditExportSummary } from './audit-export';
export { parseAuditPublicKey, verifyAuditExport, type AuditVerification } from './audit-verifier';
