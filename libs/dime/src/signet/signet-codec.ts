// Binary and armored forms of signets and SSRs: `magic(2) ‖ length(3) ‖ fields` (DIGEST.md §2),
// parsed with libdime's field rules (sgnt_signet_index), written in the magma-libdime dialect.
import { armor, decodeObjectInput, type ArmorTag } from '../armor';
import { assertBytes, toBuffer } from '../bytes';
import { DimeError } from '../dime.error';
import type { SignetType } from './signet-field.table';
import {
  encodedSignet,
  FieldSequence,
  makeField,
  makeSignet,
  SIGNET_HEADER_SIZE,
  SIGNET_MAGIC,
  signetTypeOfMagic,
  type Signet,
  type SignetField,
} from './signet';

const SIGNET_TAGS: readonly ArmorTag[] = ['ORGANIZATIONAL SIGNET', 'USER SIGNET', 'SIGNET SIGNING REQUEST'];

function truncated(what: string): DimeError {
  return new DimeError('TRUNCATED', `signet: ${what} runs past the end`);
}

/**
 * Parse a binary signet or SSR. The header length must match the input exactly; fields must follow
 * the type's table (TRUNCATED, MALFORMED, FIELD_ORDER, DUPLICATE_FIELD, UNKNOWN_FIELD); expected
 * restricts the type (WRONG_TYPE). The input is copied once; the signet never aliases it.
 */
export function parseSignet(bytes: Uint8Array, expected?: SignetType): Signet {
  assertBytes(bytes, 'bytes');
  if (bytes.length < SIGNET_HEADER_SIZE) throw truncated('header');
  const input = toBuffer(bytes);
  const magic = input.readUInt16BE(0);
  const type = signetTypeOfMagic(magic);
  if (!type) throw new DimeError('WRONG_TYPE', `signet: magic ${magic} is not a signet or SSR`);
  if (expected !== undefined && type !== expected) throw new DimeError('WRONG_TYPE', `signet: expected ${expected}, got ${type}`);
  const length = input.readUIntBE(2, 3);
  const present = input.length - SIGNET_HEADER_SIZE;
  if (length > present) throw new DimeError('TRUNCATED', `signet: header announces ${length} bytes, ${present} present`);
  if (length < present) throw new DimeError('MALFORMED', `signet: ${present - length} byte(s) after the announced length`);

  const body = Buffer.from(input.subarray(SIGNET_HEADER_SIZE));
  const seq = new FieldSequence(type);
  const fields: SignetField[] = [];
  const starts: number[] = [];
  let at = 0;
  while (at < body.length) {
    const start = at;
    const fid = body[at++] as number;
    const spec = seq.next(fid);
    let name: string | undefined;
    if (spec.named) {
      if (at >= body.length) throw truncated(`field ${fid} name`);
      const nameLength = body[at++] as number;
      if (at + nameLength > body.length) throw truncated(`field ${fid} name`);
      name = body.toString('utf8', at, at + nameLength);
      at += nameLength;
    }
    let size = spec.fixedSize;
    if (spec.sizeWidth > 0) {
      if (at + spec.sizeWidth > body.length) throw truncated(`field ${fid} size`);
      size = body.readUIntBE(at, spec.sizeWidth);
      at += spec.sizeWidth;
    }
    if (at + size > body.length) throw truncated(`field ${fid} data`);
    starts.push(start);
    fields.push(makeField(fid, body.subarray(at, at + size), name, body.subarray(start, at + size)));
    at += size;
  }
  starts.push(body.length);
  return makeSignet(type, fields, { body, starts });
}

/** The binary signet: header (magic by type, body length) and fields. */
export function serializeSignet(signet: Signet): Buffer {
  const { body } = encodedSignet(signet);
  const out = Buffer.allocUnsafe(SIGNET_HEADER_SIZE + body.length);
  out.writeUInt16BE(SIGNET_MAGIC[signet.type], 0);
  out.writeUIntBE(body.length, 2, 3);
  body.copy(out, SIGNET_HEADER_SIZE);
  return out;
}

/** The armor tag libdime writes: user signets "USER SIGNET", everything else, SSRs included, "ORGANIZATIONAL SIGNET" (DIGEST.md §2). */
export function signetArmorTag(type: SignetType): ArmorTag {
  return type === 'user' ? 'USER SIGNET' : 'ORGANIZATIONAL SIGNET';
}

export function armorSignet(signet: Signet): string {
  return armor(signetArmorTag(signet.type), serializeSignet(signet));
}

/** A signet given as PEM text (any signet tag: the magic number decides the type) or raw binary. */
export function readSignet(input: Uint8Array | string, expected?: SignetType): Signet {
  return parseSignet(decodeObjectInput(input, SIGNET_TAGS), expected);
}
