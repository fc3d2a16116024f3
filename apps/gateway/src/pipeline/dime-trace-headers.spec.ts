import { stripDimeTraceFields } from './dime-trace-headers';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('stripDimeTraceFields', () => {
  it('leaves a message without DIME trace fields alone', () => {
    expect(stripDimeTraceFields(b('From: a@x.test\r\nSubject: hi\r\n\r\nX-DIME-Verified: pass\r\n'))).toBeUndefined();
  });

  it('removes forged fields, folded lines included, in any case, and never touches the body', () => {
    const msg = 'Received: from x\r\n\tby y\r\nx-dime-verified: pass (origin=bank.test;\r\n  author=ceo@bank.test)\r\nSubject: pay\r\nX-DIME-Author-Signet: abc\r\n\r\nX-DIME-Verified: in the body stays\r\n';
    expect(stripDimeTraceFields(b(msg))!.toString('latin1')).toBe('Received: from x\r\n\tby y\r\nSubject: pay\r\n\r\nX-DIME-Verified: in the body stays\r\n');
  });

  it('handles LF-only messages and a message that is all header', () => {
    expect(stripDimeTraceFields(b('X-DIME-Origin-Signet: z\nSubject: s\n\nbody\n'))!.toString('latin1')).toBe('Subject: s\n\nbody\n');
    expect(stripDimeTraceFields(b('Subject: s\r\nX-DIME-Verified: pass\r\n'))!.toString('latin1')).toBe('Subject: s\r\n');
  });

  it('keeps the gateway\'s own prefix and strips only below it', () => {
    const own = 'X-DIME-Verified: pass (origin=a.test; author=al@a.test)\r\n';
    const msg = `${own}X-DIME-Verified: pass (forged)\r\nSubject: s\r\n\r\nbody`;
    expect(stripDimeTraceFields(b(msg), own.length)!.toString('latin1')).toBe(`${own}Subject: s\r\n\r\nbody`);
  });

  it('does not mistake a similarly named field', () => {
    expect(stripDimeTraceFields(b('X-DIME-Verified-By: me\r\nX-DIME-Verifiedx: y\r\n\r\n'))).toBeUndefined();
  });
});
