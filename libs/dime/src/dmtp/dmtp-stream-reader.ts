// Incremental framing for a DMTP socket (docs/dmtp.md): feed received chunks, take out complete
// lines (commands or replies) or, after `354`, exactly one length-delimited D/MIME message.
// Nothing here touches a socket; the gateway's listener and client own I/O and timeouts.
import { DimeError } from '../dime.error';
import { DMTP_MAX_COMMAND_LINE } from './dmtp-command';
import { DMTP_MAX_REPLY_LINE, parseDmtpReplyLine, type DmtpReply } from './dmtp-reply';

// D/MIME framing (DIGEST.md §6.1): optional tracing block `1837 | len(2) | data`, then `1847 | len(4) | chunks`.
const MAGIC_TRACING = 1837;
const MAGIC_MESSAGE = 1847;
const LF = 0x0a;
const CR = 0x0d;

export interface DmtpStreamReaderOptions {
  /** Longest line accepted, terminator included (default: 512, the command limit). */
  maxLineLength?: number;
  /** Largest D/MIME message accepted by readMessage(), tracing block included (default 64 MiB). */
  maxMessageSize?: number;
}

export const DMTP_DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;

/**
 * Buffers received bytes. After a DimeError the stream is out of step and the connection must be
 * closed (the doc's 500/554 then close), so the reader is not reusable after one.
 */
export class DmtpStreamReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private readonly maxLine: number;
  private readonly maxMessage: number;

  constructor(options: DmtpStreamReaderOptions = {}) {
    this.maxLine = positive(options.maxLineLength ?? DMTP_MAX_COMMAND_LINE, 'maxLineLength');
    this.maxMessage = positive(options.maxMessageSize ?? DMTP_DEFAULT_MAX_MESSAGE, 'maxMessageSize');
  }

  /** Bytes received and not yet taken. */
  get buffered(): number {
    return this.length;
  }

  push(chunk: Uint8Array | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : toBuf(chunk);
    if (buf.length === 0) return;
    this.chunks.push(buf);
    this.length += buf.length;
  }

  /**
   * The next complete line as latin1 text without its terminator (CRLF, or bare LF, which the
   * parsers then judge), or undefined until one has arrived. DimeError('BAD_COMMAND') if longer than allowed.
   */
  readLine(): string | undefined {
    if (this.length === 0) return undefined;
    const head = this.compact();
    const lf = head.indexOf(LF);
    const end = lf < 0 ? this.length : lf + 1;
    if (end > this.maxLine) throw new DimeError('BAD_COMMAND', `DMTP: line too long (more than ${this.maxLine} octets)`);
    if (lf < 0) return undefined;
    const stop = lf > 0 && head[lf - 1] === CR ? lf - 1 : lf;
    const line = head.toString('latin1', 0, stop);
    this.consume(lf + 1);
    return line;
  }

  /**
   * After `354`: the complete D/MIME message (its own header gives its length; no dot-stuffing) once
   * it and the CRLF after it have arrived; undefined until then. DimeError MALFORMED for a stream that
   * is not a D/MIME message or lacks the CRLF, TOO_LARGE as soon as the declared size exceeds the limit.
   */
  readMessage(): Buffer | undefined {
    const total = this.messageLength();
    if (total === undefined || this.length < total + 2) return undefined;
    const head = this.compact();
    if (head[total] !== CR || head[total + 1] !== LF) throw new DimeError('MALFORMED', 'DMTP DATA: the message is not followed by CRLF');
    const message = head.subarray(0, total); // no copy: consume() only re-slices
    this.consume(total + 2);
    return message;
  }

  /** Takes everything buffered (e.g. to check that nothing was pipelined after STARTTLS). */
  takeBuffered(): Buffer {
    const all = this.compact();
    this.chunks = [];
    this.length = 0;
    return all;
  }

  /** Declared size of the message at the head of the buffer, once its headers are in. */
  private messageLength(): number | undefined {
    if (this.length < 2) return undefined;
    const head = this.peek(Math.min(this.length, 4 + 0xffff + 6));
    let offset = 0;
    if (head.readUInt16BE(0) === MAGIC_TRACING) {
      if (head.length < 4) return undefined;
      offset = 4 + head.readUInt16BE(2);
    }
    if (head.length < offset + 2) return undefined;
    const magic = head.readUInt16BE(offset);
    if (magic !== MAGIC_MESSAGE) throw new DimeError('MALFORMED', `DMTP DATA: expected a D/MIME message (magic ${MAGIC_MESSAGE}), got ${magic}`);
    if (head.length < offset + 6) return undefined;
    const total = offset + 6 + head.readUInt32BE(offset + 2);
    if (total > this.maxMessage) throw new DimeError('TOO_LARGE', `DMTP DATA: message of ${total} bytes exceeds the limit of ${this.maxMessage}`);
    return total;
  }

  /** The first n buffered bytes (n <= buffered) without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    return first.length >= n ? first.subarray(0, n) : this.compact().subarray(0, n);
  }

  /** Joins the buffered chunks into one (once per read, not per received chunk). */
  private compact(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0] as Buffer;
  }

  private consume(n: number): void {
    const head = this.compact();
    this.length -= n;
    this.chunks = this.length === 0 ? [] : [head.subarray(n)];
  }
}

/** Client side: feed received chunks, get complete (possibly multi-line) replies back. */
export class DmtpReplyReader {
  private readonly stream: DmtpStreamReader;
  private lines: string[] = [];
  private code = 0;

  constructor(options: { maxLineLength?: number } = {}) {
    this.stream = new DmtpStreamReader({ maxLineLength: options.maxLineLength ?? DMTP_MAX_REPLY_LINE });
  }

  /** True while a multi-line reply has started but not ended, or a partial line is buffered. */
  get pending(): boolean {
    return this.lines.length > 0 || this.stream.buffered > 0;
  }

  /** Adds received bytes; returns the replies they complete, in order. DimeError('BAD_COMMAND') on a malformed reply. */
  push(chunk: Uint8Array | string): DmtpReply[] {
    this.stream.push(chunk);
    const out: DmtpReply[] = [];
    for (let raw = this.stream.readLine(); raw !== undefined; raw = this.stream.readLine()) {
      const line = parseDmtpReplyLine(raw);
      if (this.lines.length > 0 && line.code !== this.code) {
        throw new DimeError('BAD_COMMAND', `DMTP reply: continuation line has code ${line.code}, the reply started with ${this.code}`);
      }
      this.code = line.code;
      this.lines.push(line.text);
      if (!line.more) {
        out.push({ code: this.code, lines: this.lines });
        this.lines = [];
      }
    }
    return out;
  }

  /** Takes bytes received after the last complete line (after STARTTLS they must be none). */
  takeBuffered(): Buffer {
    return this.stream.takeBuffered();
  }
}

function positive(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 3) throw new RangeError(`"${name}" must be an integer >= 3, got ${n}`);
  return n;
}

function toBuf(chunk: Uint8Array): Buffer {
  if (!(chunk instanceof Uint8Array)) throw new TypeError(`"chunk" expected Uint8Array or string, got ${chunk === null ? 'null' : typeof chunk}`);
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
