import fc from 'fast-check';
import { parsePath, parsePathCommand, type PathErrorCode } from './smtp-path';

describe('parsePath', () => {
  it('accepts a plain mailbox and lower-cases only the domain', () => {
    expect(parsePath('<John.Doe+tag@Example.TEST>', 'forward')).toEqual({
      ok: true,
      path: { localPart: 'John.Doe+tag', domain: 'example.test', address: 'John.Doe+tag@example.test' },
      rest: '',
    });
  });

  it('accepts the null reverse path and refuses it as a recipient', () => {
    expect(parsePath('<>', 'reverse')).toEqual({ ok: true, path: null, rest: '' });
    expect(parsePath('<>', 'forward')).toMatchObject({ ok: false, code: 'NULL_PATH' });
  });

  it('accepts a quoted local part without specials and keeps the quotes', () => {
    const r = parsePath('<"john doe"@example.test>', 'forward');
    expect(r).toMatchObject({ ok: true, path: { localPart: '"john doe"', address: '"john doe"@example.test' } });
  });

  it('returns the ESMTP parameters after the path', () => {
    expect(parsePath('<a@example.test> SIZE=100 BODY=8BITMIME', 'reverse')).toMatchObject({ ok: true, rest: ' SIZE=100 BODY=8BITMIME' });
  });

  const refused: Array<[string, PathErrorCode]> = [
    ['<user%other.test@example.test>', 'PERCENT_HACK'],
    ['<@relay.test,@other.test:user@example.test>', 'SOURCE_ROUTE'],
    ['<@relay.test:user@example.test>', 'SOURCE_ROUTE'],
    ['<"user@other.test"@example.test>', 'QUOTED_SPECIAL'],
    ['<"user%other.test"@example.test>', 'QUOTED_SPECIAL'],
    ['<"other.test!user"@example.test>', 'QUOTED_SPECIAL'],
    ['<other.test!user@example.test>', 'BANG_PATH'],
    ['<other.test!user>', 'BANG_PATH'],
    ['<user>', 'NO_DOMAIN'],
    ['<user@>', 'NO_DOMAIN'],
    ['<user@localhost>', 'NO_DOMAIN'],
    ['<user@other.test@example.test>', 'DOUBLE_AT'],
    ['<user@@example.test>', 'DOUBLE_AT'],
    ['<user@example.test.>', 'TRAILING_DOT'],
    ['<user@[127.0.0.1]>', 'ADDRESS_LITERAL'],
    ['<user@[IPv6:::1]>', 'ADDRESS_LITERAL'],
    ['<user@[example.test]>', 'ADDRESS_LITERAL'],
    ['<user@example.test]>', 'ADDRESS_LITERAL'],
    ['<user@192.0.2.1>', 'ADDRESS_LITERAL'],
    ['<usér@example.test>', 'NON_ASCII'],
    ['<user@exämple.test>', 'NON_ASCII'],
    ['user@example.test', 'SYNTAX'],
    ['<user@example.test', 'SYNTAX'],
    ['<user@example.test>>', 'SYNTAX'],
    ['<<user@example.test>>', 'SYNTAX'],
    ['<.user@example.test>', 'SYNTAX'],
    ['<us..er@example.test>', 'SYNTAX'],
    ['<user.@example.test>', 'SYNTAX'],
    ['<us er@example.test>', 'SYNTAX'],
    ['<user@exa_mple.test>', 'SYNTAX'],
    ['<user@-example.test>', 'SYNTAX'],
    ['<user@example..test>', 'SYNTAX'],
    ['<"unterminated@example.test>', 'SYNTAX'],
    ['<user@example.test>x', 'SYNTAX'],
    ['<user\r@example.test>', 'SYNTAX'],
    [`<${'a'.repeat(65)}@example.test>`, 'TOO_LONG'],
    [`<a@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.test>`, 'TOO_LONG'],
  ];

  it.each(refused)('refuses %s as %s', (text, code) => {
    expect(parsePath(text, 'forward')).toMatchObject({ ok: false, code });
  });

  it('never throws and only accepts ASCII paths it can round-trip', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const r = parsePath(`<${s}>`, 'forward');
        if (r.ok) {
          expect(r.path).not.toBeNull();
          expect(/^[\x21-\x7e]+$/.test(r.path!.address.replace(/"[^"]*"/, 'q'))).toBe(true);
          expect(r.path!.address.split('@').pop()).toBe(r.path!.domain);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parsePathCommand', () => {
  it('matches the verb case-insensitively and allows one space after the colon', () => {
    expect(parsePathCommand('mail from: <a@example.test>', 'MAIL FROM')).toMatchObject({ ok: true, path: { address: 'a@example.test' } });
    expect(parsePathCommand('RCPT TO:<b@example.test> NOTIFY=NEVER', 'RCPT TO')).toMatchObject({ ok: true, rest: ' NOTIFY=NEVER' });
  });

  it('refuses a command without the colon form', () => {
    expect(parsePathCommand('RCPT <b@example.test>', 'RCPT TO')).toMatchObject({ ok: false, code: 'SYNTAX' });
  });
});
