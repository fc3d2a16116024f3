// Why a received DIME message is refused (at the DMTP door, before the 250) or not delivered (when
// the pipeline re-verifies the stored bytes): one error, a closed set of codes, each with its reply
// (docs/dmtp.md section 5); `detail` names the domain or address concerned.
import { dmtpReplyForError } from '@lib/dime';

export type DimeOpenErrorCode =
  | 'MALFORMED' // framing, chunks, envelope syntax (reply from dmtpReplyForError)
  | 'NOT_FOR_US' // the destination keyslots do not open with our org key (another destination)
  | 'DESTINATION_NOT_LOCAL' // RCPT TO names a domain we do not serve
  | 'ENVELOPE_MISMATCH' // envelope domains differ from MAIL FROM / RCPT TO, or from each other
  | 'NO_SUCH_RECIPIENT' // the recipient is not a local DIME user
  | 'RECIPIENT_SUSPENDED'
  | 'RECIPIENT_SIGNET_MISMATCH' // sealed to a signet that is not the recipient's
  | 'ORIGIN_UNKNOWN' // the origin domain publishes no `_dx` record
  | 'ORIGIN_SIGNATURE_INVALID' // origin signatures fail with the origin's POK while the author's hold
  | 'ORIGIN_SIGNET_MISMATCH' // the envelope names another org signet than the origin's
  | 'AUTHOR_DOMAIN_MISMATCH' // the author is not of the origin domain
  | 'AUTHOR_SIGNET_INVALID' // the author's signet does not chain to the origin's org signet
  | 'AUTHOR_SIGNET_UNKNOWN' // the origin serves no signet for the author (unknown or suspended there)
  | 'AUTHOR_SIGNATURE_INVALID' // author signatures fail with the author's signet while the origin's hold
  | 'TAMPERED' // chunks altered after signing (payloads, or author and origin signatures both fail)
  | 'DIRECTORY_UNAVAILABLE' // origin/author signets cannot be fetched now
  | 'DIRECTORY_REFUSED' // discovery refuses the origin's answer for good
  | 'TEMPORARY'; // HSM, database, anything unforeseen

const REPLIES = {
  MALFORMED: '554 5.6.0 DIME message malformed',
  NOT_FOR_US: '554 5.7.5 DIME message not encrypted to this organisation',
  DESTINATION_NOT_LOCAL: '550 5.1.2 destination domain is not served here',
  ENVELOPE_MISMATCH: '554 5.7.1 envelope does not match MAIL FROM / RCPT TO',
  NO_SUCH_RECIPIENT: '550 5.1.1 no such recipient',
  RECIPIENT_SUSPENDED: '550 5.2.1 recipient DIME user suspended',
  RECIPIENT_SIGNET_MISMATCH: '554 5.7.5 DIME message sealed to a signet that is not the recipient\'s',
  ORIGIN_UNKNOWN: '550 5.7.5 no DIME management record for the origin domain',
  ORIGIN_SIGNATURE_INVALID: '554 5.7.7 DIME origin signature invalid: not signed by the origin organisation\'s key',
  ORIGIN_SIGNET_MISMATCH: '554 5.7.7 DIME envelope names another org signet than the origin\'s',
  AUTHOR_DOMAIN_MISMATCH: '554 5.7.1 DIME author is not of the origin domain',
  AUTHOR_SIGNET_INVALID: '554 5.7.5 author DIME signet does not chain to the origin org signet',
  AUTHOR_SIGNET_UNKNOWN: '554 5.7.5 the origin serves no DIME signet for the author',
  AUTHOR_SIGNATURE_INVALID: '554 5.7.7 DIME author signature invalid: not signed by the author\'s signet',
  TAMPERED: '554 5.7.7 DIME signature invalid: message altered after signing',
  DIRECTORY_UNAVAILABLE: '451 4.4.3 DIME signets of the origin cannot be fetched now',
  DIRECTORY_REFUSED: '554 5.7.5 origin DIME signets cannot be trusted',
  TEMPORARY: '451 4.3.0 temporary failure, try again later',
} as const satisfies Record<DimeOpenErrorCode, string>;

export class DimeOpenError extends Error {
  override readonly name = 'DimeOpenError';
  /** The full reply line, e.g. `554 5.7.7 DIME origin signature invalid: ... (a.test)`. */
  readonly reply: string;

  constructor(
    readonly code: DimeOpenErrorCode,
    /** Domain, address or libs/dime detail appended to the reply in parentheses. */
    readonly detail: string | undefined,
    options?: { cause?: unknown; reply?: string },
  ) {
    const reply = options?.reply ?? REPLIES[code];
    const line = detail === undefined ? reply : `${reply} (${printable(detail)})`;
    super(line, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reply = line;
  }

  get transient(): boolean {
    return this.reply.startsWith('4');
  }

  /** A libs/dime error met while opening: its DMTP reply (docs/dmtp.md table). */
  static fromDimeError(code: DimeOpenErrorCode, err: Error & { code: string }): DimeOpenError {
    const r = dmtpReplyForError(err);
    return new DimeOpenError(code, undefined, { cause: err, reply: `${r.code} ${r.lines.join(' ')}` });
  }
}

/** Reply lines are printable US-ASCII without CR/LF; details come from envelopes (attacker text). */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

export function isDimeOpenError(err: unknown): err is DimeOpenError {
  return err instanceof DimeOpenError;
}
