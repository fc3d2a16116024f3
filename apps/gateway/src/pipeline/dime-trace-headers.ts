// The verification trace headers the gateway puts on DIME mail it opened (X-DIME-Verified and the
// signet fingerprints; dime/open/dime-inbound-opener.ts). Only the gateway may say a message was
// verified: the same fields arriving inside a message (plain SMTP from the Internet, or inside a
// DIME message's own headers) are forgeries a mail client would show as ours, so they are removed
// from the header section before delivery to the legacy server (as RFC 8601 5 asks of
// Authentication-Results claiming the receiver's own authserv-id). The body is never touched.
export const DIME_TRACE_FIELDS: ReadonlySet<string> = new Set(['x-dime-verified', 'x-dime-origin-signet', 'x-dime-author-signet']);

/** End of the header section: index of the empty line's first byte (or the length: no body). */
function headerEnd(text: string): number {
  const crlf = text.indexOf('\r\n\r\n');
  const lf = text.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return text.length;
  if (crlf < 0) return lf + 1;
  if (lf < 0) return crlf + 2;
  return Math.min(crlf + 2, lf + 1);
}

/**
 * The message without any DIME trace field in its header section (each field with its folded
 * continuation lines), or undefined when it carries none (the bytes stay as they are).
 * `from` skips a prefix the gateway wrote itself (its own trace headers).
 */
export function stripDimeTraceFields(message: Uint8Array, from = 0): Buffer | undefined {
  const text = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('latin1');
  const end = headerEnd(text);
  if (from > end) throw new RangeError(`"from" (${from}) is past the header section (${end})`);
  const lines = text.slice(from, end).split(/(?<=\n)/);
  const kept: string[] = [];
  let dropping = false;
  let dropped = 0;
  for (const line of lines) {
    const continuation = line.startsWith(' ') || line.startsWith('\t');
    if (!continuation) {
      const name = /^([!-9;-~]+)[ \t]*:/.exec(line)?.[1]?.toLowerCase();
      dropping = name !== undefined && DIME_TRACE_FIELDS.has(name);
      if (dropping) dropped++;
    }
    if (!dropping) kept.push(line);
  }
  if (dropped === 0) return undefined;
  return Buffer.from(text.slice(0, from) + kept.join('') + text.slice(end), 'latin1');
}
