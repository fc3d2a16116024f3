// Strict RFC 5321 (section 4.1.2) parser for the paths of MAIL FROM and RCPT TO. smtp-server's own
// parser is lenient (it strips source routes, accepts IP literals, converts punycode); the gateway
// parses the raw command itself first so that every relay trick is refused with its own reply:
// %-hack, bang paths, source routes, quoted local parts hiding '@', double '@', unqualified
// addresses, trailing dots, address literals. Only ASCII paths are accepted (no SMTPUTF8).

export type PathErrorCode =
  | 'SYNTAX'
  | 'TOO_LONG'
  | 'NON_ASCII'
  | 'NULL_PATH'
  | 'SOURCE_ROUTE'
  | 'NO_DOMAIN'
  | 'DOUBLE_AT'
  | 'ADDRESS_LITERAL'
  | 'TRAILING_DOT'
  | 'QUOTED_SPECIAL'
  | 'BANG_PATH'
  | 'PERCENT_HACK';

export interface MailPath {
  /** Local part as sent (case preserved; quoted local parts keep their quotes). */
  readonly localPart: string;
  /** Lower-cased domain. */
  readonly domain: string;
  /** `localPart@domain`. */
  readonly address: string;
}

export type PathResult =
  | { readonly ok: true; readonly path: MailPath | null; readonly rest: string }
  | { readonly ok: false; readonly code: PathErrorCode; readonly detail: string };

const MAX_PATH = 256; // RFC 5321 4.5.3.1.3, including the angle brackets
const MAX_LOCAL = 64;
const MAX_DOMAIN = 255;
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function fail(code: PathErrorCode, detail: string): PathResult {
  return { ok: false, code, detail };
}

/** Index of the `>` closing a path that starts at 0, skipping quoted strings; -1 if none. */
function closingBracket(text: string): number {
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '>') return i;
  }
  return -1;
}

function parseDomain(domain: string): PathResult | undefined {
  if (domain === '') return fail('NO_DOMAIN', 'the address has no domain');
  if (domain.includes('@')) return fail('DOUBLE_AT', 'more than one "@" outside a quoted local part');
  if (domain.startsWith('[') || domain.endsWith(']') || domain.includes('[')) {
    return fail('ADDRESS_LITERAL', 'address literals ([ip]) are not accepted');
  }
  if (domain.endsWith('.')) return fail('TRAILING_DOT', 'the domain ends with a dot');
  if (domain.length > MAX_DOMAIN) return fail('TOO_LONG', 'the domain is longer than 255 octets');
  const labels = domain.split('.');
  if (labels.length < 2) return fail('NO_DOMAIN', 'the domain is not fully qualified');
  for (const label of labels) if (!LABEL.test(label)) return fail('SYNTAX', `"${label}" is not a valid domain label`);
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return fail('ADDRESS_LITERAL', 'a bare IP address is not a domain');
  return undefined;
}

/** Parses the local part at the start of `mailbox`; returns it and the index of the `@` after it. */
function parseLocalPart(mailbox: string): { local: string; at: number } | PathResult {
  if (mailbox.startsWith('"')) {
    let i = 1;
    let content = '';
    for (; i < mailbox.length; i++) {
      const c = mailbox.charCodeAt(i);
      if (c === 0x5c) {
        const next = mailbox.charCodeAt(i + 1);
        if (!(next >= 32 && next <= 126)) return fail('SYNTAX', 'bad quoted pair in the local part');
        content += mailbox[i + 1];
        i++;
      } else if (c === 0x22) break;
      else if (c >= 32 && c <= 126) content += mailbox[i];
      else return fail('SYNTAX', 'control character in the quoted local part');
    }
    if (i >= mailbox.length) return fail('SYNTAX', 'unterminated quoted local part');
    // A quoted '@', '%' or '!' is a way to smuggle another address past a relay check.
    if (/[@%!]/.test(content)) return fail('QUOTED_SPECIAL', 'quoted local parts containing "@", "%" or "!" are not accepted');
    const local = mailbox.slice(0, i + 1);
    if (mailbox[i + 1] !== '@') return fail(i + 1 >= mailbox.length ? 'NO_DOMAIN' : 'SYNTAX', 'expected "@" after the quoted local part');
    return { local, at: i + 1 };
  }
  const at = mailbox.indexOf('@');
  const local = at < 0 ? mailbox : mailbox.slice(0, at);
  if (local === '') return fail('SYNTAX', 'empty local part');
  for (const atom of local.split('.')) {
    if (atom === '') return fail('SYNTAX', 'the local part has an empty dot-separated atom');
    if (!ATEXT.test(atom)) return fail('SYNTAX', 'the local part has characters outside RFC 5321 atext');
  }
  if (local.includes('!')) return fail('BANG_PATH', 'bang paths (host!user) are not accepted');
  if (local.includes('%')) return fail('PERCENT_HACK', 'the "%" relay hack (user%host@domain) is not accepted');
  if (at < 0) return fail('NO_DOMAIN', 'unqualified address: no "@domain"');
  return { local, at };
}

/**
 * Parses `<path>` at the start of `text` (what follows `MAIL FROM:` / `RCPT TO:`). A reverse
 * path may be `<>` (path null); `rest` is what follows the path (ESMTP parameters).
 */
export function parsePath(text: string, kind: 'reverse' | 'forward'): PathResult {
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(text)) return fail('NON_ASCII', 'non-ASCII addresses are not supported');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) return fail('SYNTAX', 'control character in the command');
  if (!text.startsWith('<')) return fail('SYNTAX', 'the address must be enclosed in <>');
  const end = closingBracket(text);
  if (end < 0) return fail('SYNTAX', 'missing closing ">"');
  const rest = text.slice(end + 1);
  if (rest !== '' && !rest.startsWith(' ')) return fail('SYNTAX', 'unexpected text after ">"');
  if (end + 1 > MAX_PATH) return fail('TOO_LONG', 'the path is longer than 256 octets');
  const inner = text.slice(1, end);
  if (inner === '') {
    if (kind === 'reverse') return { ok: true, path: null, rest };
    return fail('NULL_PATH', 'the null path <> is not a recipient');
  }
  if (inner.startsWith('@')) return fail('SOURCE_ROUTE', 'source routes (<@host:user@domain>) are not accepted');
  if (inner.includes('<')) return fail('SYNTAX', 'nested "<"');
  const local = parseLocalPart(inner);
  if ('ok' in local) return local;
  if (local.local.length > MAX_LOCAL) return fail('TOO_LONG', 'the local part is longer than 64 octets');
  const rawDomain = inner.slice(local.at + 1);
  const bad = parseDomain(rawDomain);
  if (bad) return bad;
  const domain = rawDomain.toLowerCase();
  return { ok: true, path: { localPart: local.local, domain, address: `${local.local}@${domain}` }, rest };
}

/** Splits `MAIL FROM:<path> params` / `RCPT TO:<path> params`; the verb is matched case-insensitively. */
export function parsePathCommand(line: string, verb: 'MAIL FROM' | 'RCPT TO'): PathResult {
  const head = line.slice(0, verb.length + 1);
  if (head.toUpperCase() !== `${verb}:`) return fail('SYNTAX', `expected "${verb}:<address>"`);
  // RFC 5321 has no space after the colon; common clients send one, so one run of spaces is allowed.
  return parsePath(line.slice(verb.length + 1).replace(/^ +/, ''), verb === 'MAIL FROM' ? 'reverse' : 'forward');
}
