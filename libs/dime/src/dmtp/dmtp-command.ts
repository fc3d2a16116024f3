// DMTP command grammar (the project's dialect, docs/dmtp.md; DIGEST.md §8): typed commands, a strict
// parser that also accepts libdime's two syntaxes (the resolver client's `SGNT <x> [fp]` and the
// formatter's `SGNT USER=<x> FINGERPRINT=[fp]`), and a formatter that writes only the canonical form.
import { DimeError } from '../dime.error';
import { base64NoPad } from '../base64';
import { isDomainName, isMailboxAddress } from '../domain-name';

/** RFC 5321 §4.5.3.1.4 and libdime's formatter: a command line is at most 512 octets including CRLF. */
export const DMTP_MAX_COMMAND_LINE = 512;

export const DMTP_VERBS = [
  'EHLO',
  'HELO',
  'STARTTLS',
  'MODE',
  'MAIL',
  'RCPT',
  'DATA',
  'SGNT',
  'VRFY',
  'HIST',
  'NOOP',
  'RSET',
  'HELP',
  'QUIT',
] as const;
export type DmtpVerb = (typeof DMTP_VERBS)[number];

export type DmtpReturnType = 'FULL' | 'DISPLAY' | 'HEADER';
export type DmtpDataType = '7BIT' | '8BIT';
/** A signet name: `user@domain` for a user signet, `domain` for an org signet. */
export type DmtpSignetKind = 'user' | 'domain';

export type DmtpCommand =
  | { verb: 'EHLO' | 'HELO'; host: string }
  | { verb: 'STARTTLS'; host?: string; mode?: 'DMTPv1' }
  | { verb: 'MODE' | 'RSET' | 'QUIT' }
  | { verb: 'MAIL'; from: string; fingerprint?: string; size?: number; returnType?: DmtpReturnType; dataType?: DmtpDataType }
  | { verb: 'RCPT'; to: string; fingerprint?: string }
  | { verb: 'DATA'; fingerprint?: string }
  | { verb: 'SGNT'; kind: DmtpSignetKind; name: string; fingerprint?: string }
  | { verb: 'VRFY'; kind: DmtpSignetKind; name: string; fingerprint: string }
  | { verb: 'HIST'; kind: DmtpSignetKind; name: string; start: string; stop?: string }
  | { verb: 'NOOP' | 'HELP'; text?: string };

const VERBS: ReadonlySet<string> = new Set(DMTP_VERBS);
const FINGERPRINT = /^[A-Za-z0-9+/]{86}$/;
const SIZE = /^[1-9][0-9]{0,14}$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;
const IPV6_LITERAL = /^IPv6:[0-9A-Fa-f:.]{2,45}$/i;
const RETURN_TYPES: readonly DmtpReturnType[] = ['FULL', 'DISPLAY', 'HEADER'];
const DATA_TYPES: readonly DmtpDataType[] = ['7BIT', '8BIT'];
// libdime's client sends the literal word `fingerprint` where MAIL/RCPT/DATA fingerprints belong
// (unfinished code, DIGEST.md §8 and §12.8); we read it as "no fingerprint".
const PLACEHOLDER = 'fingerprint';

function fail(reason: string): never {
  throw new DimeError('BAD_COMMAND', `DMTP command: ${reason}`);
}

export function isDmtpVerb(word: string): word is DmtpVerb {
  return VERBS.has(word);
}

// ------------------------------------------------------------------------------------- lexing

/** Checks the raw line and returns it without its terminator (CRLF, or the formatter's bare LF). */
function lineText(line: string | Uint8Array): string {
  let text: string;
  if (typeof line === 'string') text = line;
  else if (line instanceof Uint8Array) text = Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('latin1');
  else throw new TypeError(`"line" expected string or Uint8Array, got ${line === null ? 'null' : typeof line}`);

  if (text.endsWith('\r\n')) text = text.slice(0, -2);
  else if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text.length + 2 > DMTP_MAX_COMMAND_LINE) fail(`line too long (${text.length + 2} > ${DMTP_MAX_COMMAND_LINE} octets with CRLF)`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) fail(`NUL byte at offset ${i}`);
    if (c === 0x0d) fail(`bare CR at offset ${i}`);
    if (c === 0x0a) fail(`LF inside the line at offset ${i}`);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) fail(`byte 0x${c.toString(16).padStart(2, '0')} at offset ${i} is not printable ASCII`);
  }
  return text.trim();
}

