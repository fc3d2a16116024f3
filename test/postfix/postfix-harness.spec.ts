// Pure parts of the Postfix harness: the rendered configuration and the Maildir trace-header split.
import fc from 'fast-check';
import { crlfToLf, deliveredTo, lfToCrlf, stripTraceHeaders, traceHeadersEnd } from './maildir';
import { mailboxMaildir, postfixLayout, renderPostfixConfig } from './postfix-config';

function mainCfOf(text: string): Map<string, string> {
  return new Map(text.trim().split('\n').map((l) => l.split(' = ', 2) as [string, string]));
}

describe('renderPostfixConfig', () => {
  const layout = postfixLayout('/tmp/pf-x');

  it('rejects bare LF from every client, loopback included', () => {
    const main = mainCfOf(renderPostfixConfig(layout, 2525, {}).mainCf);
    expect(main.get('smtpd_forbid_bare_newline')).toBe('reject');
    expect(main.get('smtpd_forbid_bare_newline_exclusions')).toBe('');
  });

  it('keeps everything inside the instance dir and on 127.0.0.1', () => {
    const { mainCf, masterCf } = renderPostfixConfig(layout, 2525, { name: 'legacy', relayhost: '[127.0.0.1]:2587' });
    const main = mainCfOf(mainCf);
    expect(main.get('queue_directory')).toBe('/tmp/pf-x/spool');
    expect(main.get('data_directory')).toBe('/tmp/pf-x/data');
    expect(main.get('maillog_file')).toBe('/tmp/pf-x/maillog');
    expect(main.get('inet_interfaces')).toBe('127.0.0.1');
    expect(main.get('mynetworks')).toBe('127.0.0.0/8');
    expect(main.get('relayhost')).toBe('[127.0.0.1]:2587');
    expect(main.get('myhostname')).toBe('legacy.test');
    expect(masterCf).toMatch(/^127\.0\.0\.1:2525 inet n - n - - smtpd$/m);
    expect(masterCf).toMatch(/^postlog unix-dgram /m);
    expect(masterCf).not.toMatch(/ y /); // no chroot
  });

  it('maps mailboxes before domain catch-alls and escapes path characters', () => {
    const { mainCf, tables } = renderPostfixConfig(layout, 2525, { mailboxDomains: ['B.test'], mailboxes: ['Carol@c.test', 'x/../y@c.test'] });
    expect(tables.vmailbox).toBe('carol@c.test c.test/carol/\nx/../y@c.test c.test/x%2f%2e%2e%2fy/\n@b.test b.test/_catchall_/\n');
    expect(mainCfOf(mainCf).get('virtual_mailbox_domains')).toBe('b.test, c.test');
    expect(() => mailboxMaildir('nodomain')).toThrow(RangeError);
  });

  it('applies mainCf overrides last', () => {
    const main = mainCfOf(renderPostfixConfig(layout, 2525, { mainCf: { in_flow_delay: '0', queue_run_delay: '5s' } }).mainCf);
    expect(main.get('in_flow_delay')).toBe('0');
    expect(main.get('queue_run_delay')).toBe('5s');
  });
});

describe('Maildir trace headers', () => {
  const stored = Buffer.from(
    'Return-Path: <a@a.test>\nX-Original-To: Bob@b.test\nDelivered-To: Bob@b.test\n' +
      'Received: from a.test (unknown [127.0.0.1])\n\tby b.test (Postfix) with ESMTP id 1\n\tfor <Bob@b.test>; now\n' +
      'Received: from x\n by y\nFrom: a@a.test\nReceived: kept, not leading\n\nbody\n',
  );

  it('strips the leading trace block with its folded lines and nothing after it', () => {
    expect(stripTraceHeaders(stored).toString()).toBe('From: a@a.test\nReceived: kept, not leading\n\nbody\n');
    expect(deliveredTo(stored)).toBe('bob@b.test');
  });

  it('strips nothing from a message that starts with its own headers', () => {
    const plain = Buffer.from(' folded-first\r\nFrom: a\r\n\r\n');
    expect(traceHeadersEnd(plain)).toBe(0);
    expect(traceHeadersEnd(Buffer.from('From: a\r\nReturn-Path: <x>\r\n'))).toBe(0);
    expect(traceHeadersEnd(Buffer.from('no colon here\n'))).toBe(0);
  });

  it('restores the wire form: lfToCrlf inverts crlfToLf on text without bare LF', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('\r\n'), fc.string().map((s) => s.replace(/\n/g, ''))), { maxLength: 20 }), (parts) => {
        const wire = Buffer.from(parts.join(''), 'latin1');
        expect(lfToCrlf(crlfToLf(wire)).equals(wire)).toBe(true);
      }),
    );
  });
});
