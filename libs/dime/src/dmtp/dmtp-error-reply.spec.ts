import { DimeError, type DimeErrorCode } from '../dime.error';
import { DMTP_TRANSIENT_FAILURE, dmtpReplyForError } from './dmtp-error-reply';
import { formatDmtpReply } from './dmtp-reply';

const ALL_CODES: DimeErrorCode[] = [
  'TRUNCATED',
  'MALFORMED',
  'BAD_ARMOR',
  'BAD_CHECKSUM',
  'WRONG_TYPE',
  'UNKNOWN_FIELD',
  'DUPLICATE_FIELD',
  'FIELD_ORDER',
  'MISSING_FIELD',
  'BAD_KEY',
  'BAD_SIGNATURE',
  'DECRYPT_FAILED',
  'BAD_PADDING',
  'NOT_VISIBLE',
  'TOO_LARGE',
  'UNSUPPORTED',
  'BAD_RECORD',
  'BAD_COMMAND',
  'BAD_MESSAGE',
];

describe('dmtpReplyForError', () => {
  it.each(ALL_CODES)('gives %s a well-formed 4xx/5xx reply with an enhanced status code', (code) => {
    const reply = dmtpReplyForError(new DimeError(code, 'x'));
    expect(reply.code).toBeGreaterThanOrEqual(400);
    expect(reply.lines[0]).toMatch(new RegExp(`^${String(reply.code)[0]}\\.[0-9]\\.[0-9] `));
    expect(() => formatDmtpReply(reply)).not.toThrow();
  });

  it('answers a forged or tampered message with 554 5.7.7', () => {
    expect(dmtpReplyForError(new DimeError('BAD_SIGNATURE', 'origin signature'))).toEqual({
      code: 554,
      lines: ['5.7.7 DIME signature invalid: message forged or tampered'],
    });
    expect(dmtpReplyForError(new DimeError('BAD_PADDING', 'x')).lines[0]).toMatch(/^5\.7\.7 /);
    expect(dmtpReplyForError(new DimeError('DECRYPT_FAILED', 'x'))).toMatchObject({ code: 554 });
  });

  it('answers a syntax error with 501 and an oversized message with 552', () => {
    expect(dmtpReplyForError(new DimeError('BAD_COMMAND', 'x')).code).toBe(501);
    expect(dmtpReplyForError(new DimeError('TOO_LARGE', 'x')).code).toBe(552);
  });

  it('fails closed: anything that is not a DimeError is a transient 451 4.3.0', () => {
    expect(dmtpReplyForError(new TypeError('boom'))).toEqual(DMTP_TRANSIENT_FAILURE);
    expect(dmtpReplyForError('timeout')).toEqual({ code: 451, lines: ['4.3.0 temporary failure, try again later'] });
    expect(dmtpReplyForError(new DimeError('NOT_A_CODE' as DimeErrorCode, 'x')).code).toBe(451);
  });

  it('returns a fresh object each time', () => {
    const a = dmtpReplyForError(new DimeError('MALFORMED', 'x'));
    a.lines.push('mutated');
    expect(dmtpReplyForError(new DimeError('MALFORMED', 'x')).lines).toHaveLength(1);
  });
});
