// The rebuild recipe of the RFC 5322 <-> DIME mapping: one header field, `X-DIME-Layout`, appended
// as the LAST field of the other-headers chunk whenever the chunks alone do not give back the
// original message. It records what the chunk forms lose (field order, name spelling, folding and
// whitespace of common headers, repeated common headers, absent required ones, LF line endings,
// empty or missing body) so joinRfc5322 can rebuild the message byte for byte.
//
// Grammar of the value (all SP/HTAB/CR/LF in it are insignificant, so it may be folded anywhere):
//   value  = "1" *( ";" token )                       ; "1" = recipe version
//   token  = "lf"                                     ; header lines end in LF, not CRLF
//          / "eb"                                     ; blank line present, body empty
//          / "nb"                                     ; no blank line: message ends after the headers
//          / "x" count                                ; the next <count> fields of the other-headers chunk
//          / type [ "=" name ] [ ":" base64 ]         ; one common header field, in original position
//   type   = "d" / "t" / "c" / "f" / "g" / "s"       ; Date To CC From orGanization Subject
//   name   = the field name as written, when it differs from libdime's spelling (e.g. "c=Cc")
//   base64 = standard base64 without padding of the raw value (the bytes between ':' and the
//            field's final line ending, folding included); absent = " " + the chunk's value
// Example: `X-DIME-Layout: 1;f;t;c=Cc;s:IHNwYWNlZCAg;d;x3` (From, To, Cc, Subject, Date, 3 others).
import { base64NoPad, decodeBase64 } from './base64';
import { DimeError } from './dime.error';
import { COMMON_HEADERS, type CommonHeaderType } from './rfc5322-fields';

export const LAYOUT_HEADER_NAME = 'X-DIME-Layout';
export const LAYOUT_VERSION = '1';

export type LayoutBody = 'present' | 'empty' | 'none';

export type LayoutItem =
  | { readonly kind: 'other'; readonly count: number }
  | { readonly kind: 'common'; readonly type: CommonHeaderType; readonly name?: string; readonly rawValue?: Buffer };

export interface Layout {
  readonly lf: boolean;
  readonly body: LayoutBody;
  readonly items: readonly LayoutItem[];
}

const FOLD_WIDTH = 64;
const PREFIX = Buffer.from(`${LAYOUT_HEADER_NAME}: `, 'latin1');
const TYPE_BY_TOKEN: ReadonlyMap<string, CommonHeaderType> = new Map(
  COMMON_HEADERS.map((h, i) => [h.token, i as CommonHeaderType]),
);
const COMMON_TOKEN = /^([dtcfgs])(?:=([A-Za-z]+))?(?::([A-Za-z0-9+/]*))?$/;
const OTHER_TOKEN = /^x([1-9][0-9]{0,8})$/;

function bad(reason: string): never {
  throw new DimeError('BAD_MESSAGE', `${LAYOUT_HEADER_NAME}: ${reason}`);
}

/** The recipe as a complete header field (folded at 64 characters, CRLF-terminated). */
export function formatLayoutField(layout: Layout): Buffer {
  const tokens: string[] = [LAYOUT_VERSION];
  if (layout.lf) tokens.push('lf');
  if (layout.body === 'empty') tokens.push('eb');
  else if (layout.body === 'none') tokens.push('nb');
  for (const item of layout.items) {
    if (item.kind === 'other') {
      tokens.push(`x${item.count}`);
    } else {
      let token = COMMON_HEADERS[item.type].token;
      if (item.name !== undefined) token += `=${item.name}`;
      if (item.rawValue !== undefined) token += `:${base64NoPad(item.rawValue)}`;
      tokens.push(token);
    }
  }
  const value = tokens.join(';');
  const lines: string[] = [];
  for (let i = 0; i < value.length; i += FOLD_WIDTH) lines.push(value.slice(i, i + FOLD_WIDTH));
  return Buffer.concat([PREFIX, Buffer.from(`${lines.join('\r\n ')}\r\n`, 'latin1')]);
}

/** Whether a field (raw bytes, name included) is a recipe of a version this code writes. */
export function isLayoutField(field: Buffer): boolean {
  if (field.length < PREFIX.length - 1 || !field.subarray(0, PREFIX.length - 1).equals(PREFIX.subarray(0, -1))) return false;
  const value = compactValue(field.subarray(PREFIX.length - 1));
  return value === LAYOUT_VERSION || value.startsWith(`${LAYOUT_VERSION};`);
}

/** Parses the recipe field written by formatLayoutField; any deviation is a DimeError BAD_MESSAGE. */
export function parseLayoutField(field: Buffer): Layout {
  if (!isLayoutField(field)) bad('not a recipe field');
  const tokens = compactValue(field.subarray(PREFIX.length - 1)).split(';').slice(1);
  let lf = false;
  let body: LayoutBody = 'present';
  const items: LayoutItem[] = [];
  for (const token of tokens) {
    if (token === 'lf') {
      if (lf) bad('repeated "lf"');
      lf = true;
      continue;
    }
    if (token === 'eb' || token === 'nb') {
      if (body !== 'present') bad('repeated body token');
      body = token === 'eb' ? 'empty' : 'none';
      continue;
    }
    const other = OTHER_TOKEN.exec(token);
    if (other !== null) {
      items.push({ kind: 'other', count: Number(other[1]) });
      continue;
    }
    const common = COMMON_TOKEN.exec(token);
    if (common === null) bad(`unknown token "${token.slice(0, 32)}"`);
    const type = TYPE_BY_TOKEN.get(common[1] as string) as CommonHeaderType;
    const name = common[2];
    if (name !== undefined && name.toLowerCase() !== COMMON_HEADERS[type].name.toLowerCase()) {
      bad(`name "${name}" does not spell ${COMMON_HEADERS[type].name}`);
    }
    const encoded = common[3];
    let rawValue: Buffer | undefined;
    if (encoded !== undefined) {
      try {
        rawValue = decodeBase64(encoded, 'raw value');
      } catch (err) {
        if (err instanceof DimeError) bad(`token "${token.slice(0, 32)}" has bad base64`);
        throw err;
      }
    }
    items.push({ kind: 'common', type, ...(name !== undefined && { name }), ...(rawValue !== undefined && { rawValue }) });
  }
  return { lf, body, items };
}

/** The value after the colon with every SP, HTAB, CR and LF removed (undoes the folding). */
function compactValue(afterName: Buffer): string {
  return afterName.toString('latin1', 1).replace(/[ \t\r\n]/g, '');
}