interface Token {
  /** Upper-cased keyword of `KEY=value`, or undefined for a positional argument. */
  key?: string;
  value: string;
  wrap: '<' | '[' | '';
}

function unwrap(raw: string): Pick<Token, 'value' | 'wrap'> {
  const first = raw[0];
  if (first === '<' || first === '[') {
    const close = first === '<' ? '>' : ']';
    if (raw.length < 2 || !raw.endsWith(close)) fail(`unbalanced ${first} in "${raw}"`);
    const value = raw.slice(1, -1);
    if (/[<>[\]]/.test(value)) fail(`nested brackets in "${raw}"`);
    return { value, wrap: first };
  }
  if (/[<>[\]]/.test(raw)) fail(`stray bracket in "${raw}"`);
  return { value: raw, wrap: '' };
}

function tokenize(args: string): Token[] {
  if (args === '') return [];
  return args.split(/[ \t]+/).map((raw) => {
    const eq = raw.indexOf('=');
    if (eq > 0 && /^[A-Za-z][A-Za-z0-9-]*$/.test(raw.slice(0, eq))) {
      const inner = unwrap(raw.slice(eq + 1));
      if (inner.value === '') fail(`empty value for ${raw.slice(0, eq)}=`);
      return { key: raw.slice(0, eq).toUpperCase(), ...inner };
    }
    return unwrap(raw);
  });
}

/** Splits tokens into keyword parameters (each at most once, from the allowed set) and positionals. */
function collect(verb: string, tokens: Token[], allowed: readonly string[]): { params: Map<string, Token>; positional: Token[] } {
  const params = new Map<string, Token>();
  const positional: Token[] = [];
  for (const t of tokens) {
    if (t.key === undefined) {
      positional.push(t);
      continue;
    }
    if (!allowed.includes(t.key)) fail(`${verb} does not take ${t.key}=`);
    if (params.has(t.key)) fail(`duplicate ${t.key}= in ${verb}`);
    params.set(t.key, t);
  }
  return { params, positional };
}

function noArgs(verb: string, rest: string): void {
  if (rest !== '') fail(`${verb} takes no arguments`);
}

function fingerprintValue(value: string, what: string): string {
  if (!FINGERPRINT.test(value)) fail(`${what} must be 86 base64 characters (unpadded SHA-512), got "${value}"`);
  // 86 characters carry 516 bits: the 4 spare bits must be zero, so text and digest map 1:1.
  if (base64NoPad(Buffer.from(value, 'base64')) !== value) fail(`${what} is not canonical base64`);
  return value;
}

function hostValue(t: Token, what: string): string {
  if (t.wrap === '[') {
    const literal = t.value;
    if (!IPV4.test(literal) && !IPV6_LITERAL.test(literal)) fail(`${what} "[${literal}]" is not an address literal`);
    return `[${literal}]`;
  }
  if (!isDomainName(t.value)) fail(`${what} "${t.value}" is not a domain name`);
  return t.value.toLowerCase();
}

function domainValue(t: Token, what: string): string {
  if (t.wrap !== '<') fail(`${what} must be written <domain>`);
  if (t.value.includes('@')) fail(`${what} takes an organisation's domain, not the mailbox "${t.value}" (DMTP addresses domains)`);
  if (!isDomainName(t.value)) fail(`${what} "${t.value}" is not a domain name`);
  return t.value.toLowerCase();
}

function signetName(t: Token, verb: string): { kind: DmtpSignetKind; name: string } {
  if (t.wrap === '[') fail(`${verb} name must be written <name>`);
  const value = t.value;
  if (value.includes('@')) {
    if (t.key === 'DOMAIN') fail(`${verb} DOMAIN= "${value}" is a mailbox`);
    if (!isMailboxAddress(value)) fail(`${verb} "${value}" is not a valid user@domain address`);
    const at = value.lastIndexOf('@');
    return { kind: 'user', name: `${value.slice(0, at)}@${value.slice(at + 1).toLowerCase()}` };
  }
  if (t.key === 'USER') fail(`${verb} USER= "${value}" is not a user@domain address`);
  if (!isDomainName(value)) fail(`${verb} "${value}" is not a domain name`);
  return { kind: 'domain', name: value.toLowerCase() };
}

