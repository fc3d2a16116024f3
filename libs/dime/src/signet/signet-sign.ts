// Creating and signing signets the way libdime does (DIGEST.md §4.3): every signature is Ed25519
// over the serialized fields with a lower fid (header excluded) and replaces an earlier signature
// of the same fid; fields above it stay. Signers are async (HSM), everything else is synchronous.
import { assertBytes, bytesEqual } from '../bytes';
import { DimeError } from '../dime.error';
import { ED25519_SIGNATURE_LENGTH, secp256k1IsValidPublic } from '../primitives';
import type { Signer } from '../signer';
import { SignetFid, signetFieldSpec } from './signet-field.table';
import { buildSignet, checkSignet, hasField, serializedUpTo, type Signet, type SignetField } from './signet';
import { replaceField, signetSigningKey, signingKeyFieldData, sokFieldData } from './signet-fields';
import { validateSignet } from './signet-validate';

export interface CreateOrgSignetOptions {
  /** The primary organizational key (field 1); it also makes the crypto signature (field 4). */
  readonly pok: Signer;
  /** 33-byte compressed secp256k1 key (field 3). */
  readonly encryptionPublicKey: Uint8Array;
  /** Secondary organizational keys (field 2, in this order). */
  readonly soks?: readonly { readonly permissions: number; readonly key: Uint8Array }[];
}

export interface CreateSsrOptions {
  /** The user's signing key (field 1); it makes the SSR signature (field 5). */
  readonly signer: Signer;
  /** 33-byte compressed secp256k1 key (field 2). */
  readonly encryptionPublicKey: Uint8Array;
  /** Field 3, repeatable. */
  readonly alternateEncryptionKeys?: readonly Uint8Array[];
  /** On key rotation: the user's previous signing key, for the chain-of-custody signature (field 4). */
  readonly custodySigner?: Signer;
}

function checkSigner(signer: unknown, name: string): asserts signer is Signer {
  const s = signer as Signer | null | undefined;
  if (typeof s !== 'object' || s === null || typeof s.sign !== 'function' || !(s.publicKey instanceof Uint8Array)) {
    throw new TypeError(`"${name}" expected a Signer`);
  }
}

function encryptionKeyData(key: Uint8Array, name: string): Buffer {
  assertBytes(key, name);
  if (!secp256k1IsValidPublic(key)) throw new DimeError('BAD_KEY', `${name}: not a 33-byte compressed secp256k1 point`);
  return Buffer.from(key);
}

/**
 * Sign the fields below fid and put the signature at fid (replacing any earlier one). Like libdime's
 * sgnt_field_sign, refuses when a required field below fid is missing.
 */
async function signField(signet: Signet, fid: number, signer: Signer): Promise<Signet> {
  for (let below = 1; below < fid; below++) {
    if (signetFieldSpec(signet.type, below)?.required && !hasField(signet, below)) {
      throw new DimeError('MISSING_FIELD', `${signet.type} signet: field ${below} is required before signature ${fid}`);
    }
  }
  const signature = Buffer.from(await signer.sign(serializedUpTo(signet, fid - 1)));
  if (signature.length !== ED25519_SIGNATURE_LENGTH) throw new RangeError(`signer returned ${signature.length} bytes, not a 64-byte signature`);
  const field: SignetField = { fid, data: signature };
  return buildSignet(signet.type, replaceField(signet, field));
}

/** Org signatures are only ever checked against the POK (DIGEST.md §4.3): refuse any other signer. */
function checkOrgSigner(signet: Signet, signer: Signer): void {
  if (signet.type === 'org' && !bytesEqual(signer.publicKey, signetSigningKey(signet))) {
    throw new DimeError('BAD_KEY', 'org signet: only its POK (field 1) can sign it');
  }
}

