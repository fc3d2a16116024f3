// RFC 5322 message <-> content of D/MIME chunks, byte for byte (ARCHITECTURE.md §4, DIGEST.md §6.4).
//
// splitRfc5322: Date/To/CC/From/Organization/Subject go to the common-headers chunk in libdime's
// format; every other header field, unchanged, to the other-headers chunk; the body (everything
// after the blank line, attachments included, MIME untouched) to display chunks. Whatever the
// chunk forms lose is recorded in an `X-DIME-Layout` recipe field appended as the last field of the
// other-headers chunk (grammar in rfc5322-layout.ts). No recipe is written when the message already
// has libdime's canonical form: common headers first, in chunk order, spelled and written exactly
// as the chunk lines, then at least one other header, CRLF line endings, a blank line, a non-empty body.
//
// joinRfc5322: with a recipe, the original bytes; without one (a message made by libdime), the
// common-headers chunk as is (`CC` spelling included), the other-headers chunk, a blank line, the
// display chunks concatenated and then the attachment chunks appended as they are (libdime has no
// MIME structure for them); each header chunk gets a final CRLF if it lacks one. The recipe is
// recognised only as the last field of the other-headers chunk, spelled `X-DIME-Layout` with a
// value starting with version "1"; a recipe that does not fit the chunks is DimeError BAD_MESSAGE.
//
// Input rules of splitRfc5322 (anything else is DimeError BAD_MESSAGE, nothing is ever repaired):
// a header section of at least one field; header lines all CRLF or all LF (recorded); no NUL and no
// other CR in the header section; field names of printable US-ASCII followed directly by ':';
// continuation lines start with SP/HTAB and are kept exactly; the last header line has a line
// ending. Header values may hold 8-bit bytes (RFC 6532); lines over 998 bytes are accepted (they
// map exactly; SMTP enforces its own limits). The body is opaque: any bytes, no dot-stuffing here.
//
// Chunk forms: a common header value is unfolded and trimmed of SP/HTAB, because libdime's reader
// ends a value at the first CR or LF and rejects repeated lines (DIGEST.md §6.4); repeated To/CC
// fields are merged with ", ", other repeated common fields show their first non-empty value. A
// required header (Date, To, From, Subject) that is absent or empty still gets a line (libdime's
// writer insists), holding a placeholder (COMMON_HEADERS in rfc5322-fields.ts) that the recipe drops.
// An empty or missing body becomes one display chunk of CRLF (libdime refuses empty chunks).
//
// The display chunks of splitRfc5322 are views into the input (no copy): do not modify the input
// while they are in use.
import { assertBytes, toBuffer } from './bytes';
import { DimeError } from './dime.error';
import {
  COMMON_HEADER_COUNT,
  COMMON_HEADERS,
  COMMON_LABELS,
  type CommonHeaderType,
  eolLength,
  type RawField,
  scanHeaderSection,
  unfoldedValue,
} from './rfc5322-fields';
import { formatLayoutField, isLayoutField, type Layout, LAYOUT_HEADER_NAME, type LayoutItem, parseLayoutField } from './rfc5322-layout';

export interface DimeContent {
  commonHeaders: Buffer;
  otherHeaders: Buffer;
  display: Buffer[];
  attachments: Buffer[];
}

export interface SplitRfc5322Options {
  /** Largest data length of one chunk; longer bodies span several display chunks. */
  maxChunkData?: number;
}

export interface JoinRfc5322Content {
  commonHeaders: Uint8Array | null;
  otherHeaders: Uint8Array | null;
  display: readonly Uint8Array[];
  attachments?: readonly Uint8Array[];
}

/**
 * Largest chunk data length libdime can carry: its payload length is 3 bytes and the payload is
 * sig(64) + len(3) + flags(1) + pad byte(1) + data + up to 256 bytes of padding (DIGEST.md §6.3).
 */
export const MAX_CHUNK_DATA = 2 ** 24 - 1 - 69 - 256;
export const DEFAULT_MAX_CHUNK_DATA = 16_000_000;

