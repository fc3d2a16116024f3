// Signet validation as libdime's dime_sgnt_validate_all does it (DIGEST.md §4.5): structure first
// (sgnt_validate_structure: fields, required fields below the highest signature present), then each
// signature present in the chain crypto -> full -> ID, then the chain of custody if asked. Returns a
// state, never throws for bad signets; org signets are checked against the POK(s) of the DNS record,
// user signets against their org signet's POK and signet-signing SOKs.
import { createHash } from 'node:crypto';
import { bytesEqual, toBuffer } from '../bytes';
import { DimeError } from '../dime.error';
import { ed25519Verify } from '../primitives';
import { decodeObjectInput, type ArmorTag } from '../armor';
import { SignetFid, signetFieldSpec } from './signet-field.table';
import { checkSignet, encodedSignet, firstField, hasField, serializedUpTo, SIGNET_MAX_SIZE, type Signet } from './signet';
import { parseSignet } from './signet-codec';
import {
  signetAlternateEncryptionKeys,
  signetEncryptionKey,
  signetSigningKey,
  signetSoks,
  SokPermission,
} from './signet-fields';

/** libdime's signet_state_t, SS_UNKNOWN aside (errors of the caller's making throw instead). */
export type SignetState = 'MALFORMED' | 'OVERFLOW' | 'INCOMPLETE' | 'BROKEN_COC' | 'INVALID' | 'SSR' | 'CRYPTO' | 'FULL' | 'ID';

/**
 * What a signet is checked against: org signets against the POKs of the domain's DIME record
 * (`none`: against the POK they carry, a self-consistency check only); user signets against their
 * organization's signet (validate that one first) or a list of org keys; SSRs need no anchor.
 */
export type SignetAnchor = { readonly poks: readonly Uint8Array[] } | { readonly orgSignet: Signet } | { readonly none: true };

export interface ValidateSignetOptions {
  /** The previous signet of this user: checks the chain-of-custody signature (field 4). */
  readonly previous?: Signet;
}

const SIGNET_TAGS: readonly ArmorTag[] = ['ORGANIZATIONAL SIGNET', 'USER SIGNET', 'SIGNET SIGNING REQUEST'];

function requiredBelow(signet: Signet, fid: number): boolean {
  for (let below = 1; below < fid; below++) {
    if (signetFieldSpec(signet.type, below)?.required && !hasField(signet, below)) return false;
  }
  return true;
}

function highestState(signet: Signet, fid: number, state: SignetState): SignetState {
  return requiredBelow(signet, fid) ? state : 'INCOMPLETE';
}

/**
 * The state a signet's structure allows (libdime sgnt_validate_structure), signatures unchecked:
 * MALFORMED, OVERFLOW, INCOMPLETE, or the state the highest signature present would give.
 * Key fields must also be in their libdime encodings, or the signet is MALFORMED.
 */
export function signetStructureState(signet: Signet): SignetState {
  checkSignet(signet);
  try {
    encodedSignet(signet);
    if (hasField(signet, SignetFid.SIGNING_KEY)) signetSigningKey(signet);
    if (hasField(signet, signet.type === 'org' ? SignetFid.ORG_ENCRYPTION_KEY : SignetFid.USER_ENCRYPTION_KEY)) signetEncryptionKey(signet);
    signetSoks(signet);
    signetAlternateEncryptionKeys(signet);
  } catch (err) {
    if (err instanceof DimeError) return err.code === 'TOO_LARGE' ? 'OVERFLOW' : 'MALFORMED';
    throw err;
  }
  if (signet.type === 'ssr') {
    return hasField(signet, SignetFid.USER_SSR_SIG) ? highestState(signet, SignetFid.USER_SSR_SIG, 'SSR') : 'INCOMPLETE';
  }
  if (hasField(signet, SignetFid.ID_SIG)) return highestState(signet, SignetFid.ID_SIG, 'ID');
  if (hasField(signet, SignetFid.FULL_SIG)) return highestState(signet, SignetFid.FULL_SIG, 'FULL');
  const crypto = signet.type === 'org' ? SignetFid.ORG_CRYPTO_SIG : SignetFid.USER_CRYPTO_SIG;
  if (hasField(signet, crypto)) return highestState(signet, crypto, 'CRYPTO');
  return 'INCOMPLETE';
}

/**
 * Signet signatures that verified, by key, signature and SHA-256 of the signed fields: a gateway
 * validates the same few org and user signets for every message it seals or opens (two to five
 * Ed25519 verifications each). Only successes are kept: a verification is a pure function of the
 * three, so a remembered success is the answer verifying again would give; a failure is always
 * checked anew.
 */
const verifiedSignatures = new Set<string>();
const MAX_VERIFIED_SIGNATURES = 4096;

function verifiesOnce(key: Uint8Array, data: Buffer, signature: Uint8Array): boolean {
  const id = `${toBuffer(key).toString('base64')}.${toBuffer(signature).toString('base64')}.${createHash('sha256').update(data).digest('base64')}`;
  if (verifiedSignatures.has(id)) return true;
  if (!ed25519Verify(key, data, signature)) return false;
  if (verifiedSignatures.size >= MAX_VERIFIED_SIGNATURES) verifiedSignatures.clear();
  verifiedSignatures.add(id);
  return true;
}

