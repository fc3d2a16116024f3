// Pure parts of @lib/dime-users: address normalisation and the error replies.
import { DIME_USER_ERROR_REPLIES, DimeUserError, normalizeAddress } from './index';

describe('normalizeAddress', () => {
  it('lower-cases the domain and keeps the local part', () => {
    expect(normalizeAddress('Alice.Smith@Example.TEST')).toEqual({ address: 'Alice.Smith@example.test', domain: 'example.test' });
    expect(normalizeAddress(' <bob@b.test> ')).toEqual({ address: 'bob@b.test', domain: 'b.test' });
  });

  it.each(['', 'alice', '@b.test', 'alice@', 'a b@c.test', 'alice@b..test', 'alice@b.test\r\nX: y', `${'x'.repeat(65)}@b.test`])(
    'refuses %j with BAD_ADDRESS',
    (text) => {
      let caught: unknown;
      try {
        normalizeAddress(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DimeUserError);
      expect((caught as DimeUserError).code).toBe('BAD_ADDRESS');
    },
  );

  it('throws TypeError for a non-string', () => {
    expect(() => normalizeAddress(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('DimeUserError', () => {
  it('maps every code to an SMTP reply; only a misconfigured org signet is transient', () => {
    for (const [code, reply] of Object.entries(DIME_USER_ERROR_REPLIES)) {
      const err = new DimeUserError(code as keyof typeof DIME_USER_ERROR_REPLIES, 'x');
      expect(err.reply).toBe(reply);
      expect(reply).toMatch(/^[45]\d\d [45]\.\d\.\d /);
      expect(err.transient).toBe(reply.startsWith('4'));
    }
    expect(new DimeUserError('SUSPENDED', 'x').reply).toBe('550 5.2.1 DIME user suspended');
  });
});
