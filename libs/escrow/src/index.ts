// libs/escrow public API: the compliance journal (records encrypted under per-record keys wrapped
// to the HSM escrow key, blind indexes, archive stores), retention policies, legal holds,
// disposition with signed certificates, escrow recovery under M-of-N approval, escrow reports.
// Each part adds its exports below, one explicit name per line group (STYLE.md 6).
// ---- journal, retention, holds, disposition (journal/, retention/, disposition/)
export { EscrowError, isEscrowError, type EscrowErrorCode } from './journal/escrow.error';
export {
  checkEscrowPoint,
  JOURNAL_BLOB_MAGIC,
  journalKek,
  openJournalBlob,
  sealJournalRecord,
  unwrapRecordKey,
  type SealedJournalRecord,
} from './journal/journal-record';
export { BlindIndexer, normaliseAddress, type BlindIndexMac } from './journal/blind-index';
export { checkBlobKey, journalBlobKey, type ArchivedBlob, type ArchiveRetention, type ArchiveStore } from './journal/archive-store';
export { FsArchiveStore } from './journal/fs-archive-store';
export { S3ArchiveStore, type S3ArchiveStoreOptions } from './journal/s3-archive-store';
export { signRequest as signS3RequestV4, type SigV4Credentials } from './journal/s3-sigv4';
export { journalConfigFromEnv, type JournalConfig, type S3ArchiveConfig } from './journal/journal.config';
export { createArchiveStore } from './journal/archive-store.factory';
export {
  JournalService,
  loadEscrowPublicKey,
  type EscrowPublicKey,
  type JournalMessage,
  type JournalOutcome,
  type JournalServiceOptions,
} from './journal/journal.service';
export { EscrowJournalSink, type JournalSinkEntry } from './journal/escrow-journal-sink';
export { createComplianceJournal, type ComplianceJournal } from './journal/journal.factory';
export { openJournalRecord, unwrapJournalRecordKey, type JournalRecordKeyFields } from './journal/journal-reader';
export { decideRetention, policyMatches, retainUntil, selectPolicy, type RetentionDecision, type RetentionSubject } from './retention/retention-policy-match';
export {
  isRetentionTriggerError,
  RetentionService,
  translateTriggerError,
  type Actor,
  type LegalHoldInput,
  type RetentionAudit,
  type RetentionPolicyInput,
} from './retention/retention.service';
export {
  buildCertificate,
  certificateFile,
  certificateSigningInput,
  certificateText,
  DISPOSITION_CERTIFICATE_FORMAT,
  verifyDispositionCertificate,
  type CertificateInputRecord,
  type CertificateVerification,
  type DispositionCertificate,
  type SignedDispositionCertificate,
} from './disposition/disposition-certificate';
export { DispositionService, type DispositionOptions, type SweepProgress, type SweepResult } from './disposition/disposition.service';
export { ORPHAN_GRACE_MS, OrphanBlobSweep, type OrphanSweepOptions, type OrphanSweepResult } from './disposition/orphan-blob-sweep';
export { createRetentionSweepWorker, RetentionSweepQueue } from './disposition/retention-sweep.queue';
export { startRetentionSweep, type RetentionSweepRuntime } from './disposition/retention-sweep.factory';
// ---- escrow recovery (recovery/) and escrow reports (reports/)
export { escrowRecoveryConfigFromEnv, type EscrowRecoveryConfig, type EscrowRecoveryEnv } from './recovery/escrow-recovery.config';
export { isPrincipalRole, PRINCIPAL_ROLES } from './recovery/principal-role';
export type { EscrowRecordSource, EscrowScope } from './recovery/escrow-record-source';
export { JournalRecordSource } from './recovery/journal-record-source';
export {
  checkUuid,
  EscrowRecoveryService,
  type EscrowAuditLog,
  type EscrowExportEnqueuer,
  type EscrowRecoveryOptions,
  type EscrowRequestView,
  type OpenEscrowRequest,
  type PrincipalView,
} from './recovery/escrow-recovery.service';
export {
  ESCROW_EXPORT_FORMAT,
  EscrowExportService,
  EXPORT_FILE_SUFFIX,
  exportFilePath,
  type EscrowExportManifest,
  type EscrowExportOptions,
  type EscrowExportResult,
} from './recovery/escrow-export.service';
export { createEscrowExportWorker, ESCROW_EXPORT_JOB_OPTIONS, EscrowExportQueue } from './recovery/escrow-export.queue';
export { EXPORT_MAGIC, exportRecipientOf, openExport, openExportFile, parseExportPublicKey, sealExport, type ExportCurve } from './recovery/export-envelope';
export { writeFully } from './recovery/fd-io';
export { MboxWriter, mboxDate } from './recovery/mbox';
export { crc32, readStoredZip, StoredZipFile, writeStoredZip, type StoredZipIndexEntry, type ZipEntry } from './recovery/stored-zip';
export {
  csvField,
  ESCROW_REPORT_FORMAT,
  ESCROW_REPORT_SIGNATURE_FORMAT,
  escrowReportCsv,
  renderEscrowReport,
  reportSigningInput,
  verifyEscrowReport,
  type EscrowReport,
  type EscrowReportAnchor,
  type EscrowReportFormat,
  type EscrowReportSignature,
  type EscrowReportVerification,
} from './reports/escrow-report';
export { EscrowReportService, type EscrowReportTrail, type SignedEscrowReport } from './reports/escrow-report.service';
export { createEscrowRecovery, type EscrowRecovery, type EscrowRecoveryWiring } from './recovery/escrow-recovery.factory';
