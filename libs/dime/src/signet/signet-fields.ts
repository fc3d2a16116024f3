// Reading and editing signet fields: keys in their libdime encodings (DIGEST.md §4.1, §4.2), info
// fields as UTF-8 text, the named undefined field 251. Edits return new signets; like libdime they
// leave signature fields in place (re-sign afterwards, DIGEST.md §4.3).
import { assertBytes } from '../bytes';
import { DimeError } from '../dime.error';
import { ED25519_PUBLIC_LENGTH, SECP256K1_PUBLIC_LENGTH } from '../primitives';
import { SignetFid, signetFieldSpec, SIGNET_MAX_FID } from './signet-field.table';
import { buildSignet, checkSignet, firstField, type Signet, type SignetField } from './signet';

/** libdime's SIGNKEY_DEFAULT_FORMAT: signing keys are stored as 0x40 ‖ 32-byte Ed25519 key (L1/L2). */
export const SIGNING_KEY_FORMAT = 0x40;

/** SOK permission bits (org field 2, first byte). */
export const SokPermission = { SIGNETS: 0x01, MESSAGES: 0x02, TLS: 0x04, SOFTWARE: 0x08 } as const;

export interface SignetSok {
  readonly permissions: number;
  /** Raw 32-byte Ed25519 public key. */
  readonly key: Buffer;
}

export interface SignetFieldInput {
  readonly fid: number;
  /** Required for (and only for) the undefined field 251. */
  readonly name?: string;
  /** Bytes, or text stored as UTF-8. */
  readonly data: Uint8Array | string;
}

function checkFid(fid: unknown): asserts fid is number {
  if (typeof fid !== 'number' || !Number.isInteger(fid) || fid < 0 || fid > SIGNET_MAX_FID) {
    throw new RangeError(`"fid" expected an integer 0..255, got ${String(fid)}`);
  }
}

export function signetField(signet: Signet, fid: number): SignetField | undefined {
  checkSignet(signet);
  return firstField(signet, fid);
}

export function signetFields(signet: Signet, fid: number): SignetField[] {
  checkSignet(signet);
  return signet.fields.filter((f) => f.fid === fid);
}

/** A field's data decoded as UTF-8 (info fields are text). */
export function signetFieldText(signet: Signet, fid: number): string | undefined {
  return signetField(signet, fid)?.data.toString('utf8');
}

/** The data of the undefined field (251) with this name. */
export function signetNamedField(signet: Signet, name: string): Buffer | undefined {
  checkSignet(signet);
  return signet.fields.find((f) => f.fid === SignetFid.UNDEFINED && f.name === name)?.data;
}

export function decodeSigningKeyField(data: Buffer, what: string): Buffer {
  if (data.length !== 1 + ED25519_PUBLIC_LENGTH || data[0] !== SIGNING_KEY_FORMAT) {
    throw new DimeError('BAD_KEY', `${what}: expected 0x40 ‖ 32-byte Ed25519 key`);
  }
  return data.subarray(1);
}

function encodeSigningKey(publicKey: Uint8Array, what: string): Buffer {
  assertBytes(publicKey, what);
  if (publicKey.length !== ED25519_PUBLIC_LENGTH) throw new DimeError('BAD_KEY', `${what}: Ed25519 public key must be 32 bytes`);
  const out = Buffer.allocUnsafe(1 + ED25519_PUBLIC_LENGTH);
  out[0] = SIGNING_KEY_FORMAT;
  out.set(publicKey, 1);
  return out;
}

/** The raw 32-byte Ed25519 key of field 1: the POK (org) or the user's signing key. */
export function signetSigningKey(signet: Signet): Buffer {
  const field = signetField(signet, SignetFid.SIGNING_KEY);
  if (!field) throw new DimeError('MISSING_FIELD', `${signet.type} signet: no signing key (field 1)`);
  return decodeSigningKeyField(field.data, `${signet.type} signet field 1`);
}

function checkEncryptionKey(data: Buffer, what: string): Buffer {
  if (data.length !== SECP256K1_PUBLIC_LENGTH || (data[0] !== 0x02 && data[0] !== 0x03)) {
    throw new DimeError('BAD_KEY', `${what}: expected a 33-byte compressed secp256k1 point`);
  }
  return data;
}

/** The 33-byte compressed secp256k1 encryption key (org field 3, user/SSR field 2). */
export function signetEncryptionKey(signet: Signet): Buffer {
  const fid = signet.type === 'org' ? SignetFid.ORG_ENCRYPTION_KEY : SignetFid.USER_ENCRYPTION_KEY;
  const field = signetField(signet, fid);
  if (!field) throw new DimeError('MISSING_FIELD', `${signet.type} signet: no encryption key (field ${fid})`);
  return checkEncryptionKey(field.data, `${signet.type} signet field ${fid}`);
}

