// The DMTP dialogue rebuilt from the two streams of a session, with libdime's vector message as
// the binary DATA: order of banner, commands and replies, the message byte for byte, and refusal
// of a stream cut inside the message.
import { vectorMessage2 } from '../dime-message.fixture';
import { dmtpTranscript } from './dmtp-transcript';

const crlf = (...lines: string[]) => Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');

describe('dmtpTranscript', () => {
  const message = vectorMessage2();
  const client = Buffer.concat([crlf('EHLO gw.a.test', `MAIL FROM:<a.test> SIZE=${message.length}`, 'RCPT TO:<b.test>', 'DATA'), message, crlf('', 'QUIT')]);
  const server = crlf('220 gw.b.test DMTPv1 DIME Gateway ready', '250-gw.b.test', '250-SIZE 67108864', '250 DMTPv1', '250 2.1.0 OK', '250 2.1.5 OK', `354 CONTINUE [t-1] send ${message.length} octets then CRLF`, '250 OK [t-1]', '221 2.0.0 bye');

  it('interleaves banner, commands, replies and the binary message in protocol order', () => {
    const t = dmtpTranscript(client, server);
    expect(t.entries.map((e) => `${e.from[0]}: ${e.text.split('\n')[0]}`)).toEqual([
      's: 220 gw.b.test DMTPv1 DIME Gateway ready',
      'c: EHLO gw.a.test',
      's: 250-gw.b.test',
      `c: MAIL FROM:<a.test> SIZE=${message.length}`,
      's: 250 2.1.0 OK',
      'c: RCPT TO:<b.test>',
      's: 250 2.1.5 OK',
      'c: DATA',
      `s: 354 CONTINUE [t-1] send ${message.length} octets then CRLF`,
      `c: <D/MIME message, ${message.length} octets, binary>`,
      's: 250 OK [t-1]',
      'c: QUIT',
      's: 221 2.0.0 bye',
    ]);
    expect(t.entries[2]!.reply!.lines).toEqual(['gw.b.test', 'SIZE 67108864', 'DMTPv1']);
    expect(t.entries[2]!.text).toBe('250-gw.b.test\n250-SIZE 67108864\n250 DMTPv1');
    expect(t.messages).toHaveLength(1);
    expect(t.messages[0]!.equals(message)).toBe(true);
    expect(t.commands).toEqual(['EHLO gw.a.test', `MAIL FROM:<a.test> SIZE=${message.length}`, 'RCPT TO:<b.test>', 'DATA', 'QUIT']);
  });

  it('refuses a client stream cut inside the message or inside a command', () => {
    const cut = client.subarray(0, client.indexOf(message.subarray(0, 64)) + 100);
    expect(() => dmtpTranscript(cut, server)).toThrow(/ends inside the D\/MIME message/);
    expect(() => dmtpTranscript(Buffer.from('EHLO gw.a.test\r\nMAIL FR', 'latin1'), server)).toThrow(/not a complete command line/);
  });
});
