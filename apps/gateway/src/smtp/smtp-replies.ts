// Every SMTP reply the gateway's listeners give on their own account, in one table (STYLE.md 3: the
// gateway fails closed; every refusal maps to an explicit reply, anything unforeseen is 451 4.3.0).
// Replies carry their enhanced status code in the text; GatewaySmtpConnection sends such text as is.
import type { PathErrorCode } from './smtp-path';

export interface SmtpReply {
  readonly code: number;
  /** RFC 3463 enhanced status code. */
  readonly enhanced: string;
  readonly text: string;
}

/** A refusal for smtp-server's handler callbacks (it reads `responseCode` and `message`). */
export class SmtpRejection extends Error {
  override readonly name = 'SmtpRejection';
  readonly responseCode: number;

  constructor(readonly reply: SmtpReply) {
    super(`${reply.enhanced} ${reply.text}`);
    this.responseCode = reply.code;
  }
}

export function reply(code: number, enhanced: string, text: string): SmtpReply {
  return { code, enhanced, text };
}

export function formatReply(r: SmtpReply): string {
  return `${r.code} ${r.enhanced} ${r.text}`;
}

/** Refusals of a MAIL FROM / RCPT TO path, by parser code. */
export const PATH_REPLIES = {
  SYNTAX: reply(501, '5.1.3', 'Bad address syntax'),
  TOO_LONG: reply(501, '5.1.3', 'Address too long'),
  NON_ASCII: reply(553, '5.6.7', 'Non-ASCII addresses are not supported'),
  NULL_PATH: reply(501, '5.1.3', 'The null path <> is not a valid recipient'),
  NO_DOMAIN: reply(504, '5.5.2', 'Need a fully-qualified address'),
  DOUBLE_AT: reply(501, '5.1.3', 'Bad address syntax: more than one "@"'),
  TRAILING_DOT: reply(501, '5.1.3', 'Bad address syntax: domain ends with a dot'),
  ADDRESS_LITERAL: reply(550, '5.7.1', 'Address literals are not accepted'),
  SOURCE_ROUTE: reply(550, '5.7.1', 'Source routes are not accepted'),
  QUOTED_SPECIAL: reply(550, '5.7.1', 'Quoted local parts containing "@", "%" or "!" are not accepted'),
  BANG_PATH: reply(550, '5.7.1', 'Bang paths are not accepted'),
  PERCENT_HACK: reply(550, '5.7.1', 'The "%" relay hack is not accepted'),
} as const satisfies Record<PathErrorCode, SmtpReply>;

export const REPLIES = {
  relayDenied: reply(550, '5.7.1', 'Relay access denied: this server only accepts mail for its own domains'),
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  tlsRequiredForAuth: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  authFailed: reply(535, '5.7.8', 'Authentication credentials invalid'),
  authUnavailable: reply(454, '4.7.0', 'Temporary authentication failure'),
  nulByte: reply(554, '5.6.0', 'NUL bytes are not allowed in messages'),
  bareLf: reply(554, '5.6.0', 'bare LF not allowed: message lines must end with CRLF'),
  bareCr: reply(554, '5.6.0', 'bare CR not allowed: message lines must end with CRLF'),
  temporary: reply(451, '4.3.0', 'Requested action aborted: local error in processing, try again later'),
  shuttingDown: reply(421, '4.3.2', 'Service shutting down, try again later'),
} as const;

export function messageTooBig(limit: number): SmtpReply {
  return reply(552, '5.3.4', `Message size exceeds fixed limit of ${limit} bytes`);
}

export function lineTooLong(limit: number): SmtpReply {
  return reply(500, '5.5.2', `Line too long: message lines are limited to ${limit} bytes plus CRLF`);
}

export function queued(queueId: string): SmtpReply {
  return reply(250, '2.0.0', `Ok: queued as ${queueId}`);
}
