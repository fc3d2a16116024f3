// DMTP replies (docs/dmtp.md; DIGEST.md §8): SMTP-style `NNN text`, multi-line `NNN-text` ... `NNN text`,
// plus the reply conventions libdime's client reads: the `DMTPv1` banner token and `KEYWORD [value]`.
import { DimeError } from '../dime.error';

/** Reply lines carry whole base64 signets (SGNT, HIST), so they may be far longer than command lines. */
export const DMTP_MAX_REPLY_LINE = 1024 * 1024;
/** The banner token libdime's client looks for after the host name (DIGEST.md §8). */
export const DMTP_BANNER_TOKEN = 'DMTPv1';

export interface DmtpReply {
  /** 200-599 (RFC 5321 §4.2: 2yz done, 3yz send more, 4yz transient, 5yz permanent). */
  code: number;
  /** The text of each line, without code and separator; the last line comes last. */
  lines: string[];
}

/** One parsed reply line; `more` is true for the `NNN-` continuation form. */
export interface DmtpReplyLine {
  code: number;
  more: boolean;
  text: string;
}

const LINE = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s;

function fail(reason: string): never {
  throw new DimeError('BAD_COMMAND', `DMTP reply: ${reason}`);
}

function checkText(text: string, what: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) fail(`${what}: byte 0x${c.toString(16).padStart(2, '0')} at offset ${i} is not printable ASCII`);
  }
}

/** Parses one reply line without its terminator. */
export function parseDmtpReplyLine(line: string): DmtpReplyLine {
  if (typeof line !== 'string') throw new TypeError(`"line" expected string, got ${typeof line}`);
  if (line.length + 2 > DMTP_MAX_REPLY_LINE) fail(`line too long (${line.length + 2} octets with CRLF)`);
  const m = LINE.exec(line);
  if (!m) fail(`"${line.slice(0, 40)}" does not start with a 3-digit code 200-599 followed by space, "-" or the end`);
  const text = m[3] ?? '';
  checkText(text, `line "${line.slice(0, 40)}"`);
  return { code: Number(m[1]), more: m[2] === '-', text };
}

/**
 * Parses a complete reply: text with CRLF (or LF) line ends, or its lines without terminators. All
 * lines share one code; every line but the last uses `NNN-`.
 */
export function parseDmtpReply(input: string | readonly string[]): DmtpReply {
  let rawLines: readonly string[];
  if (typeof input === 'string') {
    const body = input.endsWith('\r\n') ? input.slice(0, -2) : input.endsWith('\n') ? input.slice(0, -1) : input;
    rawLines = body.split(/\r?\n/);
  } else if (Array.isArray(input)) {
    rawLines = input;
  } else {
    throw new TypeError(`"input" expected string or string[], got ${input === null ? 'null' : typeof input}`);
  }
  if (rawLines.length === 0) fail('no lines');
  const lines: string[] = [];
  let code = 0;
  rawLines.forEach((raw, i) => {
    const line = parseDmtpReplyLine(raw);
    if (i === 0) code = line.code;
    else if (line.code !== code) fail(`line ${i + 1} has code ${line.code}, the reply started with ${code}`);
    const last = i === rawLines.length - 1;
    if (line.more === last) fail(last ? 'the last line continues with "-"' : `line ${i + 1} ends the reply before its last line`);
    lines.push(line.text);
  });
  return { code, lines };
}

/** The reply on the wire, CRLF after every line. An empty `lines` writes the bare code. */
export function formatDmtpReply(reply: DmtpReply): string {
  if (typeof reply !== 'object' || reply === null) throw new TypeError(`"reply" expected object, got ${reply === null ? 'null' : typeof reply}`);
  const { code, lines } = reply;
  if (!Number.isInteger(code) || code < 200 || code > 599) fail(`code ${String(code)} outside 200-599`);
  if (!Array.isArray(lines)) throw new TypeError(`"reply.lines" expected string[], got ${typeof lines}`);
  const texts = lines.length === 0 ? [''] : lines;
  let out = '';
  texts.forEach((text: unknown, i) => {
    if (typeof text !== 'string') throw new TypeError(`"reply.lines[${i}]" expected string, got ${typeof text}`);
    checkText(text, `reply line ${i + 1}`);
    const last = i === texts.length - 1;
    const line = last ? (text === '' ? `${code}` : `${code} ${text}`) : `${code}-${text}`;
    if (line.length + 2 > DMTP_MAX_REPLY_LINE) fail(`reply line ${i + 1} too long`);
    out += `${line}\r\n`;
  });
  return out;
}

/** libdime's banner check: code 220 and `DMTPv1` among the tokens after the host name (case-sensitive). */
export function isDmtpBanner(reply: DmtpReply): boolean {
  if (reply.code !== 220) return false;
  const tokens = (reply.lines[0] ?? '').split(/[ \t]+/).filter((t) => t.length > 0);
  return tokens.slice(1).includes(DMTP_BANNER_TOKEN);
}

/**
 * The value in a `KEYWORD value` or `KEYWORD [value]` reply text (last line), as libdime's client
 * reads `OK [signet]`, `CONTINUE [id]`, `OK [transaction id]`, `OK DMTPv1` and `UPDATE fingerprint`.
 */
export function dmtpReplyArgument(reply: DmtpReply, keyword: string): string {
  const text = reply.lines[reply.lines.length - 1] ?? '';
  const tokens = text.split(/[ \t]+/).filter((t) => t.length > 0);
  if ((tokens[0] ?? '').toUpperCase() !== keyword.toUpperCase()) fail(`expected "${keyword} ...", got "${text.slice(0, 40)}"`);
  const raw = tokens[1];
  if (raw === undefined) fail(`"${keyword}" without its value`);
  if (raw.startsWith('[') !== raw.endsWith(']') || raw === '[' || raw === '[]') fail(`malformed value "${raw.slice(0, 40)}" after ${keyword}`);
  return raw.startsWith('[') ? raw.slice(1, -1) : raw;
}
