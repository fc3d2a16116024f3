// The mbox view of an export's messages: separators, LF line endings, mboxrd quoting, pieces of
// any size, and a reader that undoes it all.
import fc from 'fast-check';
import { MboxWriter, mboxDate } from './mbox';

function mbox(messages: readonly { sender: string; at: Date; pieces: readonly string[] }[]): string {
  const out: Buffer[] = [];
  const w = new MboxWriter((p) => out.push(p));
  for (const m of messages) {
    w.begin(m.sender, m.at);
    for (const p of m.pieces) w.write(Buffer.from(p, 'latin1'));
    w.end();
  }
  return Buffer.concat(out).toString('latin1');
}

/** mboxrd reader: split on separator lines, drop one '>' from quoted From lines. */
function read(text: string): string[] {
  const messages: string[] = [];
  let current: string[] | undefined;
  const lines = text.split('\n');
  lines.pop(); // after the final newline
  for (const line of lines) {
    if (line.startsWith('From ')) {
      if (current) messages.push(current.slice(0, -1).join('\n'));
      current = [];
      continue;
    }
    current!.push(/^>+From /.test(line) ? line.slice(1) : line);
  }
  if (current) messages.push(current.slice(0, -1).join('\n'));
  return messages;
}

it('writes the separator in asctime form, UTC', () => {
  expect(mboxDate(new Date('2026-11-07T05:04:03Z'))).toBe('Sat Nov  7 05:04:03 2026');
  expect(mbox([{ sender: 'escrow@r1', at: new Date('2026-11-27T20:15:00Z'), pieces: ['Subject: x\r\n\r\nhi\r\n'] }])).toBe(
    'From escrow@r1 Fri Nov 27 20:15:00 2026\nSubject: x\n\nhi\n\n',
  );
});

it('quotes From lines (and already quoted ones) in the mboxrd way, split across pieces too', () => {
  const text = mbox([{ sender: 's', at: new Date(0), pieces: ['Subject: q\r\n\r\nFr', 'om here\r\n>From there\r\n>>From x\r\nFrom', '\r\nFromage\r\n'] }]);
  expect(text.split('\n').slice(1, -2)).toEqual(['Subject: q', '', '>From here', '>>From there', '>>>From x', 'From', 'Fromage']);
});

it('completes a last line without a line ending and keeps bare CRs inside lines', () => {
  expect(mbox([{ sender: 's', at: new Date(0), pieces: ['a\rb\r\nlast'] }]).split('\n').slice(1)).toEqual(['a\rb', 'last', '', '']);
});

it('round-trips any messages cut into any pieces (CRLF -> LF)', () => {
  const line = fc.stringMatching(/^[>Fromeab \r]{0,12}$/).filter((l) => !l.endsWith('\r'));
  const message = fc.array(line, { minLength: 1, maxLength: 8 });
  fc.assert(
    fc.property(fc.array(fc.tuple(message, fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 6 })), { minLength: 1, maxLength: 4 }), (cases) => {
      const messages = cases.map(([lines, cuts]) => {
        const raw = lines.join('\r\n') + '\r\n';
        const pieces: string[] = [];
        let at = 0;
        for (const c of cuts) {
          pieces.push(raw.slice(at, at + c));
          at += c;
        }
        pieces.push(raw.slice(at));
        return { sender: 'escrow@r', at: new Date(0), pieces, expected: lines.join('\n') };
      });
      expect(read(mbox(messages))).toEqual(messages.map((m) => m.expected));
    }),
  );
});

it('refuses a sender that would break the separator, and misuse of begin/end', () => {
  const w = new MboxWriter(() => undefined);
  expect(() => w.begin('a b', new Date(0))).toThrow(RangeError);
  expect(() => w.write(Buffer.from('x'))).toThrow(/outside a message/);
  w.begin('a', new Date(0));
  expect(() => w.begin('a', new Date(0))).toThrow(/not ended/);
});
