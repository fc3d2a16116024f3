// Why the DIME identity of a domain could not be obtained or trusted. The codes form a closed union;
// DISCOVERY_ERROR_CLASS says which are transient (defer and retry: the sender queue's 4xx) and which
// are permanent (bounce: 5xx), and discoveryReply() gives the SMTP/DMTP reply for each, checked with
// `satisfies` so a new code does not compile until it has one.
export type DiscoveryErrorCode =
  /** SERVFAIL, timeout, refused, or any resolver failure other than "no such name/data". */
  | 'DNS_FAILURE'
  /** The `_dx` TXT record exists but does not parse (libs/dime BAD_RECORD), or there are several. */
  | 'RECORD_INVALID'
  /** No DX host of the domain could be reached over DMTP (connect, TLS handshake, banner, timeouts). */
  | 'DX_UNREACHABLE'
  /** A DX host's certificate does not match the record's `tls=` signatures (possible interception). */
  | 'TLS_MISMATCH'
  /** SGNT got a transient refusal (4xx) or a malformed answer from every DX host. */
  | 'SIGNET_UNAVAILABLE'
  /** SGNT answered 5xx: the domain or user has no signet. */
  | 'SIGNET_NOT_FOUND'
  /** The signet served does not validate: the org signet against the record's POKs, a user signet against the org signet, or its name is not the one asked for. */
  | 'SIGNET_INVALID'
  /** The caller's AbortSignal fired. */
  | 'ABORTED';

export const DISCOVERY_ERROR_CLASS = {
  DNS_FAILURE: { transient: true, reply: '451 4.4.3 DIME discovery: DNS lookup failed' },
  RECORD_INVALID: { transient: false, reply: '554 5.7.5 DIME management record invalid' },
  DX_UNREACHABLE: { transient: true, reply: '451 4.4.1 DIME delivery host unreachable' },
  TLS_MISMATCH: { transient: true, reply: '451 4.7.5 DIME delivery host certificate does not match the management record' },
  SIGNET_UNAVAILABLE: { transient: true, reply: '451 4.4.3 DIME signet temporarily unavailable' },
  SIGNET_NOT_FOUND: { transient: false, reply: '550 5.1.1 no DIME signet for the recipient' },
  // Transient on purpose: a broken signet is usually a publishing mistake the other side fixes;
  // retrying until the queue lifetime, then bouncing, is what `required` DIME domains need (never SMTP).
  SIGNET_INVALID: { transient: true, reply: '451 4.7.5 DIME signet does not validate against the management record' },
  ABORTED: { transient: true, reply: '451 4.3.0 temporary failure, try again later' },
} as const satisfies Record<DiscoveryErrorCode, { transient: boolean; reply: string }>;

export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';

  constructor(
    readonly code: DiscoveryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when the caller should retry later (4xx), false when the answer is final (5xx). */
  get transient(): boolean {
    return DISCOVERY_ERROR_CLASS[this.code].transient;
  }
}

export function isDiscoveryError(err: unknown): err is DiscoveryError {
  return err instanceof DiscoveryError;
}

/** The reply line for a discovery failure (full line: code, enhanced code, text). */
export function discoveryReply(err: DiscoveryError): string {
  return DISCOVERY_ERROR_CLASS[err.code].reply;
}
