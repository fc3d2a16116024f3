// Why a DMTP conversation (client side) could not be carried out. Replies the peer sends are not
// errors (they are returned to the caller, who maps 4xx/5xx); these are failures to talk at all.
// Every code is transient for delivery: the caller tries the next DX host, then retries later.
export type DmtpErrorCode =
  /** TCP connect failed (refused, unreachable, DNS of the host). */
  | 'CONNECT_FAILED'
  /** The TLS handshake failed or X.509 verification of the peer failed. */
  | 'TLS_FAILED'
  /** The peer's certificate does not verify against the management record's `tls=` signatures. */
  | 'TLS_MISMATCH'
  /** The banner is not a 220 with the `DMTPv1` token. */
  | 'NOT_DMTP'
  /** A step (connect, handshake, reply, DATA) took longer than its timeout. */
  | 'TIMEOUT'
  /** The peer closed the connection or sent something that is not a DMTP reply. */
  | 'PROTOCOL'
  /** The caller's AbortSignal fired. */
  | 'ABORTED';

export class DmtpError extends Error {
  override readonly name = 'DmtpError';

  constructor(
    readonly code: DmtpErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDmtpError(err: unknown): err is DmtpError {
  return err instanceof DmtpError;
}
