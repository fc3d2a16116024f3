import fc from 'fast-check';
import { DimeError } from '../dime.error';
import { dmtpReplyArgument, formatDmtpReply, isDmtpBanner, parseDmtpReply, parseDmtpReplyLine, type DmtpReply } from './dmtp-reply';
import { expectDimeError } from '../../../../test/dime-error';

function badReply(fn: () => unknown, reason: RegExp): void {
  expectDimeError(fn, 'BAD_COMMAND', reason);
}

describe('parseDmtpReply', () => {
  it('parses a one-line reply', () => {
    expect(parseDmtpReply('250 OK\r\n')).toEqual({ code: 250, lines: ['OK'] });
  });

  it('parses a multi-line reply given as text or as lines', () => {
    const text = '250-dx.destination.example\r\n250-SIZE 67108864\r\n250 DMTPv1\r\n';
    const reply = { code: 250, lines: ['dx.destination.example', 'SIZE 67108864', 'DMTPv1'] };
    expect(parseDmtpReply(text)).toEqual(reply);
    expect(parseDmtpReply(['250-dx.destination.example', '250-SIZE 67108864', '250 DMTPv1'])).toEqual(reply);
  });

  it('accepts a bare code, empty continuation text, LF line ends and no final terminator', () => {
    expect(parseDmtpReply('221')).toEqual({ code: 221, lines: [''] });
    expect(parseDmtpReply('250-\n250 \n')).toEqual({ code: 250, lines: ['', ''] });
  });

  it.each<[string | string[], RegExp]>([
    ['', /does not start with a 3-digit code/],
    ['25 OK', /3-digit code/],
    ['150 OK', /3-digit code 200-599/],
    ['600 OK', /3-digit code 200-599/],
    ['250OK', /3-digit code/],
    ['250-first\r\n251 second', /line 2 has code 251/],
    ['250-first', /last line continues/],
    ['250 first\r\n250 second', /line 1 ends the reply/],
    ['250 caf\u00e9', /0xe9 at offset 3/],
    ['250 a\u0000b', /0x00/],
    [[], /no lines/],
  ])('rejects %j', (input, reason) => badReply(() => parseDmtpReply(input), reason));

  it('throws TypeError for other argument types', () => {
    expect(() => parseDmtpReply(250 as unknown as string)).toThrow(TypeError);
    expect(() => parseDmtpReplyLine(undefined as unknown as string)).toThrow(TypeError);
  });
});

describe('formatDmtpReply', () => {
  it('writes NNN- on all lines but the last, CRLF after each', () => {
    expect(formatDmtpReply({ code: 250, lines: ['a', 'b', 'c'] })).toBe('250-a\r\n250-b\r\n250 c\r\n');
    expect(formatDmtpReply({ code: 354, lines: ['CONTINUE [t1]'] })).toBe('354 CONTINUE [t1]\r\n');
    expect(formatDmtpReply({ code: 221, lines: [] })).toBe('221\r\n');
  });

  it('refuses codes outside 200-599 and text with CR, LF or control bytes', () => {
    badReply(() => formatDmtpReply({ code: 199, lines: ['x'] }), /code 199/);
    badReply(() => formatDmtpReply({ code: 250.5, lines: ['x'] }), /code 250.5/);
    badReply(() => formatDmtpReply({ code: 250, lines: ['OK\r\n250 injected'] }), /0x0d/);
    expect(() => formatDmtpReply({ code: 250, lines: 'x' as unknown as string[] })).toThrow(TypeError);
  });

  it('round-trips arbitrary replies, and parsing arbitrary text throws only DimeError', () => {
    const text = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
    const reply = fc.record({ code: fc.integer({ min: 200, max: 599 }), lines: fc.array(text, { minLength: 1, maxLength: 4 }) });
    fc.assert(
      fc.property(reply, (r: DmtpReply) => {
        const wire = formatDmtpReply(r);
        const back = parseDmtpReply(wire);
        // A trailing space after the code on the last line is not kept apart from "no text".
        expect(back.code).toBe(r.code);
        expect(back.lines).toEqual(r.lines);
        expect(formatDmtpReply(back)).toBe(wire);
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(fc.string())), (input) => {
        try {
          const r = parseDmtpReply(input);
          expect(parseDmtpReply(formatDmtpReply(r))).toEqual(r);
        } catch (err) {
          expect(err).toBeInstanceOf(DimeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('reply conventions of libdime’s client', () => {
  it('recognises a DMTP banner: 220 and DMTPv1 after the host name', () => {
    expect(isDmtpBanner(parseDmtpReply('220 dx.destination.example DMTPv1 DIME gateway ready'))).toBe(true);
    expect(isDmtpBanner(parseDmtpReply('220 mx.destination.example ESMTP DMTPv1'))).toBe(true);
    expect(isDmtpBanner(parseDmtpReply('220 dx.destination.example DSMTP Magma'))).toBe(false);
    expect(isDmtpBanner(parseDmtpReply('220 DMTPv1'))).toBe(false);
    expect(isDmtpBanner(parseDmtpReply('220 host dmtpv1'))).toBe(false);
    expect(isDmtpBanner(parseDmtpReply('250 host DMTPv1'))).toBe(false);
  });

  it('extracts KEYWORD [value] and KEYWORD value', () => {
    expect(dmtpReplyArgument(parseDmtpReply('250 OK [BgAAAQ]'), 'OK')).toBe('BgAAAQ');
    expect(dmtpReplyArgument(parseDmtpReply('354 CONTINUE [7f3a] send 4647 bytes'), 'CONTINUE')).toBe('7f3a');
    expect(dmtpReplyArgument(parseDmtpReply('220 OK DMTPv1'), 'ok')).toBe('DMTPv1');
    expect(dmtpReplyArgument(parseDmtpReply('250 UPDATE abc'), 'UPDATE')).toBe('abc');
    expect(dmtpReplyArgument(parseDmtpReply('250-line one\r\n250 OK [x]'), 'OK')).toBe('x');
  });

  it('refuses a reply without the keyword or its value', () => {
    badReply(() => dmtpReplyArgument(parseDmtpReply('250 CURRENT'), 'UPDATE'), /expected "UPDATE ...", got "CURRENT"/);
    badReply(() => dmtpReplyArgument(parseDmtpReply('250 OK'), 'OK'), /without its value/);
    badReply(() => dmtpReplyArgument(parseDmtpReply('250 OK [abc'), 'OK'), /malformed value/);
    badReply(() => dmtpReplyArgument(parseDmtpReply('250 OK []'), 'OK'), /malformed value/);
  });
});
