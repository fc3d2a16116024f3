// The Postfix harness against real Postfix processes on 127.0.0.1: relay A -> B into a Maildir
// byte for byte, STARTTLS, bare-LF rejection, deferral and flush, start/stop hygiene.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { freePort } from './free-port';
import { crlfToLf } from './maildir';
import { livingGroupMembers } from './process-group';
import { POSTFIX, startPostfix, type PostfixInstance } from './postfix-instance';
import { createSelfSignedCert, type SelfSignedCert } from './self-signed-cert';
import { SmtpDialog } from './smtp-dialog';

jest.setTimeout(30_000);
const execFileAsync = promisify(execFile);

async function timedStart(options: Parameters<typeof startPostfix>[0]): Promise<{ instance: PostfixInstance; ms: number }> {
  const t = Date.now();
  const instance = await startPostfix(options);
  return { instance, ms: Date.now() - t };
}

function composeRaw(): Promise<Buffer> {
  return new MailComposer({
    from: 'Alice <alice@a.test>',
    to: 'Bob <bob@b.test>',
    subject: 'harness relay check: a subject long enough to be folded by the composer, and ünïcödé',
    messageId: '<harness-relay-1@a.test>',
    date: new Date('2026-01-02T03:04:05Z'),
    // A leading dot (dot-stuffing), 8-bit text, a 1000-byte base64 attachment.
    text: 'first line\n.a line that starts with a dot\n..two dots\n\nünïcödé body\n',
    attachments: [{ filename: 'blob.bin', content: Buffer.alloc(1000, 0xa5) }],
    textEncoding: 'quoted-printable',
  })
    .compile()
    .build();
}

