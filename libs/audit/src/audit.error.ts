// Domain errors of libs/audit (STYLE.md 2): one class, a closed union of codes. A broken trail is
// not an error: verifyAuditExport reports it in its result.
export type AuditErrorCode =
  /** record() input that cannot enter the trail (wrong type, NUL, lone surrogate, float, ...). */
  | 'INVALID_ENTRY'
  /** The public key given to the verifier is not an ECDSA P-256 key in PEM. */
  | 'BAD_PUBLIC_KEY'
  /** AUDIT_* settings out of range. */
  | 'CONFIG_INVALID';

export class AuditError extends Error {
  override readonly name = 'AuditError';
  constructor(
    readonly code: AuditErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isAuditError(err: unknown): err is AuditError {
  return err instanceof AuditError;
}
