// Test harness: a raw SMTP client that shows the server's replies exactly as sent (code, enhanced
// code, text, multi-line), can pipeline arbitrary bytes and upgrade with STARTTLS. For the
// gateway's listener tests, where a library client would hide or "fix" what is being tested.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Reply {
  readonly code: number;
  /** All lines joined with \n, without the code prefixes. */
  readonly text: string;
  readonly lines: readonly string[];
  /** `code text` of the last line, e.g. `250 2.0.0 Ok: queued as ABC`. */
  readonly line: string;
}

export class SmtpDialog {
  private buffer = '';
  private readonly waiting: Array<(r: Reply) => void> = [];
  private readonly replies: Reply[] = [];
  private closedFlag = false;

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static async open(port: number, host = '127.0.0.1'): Promise<{ dialog: SmtpDialog; greeting: Reply; greetingMs: number }> {
    const started = performance.now();
    const socket = netConnect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const dialog = new SmtpDialog(socket);
    const greeting = await dialog.read();
    return { dialog, greeting, greetingMs: performance.now() - started };
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => (this.closedFlag = true));
    socket.on('error', () => (this.closedFlag = true));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let lines: string[] = [];
    let idx: number;
    while ((idx = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, idx);
      this.buffer = this.buffer.slice(idx + 2);
      lines.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        const reply: Reply = { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n'), line };
        lines = [];
        const w = this.waiting.shift();
        if (w) w(reply);
        else this.replies.push(reply);
      }
    }
    // keep an incomplete multi-line reply for the next chunk
    if (lines.length > 0) this.buffer = `${lines.join('\r\n')}\r\n${this.buffer}`;
  }

  read(timeoutMs = 10_000): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms${this.closedFlag ? ' (connection closed)' : ''}`)), timeoutMs);
      this.waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  write(raw: string | Buffer): void {
    this.socket.write(raw);
  }

  async cmd(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  /** DATA, the message (dot-stuffed here), the final dot; returns [354 reply, final reply]. */
  async data(message: string | Buffer): Promise<[Reply, Reply]> {
    const go = await this.cmd('DATA');
    if (go.code !== 354) return [go, go];
    const body = Buffer.isBuffer(message) ? message : Buffer.from(message, 'latin1');
    const stuffed = Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
    this.write(Buffer.concat([stuffed, Buffer.from(body.toString('latin1').endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n')]));
    return [go, await this.read()];
  }

  /** A whole transaction; returns the final reply (or the first refusal). */
  async send(from: string, to: string[], message: string | Buffer, helo = 'client.test'): Promise<Reply> {
    const ehlo = await this.cmd(`EHLO ${helo}`);
    if (ehlo.code !== 250) return ehlo;
    const mail = await this.cmd(`MAIL FROM:<${from}>`);
    if (mail.code !== 250) return mail;
    for (const rcpt of to) {
      const r = await this.cmd(`RCPT TO:<${rcpt}>`);
      if (r.code !== 250) return r;
    }
    return (await this.data(message))[1];
  }

  async starttls(ca: string | Buffer, servername = 'localhost'): Promise<Reply> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) return r;
    const raw = this.socket;
    raw.removeAllListeners('data');
    const secure = tlsConnect({ socket: raw as Socket, ca, servername });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return r;
  }

  get tlsSocket(): TLSSocket | undefined {
    return 'getPeerCertificate' in this.socket ? (this.socket as TLSSocket) : undefined;
  }

  close(): void {
    this.socket.destroy();
  }

  async quit(): Promise<void> {
    if (this.closedFlag) return;
    try {
      await this.cmd('QUIT');
    } catch {
      // already gone
    }
    this.close();
  }
}
