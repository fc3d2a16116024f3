// Streaming checks on DATA as it arrives (after smtp-server removed dot-stuffing): total size, line
// length, NUL bytes, and bare LF / bare CR. Bare line endings are refused outright because MTAs
// disagree on them, which is what SMTP smuggling exploits. After the first violation the scanner
// stops keeping bytes (the rest of DATA is only counted and drained).
import { lineTooLong, messageTooBig, REPLIES, type SmtpReply } from './smtp-replies';

export type MessageViolation = 'TOO_BIG' | 'LINE_TOO_LONG' | 'NUL' | 'BARE_LF' | 'BARE_CR';

export interface ScannerLimits {
  readonly maxMessageBytes: number;
  /** Excluding the CRLF. */
  readonly maxLineBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;

export class MessageScanner {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Bytes of the current line so far (a trailing CR not yet counted). */
  private lineLength = 0;
  /** The last byte seen was a CR whose LF has not been seen yet. */
  private pendingCr = false;
  private failure: MessageViolation | undefined;

  constructor(private readonly limits: ScannerLimits) {}

  get violation(): MessageViolation | undefined {
    return this.failure;
  }

  get byteLength(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.failure) return;
    if (this.size > this.limits.maxMessageBytes) return this.fail('TOO_BIG');
    if (chunk.indexOf(0) >= 0) return this.fail('NUL');
    let start = 0;
    if (this.pendingCr) {
      if (chunk[0] !== LF) return this.fail('BARE_CR');
      this.pendingCr = false;
      this.lineLength = 0;
      start = 1;
    }
    let pos = start;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(LF, pos);
      const end = lf < 0 ? chunk.length : lf;
      // a CR anywhere but right before the LF (or at the chunk's end) is bare
      const cr = chunk.indexOf(CR, pos);
      if (cr >= 0 && cr < end - 1) return this.fail('BARE_CR');
      if (lf < 0) {
        if (cr === chunk.length - 1) {
          this.pendingCr = true;
          this.lineLength += chunk.length - 1 - pos;
        } else this.lineLength += chunk.length - pos;
        if (this.lineLength > this.limits.maxLineBytes) return this.fail('LINE_TOO_LONG');
        break;
      }
      if (lf === 0 ? true : chunk[lf - 1] !== CR) {
        // the CR of a CRLF split across chunks was consumed above (start = 1), so lf === 0 is bare
        return this.fail('BARE_LF');
      }
      this.lineLength += lf - 1 - pos;
      if (this.lineLength > this.limits.maxLineBytes) return this.fail('LINE_TOO_LONG');
      this.lineLength = 0;
      pos = lf + 1;
    }
    this.chunks.push(chunk);
  }

  /** The message bytes (only when there was no violation). */
  message(): Buffer {
    if (this.failure) throw new RangeError(`the message was refused (${this.failure})`);
    return Buffer.concat(this.chunks, this.size);
  }

  /** Final checks at end of DATA: a dangling CR is bare. */
  finish(): MessageViolation | undefined {
    if (!this.failure && this.pendingCr) this.fail('BARE_CR');
    return this.failure;
  }

  private fail(violation: MessageViolation): void {
    this.failure = violation;
    this.chunks.length = 0;
  }
}

export function violationReply(violation: MessageViolation, limits: ScannerLimits): SmtpReply {
  switch (violation) {
    case 'TOO_BIG':
      return messageTooBig(limits.maxMessageBytes);
    case 'LINE_TOO_LONG':
      return lineTooLong(limits.maxLineBytes);
    case 'NUL':
      return REPLIES.nulByte;
    case 'BARE_LF':
      return REPLIES.bareLf;
    case 'BARE_CR':
      return REPLIES.bareCr;
  }
}
