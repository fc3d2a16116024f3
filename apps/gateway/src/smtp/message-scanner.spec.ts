import fc from 'fast-check';
import { MessageScanner, violationReply, type MessageViolation } from './message-scanner';
import { formatReply } from './smtp-replies';

const limits = { maxMessageBytes: 1000, maxLineBytes: 20 };

function scan(parts: Array<string | Buffer>, l = limits): MessageViolation | undefined {
  const s = new MessageScanner(l);
  for (const p of parts) s.push(Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1'));
  return s.finish();
}

/** Straightforward whole-buffer reference for the property test: every violation the input has. */
function reference(bytes: Buffer, l = limits): Set<MessageViolation> {
  const found = new Set<MessageViolation>();
  if (bytes.length > l.maxMessageBytes) found.add('TOO_BIG');
  let line = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0) found.add('NUL');
    if (b === 0x0d && bytes[i + 1] === 0x0a) {
      line = 0;
      i++;
      continue;
    }
    if (b === 0x0d) found.add('BARE_CR');
    if (b === 0x0a) found.add('BARE_LF');
    line++;
    if (line > l.maxLineBytes) found.add('LINE_TOO_LONG');
  }
  return found;
}

describe('MessageScanner', () => {
  it('keeps a CRLF message byte for byte, whatever the chunking', () => {
    const s = new MessageScanner(limits);
    const msg = 'Subject: x\r\n\r\nbody\r\n';
    for (const ch of msg) s.push(Buffer.from(ch));
    expect(s.finish()).toBeUndefined();
    expect(s.message().toString()).toBe(msg);
  });

  it('refuses bare LF, also as the first byte of a chunk', () => {
    expect(scan(['Subject: x\n\r\n'])).toBe('BARE_LF');
    expect(scan(['Subject: x', '\nbody\r\n'])).toBe('BARE_LF');
    expect(scan(['a\r\n\n.\n'])).toBe('BARE_LF');
  });

  it('refuses bare CR, also split across chunks and at the very end', () => {
    expect(scan(['a\rb\r\n'])).toBe('BARE_CR');
    expect(scan(['a\r', 'b\r\n'])).toBe('BARE_CR');
    expect(scan(['a\r\n', 'b\r'])).toBe('BARE_CR');
  });

  it('accepts a CRLF split across chunks', () => {
    expect(scan(['a\r', '\nb\r\n'])).toBeUndefined();
  });

  it('refuses NUL bytes', () => {
    expect(scan([Buffer.from([0x61, 0x00, 0x0d, 0x0a])])).toBe('NUL');
  });

  it('refuses a line over the limit, counted across chunks, and allows exactly the limit', () => {
    expect(scan([`${'x'.repeat(20)}\r\n`])).toBeUndefined();
    expect(scan([`${'x'.repeat(21)}\r\n`])).toBe('LINE_TOO_LONG');
    expect(scan(['x'.repeat(15), 'x'.repeat(6)])).toBe('LINE_TOO_LONG');
    expect(scan(['x'.repeat(15), 'x'.repeat(5), '\r', '\n'])).toBeUndefined();
  });

  it('refuses an oversized message, drops what it kept and still counts the bytes', () => {
    const s = new MessageScanner({ maxMessageBytes: 10, maxLineBytes: 998 });
    s.push(Buffer.from('12345\r\n'));
    s.push(Buffer.from('12345\r\n'));
    s.push(Buffer.from('12345\r\n'));
    expect(s.finish()).toBe('TOO_BIG');
    expect(s.byteLength).toBe(21);
    expect(() => s.message()).toThrow(RangeError);
  });

  it('maps each violation to its reply', () => {
    expect(formatReply(violationReply('TOO_BIG', limits))).toBe('552 5.3.4 Message size exceeds fixed limit of 1000 bytes');
    expect(formatReply(violationReply('BARE_LF', limits))).toMatch(/^554 5\.6\.0 bare LF not allowed/);
    expect(violationReply('LINE_TOO_LONG', limits).code).toBe(500);
  });

  it('agrees with a whole-buffer reference on random input and random chunking', () => {
    const byte = fc.constantFrom(0x61, 0x62, 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x2e);
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 120 }), fc.array(fc.nat(120), { maxLength: 6 }), (bytes, cuts) => {
        const buf = Buffer.from(bytes);
        const points = [...new Set(cuts.map((c) => Math.min(c, buf.length)))].sort((a, b) => a - b);
        const parts: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, buf.length]) {
          if (p > prev) parts.push(buf.subarray(prev, p));
          prev = Math.max(prev, p);
        }
        const verdict = scan(parts);
        const expected = reference(buf);
        if (expected.size === 0) expect(verdict).toBeUndefined();
        else expect(expected.has(verdict!)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