/** Display chunk content standing in for an empty or missing body (libdime refuses empty chunks). */
const EMPTY_BODY_DISPLAY = Buffer.from('\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const LF_ONLY = Buffer.from('\n', 'latin1');
const COLON = Buffer.from(':', 'latin1');
const SPACE = Buffer.from(' ', 'latin1');
const LIST_SEPARATOR = Buffer.from(', ', 'latin1');
const MERGED_TYPES: ReadonlySet<CommonHeaderType> = new Set([1, 2]); // To, CC: all recipients stay visible
const LAYOUT_NAME_LOWER = LAYOUT_HEADER_NAME.toLowerCase();

interface CommonOccurrence {
  readonly type: CommonHeaderType;
  readonly name: string | undefined;
  readonly rawValue: Buffer;
}

export function splitRfc5322(eml: Uint8Array, options?: SplitRfc5322Options): DimeContent {
  assertBytes(eml, 'eml');
  const maxChunkData = readMaxChunkData(options);
  const src = toBuffer(eml);
  const section = scanHeaderSection(src);
  const eolLen = eolLength(section);

  const values: Buffer[][] = Array.from({ length: COMMON_HEADER_COUNT }, () => []);
  const occurrences: CommonOccurrence[] = [];
  const order: (CommonOccurrence | RawField)[] = [];
  const others: RawField[] = [];
  let canonical = !section.lf;
  let lastType = -1;
  for (const field of section.fields) {
    if (field.common === -1) {
      others.push(field);
      order.push(field);
      continue;
    }
    const type = field.common;
    const name = src.toString('latin1', field.start, field.colon);
    const rawValue = src.subarray(field.colon + 1, field.end - eolLen);
    const value = unfoldedValue(rawValue);
    if (value.length > 0) values[type]?.push(value);
    const occurrence: CommonOccurrence = { type, name: name === COMMON_HEADERS[type].name ? undefined : name, rawValue };
    occurrences.push(occurrence);
    order.push(occurrence);
    canonical &&= others.length === 0 && type > lastType && occurrence.name === undefined;
    lastType = type;
  }

  const chunkValues = commonChunkValues(values);
  canonical &&= chunkValues.every((v, type) => v === undefined || (values[type]?.length ?? 0) > 0);
  const items: LayoutItem[] = [];
  for (const entry of order) {
    if (!('type' in entry)) {
      const last = items[items.length - 1];
      if (last?.kind === 'other') items[items.length - 1] = { kind: 'other', count: last.count + 1 };
      else items.push({ kind: 'other', count: 1 });
      continue;
    }
    const chunkValue = chunkValues[entry.type];
    const implied = chunkValue !== undefined && isSpaceThen(entry.rawValue, chunkValue);
    canonical &&= implied;
    items.push({
      kind: 'common',
      type: entry.type,
      ...(entry.name !== undefined && { name: entry.name }),
      ...(!implied && { rawValue: entry.rawValue }),
    });
  }

  const body = section.bodyStart < 0 ? undefined : src.subarray(section.bodyStart);
  const bodyKind = body === undefined ? 'none' : body.length === 0 ? 'empty' : 'present';
  const lastOther = others[others.length - 1];
  canonical &&=
    bodyKind === 'present' &&
    lastOther !== undefined &&
    src.toString('latin1', lastOther.start, lastOther.colon).toLowerCase() !== LAYOUT_NAME_LOWER;

  const commonHeaders = commonChunk(chunkValues);
  const otherParts: Buffer[] = others.map((f) => {
    const raw = src.subarray(f.start, f.end);
    return section.lf ? lfToCrlf(raw) : raw;
  });
  if (!canonical) {
    const layout: Layout = { lf: section.lf, body: bodyKind, items };
    otherParts.push(formatLayoutField(layout));
  }
  const otherHeaders = Buffer.concat(otherParts);
  if (commonHeaders.length > maxChunkData) throw new DimeError('TOO_LARGE', `common headers (${commonHeaders.length} bytes) exceed one chunk`);
  if (otherHeaders.length > maxChunkData) throw new DimeError('TOO_LARGE', `other headers (${otherHeaders.length} bytes) exceed one chunk`);

  const display: Buffer[] = [];
  if (body === undefined || body.length === 0) {
    display.push(Buffer.from(EMPTY_BODY_DISPLAY));
  } else {
    for (let at = 0; at < body.length; at += maxChunkData) display.push(body.subarray(at, at + maxChunkData));
  }
  return { commonHeaders, otherHeaders, display, attachments: [] };
}

export function joinRfc5322(content: JoinRfc5322Content): Buffer {
  if (typeof content !== 'object' || content === null) throw new TypeError('"content" expected an object');
  const common = optionalBytes(content.commonHeaders, 'content.commonHeaders');
  const other = optionalBytes(content.otherHeaders, 'content.otherHeaders');
  const display = bytesArray(content.display, 'content.display');
  const attachments = content.attachments === undefined ? [] : bytesArray(content.attachments, 'content.attachments');

  const fieldStarts = fieldStartOffsets(other);
  const recipeStart = fieldStarts[fieldStarts.length - 1];
  if (recipeStart === undefined || !isLayoutField(other.subarray(recipeStart))) {
    return Buffer.concat([withFinalNewline(common), withFinalNewline(other), CRLF, ...display, ...attachments]);
  }

  const layout = parseLayoutField(other.subarray(recipeStart));
  fieldStarts.pop();
  if (recipeStart > 0 && fieldStarts[0] !== 0) bad('other headers start with a continuation line');
  const chunkValues = parseCommonChunk(common);
  const eol = layout.lf ? LF_ONLY : CRLF;
  const parts: Buffer[] = [];
  let next = 0;
  for (const item of layout.items) {
    if (item.kind === 'other') {
      if (next + item.count > fieldStarts.length) bad(`recipe lists more other headers than the chunk holds (${fieldStarts.length})`);
      const run = other.subarray(fieldStarts[next], fieldStarts[next + item.count] ?? recipeStart);
      parts.push(layout.lf ? crlfToLf(run) : run);
      next += item.count;
      continue;
    }
    parts.push(Buffer.from(item.name ?? COMMON_HEADERS[item.type].name, 'latin1'), COLON);
    if (item.rawValue !== undefined) {
      parts.push(item.rawValue);
    } else {
      const value = chunkValues[item.type];
      if (value === undefined) bad(`recipe needs a ${COMMON_HEADERS[item.type].name} line the common headers chunk lacks`);
      parts.push(SPACE, value);
    }
    parts.push(eol);
  }
  if (next !== fieldStarts.length) bad(`recipe lists ${next} other headers, the chunk holds ${fieldStarts.length}`);
  if (layout.body === 'present') {
    parts.push(eol, ...display);
  } else {
    if (display.length !== 1 || !EMPTY_BODY_DISPLAY.equals(display[0] as Buffer)) bad('recipe says the body is empty but display chunks hold data');
    if (layout.body === 'empty') parts.push(eol);
  }
  parts.push(...attachments);
  return Buffer.concat(parts);
}

function bad(reason: string): never {
  throw new DimeError('BAD_MESSAGE', reason);
}

function readMaxChunkData(options: SplitRfc5322Options | undefined): number {
  if (options === undefined) return DEFAULT_MAX_CHUNK_DATA;
  if (typeof options !== 'object' || options === null) throw new TypeError('"options" expected an object');
  const max = options.maxChunkData ?? DEFAULT_MAX_CHUNK_DATA;
  if (!Number.isInteger(max) || max < 1 || max > MAX_CHUNK_DATA) {
    throw new RangeError(`"options.maxChunkData" expected an integer from 1 to ${MAX_CHUNK_DATA}, got ${String(max)}`);
  }
  return max;
}

/** The value of each common-header line, or undefined when the chunk omits it. */
function commonChunkValues(values: readonly Buffer[][]): (Buffer | undefined)[] {
  return COMMON_HEADERS.map((header, i) => {
    const found = values[i] ?? [];
    if (found.length > 0) {
      if (!MERGED_TYPES.has(i as CommonHeaderType) || found.length === 1) return found[0];
      return Buffer.concat(found.flatMap((v, j) => (j === 0 ? [v] : [LIST_SEPARATOR, v])));
    }
    return header.required ? Buffer.from(header.placeholder, 'latin1') : undefined;
  });
}

/** libdime's common-headers chunk text: present lines in fixed order, each CRLF-terminated. */
function commonChunk(values: readonly (Buffer | undefined)[]): Buffer {
  const parts: Buffer[] = [];
  values.forEach((value, i) => {
    if (value !== undefined) parts.push(COMMON_LABELS[i] as Buffer, value, CRLF);
  });
  return Buffer.concat(parts);
}

/** Values by type from a common-headers chunk, as libdime's reader takes them (DIGEST.md §6.4). */
function parseCommonChunk(chunk: Buffer): (Buffer | undefined)[] {
  const values: (Buffer | undefined)[] = new Array<Buffer | undefined>(COMMON_HEADER_COUNT).fill(undefined);
  let at = 0;
  while (at < chunk.length) {
    const type = COMMON_LABELS.findIndex((label) => chunk.subarray(at, at + label.length).equals(label));
    if (type < 0) bad(`common headers chunk has an unknown line at offset ${at}`);
    if (values[type] !== undefined) bad(`common headers chunk repeats ${COMMON_HEADERS[type as CommonHeaderType].name}`);
    const from = at + (COMMON_LABELS[type] as Buffer).length;
    const end = chunk.indexOf(CRLF, from);
    if (end < 0) bad('common headers chunk has a line without CRLF');
    const value = chunk.subarray(from, end);
    if (value.includes(0x0a) || value.includes(0x0d)) bad('common headers chunk has a bare CR or LF');
    values[type] = value;
    at = end + 2;
  }
  return values;
}

/** Offsets of the lines that start a header field (not SP/HTAB continuation lines). */
function fieldStartOffsets(text: Buffer): number[] {
  const starts: number[] = [];
  let at = 0;
  while (at < text.length) {
    const b = text[at];
    if (b !== 0x20 && b !== 0x09) starts.push(at);
    const nl = text.indexOf(0x0a, at);
    if (nl < 0) break;
    at = nl + 1;
  }
  return starts;
}

function isSpaceThen(rawValue: Buffer, value: Buffer): boolean {
  return rawValue.length === value.length + 1 && rawValue[0] === 0x20 && rawValue.subarray(1).equals(value);
}

function lfToCrlf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
}

function crlfToLf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

function withFinalNewline(text: Buffer): Buffer {
  return text.length === 0 || text[text.length - 1] === 0x0a ? text : Buffer.concat([text, CRLF]);
}

function optionalBytes(value: Uint8Array | null, name: string): Buffer {
  if (value === null) return Buffer.alloc(0);
  assertBytes(value, name);
  return toBuffer(value);
}

function bytesArray(value: readonly Uint8Array[], name: string): Buffer[] {
  if (!Array.isArray(value)) throw new TypeError(`"${name}" expected an array of Uint8Array`);
  return value.map((item: unknown, i) => {
    assertBytes(item, `${name}[${i}]`);
    return toBuffer(item);
  });
}