/** The signet name: `<name>` (client), `USER=<..>` or `DOMAIN=<..>` (formatter); exactly one. */
function takeName(verb: string, params: Map<string, Token>, positional: Token[]): { kind: DmtpSignetKind; name: string } {
  const keyed = [params.get('USER'), params.get('DOMAIN')].filter((t): t is Token => t !== undefined);
  const angle = positional.filter((t) => t.wrap !== '[');
  const all = [...keyed, ...angle];
  if (all.length === 0) fail(`${verb} needs a <user@domain> or <domain>`);
  if (all.length > 1) fail(`${verb} takes one name`);
  return signetName(all[0] as Token, verb);
}

/** Fingerprints given positionally as `[fp]` (client syntax), in order. */
function bracketed(positional: Token[]): Token[] {
  return positional.filter((t) => t.wrap === '[');
}

function optionalFingerprint(verb: string, params: Map<string, Token>, positional: Token[], allowPlaceholder: boolean): string | undefined {
  const candidates = [params.get('FINGERPRINT'), ...bracketed(positional)].filter((t): t is Token => t !== undefined);
  if (candidates.length > 1) fail(`${verb} takes one fingerprint`);
  const t = candidates[0];
  if (t === undefined) return undefined;
  if (allowPlaceholder && t.value.toLowerCase() === PLACEHOLDER) return undefined;
  return fingerprintValue(t.value, `${verb} fingerprint`);
}

// ------------------------------------------------------------------------------------- parsing

function parseMailOrRcpt(verb: 'MAIL' | 'RCPT', rest: string): DmtpCommand {
  const word = verb === 'MAIL' ? 'FROM' : 'TO';
  // `FROM:<d>` (SMTP), `FROM: <d>` (libdime client), `FROM=<d>` (libdime formatter).
  const m = new RegExp(`^${word}[ \\t]*[:=][ \\t]*(\\S+)(?:[ \\t]+(.*))?$`, 'i').exec(rest);
  if (!m) fail(`${verb} must start with ${word}:<domain>`);
  const target = unwrap(m[1] as string);
  const allowed = verb === 'MAIL' ? ['FINGERPRINT', 'SIZE', 'RETURN', 'DATA'] : ['FINGERPRINT'];
  const { params, positional } = collect(verb, tokenize(m[2] ?? ''), allowed);
  const strays = positional.filter((t) => t.wrap !== '[');
  if (strays.length > 0) fail(`unexpected argument "${strays[0]?.value ?? ''}" in ${verb}`);
  const domain = domainValue({ ...target }, `${verb} ${word}`);
  const fingerprint = optionalFingerprint(verb, params, positional, true);
  if (verb === 'RCPT') return fingerprint === undefined ? { verb, to: domain } : { verb, to: domain, fingerprint };

  const cmd: Extract<DmtpCommand, { verb: 'MAIL' }> = { verb, from: domain };
  if (fingerprint !== undefined) cmd.fingerprint = fingerprint;
  const size = params.get('SIZE');
  if (size) {
    if (size.wrap !== '' || !SIZE.test(size.value)) fail(`SIZE must be a positive decimal number, got "${size.value}"`);
    cmd.size = Number(size.value);
  }
  const ret = params.get('RETURN');
  if (ret) {
    const value = RETURN_TYPES.find((r) => r === ret.value.toUpperCase());
    if (value === undefined || ret.wrap !== '') fail(`RETURN must be FULL, DISPLAY or HEADER, got "${ret.value}"`);
    cmd.returnType = value;
  }
  const data = params.get('DATA');
  if (data) {
    const value = DATA_TYPES.find((d) => d === data.value.toUpperCase());
    if (value === undefined || data.wrap !== '') fail(`DATA must be 7BIT or 8BIT, got "${data.value}"`);
    cmd.dataType = value;
  }
  return cmd;
}

