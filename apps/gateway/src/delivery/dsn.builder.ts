// Delivery status notifications (RFC 3464): a multipart/report; report-type=delivery-status with
// a human-readable part, the machine-readable message/delivery-status, and text/rfc822-headers
// carrying ONLY the original header section (never the body: bounces must not leak content, and
// after DIME sealing the body is not the sender's to see in clear). Pure: no I/O, clock passed in.

export type DsnAction = 'failed' | 'delayed';

export interface DsnRecipient {
  readonly address: string;
  readonly action: DsnAction;
  /** The SMTP reply or the gateway's own SMTP-style reason, e.g. `550 5.1.1 no such user`. */
  readonly reply: string;
  /** Host name (or address) of the server that gave `reply`, when a remote server gave it. */
  readonly remoteMta?: string | undefined;
}

export interface DsnInput {
  /** The gateway's host name: Reporting-MTA and the MAILER-DAEMON address. */
  readonly reportingMta: string;
  /** The original envelope sender: the DSN's only recipient. */
  readonly to: string;
  /** Unique per DSN: used in Message-ID and the MIME boundary. */
  readonly dsnId: string;
  readonly originalQueueId: string;
  readonly arrivalDate: Date;
  readonly date: Date;
  readonly recipients: readonly DsnRecipient[];
  /** The original header section (through its last CRLF), or undefined when it cannot be read. */
  readonly originalHeaders: Uint8Array | undefined;
  /** For delay notices: when the gateway gives up. */
  readonly willRetryUntil?: Date | undefined;
}

const CRLF = '\r\n';

export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** The RFC 3463 status in a reply (`550 5.1.1 ...` or `5.1.1 ...`), else one from its class. */
export function statusOfReply(reply: string, action: DsnAction): string {
  const m = /^(?:[245]\d\d[ -])?([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/.exec(reply);
  if (m) return `${m[1]}.${m[2]}.${m[3]}`;
  const code = /^([245])\d\d(?=[ -]|$)/.exec(reply);
  if (code) return `${code[1]}.0.0`;
  return action === 'failed' ? '5.0.0' : '4.0.0';
}

/** One header-safe line: no CR/LF/control characters, bounded length. */
function oneLine(text: string, max = 900): string {
  // eslint-disable-next-line no-control-regex
  const s = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

export function buildDsn(input: DsnInput): Buffer {
  if (input.recipients.length === 0) throw new RangeError('"recipients" expected at least one recipient');
  const delayed = input.recipients.every((r) => r.action === 'delayed');
  const boundary = `=_dsn_${input.dsnId.replace(/[^A-Za-z0-9]/g, '')}`;
  const mailerDaemon = `MAILER-DAEMON@${input.reportingMta}`;

  const head = [
    `From: Mail Delivery System <${mailerDaemon}>`,
    `To: <${oneLine(input.to)}>`,
    `Subject: ${delayed ? 'Delayed Mail (still being retried)' : 'Undelivered Mail Returned to Sender'}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: <${input.dsnId}@${input.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ];

  const human = [
    `This is the mail system at host ${input.reportingMta}.`,
    '',
    delayed
      ? 'Your message could not be delivered yet to the recipients below. It is still being\r\nretried; you do not need to send it again.'
      : 'Your message could not be delivered to the recipients below. This is a permanent\r\nerror; the message was not delivered and has been deleted.',
    ...(delayed && input.willRetryUntil ? ['', `The mail system will keep trying until ${rfc5322Date(input.willRetryUntil)}.`] : []),
    '',
    ...input.recipients.map((r) => `<${oneLine(r.address)}>${r.remoteMta ? ` (host ${oneLine(r.remoteMta)})` : ''}: ${oneLine(r.reply)}`),
    '',
    'The headers of your message are attached; its content is not.',
  ];

  const perMessage = [
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `X-Original-Queue-ID: ${oneLine(input.originalQueueId)}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
  ];
  const perRecipient = input.recipients.map((r) => {
    const lines = [
      `Final-Recipient: rfc822; ${oneLine(r.address)}`,
      `Action: ${r.action}`,
      `Status: ${statusOfReply(r.reply, r.action)}`,
    ];
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${oneLine(r.remoteMta)}`);
    lines.push(`Diagnostic-Code: smtp; ${oneLine(r.reply)}`);
    lines.push(`Last-Attempt-Date: ${rfc5322Date(input.date)}`);
    if (r.action === 'delayed' && input.willRetryUntil) lines.push(`Will-Retry-Until: ${rfc5322Date(input.willRetryUntil)}`);
    return lines.join(CRLF);
  });

  const parts: (string | Uint8Array)[] = [
    head.join(CRLF),
    CRLF + CRLF,
    'This is a MIME-encapsulated message.' + CRLF + CRLF,
    `--${boundary}${CRLF}`,
    `Content-Description: Notification${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: 8bit${CRLF}${CRLF}`,
    human.join(CRLF) + CRLF + CRLF,
    `--${boundary}${CRLF}`,
    `Content-Description: Delivery report${CRLF}Content-Type: message/delivery-status${CRLF}${CRLF}`,
    [perMessage.join(CRLF), ...perRecipient].join(CRLF + CRLF) + CRLF + CRLF,
  ];
  if (input.originalHeaders && input.originalHeaders.length > 0) {
    parts.push(`--${boundary}${CRLF}`, `Content-Description: Undelivered Message Headers${CRLF}Content-Type: text/rfc822-headers${CRLF}${CRLF}`);
    parts.push(input.originalHeaders);
    const last = input.originalHeaders.subarray(-2);
    if (!(last[0] === 0x0d && last[1] === 0x0a)) parts.push(CRLF);
    parts.push(CRLF);
  }
  parts.push(`--${boundary}--${CRLF}`);
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}
