import { readVectorText } from '../../../../test/vectors';
import { base64NoPad } from '../base64';
import { DimeError } from '../dime.error';
import { ed25519Generate, secp256k1Generate } from '../primitives';
import { InMemorySigner } from '../signer';
import { ORG_SIGNET_CHAIN_FIELDS, orgSignetChainFields, orgSignetChainLink } from './signet-chain';
import { parseSignet, readSignet, serializeSignet } from './signet-codec';
import { SignetFid } from './signet-field.table';
import { addSignetFields, removeSignetField, setSignetId, signetSigningKey } from './signet-fields';
import { createOrgSignet, fullSign, idSign } from './signet-sign';
import { validateSignet } from './signet-validate';
import type { Signet } from './signet';

const oldPok = new InMemorySigner(ed25519Generate().seed);
const newPok = new InMemorySigner(ed25519Generate().seed);
const encryptionPublicKey = secp256k1Generate().publicKey;

async function rotatedSignet(link = orgSignetChainFields(oldPok.publicKey, oldPok.signSync(newPok.publicKey))): Promise<Signet> {
  let signet = await createOrgSignet({ pok: newPok, encryptionPublicKey });
  signet = addSignetFields(signet, link);
  signet = await fullSign(signet, newPok);
  return idSign(setSignetId(signet, 'example.org'), newPok);
}

describe('org signet chain link (Previous-POK fields)', () => {
  it('verifies with the old POK, and the signet still validates to ID with the new POK', async () => {
    const signet = await rotatedSignet();
    expect(orgSignetChainLink(signet, oldPok.publicKey)).toBe('valid');
    expect(validateSignet(signet, { poks: [newPok.publicKey] })).toBe('ID');
    expect(validateSignet(signet, { poks: [oldPok.publicKey] })).toBe('INVALID');
  });

  it('puts both fid-251 fields after the crypto signature and before the full signature, and survives a serialize/parse round trip', async () => {
    const signet = await rotatedSignet();
    const fids = signet.fields.map((f) => f.fid);
    expect(fids).toEqual([SignetFid.SIGNING_KEY, SignetFid.ORG_ENCRYPTION_KEY, SignetFid.ORG_CRYPTO_SIG, 251, 251, SignetFid.FULL_SIG, SignetFid.ID, SignetFid.ID_SIG]);
    expect(signet.fields.filter((f) => f.fid === 251).map((f) => f.name)).toEqual([ORG_SIGNET_CHAIN_FIELDS.previousPok, ORG_SIGNET_CHAIN_FIELDS.previousPokSignature]);
    const reparsed = parseSignet(serializeSignet(signet));
    expect(orgSignetChainLink(reparsed, oldPok.publicKey)).toBe('valid');
    expect(validateSignet(reparsed, { poks: [newPok.publicKey] })).toBe('ID');
  });

  it('stores the values as unpadded base64 text (43 and 86 characters)', () => {
    const [pok, sig] = orgSignetChainFields(oldPok.publicKey, oldPok.signSync(newPok.publicKey));
    expect(pok?.data).toBe(base64NoPad(oldPok.publicKey));
    expect(pok?.data).toHaveLength(43);
    expect(sig?.data).toHaveLength(86);
  });

  it('is absent on a signet without the fields (the libdime vectors)', () => {
    const vector = readSignet(readVectorText('org-origin.signet'));
    expect(orgSignetChainLink(vector, oldPok.publicKey)).toBe('absent');
  });

  it('is invalid for another old POK than the one named', async () => {
    const signet = await rotatedSignet();
    expect(orgSignetChainLink(signet, ed25519Generate().publicKey)).toBe('invalid');
    expect(orgSignetChainLink(signet, newPok.publicKey)).toBe('invalid');
  });

  it('is invalid when the old POK signed a different key, or the signature is over the signet instead', async () => {
    const other = ed25519Generate().publicKey;
    expect(orgSignetChainLink(await rotatedSignet(orgSignetChainFields(oldPok.publicKey, oldPok.signSync(other))), oldPok.publicKey)).toBe('invalid');
    const signet = await createOrgSignet({ pok: newPok, encryptionPublicKey });
    const overSignet = oldPok.signSync(serializeSignet(signet).subarray(5));
    expect(orgSignetChainLink(await rotatedSignet(orgSignetChainFields(oldPok.publicKey, overSignet)), oldPok.publicKey)).toBe('invalid');
  });

  it('is invalid when a field is missing, repeated or not base64 of the right length', async () => {
    const signet = await rotatedSignet();
    expect(orgSignetChainLink(removeSignetField(signet, 251, ORG_SIGNET_CHAIN_FIELDS.previousPokSignature), oldPok.publicKey)).toBe('invalid');
    expect(orgSignetChainLink(removeSignetField(signet, 251, ORG_SIGNET_CHAIN_FIELDS.previousPok), oldPok.publicKey)).toBe('invalid');
    const twice = addSignetFields(signet, [{ fid: 251, name: ORG_SIGNET_CHAIN_FIELDS.previousPok, data: base64NoPad(oldPok.publicKey) }]);
    expect(orgSignetChainLink(twice, oldPok.publicKey)).toBe('invalid');
    const [pokField, sigField] = orgSignetChainFields(oldPok.publicKey, oldPok.signSync(newPok.publicKey));
    for (const bad of ['', '*'.repeat(86), base64NoPad(Buffer.alloc(63))]) {
      expect(orgSignetChainLink(await rotatedSignet([pokField!, { ...sigField!, data: bad }]), oldPok.publicKey)).toBe('invalid');
    }
    expect(orgSignetChainLink(await rotatedSignet([{ ...pokField!, data: base64NoPad(Buffer.alloc(31)) }, sigField!]), oldPok.publicKey)).toBe('invalid');
  });

  it('adding the fields after the full signature breaks the signet (they must precede 253)', async () => {
    let signet = await createOrgSignet({ pok: newPok, encryptionPublicKey });
    signet = await idSign(setSignetId(await fullSign(signet, newPok), 'example.org'), newPok);
    const late = addSignetFields(signet, orgSignetChainFields(oldPok.publicKey, oldPok.signSync(newPok.publicKey)));
    expect(orgSignetChainLink(late, oldPok.publicKey)).toBe('valid');
    expect(validateSignet(late, { poks: [newPok.publicKey] })).toBe('INVALID');
    expect(signetSigningKey(late).equals(Buffer.from(newPok.publicKey))).toBe(true);
  });

  it('rejects user signets (WRONG_TYPE), bad key lengths (BAD_KEY) and non-signets (TypeError)', async () => {
    const user = readSignet(readVectorText('user-author.signet'));
    expect(() => orgSignetChainLink(user, oldPok.publicKey)).toThrow(expect.objectContaining({ code: 'WRONG_TYPE' }));
    const signet = await rotatedSignet();
    expect(() => orgSignetChainLink(signet, new Uint8Array(31))).toThrow(DimeError);
    expect(() => orgSignetChainLink(signet, 'key' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => orgSignetChainLink({} as Signet, oldPok.publicKey)).toThrow(TypeError);
    expect(() => orgSignetChainFields(oldPok.publicKey, new Uint8Array(63))).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
  });
});