/** A new organizational signet: POK, SOKs, encryption key, crypto signature (fields 1–4). */
export async function createOrgSignet(options: CreateOrgSignetOptions): Promise<Signet> {
  checkSigner(options?.pok, 'options.pok');
  const fields: SignetField[] = [{ fid: SignetFid.SIGNING_KEY, data: signingKeyFieldData(options.pok.publicKey, 'options.pok.publicKey') }];
  for (const sok of options.soks ?? []) fields.push({ fid: SignetFid.ORG_SOK, data: sokFieldData(sok.permissions, sok.key) });
  fields.push({ fid: SignetFid.ORG_ENCRYPTION_KEY, data: encryptionKeyData(options.encryptionPublicKey, 'options.encryptionPublicKey') });
  return signField(buildSignet('org', fields), SignetFid.ORG_CRYPTO_SIG, options.pok);
}

/** A new signet signing request: signing key, encryption key(s), [custody], SSR signature (fields 1–5). */
export async function createSsr(options: CreateSsrOptions): Promise<Signet> {
  checkSigner(options?.signer, 'options.signer');
  const fields: SignetField[] = [
    { fid: SignetFid.SIGNING_KEY, data: signingKeyFieldData(options.signer.publicKey, 'options.signer.publicKey') },
    { fid: SignetFid.USER_ENCRYPTION_KEY, data: encryptionKeyData(options.encryptionPublicKey, 'options.encryptionPublicKey') },
  ];
  for (const key of options.alternateEncryptionKeys ?? []) {
    fields.push({ fid: SignetFid.USER_ALT_ENCRYPTION_KEY, data: encryptionKeyData(key, 'options.alternateEncryptionKeys[]') });
  }
  let ssr = buildSignet('ssr', fields);
  if (options.custodySigner !== undefined) {
    checkSigner(options.custodySigner, 'options.custodySigner');
    ssr = await signField(ssr, SignetFid.USER_CUSTODY_SIG, options.custodySigner);
  }
  return signField(ssr, SignetFid.USER_SSR_SIG, options.signer);
}

/**
 * The organization's crypto signature on an SSR: libdime flips the type to user (magic 1789) and
 * adds field 6 (DIGEST.md §4.2). The SSR must validate first (its own signature, and its custody
 * signature against options.previous when it carries one).
 */
export async function signSsr(ssr: Signet, orgSigner: Signer, options: { previous?: Signet } = {}): Promise<Signet> {
  checkSignet(ssr, 'ssr');
  checkSigner(orgSigner, 'orgSigner');
  if (ssr.type !== 'ssr') throw new DimeError('WRONG_TYPE', `expected an SSR, got a ${ssr.type} signet`);
  const state = validateSignet(ssr, { none: true }, options);
  if (state !== 'SSR') {
    throw new DimeError(state === 'INCOMPLETE' ? 'MISSING_FIELD' : state === 'MALFORMED' ? 'MALFORMED' : 'BAD_SIGNATURE', `SSR does not validate (${state})`);
  }
  return signField(buildSignet('user', ssr.fields), SignetFid.USER_CRYPTO_SIG, orgSigner);
}

/** The full signature (253) over every field below it; by the POK (org) or an org key (user). */
export async function fullSign(signet: Signet, signer: Signer): Promise<Signet> {
  checkSignet(signet);
  checkSigner(signer, 'signer');
  if (signet.type === 'ssr') throw new DimeError('WRONG_TYPE', 'an SSR takes no full signature');
  checkOrgSigner(signet, signer);
  return signField(signet, SignetFid.FULL_SIG, signer);
}

/** The ID signature (255) over every field below it, the identifier (254) and full signature included. */
export async function idSign(signet: Signet, signer: Signer): Promise<Signet> {
  checkSignet(signet);
  checkSigner(signer, 'signer');
  if (signet.type === 'ssr') throw new DimeError('WRONG_TYPE', 'an SSR takes no ID signature');
  checkOrgSigner(signet, signer);
  return signField(signet, SignetFid.ID_SIG, signer);
}
