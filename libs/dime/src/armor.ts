// PEM armor of DIME objects (DIGEST.md §2): BEGIN/END lines around the base64 of the whole binary
// object, wrapped at 64 columns, and a mandatory "=XXXX" CRC-24 line, as libdime writes and reads it.
import { assertBytes, toBuffer } from './bytes';
import { decodeBase64 } from './base64';
import { crc24 } from './crc24';
import { DimeError } from './dime.error';

/**
 * Armor tags DIME uses. 'SIGNET SIGNING REQUEST' is PRIME's SSR tag: accepted on input, but libdime
 * itself armors SSRs as 'ORGANIZATIONAL SIGNET' (DIGEST.md §2, §12.4) and so does armorSignet.
 */
export const ARMOR_TAGS = [
  'ORGANIZATIONAL SIGNET',
  'USER SIGNET',
  'ORGANIZATIONAL KEY',
  'USER KEY',
  'ED25519 PRIVATE KEY',
  'SIGNET SIGNING REQUEST',
] as const;

export type ArmorTag = (typeof ARMOR_TAGS)[number];

export interface Dearmored {
  readonly tag: ArmorTag;
  readonly bytes: Buffer;
}

const LINE_WIDTH = 64;
const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;
const END = /^-----END ([A-Z0-9 ]+)-----$/;
const BEGIN_MARK = Buffer.from('-----BEGIN', 'latin1');

function isArmorTag(tag: string): tag is ArmorTag {
  return (ARMOR_TAGS as readonly string[]).includes(tag);
}

function crcLine(bytes: Uint8Array): string {
  const crc = crc24(bytes);
  return '=' + Buffer.from([crc >>> 16, (crc >>> 8) & 0xff, crc & 0xff]).toString('base64');
}

/** Armor bytes under tag: LF line endings and a final newline, exactly like the libdime vector files. */
export function armor(tag: ArmorTag, bytes: Uint8Array): string {
  if (!isArmorTag(tag)) throw new TypeError(`"tag" expected an ArmorTag, got ${String(tag)}`);
  assertBytes(bytes, 'bytes');
  const b64 = toBuffer(bytes).toString('base64');
  const lines: string[] = [`-----BEGIN ${tag}-----`];
  for (let i = 0; i < b64.length; i += LINE_WIDTH) lines.push(b64.slice(i, i + LINE_WIDTH));
  lines.push(crcLine(bytes), `-----END ${tag}-----`, '');
  return lines.join('\n');
}

/**
 * Strip the armor: BEGIN/END tags must match (BAD_ARMOR), the CRC line must be present and right
 * (BAD_CHECKSUM), the tag must be one of expected if given (WRONG_TYPE). CRLF, blank lines and
 * whitespace around lines are tolerated; anything else around the block is not.
 */
export function dearmor(text: string, expected?: readonly ArmorTag[]): Dearmored {
  if (typeof text !== 'string') throw new TypeError(`"text" expected string, got ${text === null ? 'null' : typeof text}`);
  const lines = text
    .trim()
    .split(/\r\n|\n|\r/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const begin = BEGIN.exec(lines[0] ?? '');
  const end = END.exec(lines[lines.length - 1] ?? '');
  if (!begin || !end || lines.length < 2) throw new DimeError('BAD_ARMOR', 'armor: missing BEGIN or END line');
  const tag = begin[1] as string;
  if (end[1] !== tag) throw new DimeError('BAD_ARMOR', `armor: BEGIN ${tag} does not match END ${end[1] as string}`);
  if (!isArmorTag(tag)) throw new DimeError('BAD_ARMOR', `armor: unsupported tag "${tag}"`);
  if (expected && !expected.includes(tag)) {
    throw new DimeError('WRONG_TYPE', `armor: expected ${expected.join(' or ')}, got ${tag}`);
  }

  const body = lines.slice(1, -1);
  const checksum = body.pop();
  if (checksum === undefined || !checksum.startsWith('=')) throw new DimeError('BAD_CHECKSUM', 'armor: CRC-24 line missing');
  if (body.some((line) => line.startsWith('='))) throw new DimeError('BAD_ARMOR', 'armor: unexpected line after data');
  const bytes = decodeBase64(body.join(''), 'armor', 'BAD_ARMOR');
  if (checksum.length !== 5 || checksum !== crcLine(bytes)) throw new DimeError('BAD_CHECKSUM', 'armor: CRC-24 mismatch');
  return { tag, bytes };
}

/** True if input (after leading whitespace) starts with "-----BEGIN": PEM text rather than a binary object. */
export function isArmored(input: Uint8Array): boolean {
  let i = 0;
  while (i < input.length && (input[i] === 0x20 || input[i] === 0x09 || input[i] === 0x0a || input[i] === 0x0d)) i++;
  if (input.length - i < BEGIN_MARK.length) return false;
  for (let j = 0; j < BEGIN_MARK.length; j++) if (input[i + j] !== BEGIN_MARK[j]) return false;
  return true;
}

/**
 * The binary object behind input, which may be PEM text (string or bytes) or the raw binary itself
 * (for the CLI). Armored input is checked against expected tags; binary input is returned as is (a
 * view, not a copy): its magic number is checked by the object's parser.
 */
export function decodeObjectInput(input: Uint8Array | string, expected?: readonly ArmorTag[]): Buffer {
  if (typeof input === 'string') return dearmor(input, expected).bytes;
  assertBytes(input, 'input');
  if (isArmored(input)) return dearmor(toBuffer(input).toString('latin1'), expected).bytes;
  return toBuffer(input);
}