function parseSignetQuery(verb: 'SGNT' | 'VRFY' | 'HIST', rest: string): DmtpCommand {
  const allowed = verb === 'HIST' ? ['USER', 'DOMAIN', 'START', 'STOP'] : ['USER', 'DOMAIN', 'FINGERPRINT'];
  const { params, positional } = collect(verb, tokenize(rest), allowed);
  const { kind, name } = takeName(verb, params, positional);
  if (verb === 'HIST') {
    const prints = bracketed(positional);
    if (prints.length > 2) fail('HIST takes at most a start and a stop fingerprint');
    const start = params.get('START') ?? prints.shift();
    const stop = params.get('STOP') ?? prints.shift();
    if (prints.length > 0) fail('HIST fingerprints given twice');
    if (start === undefined) fail('HIST needs a start fingerprint');
    const cmd: Extract<DmtpCommand, { verb: 'HIST' }> = { verb, kind, name, start: fingerprintValue(start.value, 'HIST start') };
    if (stop !== undefined) cmd.stop = fingerprintValue(stop.value, 'HIST stop');
    return cmd;
  }
  const fingerprint = optionalFingerprint(verb, params, positional, false);
  if (verb === 'VRFY') {
    if (fingerprint === undefined) fail('VRFY needs the fingerprint to check');
    return { verb, kind, name, fingerprint };
  }
  return fingerprint === undefined ? { verb, kind, name } : { verb, kind, name, fingerprint };
}

function parseStartTls(rest: string): DmtpCommand {
  const { params, positional } = collect('STARTTLS', tokenize(rest), ['HOST', 'MODE']);
  const hosts = [params.get('HOST'), ...positional].filter((t): t is Token => t !== undefined);
  if (hosts.length > 1) fail('STARTTLS takes one host');
  const cmd: Extract<DmtpCommand, { verb: 'STARTTLS' }> = { verb: 'STARTTLS' };
  if (hosts[0]) {
    if (hosts[0].wrap === '[') fail('STARTTLS host must be written <host>');
    cmd.host = hostValue(hosts[0], 'STARTTLS host');
  }
  const mode = params.get('MODE');
  if (mode) {
    // libdime's formatter writes MODE=DMTP, its client MODE=DMTPv1: both name the one DMTP version.
    const m = mode.value.toUpperCase();
    if ((m !== 'DMTPV1' && m !== 'DMTP') || mode.wrap !== '') fail(`unsupported STARTTLS MODE "${mode.value}" (DMTPv1)`);
    cmd.mode = 'DMTPv1';
  }
  return cmd;
}

/** Parses one command line (CRLF or LF terminated, or unterminated). DimeError('BAD_COMMAND') on anything invalid. */
export function parseDmtpCommand(line: string | Uint8Array): DmtpCommand {
  const text = lineText(line);
  if (text === '') fail('empty line');
  const sp = text.search(/[ \t]/);
  const word = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
  const rest = sp < 0 ? '' : text.slice(sp).trim();
  if (!isDmtpVerb(word)) fail(`unknown verb "${word.slice(0, 16)}"`);
  switch (word) {
    case 'EHLO':
    case 'HELO': {
      const { params, positional } = collect(word, tokenize(rest), ['HOST']);
      const hosts = [params.get('HOST'), ...positional].filter((t): t is Token => t !== undefined);
      if (hosts.length !== 1) fail(`${word} takes exactly one host name`);
      return { verb: word, host: hostValue(hosts[0] as Token, `${word} host`) };
    }
    case 'STARTTLS':
      return parseStartTls(rest);
    case 'MODE':
    case 'RSET':
    case 'QUIT':
      noArgs(word, rest);
      return { verb: word };
    case 'MAIL':
    case 'RCPT':
      return parseMailOrRcpt(word, rest);
    case 'DATA': {
      const { params, positional } = collect(word, tokenize(rest), ['FINGERPRINT']);
      if (positional.some((t) => t.wrap !== '[')) fail('DATA takes no arguments but an optional fingerprint');
      const fingerprint = optionalFingerprint(word, params, positional, true);
      return fingerprint === undefined ? { verb: word } : { verb: word, fingerprint };
    }
    case 'SGNT':
    case 'VRFY':
    case 'HIST':
      return parseSignetQuery(word, rest);
    case 'NOOP':
    case 'HELP':
      return rest === '' ? { verb: word } : { verb: word, text: rest };
  }
}

// ------------------------------------------------------------------------------------- formatting

function formatName(verb: string, kind: unknown, name: unknown): string {
  if (typeof name !== 'string') throw new TypeError(`"${verb}.name" expected string, got ${typeof name}`);
  if (kind === 'user' ? !isMailboxAddress(name) : kind !== 'domain' || !isDomainName(name)) {
    fail(`${verb} name "${name}" does not match kind "${String(kind)}"`);
  }
  return `<${name}>`;
}

