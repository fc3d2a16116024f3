// A minimal line-level SMTP client for tests that must send exact bytes (bare LF, odd DATA
// endings) or inspect the server's replies (EHLO capabilities), which nodemailer hides.
import { connect, type Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  /** Text lines without the code and separator. */
  lines: string[];
}

export class SmtpDialog {
  private buffer = '';
  private partial: string[] = [];
  private readonly replies: SmtpReply[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** Connects and reads the greeting. */
  static async open(port: number, host = '127.0.0.1'): Promise<{ dialog: SmtpDialog; greeting: SmtpReply }> {
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const dialog = new SmtpDialog(socket);
    const greeting = await dialog.reply(5000);
    if (!greeting) throw new Error(`no SMTP greeting on ${host}:${port}`);
    return { dialog, greeting };
  }

  private parse(): void {
    for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.partial.push(line.slice(4));
      // "250-..." continues a multi-line reply; "250 ..." ends it.
      if (line[3] !== '-') {
        this.replies.push({ code: Number(line.slice(0, 3)), lines: this.partial });
        this.partial = [];
        this.waiter?.();
      }
    }
  }

  /** The next reply, or null if none arrives within timeoutMs (or the connection closed). */
  async reply(timeoutMs = 5000): Promise<SmtpReply | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0 && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.replies.shift() ?? null;
  }

  /** Writes bytes exactly as given (no line ending added). */
  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Writes `line` + CRLF and returns the reply. */
  async command(line: string, timeoutMs = 5000): Promise<SmtpReply | null> {
    this.socket.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}
