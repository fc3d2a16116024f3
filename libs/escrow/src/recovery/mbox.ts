// An mbox (RFC 4155, the "mboxrd" variant) of the messages of an escrow export, for the review
// tools that import one file rather than a folder of .eml files. Each message is preceded by a
// "From " separator line, its CRLF line endings become LF (the mbox convention), every line that
// starts with zero or more '>' and then "From " gets one more '>' (mboxrd: reversible), and a
// blank line ends it. The .eml files, whose SHA-256 the manifest lists, stay the evidence: the
// mbox is a view of them. Streaming: a message goes through in pieces of any size.

/** The separator date in asctime form (RFC 4155: "Thu Nov 27 20:15:00 2026"), UTC. */
export function mboxDate(at: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${days[at.getUTCDay()]} ${months[at.getUTCMonth()]} ${String(at.getUTCDate()).padStart(2, ' ')} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} ${at.getUTCFullYear()}`;
}

const LF = 0x0a;
const CR = 0x0d;
const FROM = Buffer.from('From ', 'latin1');

/** Writes messages one after the other into `out` (called with each piece of the mbox, in order). */
export class MboxWriter {
  private carry: Buffer = Buffer.alloc(0);
  private open = false;

  constructor(private readonly out: (piece: Buffer) => void) {}

  /** Starts a message: its separator line (sender without spaces or line breaks). */
  begin(sender: string, at: Date): void {
    if (this.open) throw new Error('MboxWriter: the previous message was not ended');
    if (!/^[^\s]+$/.test(sender)) throw new RangeError(`"sender" must be one word, got ${JSON.stringify(sender)}`);
    this.out(Buffer.from(`From ${sender} ${mboxDate(at)}\n`, 'latin1'));
    this.open = true;
  }

  /** A piece of the current message (raw RFC 5322 bytes). */
  write(piece: Uint8Array): void {
    if (!this.open) throw new Error('MboxWriter: write() outside a message');
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, piece]) : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    let start = 0;
    for (;;) {
      const lf = data.indexOf(LF, start);
      if (lf === -1) break;
      this.line(data.subarray(start, lf > start && data[lf - 1] === CR ? lf - 1 : lf));
      start = lf + 1;
    }
    this.carry = Buffer.from(data.subarray(start));
  }

  /** Ends the current message (a last line without a line ending is completed). */
  end(): void {
    if (!this.open) throw new Error('MboxWriter: end() outside a message');
    if (this.carry.length > 0) {
      const last = this.carry[this.carry.length - 1] === CR ? this.carry.subarray(0, -1) : this.carry;
      this.line(last);
      this.carry = Buffer.alloc(0);
    }
    this.out(Buffer.from('\n', 'latin1'));
    this.open = false;
  }

  private line(text: Buffer): void {
    let i = 0;
    while (i < text.length && text[i] === 0x3e) i++;
    const quote = text.length - i >= FROM.length && text.subarray(i, i + FROM.length).equals(FROM);
    this.out(quote ? Buffer.concat([Buffer.from('>', 'latin1'), text, Buffer.from('\n', 'latin1')]) : Buffer.concat([text, Buffer.from('\n', 'latin1')]));
  }
}