/** Alternate encryption keys (user/SSR field 3). */
export function signetAlternateEncryptionKeys(signet: Signet): Buffer[] {
  if (signet.type === 'org') return [];
  return signetFields(signet, SignetFid.USER_ALT_ENCRYPTION_KEY).map((f) => checkEncryptionKey(f.data, `${signet.type} signet field 3`));
}

/** Secondary organizational keys (org field 2): permissions byte, then 0x40 ‖ key. */
export function signetSoks(signet: Signet): SignetSok[] {
  if (signet.type !== 'org') return [];
  return signetFields(signet, SignetFid.ORG_SOK).map((f) => ({
    permissions: f.data[0] ?? 0,
    key: decodeSigningKeyField(f.data.subarray(1), 'org signet field 2'),
  }));
}

/** The Signet-Identifier (254): domain (org) or address (user); null if absent. */
export function signetId(signet: Signet): string | null {
  return signetFieldText(signet, SignetFid.ID) ?? null;
}

function toFieldData(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  assertBytes(data, 'data');
  return Buffer.from(data);
}

function newField(signet: Signet, input: SignetFieldInput): SignetField {
  checkFid(input.fid);
  const spec = signetFieldSpec(signet.type, input.fid);
  if (!spec) throw new DimeError('UNKNOWN_FIELD', `${signet.type} signet: field ${input.fid} is not defined`);
  if (spec.named) {
    if (typeof input.name !== 'string' || input.name.length === 0) throw new TypeError(`"name" required for field ${input.fid}`);
    return { fid: input.fid, name: input.name, data: toFieldData(input.data) };
  }
  if (input.name !== undefined) throw new TypeError(`"name" only applies to field ${SignetFid.UNDEFINED}`);
  return { fid: input.fid, data: toFieldData(input.data) };
}

function insert(fields: SignetField[], field: SignetField): void {
  // After every field with the same or a lower fid: libdime appends to the end of a fid's run.
  let i = 0;
  while (i < fields.length && (fields[i] as SignetField).fid <= field.fid) i++;
  fields.splice(i, 0, field);
}

/**
 * Set a field, replacing the existing ones with this fid (for 251: with this name). Text is
 * stored as UTF-8.
 */
export function setSignetField(signet: Signet, fid: number, data: Uint8Array | string, name?: string): Signet {
  checkSignet(signet);
  const field = newField(signet, name === undefined ? { fid, data } : { fid, name, data });
  const fields = signet.fields.filter((f) => f.fid !== fid || (field.name !== undefined && f.name !== field.name));
  insert(fields, field);
  return buildSignet(signet.type, fields);
}

/** Add fields; repeatable fids (phone numbers, SOKs, alternate keys, 251...) may be added again. */
export function addSignetFields(signet: Signet, inputs: readonly SignetFieldInput[]): Signet {
  checkSignet(signet);
  const fields = signet.fields.slice();
  for (const input of inputs) insert(fields, newField(signet, input));
  return buildSignet(signet.type, fields);
}

/** Remove every field with this fid (for 251 with a name: only that one). */
export function removeSignetField(signet: Signet, fid: number, name?: string): Signet {
  checkSignet(signet);
  checkFid(fid);
  return buildSignet(
    signet.type,
    signet.fields.filter((f) => f.fid !== fid || (name !== undefined && f.name !== name)),
  );
}

/** Set the Signet-Identifier (254): the organization's domain or the user's address. */
export function setSignetId(signet: Signet, id: string): Signet {
  checkSignet(signet);
  if (signet.type === 'ssr') throw new DimeError('WRONG_TYPE', 'an SSR has no Signet-Identifier');
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('"id" expected a non-empty string');
  return setSignetField(signet, SignetFid.ID, id);
}

/** Internal: the field-1 value for a signing key, and a SOK value. */
export function signingKeyFieldData(publicKey: Uint8Array, what: string): Buffer {
  return encodeSigningKey(publicKey, what);
}

export function sokFieldData(permissions: number, key: Uint8Array): Buffer {
  if (!Number.isInteger(permissions) || permissions < 0 || permissions > 0xff) {
    throw new RangeError(`"permissions" expected an integer 0..255, got ${String(permissions)}`);
  }
  return Buffer.concat([Buffer.from([permissions]), encodeSigningKey(key, 'soks[].key')]);
}

/** Internal: the fields with field put in place of every field of its fid (how libdime re-signs). */
export function replaceField(signet: Signet, field: SignetField): SignetField[] {
  const fields = signet.fields.filter((f) => f.fid !== field.fid);
  insert(fields, field);
  return fields;
}

