// The one domain error of libs/escrow (STYLE.md 2): journal, retention, holds, disposition and
// recovery outcomes, each with a code from this closed union. Programmer errors stay TypeError/RangeError.
export type EscrowErrorCode =
  /** Bad operator/API input (policy fields, hold custodians, dates, ids). */
  | 'INVALID_INPUT'
  /** The retention policy is locked: it cannot be shortened, disabled, deleted or unlocked. */
  | 'POLICY_LOCKED'
  | 'POLICY_NOT_FOUND'
  | 'HOLD_NOT_FOUND'
  | 'HOLD_RELEASED'
  | 'RECORD_NOT_FOUND'
  /** The record was crypto-shredded: its key is gone, its content unrecoverable. */
  | 'RECORD_SHREDDED'
  /** A record, blob or wrapped key failed authentication or its content hash. */
  | 'INTEGRITY'
  | 'BLOB_NOT_FOUND'
  /** The archive store failed (I/O, S3 status); retryable. */
  | 'ARCHIVE_STORE'
  /** PostgreSQL refused a retention rule violation (a trigger of the journal-retention migration). */
  | 'RETENTION_ENFORCED'
  /** A disposition certificate is malformed or its signature does not verify. */
  | 'BAD_CERTIFICATE'
  // ---- escrow recovery and reports (recovery/, reports/)
  /** The acting principal lacks the role, or is the requester deciding on their own request. */
  | 'FORBIDDEN'
  | 'PRINCIPAL_NOT_FOUND'
  | 'PRINCIPAL_EXISTS'
  | 'REQUEST_NOT_FOUND'
  /** The escrow request is no longer open (decided, expired or exported). */
  | 'REQUEST_NOT_OPEN'
  | 'REQUEST_EXPIRED'
  /** This approver decided on the request already: a second decision does not count. */
  | 'ALREADY_DECIDED'
  /** Export refused: the request is not approved by its quorum (or no longer). */
  | 'NOT_APPROVED'
  /** The requester has no public key to encrypt the export to. */
  | 'NO_PUBLIC_KEY'
  /** An export archive that is malformed, for another key, or fails authentication. */
  | 'BAD_EXPORT_FILE'
  /** An escrow report signature file that is malformed. */
  | 'BAD_REPORT';

export class EscrowError extends Error {
  override readonly name = 'EscrowError';

  constructor(
    readonly code: EscrowErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isEscrowError(error: unknown, code?: EscrowErrorCode): error is EscrowError {
  return error instanceof EscrowError && (code === undefined || error.code === code);
}
