// The DMTP reply for every way a command or a received DIME message can fail (docs/dmtp.md,
// "Replies"). Keyed by DimeErrorCode with `satisfies`, so a new code fails to compile until it has
// a reply; anything that is not a DimeError fails closed as a transient 451 (STYLE.md 3).
import { type DimeErrorCode, isDimeError } from '../dime.error';
import type { DmtpReply } from './dmtp-reply';

const MALFORMED = '5.6.0 DIME message malformed';

const BY_CODE = {
  TRUNCATED: { code: 554, lines: [`${MALFORMED}: truncated`] },
  MALFORMED: { code: 554, lines: [MALFORMED] },
  BAD_ARMOR: { code: 554, lines: [`${MALFORMED}: bad armor`] },
  BAD_CHECKSUM: { code: 554, lines: [`${MALFORMED}: bad checksum`] },
  WRONG_TYPE: { code: 554, lines: ['5.6.0 not a D/MIME message'] },
  UNKNOWN_FIELD: { code: 554, lines: [`${MALFORMED}: unknown field or chunk`] },
  DUPLICATE_FIELD: { code: 554, lines: [`${MALFORMED}: duplicate field or chunk`] },
  FIELD_ORDER: { code: 554, lines: [`${MALFORMED}: fields or chunks out of order`] },
  MISSING_FIELD: { code: 554, lines: [`${MALFORMED}: required field or chunk missing`] },
  BAD_PADDING: { code: 554, lines: ['5.7.7 DIME payload padding inconsistent: message tampered'] },
  BAD_SIGNATURE: { code: 554, lines: ['5.7.7 DIME signature invalid: message forged or tampered'] },
  DECRYPT_FAILED: { code: 554, lines: ['5.7.5 DIME keyslot or payload does not decrypt: message tampered'] },
  BAD_KEY: { code: 554, lines: ['5.7.5 DIME key invalid'] },
  NOT_VISIBLE: { code: 554, lines: ['5.7.5 DIME message not encrypted to this organisation'] },
  TOO_LARGE: { code: 552, lines: ['5.3.4 message too large'] },
  UNSUPPORTED: { code: 554, lines: ['5.6.1 DIME feature not supported'] },
  BAD_RECORD: { code: 554, lines: ['5.7.5 origin DIME management record invalid'] },
  BAD_COMMAND: { code: 501, lines: ['5.5.2 syntax error'] },
  BAD_MESSAGE: { code: 554, lines: ['5.6.0 message cannot be mapped to DIME'] },
} as const satisfies Record<DimeErrorCode, { code: number; lines: readonly [string] }>;

/** `451 4.3.0`: the reply for anything unforeseen (timeouts, crashes, foreign errors): try again later. */
export const DMTP_TRANSIENT_FAILURE: Readonly<DmtpReply> = Object.freeze({ code: 451, lines: ['4.3.0 temporary failure, try again later'] });

/** The reply for an error met while handling a command or a received message (a fresh object each call). */
export function dmtpReplyForError(err: unknown): DmtpReply {
  const reply = (isDimeError(err) ? BY_CODE[err.code] : undefined) ?? DMTP_TRANSIENT_FAILURE;
  return { code: reply.code, lines: [...reply.lines] };
}
