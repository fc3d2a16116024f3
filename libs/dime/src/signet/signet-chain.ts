// The org signet chain across a POK rotation (project extension, docs/hsm.md "Rotation"): libdime has
// no org custody field, so the new org signet carries two undefined/named fields (fid 251, DIGEST.md
// §2 and §4.1), which libdime parses and covers by the full/ID signatures like any other field:
//   Previous-POK            = base64 (no padding) of the previous raw 32-byte POK
//   Previous-POK-Signature  = base64 (no padding) of the previous POK's Ed25519 signature over the
//                             NEW raw 32-byte POK (field 1 without its 0x40 prefix)
// The link says "the old POK vouches for the new POK"; the new POK signs the signet itself, so a
// verifier holding only the old POK reaches the new signet's keys in two steps. Signing the raw key
// (not the signet) keeps the link reproducible after the old private key is destroyed.
import { assertBytes } from '../bytes';
import { base64NoPad, decodeBase64 } from '../base64';
import { DimeError } from '../dime.error';
import { ED25519_PUBLIC_LENGTH, ED25519_SIGNATURE_LENGTH, ed25519Verify } from '../primitives';
import { SignetFid } from './signet-field.table';
import { checkSignet, type Signet } from './signet';
import { signetSigningKey, type SignetFieldInput } from './signet-fields';

/** Names of the two fid-251 fields that link an org signet to its predecessor's POK. */
export const ORG_SIGNET_CHAIN_FIELDS = Object.freeze({ previousPok: 'Previous-POK', previousPokSignature: 'Previous-POK-Signature' } as const);

/** 'absent': no chain fields; 'invalid': present but not a valid link from this old POK. */
export type OrgSignetChainLink = 'valid' | 'invalid' | 'absent';

function checkPublicKey(key: unknown, name: string): asserts key is Uint8Array {
  assertBytes(key, name);
  if ((key as Uint8Array).length !== ED25519_PUBLIC_LENGTH) throw new DimeError('BAD_KEY', `${name}: Ed25519 public key must be 32 bytes`);
}

/**
 * The fid-251 fields to add to a new org signet (before its full and ID signatures) given the
 * previous raw POK and its signature over the new raw POK.
 */
export function orgSignetChainFields(previousPok: Uint8Array, signatureOverNewPok: Uint8Array): SignetFieldInput[] {
  checkPublicKey(previousPok, 'previousPok');
  assertBytes(signatureOverNewPok, 'signatureOverNewPok');
  if (signatureOverNewPok.length !== ED25519_SIGNATURE_LENGTH) throw new DimeError('MALFORMED', 'signatureOverNewPok: Ed25519 signature must be 64 bytes');
  return [
    { fid: SignetFid.UNDEFINED, name: ORG_SIGNET_CHAIN_FIELDS.previousPok, data: base64NoPad(previousPok) },
    { fid: SignetFid.UNDEFINED, name: ORG_SIGNET_CHAIN_FIELDS.previousPokSignature, data: base64NoPad(signatureOverNewPok) },
  ];
}

function namedValues(signet: Signet, name: string): string[] {
  return signet.fields.filter((f) => f.fid === SignetFid.UNDEFINED && f.name === name).map((f) => f.data.toString('latin1'));
}

function decodeExact(text: string, length: number): Buffer | undefined {
  try {
    const bytes = decodeBase64(text, 'chain field');
    return bytes.length === length ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Does this org signet link to oldPok? Checks only the link (old POK signed the signet's POK);
 * validate the signet itself against its new POK (validateSignet) as well: that is what makes the
 * chain fields part of the signed signet.
 */
export function orgSignetChainLink(newSignet: Signet, oldPok: Uint8Array): OrgSignetChainLink {
  checkSignet(newSignet, 'newSignet');
  checkPublicKey(oldPok, 'oldPok');
  if (newSignet.type !== 'org') throw new DimeError('WRONG_TYPE', `expected an org signet, got a ${newSignet.type} signet`);
  const poks = namedValues(newSignet, ORG_SIGNET_CHAIN_FIELDS.previousPok);
  const signatures = namedValues(newSignet, ORG_SIGNET_CHAIN_FIELDS.previousPokSignature);
  if (poks.length === 0 && signatures.length === 0) return 'absent';
  if (poks.length !== 1 || signatures.length !== 1) return 'invalid';
  const previous = decodeExact(poks[0] as string, ED25519_PUBLIC_LENGTH);
  const signature = decodeExact(signatures[0] as string, ED25519_SIGNATURE_LENGTH);
  if (previous === undefined || signature === undefined || !previous.equals(oldPok)) return 'invalid';
  let newPok: Buffer;
  try {
    newPok = signetSigningKey(newSignet);
  } catch (error) {
    if (error instanceof DimeError) return 'invalid';
    throw error;
  }
  return ed25519Verify(oldPok, newPok, signature) ? 'valid' : 'invalid';
}