function formatFingerprint(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`"${what}" expected string, got ${typeof value}`);
  return fingerprintValue(value, what);
}

function optionalText(text: unknown, verb: string): string {
  if (text === undefined) return '';
  if (typeof text !== 'string') throw new TypeError(`"${verb}.text" expected string, got ${typeof text}`);
  return text === '' ? '' : ` ${text}`;
}

function buildLine(cmd: DmtpCommand): string {
  let line: string;
  switch (cmd.verb) {
    case 'EHLO':
    case 'HELO':
      return `${cmd.verb} ${String(cmd.host)}`;
    case 'STARTTLS':
      line = 'STARTTLS';
      if (cmd.host !== undefined) line += ` <${String(cmd.host)}>`;
      if (cmd.mode !== undefined) line += ` MODE=${String(cmd.mode)}`;
      return line;
    case 'MODE':
    case 'RSET':
    case 'QUIT':
      return cmd.verb;
    case 'MAIL':
      line = `MAIL FROM:<${String(cmd.from)}>`;
      if (cmd.fingerprint !== undefined) line += ` FINGERPRINT=${formatFingerprint(cmd.fingerprint, 'MAIL.fingerprint')}`;
      if (cmd.size !== undefined) line += ` SIZE=${String(cmd.size)}`;
      if (cmd.returnType !== undefined) line += ` RETURN=${String(cmd.returnType)}`;
      if (cmd.dataType !== undefined) line += ` DATA=${String(cmd.dataType)}`;
      return line;
    case 'RCPT':
      line = `RCPT TO:<${String(cmd.to)}>`;
      if (cmd.fingerprint !== undefined) line += ` FINGERPRINT=${formatFingerprint(cmd.fingerprint, 'RCPT.fingerprint')}`;
      return line;
    case 'DATA':
      line = 'DATA';
      if (cmd.fingerprint !== undefined) line += ` FINGERPRINT=${formatFingerprint(cmd.fingerprint, 'DATA.fingerprint')}`;
      return line;
    case 'SGNT':
    case 'VRFY':
      line = `${cmd.verb} ${formatName(cmd.verb, cmd.kind, cmd.name)}`;
      if (cmd.fingerprint !== undefined) line += ` FINGERPRINT=${formatFingerprint(cmd.fingerprint, `${cmd.verb}.fingerprint`)}`;
      return line;
    case 'HIST':
      line = `HIST ${formatName('HIST', cmd.kind, cmd.name)} START=${formatFingerprint(cmd.start, 'HIST.start')}`;
      if (cmd.stop !== undefined) line += ` STOP=${formatFingerprint(cmd.stop, 'HIST.stop')}`;
      return line;
    case 'NOOP':
    case 'HELP':
      return cmd.verb + optionalText(cmd.text, cmd.verb);
    default:
      throw new TypeError(`"cmd.verb" is not a DMTP verb: ${String((cmd as { verb: unknown }).verb)}`);
  }
}

// Host and domain names are case-insensitive; the parser lower-cases them.
const CASELESS: ReadonlySet<string> = new Set(['host', 'from', 'to', 'name']);

function sameCommand(parsed: DmtpCommand, given: DmtpCommand): boolean {
  const a = parsed as unknown as Record<string, unknown>;
  const b = given as unknown as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (!CASELESS.has(k) || typeof x !== 'string' || typeof y !== 'string' || x.toLowerCase() !== y.toLowerCase()) return false;
  }
  return true;
}

/**
 * The canonical line for a command, CRLF included. The line is re-parsed, so every value passes the
 * one grammar and nothing that would change meaning on the wire (a mailbox as MAIL FROM, CRLF in
 * NOOP text, an over-long line) can be written; names come out lower-cased as the parser reads them.
 */
export function formatDmtpCommand(cmd: DmtpCommand): string {
  if (typeof cmd !== 'object' || cmd === null) throw new TypeError(`"cmd" expected object, got ${cmd === null ? 'null' : typeof cmd}`);
  const line = buildLine(cmd);
  const parsed = parseDmtpCommand(line);
  if (!sameCommand(parsed, cmd)) fail(`${cmd.verb} has values that do not survive formatting: "${line.slice(0, 80)}"`);
  return `${buildLine(parsed)}\r\n`;
}