/** Does the signature at fid verify, over the fields below it, with one of keys? */
function verifiesWithAny(signet: Signet, fid: number, keys: readonly Uint8Array[]): boolean {
  const field = firstField(signet, fid);
  if (!field) return false;
  const data = serializedUpTo(signet, fid - 1);
  return keys.some((key) => {
    try {
      return verifiesOnce(key, data, field.data);
    } catch (err) {
      if (err instanceof DimeError) return false; // a key that is not a valid Ed25519 point
      throw err;
    }
  });
}

/** The crypto -> full -> ID chain, stopping at the state the structure reached. */
function signatureChain(signet: Signet, structure: SignetState, cryptoFid: number, keys: readonly Uint8Array[]): SignetState {
  if (!verifiesWithAny(signet, cryptoFid, keys)) return 'INVALID';
  if (structure === 'CRYPTO') return 'CRYPTO';
  if (!verifiesWithAny(signet, SignetFid.FULL_SIG, keys)) return 'INVALID';
  if (structure === 'FULL') return 'FULL';
  return verifiesWithAny(signet, SignetFid.ID_SIG, keys) ? 'ID' : 'INVALID';
}

/**
 * Chain of custody (field 4, by the user's previous signing key over fields 1–3). As in libdime, a
 * custody signature without a previous signet, or a previous signet without custody signature, is
 * BROKEN_COC. (libdime's SSR branch checks field 5 with the previous key here, a bug; field 4 is checked.)
 */
function custodyHolds(signet: Signet, previous: Signet | undefined): boolean {
  const present = hasField(signet, SignetFid.USER_CUSTODY_SIG);
  if (!present) return previous === undefined;
  if (previous === undefined || (signet.type === 'user' && previous.type !== 'user')) return false;
  let previousKey: Buffer;
  try {
    previousKey = signetSigningKey(previous);
  } catch (err) {
    if (err instanceof DimeError) return false;
    throw err;
  }
  return verifiesWithAny(signet, SignetFid.USER_CUSTODY_SIG, [previousKey]);
}

function checkAnchor(anchor: unknown): asserts anchor is SignetAnchor {
  const a = anchor as Record<string, unknown> | null | undefined;
  const ok =
    typeof a === 'object' &&
    a !== null &&
    ((Array.isArray(a.poks) && a.poks.every((k) => k instanceof Uint8Array)) ||
      (typeof a.orgSignet === 'object' && a.orgSignet !== null) ||
      a.none === true);
  if (!ok) throw new TypeError('"anchor" expected { poks: Uint8Array[] }, { orgSignet: Signet } or { none: true }');
}

/** The org keys allowed to sign user signets: the POK and every SOK with the signets permission. */
function userSignetKeys(orgSignet: Signet): Uint8Array[] | undefined {
  checkSignet(orgSignet, 'anchor.orgSignet');
  const state = signetStructureState(orgSignet);
  if (orgSignet.type !== 'org' || (state !== 'CRYPTO' && state !== 'FULL' && state !== 'ID')) return undefined;
  const soks = signetSoks(orgSignet)
    .filter((sok) => (sok.permissions & SokPermission.SIGNETS) !== 0)
    .map((sok) => sok.key);
  return [signetSigningKey(orgSignet), ...soks];
}

export function validateSignet(signet: Signet, anchor: SignetAnchor, options: ValidateSignetOptions = {}): SignetState {
  checkSignet(signet);
  checkAnchor(anchor);
  if (options.previous !== undefined) checkSignet(options.previous, 'options.previous');
  const structure = signetStructureState(signet);
  if (structure === 'MALFORMED' || structure === 'OVERFLOW' || structure === 'INCOMPLETE') return structure;

  if (signet.type === 'ssr') {
    if (!verifiesWithAny(signet, SignetFid.USER_SSR_SIG, [signetSigningKey(signet)])) return 'INVALID';
    return custodyHolds(signet, options.previous) ? 'SSR' : 'BROKEN_COC';
  }

  if (signet.type === 'org') {
    const pok = signetSigningKey(signet);
    if ('orgSignet' in anchor) return 'INVALID';
    if ('poks' in anchor && !anchor.poks.some((k) => bytesEqual(k, pok))) return 'INVALID';
    return signatureChain(signet, structure, SignetFid.ORG_CRYPTO_SIG, [pok]);
  }

  let keys: readonly Uint8Array[] | undefined;
  if ('orgSignet' in anchor) keys = userSignetKeys(anchor.orgSignet);
  else if ('poks' in anchor) keys = anchor.poks;
  if (!keys) return 'INVALID';
  const result = signatureChain(signet, structure, SignetFid.USER_CRYPTO_SIG, keys);
  if (result === 'INVALID') return result;
  return custodyHolds(signet, options.previous) ? result : 'BROKEN_COC';
}

/**
 * validateSignet for untrusted input (binary or PEM): unparseable input is MALFORMED, input larger
 * than libdime's SIGNET_MAX_SIZE is OVERFLOW.
 */
export function validateSignetBytes(input: Uint8Array | string, anchor: SignetAnchor, options: ValidateSignetOptions = {}): SignetState {
  checkAnchor(anchor);
  let signet: Signet;
  try {
    const bytes = decodeObjectInput(input, SIGNET_TAGS);
    if (bytes.length > SIGNET_MAX_SIZE) return 'OVERFLOW';
    signet = parseSignet(bytes);
  } catch (err) {
    if (err instanceof DimeError) return 'MALFORMED';
    throw err;
  }
  return validateSignet(signet, anchor, options);
}