describe('Postfix test instances', () => {
  let cert: SelfSignedCert;
  let a: PostfixInstance;
  let b: PostfixInstance;
  const startMs: number[] = [];

  beforeAll(async () => {
    cert = await createSelfSignedCert('b.test');
    const started = await timedStart({ name: 'b', mailboxDomains: ['b.test'], mailboxes: ['carol@c.test'], tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    b = started.instance;
    startMs.push(started.ms);
    const startedA = await timedStart({ name: 'a', relayhost: `[127.0.0.1]:${b.port}`, smtpTlsSecurityLevel: 'encrypt' });
    a = startedA.instance;
    startMs.push(startedA.ms);
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await cert?.remove();
  });

  it('starts each instance in under 5 s, greeting on 127.0.0.1 with its own hostname', async () => {
    for (const ms of startMs) expect(ms).toBeLessThan(5000);
    for (const [instance, host] of [[a, 'a.test'], [b, 'b.test']] as const) {
      const { dialog, greeting } = await SmtpDialog.open(instance.port);
      dialog.close();
      expect(greeting).toEqual({ code: 220, lines: [`${host} ESMTP`] });
    }
  });

  it('writes configurations that pass `postfix check` without a warning', async () => {
    for (const instance of [a, b]) {
      const { stdout, stderr } = await execFileAsync(POSTFIX, ['-c', instance.layout.configDir, 'check']);
      expect(stdout + stderr).toBe('');
    }
    expect(await b.log()).not.toMatch(/warning|fatal|panic/);
  });

  it('relays A -> B over STARTTLS and delivers the sent bytes unchanged apart from the trace headers', async () => {
    const raw = await composeRaw();
    const transport = createTransport({ host: '127.0.0.1', port: a.port, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ envelope: { from: 'alice@a.test', to: ['bob@b.test'] }, raw });
    expect(info.accepted).toEqual(['bob@b.test']);

    const [delivered] = await b.waitForDelivery(1, 10_000, 'bob@b.test');
    expect(delivered?.recipient).toBe('bob@b.test');
    // nodemailer's SMTP transport sends every line ending as CRLF (the composer leaves LFs in
    // text parts); Postfix stores lines with LF, `wire` turns them back into CRLF.
    const sent = Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    expect(sent.subarray(-2).toString()).toBe('\r\n');
    expect(delivered?.wire.equals(sent)).toBe(true);
    expect(delivered?.message.equals(crlfToLf(sent))).toBe(true);
    const trace = delivered!.raw.subarray(0, delivered!.raw.length - delivered!.message.length).toString('latin1');
    expect(trace).toMatch(/^Return-Path: <alice@a\.test>\n/);
    expect(trace).toMatch(/^Delivered-To: bob@b\.test$/m);
    expect(trace.match(/^Received: /gm)).toHaveLength(2);
    // A required TLS towards B (smtp_tls_security_level = encrypt) and the mail went through.
    await a.waitForEmptyQueue(5000);
    expect(await a.log()).toMatch(/TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.3/);
  });

  it('offers STARTTLS only where a certificate is configured', async () => {
    const ehlo = async (port: number) => {
      const { dialog } = await SmtpDialog.open(port);
      const reply = await dialog.command('EHLO client.test');
      dialog.close();
      return reply?.lines ?? [];
    };
    expect(await ehlo(b.port)).toContain('STARTTLS');
    expect(await ehlo(a.port)).not.toContain('STARTTLS');

    const transport = createTransport({ host: '127.0.0.1', port: b.port, secure: false, requireTLS: true, tls: { ca: cert.certPem, servername: 'b.test' } });
    await transport.sendMail({ from: 'alice@a.test', to: 'carol@c.test', subject: 'over TLS', text: 'hello' });
    const [delivered] = await b.waitForDelivery(1, 10_000, 'carol@c.test');
    expect(delivered?.message.toString()).toContain('Subject: over TLS');
  });

  it('rejects unknown users of a mailbox-only domain at RCPT', async () => {
    const { dialog } = await SmtpDialog.open(b.port);
    await dialog.command('EHLO client.test');
    expect((await dialog.command('MAIL FROM:<alice@a.test>'))?.code).toBe(250);
    const rcpt = await dialog.command('RCPT TO:<dave@c.test>');
    dialog.close();
    expect(rcpt?.code).toBe(550);
  });

  it('does not end DATA on a bare "\\n.\\n" and rejects the message with bare LFs', async () => {
    const before = (await b.deliveredMessages()).length;
    const { dialog } = await SmtpDialog.open(b.port);
    await dialog.command('EHLO client.test');
    await dialog.command('MAIL FROM:<alice@a.test>');
    expect((await dialog.command('RCPT TO:<bob@b.test>'))?.code).toBe(250);
    expect((await dialog.command('DATA'))?.code).toBe(354);
    dialog.write('Subject: smuggled\r\n\r\nbody\n.\nMAIL FROM:<evil@x.test>\r\n');
    // A server that took "\n.\n" as end of data would answer 250 (and then the smuggled MAIL).
    expect(await dialog.reply(700)).toBeNull();
    dialog.write('\r\n.\r\n');
    const end = await dialog.reply(5000);
    dialog.close();
    expect(end?.code).toBe(550);
    expect(end?.lines.join(' ')).toMatch(/bare <LF>/i);
    await b.waitForEmptyQueue(5000);
    expect(await b.deliveredMessages()).toHaveLength(before);
    expect(await b.log()).toMatch(/bare <LF> received/);
  });

  it('queues while the next hop is down, then delivers after flush()', async () => {
    const laterPort = await freePort();
    const relay = await startPostfix({ name: 'relay', relayhost: `[127.0.0.1]:${laterPort}` });
    let late: PostfixInstance | undefined;
    try {
      const transport = createTransport({ host: '127.0.0.1', port: relay.port, secure: false, ignoreTLS: true });
      await transport.sendMail({ from: 'alice@a.test', to: 'erin@e.test', subject: 'deferred', text: 'later' });
      // The first attempt fails (connection refused) and the message stays queued.
      for (let i = 0; i < 200 && !/status=deferred/.test(await relay.log()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await relay.log()).toMatch(/status=deferred/);
      expect(await relay.queueIsEmpty()).toBe(false);

      late = await startPostfix({ name: 'late', port: laterPort, mailboxDomains: ['e.test'] });
      await relay.flush();
      const [delivered] = await late.waitForDelivery(1, 10_000);
      expect(delivered?.recipient).toBe('erin@e.test');
      await relay.waitForEmptyQueue(5000);
    } finally {
      await relay.stop();
      await late?.stop();
    }
  });

  it('stops cleanly: no process of the instance left, port closed, dir removed, stop() idempotent', async () => {
    const { instance } = await timedStart({ name: 'stopper', mailboxDomains: ['s.test'] });
    const { dialog } = await SmtpDialog.open(instance.port);
    await dialog.command('EHLO client.test'); // an smtpd child is running now
    expect(livingGroupMembers(instance.pid).length).toBeGreaterThan(1);
    const t = Date.now();
    await instance.stop();
    expect(Date.now() - t).toBeLessThan(5000);
    dialog.close();
    expect(livingGroupMembers(instance.pid)).toEqual([]);
    expect(existsSync(instance.dir)).toBe(false);
    await expect(SmtpDialog.open(instance.port)).rejects.toThrow();
    await instance.stop();
  });
});
