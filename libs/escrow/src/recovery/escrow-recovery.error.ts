// Domain outcomes of escrow recovery and escrow reports (STYLE.md 2): a closed union of codes.
// libs/escrow's journal part has EscrowError (journal/escrow.error.ts); these codes belong in it
// once its owner adds them, until then recovery and reports throw this class.
export type EscrowRecoveryErrorCode =
  /** Bad operator/API input (names, roles, dates, scope, public key). */
  | 'INVALID_INPUT'
  /** The acting principal lacks the role, or is the requester deciding on their own request. */
  | 'FORBIDDEN'
  | 'PRINCIPAL_NOT_FOUND'
  | 'PRINCIPAL_EXISTS'
  | 'REQUEST_NOT_FOUND'
  /** The request is no longer open (decided, expired or exported). */
  | 'REQUEST_NOT_OPEN'
  | 'REQUEST_EXPIRED'
  /** This approver decided on the request already: a second decision does not count. */
  | 'ALREADY_DECIDED'
  /** Export refused: the request is not approved by its quorum (or no longer). */
  | 'NOT_APPROVED'
  /** The requester has no public key to encrypt the export to. */
  | 'NO_PUBLIC_KEY'
  /** An export archive that is malformed, not for this key, or fails authentication. */
  | 'BAD_EXPORT_FILE'
  /** A report or its signature file that is malformed. */
  | 'BAD_REPORT';

export class EscrowRecoveryError extends Error {
  override readonly name = 'EscrowRecoveryError';

  constructor(
    readonly code: EscrowRecoveryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isEscrowRecoveryError(error: unknown, code?: EscrowRecoveryErrorCode): error is EscrowRecoveryError {
  return error instanceof EscrowRecoveryError && (code === undefined || error.code === code);
}
