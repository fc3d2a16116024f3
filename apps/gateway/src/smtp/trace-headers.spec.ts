import { headerMessageId, receivedHeader, rfc5322Date, withProtocol } from './trace-headers';

describe('receivedHeader', () => {
  const base = { helo: 'mx.sender.test', clientAddress: '192.0.2.7', hostname: 'gateway.example.test', queueId: 'ABCDEF0123456789', date: new Date(Date.UTC(2025, 6, 1, 9, 5, 3)) };

  it('names the client, the gateway, the protocol and the queue id', () => {
    expect(receivedHeader({ ...base, secure: true, authenticated: false }).toString()).toBe(
      'Received: from mx.sender.test (192.0.2.7)\r\n\tby gateway.example.test with ESMTPS id ABCDEF0123456789;\r\n\tTue, 1 Jul 2025 09:05:03 +0000\r\n',
    );
  });

  it('uses the RFC 3848 protocol names', () => {
    expect([withProtocol(false, false), withProtocol(true, false), withProtocol(false, true), withProtocol(true, true)]).toEqual(['ESMTP', 'ESMTPS', 'ESMTPA', 'ESMTPSA']);
  });

  it('keeps a hostile HELO from breaking the header', () => {
    const h = receivedHeader({ ...base, helo: 'evil\r\nX-Injected: 1 (x)', secure: false, authenticated: false }).toString();
    expect(h.split('\r\n')[0]).toBe('Received: from evilX-Injected:1x (192.0.2.7)');
    expect(receivedHeader({ ...base, helo: null, secure: false, authenticated: false }).toString()).toMatch(/^Received: from unknown \(/);
  });

  it('formats dates as RFC 5322 in UTC', () => {
    expect(rfc5322Date(new Date(Date.UTC(2024, 1, 29, 23, 59, 59)))).toBe('Thu, 29 Feb 2024 23:59:59 +0000');
  });
});

describe('headerMessageId', () => {
  it('reads the Message-ID of the header section, case-insensitively and unfolded', () => {
    expect(headerMessageId(Buffer.from('Subject: a\r\nmessage-ID:\r\n <x@y.test>\r\n\r\nMessage-ID: <body@z>\r\n'))).toBe('<x@y.test>');
  });

  it('ignores a Message-ID line in the body and returns null without one', () => {
    expect(headerMessageId(Buffer.from('Subject: a\r\n\r\nMessage-ID: <body@z>\r\n'))).toBeNull();
    expect(headerMessageId(Buffer.from('X-Message-ID: <no@z>\r\n\r\n'))).toBeNull();
  });
});
