// The signet value (DIGEST.md §4): an org signet, user signet or SSR as an immutable list of fields.
// Each signet remembers its exact serialized body, so fingerprints, signatures and re-serialization
// hash and slice the original bytes instead of re-encoding them (and parsed fields, odd names
// included, come back byte for byte). Internal helpers here are shared by the signet/*.ts files.
import { assertBytes, toBuffer } from '../bytes';
import { DimeError } from '../dime.error';
import { signetFieldSpec, type SignetFieldSpec, type SignetType } from './signet-field.table';

export interface SignetField {
  readonly fid: number;
  /** Only for the undefined field (251): its name. */
  readonly name?: string;
  readonly data: Buffer;
}

/** A signet or SSR. Treat it and its buffers as immutable: functions return new signets. */
export interface Signet {
  readonly type: SignetType;
  readonly fields: readonly SignetField[];
}

export const SIGNET_MAGIC = { org: 1776, user: 1789, ssr: 1215 } as const satisfies Record<SignetType, number>;
export const SIGNET_HEADER_SIZE = 5;
/** Largest body the 3-byte header length can announce. */
export const SIGNET_MAX_BODY = 0xffffff;
/** libdime's SIGNET_MAX_SIZE: header plus the largest body. */
export const SIGNET_MAX_SIZE = SIGNET_HEADER_SIZE + SIGNET_MAX_BODY;

export function signetTypeOfMagic(magic: number): SignetType | undefined {
  if (magic === SIGNET_MAGIC.org) return 'org';
  if (magic === SIGNET_MAGIC.user) return 'user';
  if (magic === SIGNET_MAGIC.ssr) return 'ssr';
  return undefined;
}

/** Serialized body and the start offset of every field (plus body.length at the end). */
export interface EncodedSignet {
  readonly body: Buffer;
  readonly starts: readonly number[];
}

const encodings = new WeakMap<Signet, EncodedSignet>();
const rawFields = new WeakMap<SignetField, Buffer>();

/**
 * Enforces libdime's field sequence rules (sgnt_signet_index): ascending fids, unique fids once,
 * repeatable fids only in one consecutive run, only fids the type defines.
 */
export class FieldSequence {
  private last = -1;
  private readonly seen = new Uint8Array(256);

  constructor(private readonly type: SignetType) {}

  next(fid: number): SignetFieldSpec {
    const spec = signetFieldSpec(this.type, fid);
    if (!spec) throw new DimeError('UNKNOWN_FIELD', `${this.type} signet: field ${fid} is not defined`);
    if (fid < this.last) {
      if (this.seen[fid]) throw new DimeError('DUPLICATE_FIELD', `${this.type} signet: field ${fid} repeated out of its run`);
      throw new DimeError('FIELD_ORDER', `${this.type} signet: field ${fid} after field ${this.last}`);
    }
    if (fid === this.last && spec.unique) throw new DimeError('DUPLICATE_FIELD', `${this.type} signet: unique field ${fid} repeated`);
    this.last = fid;
    this.seen[fid] = 1;
    return spec;
  }
}

/** The serialized form of one field: fid ‖ [name_len ‖ name] ‖ [size] ‖ data. */
export function encodeField(type: SignetType, field: SignetField): Buffer {
  const raw = rawFields.get(field);
  if (raw) return raw;
  const spec = signetFieldSpec(type, field.fid);
  if (!spec) throw new DimeError('UNKNOWN_FIELD', `${type} signet: field ${field.fid} is not defined`);
  assertBytes(field.data, 'field.data');
  const data = toBuffer(field.data);
  let name: Buffer | undefined;
  if (spec.named) {
    if (typeof field.name !== 'string') throw new TypeError(`field ${field.fid} needs a name`);
    name = Buffer.from(field.name, 'utf8');
    if (name.length > 0xff) throw new DimeError('TOO_LARGE', `field ${field.fid}: name longer than 255 bytes`);
  } else if (field.name !== undefined) {
    throw new TypeError(`field ${field.fid} takes no name`);
  }
  if (spec.sizeWidth === 0) {
    if (data.length !== spec.fixedSize) throw new DimeError('MALFORMED', `field ${field.fid} must be ${spec.fixedSize} bytes, got ${data.length}`);
  } else if (data.length >= 2 ** (8 * spec.sizeWidth)) {
    throw new DimeError('TOO_LARGE', `field ${field.fid}: ${data.length} bytes do not fit a ${spec.sizeWidth}-byte size`);
  }
  const head = 1 + (name ? 1 + name.length : 0) + spec.sizeWidth;
  const out = Buffer.allocUnsafe(head + data.length);
  let at = 0;
  out[at++] = field.fid;
  if (name) {
    out[at++] = name.length;
    at += name.copy(out, at);
  }
  if (spec.sizeWidth > 0) {
    out.writeUIntBE(data.length, at, spec.sizeWidth);
    at += spec.sizeWidth;
  }
  data.copy(out, at);
  return out;
}

