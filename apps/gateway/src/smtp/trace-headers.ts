// The Received trace header the gateway prepends to every accepted message (RFC 5321 4.4), and the
// header Message-ID read from the accepted bytes. Otherwise the message bytes are left unchanged.

export interface ReceivedInfo {
  /** What the client said in HELO/EHLO (sanitised here). */
  readonly helo: string | null;
  readonly clientAddress: string;
  readonly hostname: string;
  readonly secure: boolean;
  readonly authenticated: boolean;
  readonly queueId: string;
  readonly date: Date;
  /** `with` protocol; default from secure/authenticated (ESMTP[S][A]); 'DMTP' for DIME received over DMTP. */
  readonly protocol?: string;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC: `Tue, 1 Jul 2025 10:00:00 +0000`. */
export function rfc5322Date(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** RFC 3848 protocol name: ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA (both). */
export function withProtocol(secure: boolean, authenticated: boolean): string {
  return `ESMTP${secure ? 'S' : ''}${authenticated ? 'A' : ''}`;
}

/** Keeps the HELO text printable and short: it is client-controlled and lands in a header. */
function sanitizeHelo(helo: string | null): string {
  const clean = (helo ?? '').replace(/[^\x21-\x7e]/g, '').replace(/[()]/g, '').slice(0, 255);
  return clean === '' ? 'unknown' : clean;
}

/** `Received: from <helo> (<ip>)\r\n\tby <hostname> with ESMTP[S][A] id <queueId>;\r\n\t<date>\r\n` */
export function receivedHeader(info: ReceivedInfo): Buffer {
  return Buffer.from(
    `Received: from ${sanitizeHelo(info.helo)} (${info.clientAddress.replace(/[^0-9a-fA-F.:]/g, '')})\r\n` +
      `\tby ${info.hostname} with ${info.protocol ?? withProtocol(info.secure, info.authenticated)} id ${info.queueId};\r\n` +
      `\t${rfc5322Date(info.date)}\r\n`,
    'latin1',
  );
}

const MAX_MESSAGE_ID = 998;

/** The Message-ID header's value (unfolded, trimmed), or null; only the header section is read. */
export function headerMessageId(message: Buffer): string | null {
  let end = message.indexOf('\r\n\r\n');
  if (end < 0) end = message.length;
  const header = message.subarray(0, Math.min(end, 1024 * 1024)).toString('latin1');
  const m = /(?:^|\r\n)message-id[ \t]*:((?:[^\r]|\r\n[ \t])*)/i.exec(header);
  if (!m) return null;
  const value = m[1]!.replace(/\r\n[ \t]/g, ' ').trim();
  return value === '' ? null : value.slice(0, MAX_MESSAGE_ID);
}
