// smtp-sink harness: counts what it is sent, directly and as a Postfix relay's next hop, and
// leaves no process behind.
import { createTransport } from 'nodemailer';
import { startPostfix } from './postfix-instance';
import { startSmtpSink } from './smtp-sink';

jest.setTimeout(30_000);

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('smtp-sink', () => {
  it('counts the messages a client sends over one pooled connection', async () => {
    const sink = await startSmtpSink();
    try {
      expect(sink.count()).toBe(0);
      const transport = createTransport({ host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1 });
      await Promise.all([1, 2, 3].map((i) => transport.sendMail({ from: 'a@a.test', to: 'b@b.test', subject: `m${i}`, text: 'x' })));
      transport.close();
      await sink.waitForCount(3, 5000);
      expect(sink.count()).toBe(3);
    } finally {
      await sink.stop();
    }
    expect(running(sink.pid)).toBe(false);
  });

  it('receives everything a Postfix relays to it', async () => {
    const sink = await startSmtpSink();
    const postfix = await startPostfix({ name: 'to-sink', relayhost: `[127.0.0.1]:${sink.port}` });
    try {
      const transport = createTransport({ host: '127.0.0.1', port: postfix.port, secure: false, ignoreTLS: true });
      for (let i = 0; i < 5; i++) await transport.sendMail({ from: 'a@a.test', to: `r${i}@remote.test`, subject: `m${i}`, text: 'x' });
      await sink.waitForCount(5, 10_000);
      await postfix.waitForEmptyQueue(5000);
      expect(await postfix.log()).toMatch(/relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent/);
    } finally {
      await postfix.stop();
      await sink.stop();
    }
  });
});