/** A frozen field whose exact bytes are known (parsed or freshly encoded). */
export function makeField(fid: number, data: Buffer, name: string | undefined, raw: Buffer): SignetField {
  const field: SignetField = Object.freeze(name === undefined ? { fid, data } : { fid, name, data });
  rawFields.set(field, raw);
  return field;
}

/** Wrap already-checked fields and their encoding into a frozen signet. */
export function makeSignet(type: SignetType, fields: readonly SignetField[], encoded: EncodedSignet): Signet {
  const signet: Signet = Object.freeze({ type, fields: Object.freeze(fields.slice()) });
  encodings.set(signet, encoded);
  return signet;
}

/** Build a signet from fields (checked and encoded here); the fields need not come from a parse. */
export function buildSignet(type: SignetType, fields: readonly SignetField[]): Signet {
  const seq = new FieldSequence(type);
  const raws: Buffer[] = [];
  const starts: number[] = [];
  let size = 0;
  for (const field of fields) {
    seq.next(field.fid);
    const raw = encodeField(type, field);
    starts.push(size);
    raws.push(raw);
    size += raw.length;
  }
  if (size > SIGNET_MAX_BODY) throw new DimeError('TOO_LARGE', `signet body of ${size} bytes exceeds ${SIGNET_MAX_BODY}`);
  starts.push(size);
  const body = Buffer.concat(raws, size);
  const own = fields.map((field, i) => {
    const raw = body.subarray(starts[i] as number, starts[i + 1] as number);
    return makeField(field.fid, raw.subarray(raw.length - field.data.length), field.name, raw);
  });
  return makeSignet(type, own, { body, starts });
}

export function checkSignet(signet: unknown, name = 'signet'): asserts signet is Signet {
  const s = signet as Signet | null | undefined;
  if (typeof s !== 'object' || s === null || !Array.isArray(s.fields) || (s.type !== 'org' && s.type !== 'user' && s.type !== 'ssr')) {
    throw new TypeError(`"${name}" expected a Signet`);
  }
}

/** The signet's serialized body and field offsets (computed once for signets not built here). */
export function encodedSignet(signet: Signet): EncodedSignet {
  const cached = encodings.get(signet);
  if (cached) return cached;
  checkSignet(signet);
  const encoded = encodedSignet(buildSignet(signet.type, signet.fields));
  encodings.set(signet, encoded);
  return encoded;
}

/** Index of the first field with fid > limit (fields.length if none). */
export function fieldIndexAfter(signet: Signet, limit: number): number {
  const { fields } = signet;
  let i = 0;
  while (i < fields.length && (fields[i] as SignetField).fid <= limit) i++;
  return i;
}

/** Serialized fields with fid <= limit: what a signature at fid limit+1 covers, or a fingerprint up to limit. */
export function serializedUpTo(signet: Signet, limit: number): Buffer {
  const { body, starts } = encodedSignet(signet);
  return body.subarray(0, starts[fieldIndexAfter(signet, limit)] as number);
}

/** A new signet keeping the fields with fid <= limit (libdime's sgnt_signet_split). */
export function truncateSignet(signet: Signet, limit: number): Signet {
  const { body, starts } = encodedSignet(signet);
  const n = fieldIndexAfter(signet, limit);
  return makeSignet(signet.type, signet.fields.slice(0, n), { body: body.subarray(0, starts[n] as number), starts: starts.slice(0, n + 1) });
}

export function hasField(signet: Signet, fid: number): boolean {
  return signet.fields.some((f) => f.fid === fid);
}

/** The first field with this fid. */
export function firstField(signet: Signet, fid: number): SignetField | undefined {
  return signet.fields.find((f) => f.fid === fid);
}

