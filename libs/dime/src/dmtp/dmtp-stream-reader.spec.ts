import fc from 'fast-check';
import { readVector } from '../../../../test/vectors';
import { parseDmtpCommand } from './dmtp-command';
import { formatDmtpReply } from './dmtp-reply';
import { DmtpReplyReader, DmtpStreamReader } from './dmtp-stream-reader';
import { expectDimeError } from '../../../../test/dime-error';

const MESSAGE = readVector('message-2-signed-by-origin.dmsg');

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('DmtpStreamReader lines', () => {
  it('returns lines only once complete, however the bytes are chunked', () => {
    const wire = Buffer.from('EHLO origin.example\r\nMAIL FROM:<origin.example> SIZE=4647\r\nRCPT TO:<destination.example>\nDATA\r\n', 'latin1');
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
        const reader = new DmtpStreamReader();
        const lines: string[] = [];
        for (const chunk of splitAt(wire, cuts)) {
          reader.push(chunk);
          for (let l = reader.readLine(); l !== undefined; l = reader.readLine()) lines.push(l);
        }
        expect(lines).toEqual(['EHLO origin.example', 'MAIL FROM:<origin.example> SIZE=4647', 'RCPT TO:<destination.example>', 'DATA']);
        expect(reader.buffered).toBe(0);
      }),
    );
  });

  it('keeps a bare CR inside the line for the parser to reject', () => {
    const reader = new DmtpStreamReader();
    reader.push('NOOP a\rb\r\n');
    const line = reader.readLine() as string;
    expectDimeError(() => parseDmtpCommand(line), 'BAD_COMMAND', /bare CR/);
  });

  it('fails as soon as a line exceeds the limit, without waiting for its end', () => {
    const reader = new DmtpStreamReader();
    reader.push('NOOP ' + 'x'.repeat(600));
    expectDimeError(() => reader.readLine(), 'BAD_COMMAND', /line too long \(more than 512 octets\)/);
  });

  it('accepts a line of exactly the limit', () => {
    const reader = new DmtpStreamReader();
    reader.push(`NOOP ${'x'.repeat(505)}\r\n`);
    expect(reader.readLine()).toHaveLength(510);
  });

  it('hands over bytes pipelined after a line (e.g. after STARTTLS)', () => {
    const reader = new DmtpStreamReader();
    reader.push('STARTTLS <dx.example> MODE=DMTPv1\r\nMAIL FROM:<evil.example>\r\n');
    expect(reader.readLine()).toBe('STARTTLS <dx.example> MODE=DMTPv1');
    expect(reader.takeBuffered().toString('latin1')).toBe('MAIL FROM:<evil.example>\r\n');
    expect(reader.buffered).toBe(0);
  });

  it('rejects bad options and chunk types as programmer errors', () => {
    expect(() => new DmtpStreamReader({ maxLineLength: 0 })).toThrow(RangeError);
    expect(() => new DmtpStreamReader().push(42 as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('DmtpStreamReader binary DATA', () => {
  it('returns the libdime vector message exactly, in any chunking, and the next command after it', () => {
    const wire = Buffer.concat([MESSAGE, Buffer.from('\r\nQUIT\r\n')]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const reader = new DmtpStreamReader();
        let message: Buffer | undefined;
        for (const chunk of splitAt(wire, cuts)) {
          reader.push(chunk);
          message ??= reader.readMessage();
        }
        // Buffer.equals, not toEqual: jest's deep equality walks Buffers byte by byte.
        expect(message?.equals(MESSAGE)).toBe(true);
        expect(reader.readLine()).toBe('QUIT');
      }),
      { numRuns: 200 },
    );
  });

  it('waits for the CRLF after the message', () => {
    const reader = new DmtpStreamReader();
    reader.push(MESSAGE);
    expect(reader.readMessage()).toBeUndefined();
    reader.push('\r');
    expect(reader.readMessage()).toBeUndefined();
    reader.push('\n');
    expect(reader.readMessage()).toEqual(MESSAGE);
  });

  it('needs no dot-stuffing: message bytes that look like "\\r\\n.\\r\\n" are data', () => {
    const body = Buffer.from('\r\n.\r\nQUIT\r\n', 'latin1');
    const msg = Buffer.concat([Buffer.from([0x07, 0x37, 0, 0, 0, body.length]), body]);
    const reader = new DmtpStreamReader();
    reader.push(Buffer.concat([msg, Buffer.from('\r\n')]));
    expect(reader.readMessage()).toEqual(msg);
  });

  it('reads a message led by a libdime tracing block (1837)', () => {
    const tracing = Buffer.from([0x07, 0x2d, 0x00, 0x03, 1, 2, 3]);
    const reader = new DmtpStreamReader();
    reader.push(Buffer.concat([tracing, MESSAGE, Buffer.from('\r\n')]));
    expect(reader.readMessage()).toEqual(Buffer.concat([tracing, MESSAGE]));
  });

  it('refuses a stream that is not a D/MIME message', () => {
    const reader = new DmtpStreamReader();
    reader.push('From: alice@origin.example\r\n');
    expectDimeError(() => reader.readMessage(), 'MALFORMED', /expected a D\/MIME message \(magic 1847\)/);
  });

  it('refuses a message not followed by CRLF (length and stream out of step)', () => {
    const reader = new DmtpStreamReader();
    reader.push(Buffer.concat([MESSAGE, Buffer.from('QUIT\r\n')]));
    expectDimeError(() => reader.readMessage(), 'MALFORMED', /not followed by CRLF/);
  });

  it('refuses a declared size over the limit from the first 6 bytes', () => {
    const reader = new DmtpStreamReader({ maxMessageSize: MESSAGE.length - 1 });
    reader.push(MESSAGE.subarray(0, 6));
    expectDimeError(() => reader.readMessage(), 'TOO_LARGE', new RegExp(`message of ${MESSAGE.length} bytes exceeds the limit`));
  });
});

describe('DmtpReplyReader', () => {
  it('assembles multi-line replies across arbitrary chunks', () => {
    const replies = [
      { code: 220, lines: ['dx.destination.example DMTPv1 ready'] },
      { code: 250, lines: ['dx.destination.example', 'SIZE 67108864', 'DMTPv1'] },
      { code: 250, lines: ['OK [' + 'A'.repeat(2000) + ']'] },
      { code: 354, lines: ['CONTINUE [t1]'] },
    ];
    const wire = Buffer.from(replies.map(formatDmtpReply).join(''), 'latin1');
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const reader = new DmtpReplyReader();
        const got = splitAt(wire, cuts).flatMap((c) => reader.push(c));
        expect(got).toEqual(replies);
        expect(reader.pending).toBe(false);
      }),
    );
  });

  it('reports a reply in progress as pending', () => {
    const reader = new DmtpReplyReader();
    expect(reader.push('250-first\r\n')).toEqual([]);
    expect(reader.pending).toBe(true);
    expect(reader.push('250 last\r\n')).toEqual([{ code: 250, lines: ['first', 'last'] }]);
  });

  it('refuses continuation lines with another code and malformed lines', () => {
    expectDimeError(() => new DmtpReplyReader().push('250-first\r\n251 second\r\n'), 'BAD_COMMAND', /continuation line has code 251/);
    expectDimeError(() => new DmtpReplyReader().push('hello\r\n'), 'BAD_COMMAND', /3-digit code/);
  });

  it('bounds the line length it buffers', () => {
    const reader = new DmtpReplyReader({ maxLineLength: 100 });
    expectDimeError(() => reader.push('250 ' + 'x'.repeat(200)), 'BAD_COMMAND', /line too long/);
  });
});
