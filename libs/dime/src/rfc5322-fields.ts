// Header-section scanner for the RFC 5322 <-> DIME mapping (rfc5322-mapping.ts): finds each
// header field's raw byte range and the header/body boundary without copying, and rejects what
// cannot be mapped byte for byte (DimeError BAD_MESSAGE). Also holds libdime's common-header table.
import { DimeError } from './dime.error';

/** libdime's common headers, in the fixed order of its common-headers chunk (DIGEST.md §6.4). */
export const COMMON_HEADERS = [
  { name: 'Date', token: 'd', required: true, placeholder: 'Thu, 01 Jan 1970 00:00:00 +0000' },
  { name: 'To', token: 't', required: true, placeholder: 'undisclosed-recipients:;' },
  { name: 'CC', token: 'c', required: false, placeholder: '' },
  { name: 'From', token: 'f', required: true, placeholder: 'undisclosed-sender:;' },
  { name: 'Organization', token: 'g', required: false, placeholder: '' },
  { name: 'Subject', token: 's', required: true, placeholder: '(no subject)' },
] as const;

/** Index into COMMON_HEADERS (0 Date, 1 To, 2 CC, 3 From, 4 Organization, 5 Subject). */
export type CommonHeaderType = 0 | 1 | 2 | 3 | 4 | 5;

export const COMMON_HEADER_COUNT = COMMON_HEADERS.length;

/** The chunk line prefixes libdime's writer emits and its reader matches (case-sensitive). */
export const COMMON_LABELS: readonly Buffer[] = COMMON_HEADERS.map((h) => Buffer.from(`${h.name}: `, 'latin1'));

const COMMON_BY_LOWER_NAME: ReadonlyMap<string, CommonHeaderType> = new Map(
  COMMON_HEADERS.map((h, i) => [h.name.toLowerCase(), i as CommonHeaderType]),
);
const COMMON_NAME_LENGTHS: ReadonlySet<number> = new Set(COMMON_HEADERS.map((h) => h.name.length));

/** Common header type of a field name (any letter case), or -1 for every other header. */
export function commonHeaderType(name: string): CommonHeaderType | -1 {
  return COMMON_BY_LOWER_NAME.get(name.toLowerCase()) ?? -1;
}

/** One header field: bytes [start, end) of the message, including continuation lines and the final line ending. */
export interface RawField {
  readonly start: number;
  /** Offset of the colon that ends the name. */
  readonly colon: number;
  end: number;
  readonly common: CommonHeaderType | -1;
}

export interface HeaderSection {
  /** Header lines end in a bare LF (consistently) instead of CRLF. */
  readonly lf: boolean;
  readonly fields: RawField[];
  /** Offset of the body after the blank separator line, or -1 when the message ends after its last header line. */
  readonly bodyStart: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

function bad(reason: string): never {
  throw new DimeError('BAD_MESSAGE', reason);
}

/**
 * Scans the header section. Rules (documented in rfc5322-mapping.ts): line endings are all CRLF or
 * all LF (decided by the first line); no NUL and no other CR in the header section; each field
 * starts with a name of printable US-ASCII other than ':' followed directly by ':' (no obsolete
 * "Name :" form); continuation lines start with SP or HTAB; the last header line has a line ending.
 * Header lines longer than 998 bytes are accepted: they map exactly and SMTP enforces its own limits.
 */
export function scanHeaderSection(src: Buffer): HeaderSection {
  if (src.length === 0) bad('empty message');
  const firstLf = src.indexOf(LF);
  if (firstLf < 0) bad('the header section has no line ending');
  const lf = firstLf === 0 || src[firstLf - 1] !== CR;
  const fields: RawField[] = [];
  let pos = 0;
  for (;;) {
    if (pos === src.length) return { lf, fields, bodyStart: -1 };
    const nl = src.indexOf(LF, pos);
    if (nl < 0) bad(`header line at offset ${pos} has no line ending`);
    let contentEnd = nl;
    if (!lf) {
      if (nl === pos || src[nl - 1] !== CR) bad(`bare LF in the CRLF header section at offset ${nl}`);
      contentEnd = nl - 1;
    }
    if (contentEnd === pos) {
      if (fields.length === 0) bad('the message has no header fields');
      return { lf, fields, bodyStart: nl + 1 };
    }
    const first = src[pos] as number;
    if (first === SP || first === HTAB) {
      const last = fields[fields.length - 1];
      if (last === undefined) bad('the message starts with a continuation line');
      checkValueBytes(src, pos, contentEnd);
      last.end = nl + 1;
    } else {
      const colon = scanName(src, pos, contentEnd);
      checkValueBytes(src, colon + 1, contentEnd);
      const common = COMMON_NAME_LENGTHS.has(colon - pos) ? commonHeaderType(src.toString('latin1', pos, colon)) : -1;
      fields.push({ start: pos, colon, end: nl + 1, common });
    }
    pos = nl + 1;
  }
}

function scanName(src: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const b = src[i] as number;
    if (b === COLON) {
      if (i === from) bad(`empty header field name at offset ${from}`);
      return i;
    }
    if (b < 33 || b > 126) {
      const colon = src.indexOf(COLON, i);
      if (colon < 0 || colon >= to) break;
      bad(`invalid byte 0x${b.toString(16).padStart(2, '0')} in a header field name at offset ${i}`);
    }
  }
  return bad(`header line without a colon at offset ${from}`);
}

function checkValueBytes(src: Buffer, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const b = src[i] as number;
    if (b === 0) bad(`NUL byte in the header section at offset ${i}`);
    if (b === CR) bad(`bare CR in the header section at offset ${i}`);
  }
}

/** Line-ending length of the header section. */
export function eolLength(section: HeaderSection): 1 | 2 {
  return section.lf ? 1 : 2;
}

/**
 * A field value as libdime's common-headers chunk needs it: unfolded (RFC 5322 3.2.2: the line
 * breaks inside the value are removed; they always precede WSP here) and without leading and
 * trailing SP/HTAB, because libdime's reader stops a value at the first CR or LF (DIGEST.md §6.4).
 */
export function unfoldedValue(rawValue: Buffer): Buffer {
  let value = rawValue;
  if (value.includes(LF)) value = Buffer.from(value.filter((b) => b !== LF && b !== CR));
  let from = 0;
  let to = value.length;
  while (from < to && isWsp(value[from] as number)) from++;
  while (to > from && isWsp(value[to - 1] as number)) to--;
  return value.subarray(from, to);
}

function isWsp(b: number): boolean {
  return b === SP || b === HTAB;
}
