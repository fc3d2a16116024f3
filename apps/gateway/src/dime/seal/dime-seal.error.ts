// Why an outbound DIME message could not be sealed for one recipient: one error, a closed set of
// codes, each with its SMTP reply (for the DSN) and whether a later try can succeed (delivery defers
// transient ones through its retry machinery and bounces the rest). Never a plaintext fallback.
export type DimeSealErrorCode =
  | 'SENDER_REFUSED' // the sender has no DIME keys and DIME_SENDER_POLICY=refuse, or is not local
  | 'SENDER_SUSPENDED' // the sender's DIME user is suspended
  | 'NOT_DIME_DOMAIN' // the recipient's domain publishes no `_dx` record
  | 'DIRECTORY_UNAVAILABLE' // signets cannot be fetched or trusted now (DNS, DMTP SGNT, timeouts)
  | 'DIRECTORY_REFUSED' // discovery says the peer's answer can never be trusted (permanent)
  | 'RECIPIENT_SIGNET_INVALID' // the recipient signet does not chain to its org signet or names another address
  | 'BAD_MESSAGE' // the RFC 5322 bytes cannot be mapped to DIME chunks
  | 'SEAL_FAILED'; // anything else (HSM, database, crypto): try again later

const REPLIES = {
  SENDER_REFUSED: { reply: '550 5.7.1 sender has no DIME keys here', transient: false },
  SENDER_SUSPENDED: { reply: '550 5.2.1 sender DIME user suspended', transient: false },
  NOT_DIME_DOMAIN: { reply: '550 5.7.5 recipient domain publishes no DIME management record', transient: false },
  DIRECTORY_UNAVAILABLE: { reply: '451 4.4.3 DIME signets of the recipient cannot be fetched now', transient: true },
  DIRECTORY_REFUSED: { reply: '554 5.7.5 DIME signets of the recipient cannot be trusted', transient: false },
  RECIPIENT_SIGNET_INVALID: { reply: '554 5.7.5 recipient DIME signet invalid', transient: false },
  BAD_MESSAGE: { reply: '554 5.6.0 message cannot be mapped to DIME', transient: false },
  SEAL_FAILED: { reply: '451 4.3.0 temporary failure, try again later', transient: true },
} as const satisfies Record<DimeSealErrorCode, { reply: string; transient: boolean }>;

export class DimeSealError extends Error {
  override readonly name = 'DimeSealError';
  private readonly replyOverride: string | undefined;

  constructor(
    readonly code: DimeSealErrorCode,
    message: string,
    /** reply: a more precise line of the same class (discovery's own reply). */
    options?: { cause?: unknown; reply?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.replyOverride = options?.reply !== undefined && options.reply[0] === REPLIES[code].reply[0] ? options.reply : undefined;
  }

  /** SMTP-style reply for the DSN / the delivery record. */
  get reply(): string {
    return this.replyOverride ?? REPLIES[this.code].reply;
  }

  /** True: defer and retry (bounce at the queue lifetime); false: bounce now. */
  get transient(): boolean {
    return REPLIES[this.code].transient;
  }
}

export function isDimeSealError(err: unknown): err is DimeSealError {
  return err instanceof DimeSealError;
}
