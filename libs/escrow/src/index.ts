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
export { checkBlobKey, journalBlobKey, type ArchiveRetention, type ArchiveStore } from './journal/archive-store';
export { FsArchiveStore } from './journal/fs-archive-store';
export { journalConfigFromEnv, type JournalConfig, type S3ArchiveConfig } from './journal/journal.config';
export {
  JournalService,
  loadEscrowPublicKey,
  type EscrowPublicKey,
  type JournalMessage,
  type JournalOutcome,
  type JournalServiceOptions,
} from './journal/journal.service';
export { EscrowJournalSink, type JournalSinkEntry } from './journal/escrow-journal-sink';
export { openJournalRecord, unwrapJournalRecordKey, type JournalRecordKeyFields } from './journal/journal-reader';
export { decideRetention, policyMatches, retainUntil, selectPolicy, type RetentionDecision, type RetentionSubject } from './retention/retention-policy-match';
