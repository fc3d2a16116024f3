import { readVector, readVectorText, vectorHex } from '../../../../test/vectors';
import { DimeError } from '../dime.error';
import { ed25519Generate, secp256k1Generate } from '../primitives';
import { InMemorySigner, type Signer } from '../signer';
import { armorSignet, readSignet, serializeSignet } from './signet-codec';
import {
  addSignetFields,
  removeSignetField,
  setSignetField,
  setSignetId,
  signetFieldText,
  signetNamedField,
  SokPermission,
} from './signet-fields';
import { createOrgSignet, createSsr, fullSign, idSign, signSsr } from './signet-sign';
import { splitSignet } from './signet-split';
import { validateSignet } from './signet-validate';

const originPok = new InMemorySigner(vectorHex('org-origin.ed25519.seed'));
const destinationPok = new InMemorySigner(vectorHex('org-destination.ed25519.seed'));

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DimeError) return err.code;
    throw err;
  }
  return 'no error';
}

function freshSigner(): InMemorySigner {
  return new InMemorySigner(ed25519Generate().seed);
}

/** Org signet as the vectors' generator built it: crypto part, Name, Website, X-Comment, full, id. */
async function buildOrgSignet(who: 'origin' | 'destination', pok: Signer): Promise<ReturnType<typeof readSignet>> {
  const crypto = await createOrgSignet({
    pok,
    encryptionPublicKey: vectorHex(`org-${who}.secp256k1.public_compressed`),
    soks: who === 'origin' ? [{ permissions: 0x03, key: vectorHex('org-origin.sok1.ed25519.public') }] : [],
  });
  const reference = readSignet(readVectorText(`org-${who}.signet`));
  const filled = addSignetFields(crypto, [
    { fid: 16, data: signetFieldText(reference, 16) as string },
    { fid: 160, data: signetFieldText(reference, 160) as string },
    { fid: 251, name: 'X-Comment', data: 'test vector ok' },
  ]);
  return idSign(setSignetId(await fullSign(filled, pok), `${who}.example`), pok);
}

describe('creating org signets', () => {
  it('reproduces the crypto-only origin org signet byte for byte from its keys', async () => {
    const signet = await createOrgSignet({
      pok: originPok,
      encryptionPublicKey: vectorHex('org-origin.secp256k1.public_compressed'),
      soks: [{ permissions: SokPermission.SIGNETS | SokPermission.MESSAGES, key: vectorHex('org-origin.sok1.ed25519.public') }],
    });
    expect(serializeSignet(signet).equals(readVector('org-origin-crypto-only.signet.bin'))).toBe(true);
  });

  it.each([
    ['origin', originPok],
    ['destination', destinationPok],
  ] as const)('reproduces the final %s org signet byte for byte (fields, full, id, ID signature)', async (who, pok) => {
    const signet = await buildOrgSignet(who, pok);
    expect(armorSignet(signet)).toBe(readVectorText(`org-${who}.signet`));
  });

  it('builds from scratch an org signet that validates to ID', async () => {
    const pok = freshSigner();
    let signet = await createOrgSignet({ pok, encryptionPublicKey: secp256k1Generate().publicKey });
    expect(validateSignet(signet, { poks: [pok.publicKey] })).toBe('CRYPTO');
    signet = setSignetField(signet, 16, 'Ünïcode Org');
    signet = setSignetField(signet, 160, 'https://example.net/');
    signet = setSignetField(signet, 251, 'v1', 'X-Policy');
    signet = await fullSign(signet, pok);
    expect(validateSignet(signet, { poks: [pok.publicKey] })).toBe('FULL');
    signet = await idSign(setSignetId(signet, 'example.net'), pok);
    expect(validateSignet(signet, { poks: [pok.publicKey] })).toBe('ID');
    expect(validateSignet(readSignet(armorSignet(signet)), { poks: [pok.publicKey] })).toBe('ID');
    expect(signetFieldText(signet, 16)).toBe('Ünïcode Org');
    expect(signetNamedField(signet, 'X-Policy')?.toString()).toBe('v1');
  });

  it('refuses to full- or id-sign an org signet with a key other than its POK (BAD_KEY)', async () => {
    const crypto = readSignet(readVectorText('org-origin-crypto-only.signet'));
    expect(await rejection(fullSign(crypto, destinationPok))).toBe('BAD_KEY');
    expect(await rejection(idSign(crypto, destinationPok))).toBe('BAD_KEY');
  });

  it('refuses an ID signature without the identifier or full signature (MISSING_FIELD), as libdime', async () => {
    const crypto = readSignet(readVectorText('org-origin-crypto-only.signet'));
    expect(await rejection(idSign(crypto, originPok))).toBe('MISSING_FIELD');
    expect(await rejection(idSign(setSignetId(crypto, 'origin.example'), originPok))).toBe('MISSING_FIELD');
    expect(await rejection(idSign(await fullSign(crypto, originPok), originPok))).toBe('MISSING_FIELD');
  });

  it('rejects an invalid encryption key or SOK (BAD_KEY) and bad permissions (RangeError)', async () => {
    for (const bad of [Buffer.alloc(33, 5), Buffer.from(`02${'00'.repeat(32)}`, 'hex'), Buffer.alloc(32, 2)]) {
      expect(await rejection(createOrgSignet({ pok: originPok, encryptionPublicKey: bad }))).toBe('BAD_KEY');
    }
    const encryptionPublicKey = secp256k1Generate().publicKey;
    expect(await rejection(createOrgSignet({ pok: originPok, encryptionPublicKey, soks: [{ permissions: 1, key: Buffer.alloc(31) }] }))).toBe('BAD_KEY');
    await expect(createOrgSignet({ pok: originPok, encryptionPublicKey, soks: [{ permissions: 256, key: Buffer.alloc(32) }] })).rejects.toThrow(RangeError);
    await expect(createOrgSignet({ pok: {} as Signer, encryptionPublicKey })).rejects.toThrow(TypeError);
  });
});

describe('SSRs and user signets', () => {
  it('reproduces the author SSR byte for byte from the user keys', async () => {
    const ssr = await createSsr({
      signer: new InMemorySigner(vectorHex('user-author.ed25519.seed')),
      encryptionPublicKey: vectorHex('user-author.secp256k1.public_compressed'),
    });
    expect(ssr.type).toBe('ssr');
    expect(serializeSignet(ssr).equals(readVector('user-author.ssr.bin'))).toBe(true);
  });

  it.each([
    ['author', 'origin', originPok, 'alice@origin.example'],
    ['recipient', 'destination', destinationPok, 'bob@destination.example'],
  ] as const)('reproduces the %s user signet byte for byte from its SSR and the %s POK', async (who, _org, pok, address) => {
    const reference = readSignet(readVectorText(`user-${who}.signet`));
    let signet = await signSsr(readSignet(readVectorText(`user-${who}.ssr`)), pok);
    expect(signet.type).toBe('user');
    signet = setSignetField(signet, 16, signetFieldText(reference, 16) as string);
    signet = await idSign(setSignetId(await fullSign(signet, pok), address), pok);
    expect(armorSignet(signet)).toBe(readVectorText(`user-${who}.signet`));
  });

  it('keeps the SSR as a byte prefix of the crypto-signed user signet (type flip only)', async () => {
    const ssrBin = readVector('user-author.ssr.bin');
    const user = serializeSignet(await signSsr(readSignet(ssrBin), originPok));
    expect(user.readUInt16BE(0)).toBe(1789);
    expect(user.subarray(5, ssrBin.length).equals(ssrBin.subarray(5))).toBe(true);
    expect(user.subarray(ssrBin.length)).toHaveLength(65);
  });

  it('builds a user signet from scratch that validates to ID against its org signet', async () => {
    const pok = freshSigner();
    const org = await createOrgSignet({ pok, encryptionPublicKey: secp256k1Generate().publicKey });
    const userKey = freshSigner();
    const ssr = await createSsr({
      signer: userKey,
      encryptionPublicKey: secp256k1Generate().publicKey,
      alternateEncryptionKeys: [secp256k1Generate().publicKey, secp256k1Generate().publicKey],
    });
    expect(validateSignet(ssr, { none: true })).toBe('SSR');
    let user = await signSsr(ssr, pok);
    expect(validateSignet(user, { orgSignet: org })).toBe('CRYPTO');
    user = addSignetFields(user, [
      { fid: 16, data: 'Carol' },
      { fid: 21, data: '+1 555 0100' },
      { fid: 21, data: '+1 555 0101' },
      { fid: 202, data: 'endorsed' },
    ]);
    user = await idSign(setSignetId(await fullSign(user, pok), 'carol@example.net'), pok);
    expect(validateSignet(user, { orgSignet: org })).toBe('ID');
    expect(validateSignet(splitSignet(user, 'full'), { orgSignet: org })).toBe('FULL');
    expect(validateSignet(splitSignet(user, 'crypto'), { orgSignet: org })).toBe('CRYPTO');
  });

  it('lets a SOK with the signets permission sign user signets, not one without it', async () => {
    const pok = freshSigner();
    const signetSok = freshSigner();
    const messageSok = freshSigner();
    const org = await createOrgSignet({
      pok,
      encryptionPublicKey: secp256k1Generate().publicKey,
      soks: [
        { permissions: SokPermission.MESSAGES, key: messageSok.publicKey },
        { permissions: SokPermission.SIGNETS, key: signetSok.publicKey },
      ],
    });
    const ssr = await createSsr({ signer: freshSigner(), encryptionPublicKey: secp256k1Generate().publicKey });
    expect(validateSignet(await signSsr(ssr, signetSok), { orgSignet: org })).toBe('CRYPTO');
    expect(validateSignet(await signSsr(ssr, messageSok), { orgSignet: org })).toBe('INVALID');
  });

  it('refuses to sign an SSR that does not validate', async () => {
    const ssrBin = Buffer.from(readVector('user-author.ssr.bin'));
    ssrBin.writeUInt8(ssrBin.readUInt8(ssrBin.length - 1) ^ 1, ssrBin.length - 1);
    expect(await rejection(signSsr(readSignet(ssrBin), originPok))).toBe('BAD_SIGNATURE');
    expect(await rejection(signSsr(readSignet(readVector('org-origin.signet.bin')), originPok))).toBe('WRONG_TYPE');
  });

  it('signs a rotation SSR with the previous key (custody, field 4) and checks it', async () => {
    const oldKey = freshSigner();
    const pok = freshSigner();
    const org = await createOrgSignet({ pok, encryptionPublicKey: secp256k1Generate().publicKey });
    const previous = await signSsr(await createSsr({ signer: oldKey, encryptionPublicKey: secp256k1Generate().publicKey }), pok);
    const ssr = await createSsr({ signer: freshSigner(), encryptionPublicKey: secp256k1Generate().publicKey, custodySigner: oldKey });
    expect(ssr.fields.map((f) => f.fid)).toEqual([1, 2, 4, 5]);
    expect(validateSignet(ssr, { none: true }, { previous })).toBe('SSR');
    expect(validateSignet(ssr, { none: true })).toBe('BROKEN_COC');
    expect(await rejection(signSsr(ssr, pok))).toBe('BAD_SIGNATURE');
    const user = await signSsr(ssr, pok, { previous });
    expect(validateSignet(user, { orgSignet: org }, { previous })).toBe('CRYPTO');
    expect(validateSignet(user, { orgSignet: org })).toBe('BROKEN_COC');
    expect(validateSignet(user, { orgSignet: org }, { previous: user })).toBe('BROKEN_COC');
    expect(validateSignet(previous, { orgSignet: org }, { previous })).toBe('BROKEN_COC');
  });
});

describe('editing signed signets', () => {
  it('re-signing replaces the signature in place and keeps the fields above it', async () => {
    const org = readSignet(readVectorText('org-origin.signet'));
    const edited = setSignetField(org, 17, 'Somewhere 1');
    expect(validateSignet(edited, { poks: [originPok.publicKey] })).toBe('INVALID');
    const resigned = await fullSign(edited, originPok);
    expect(resigned.fields.map((f) => f.fid)).toEqual([1, 2, 3, 4, 16, 17, 160, 251, 253, 254, 255]);
    expect(validateSignet(resigned, { poks: [originPok.publicKey] })).toBe('INVALID'); // 255 is now stale
    expect(validateSignet(await idSign(resigned, originPok), { poks: [originPok.publicKey] })).toBe('ID');
  });

  it('replaces a unique field, a named field by name, and removes fields', () => {
    let org = readSignet(readVectorText('org-origin.signet'));
    org = setSignetField(org, 16, 'New Name');
    org = setSignetField(org, 251, 'B', 'X-Other');
    org = setSignetField(org, 251, 'changed', 'X-Comment');
    expect(org.fields.filter((f) => f.fid === 16)).toHaveLength(1);
    expect(org.fields.filter((f) => f.fid === 251).map((f) => [f.name, f.data.toString()])).toEqual([
      ['X-Other', 'B'],
      ['X-Comment', 'changed'],
    ]);
    org = removeSignetField(org, 251, 'X-Other');
    expect(org.fields.filter((f) => f.fid === 251).map((f) => f.name)).toEqual(['X-Comment']);
    expect(removeSignetField(org, 251).fields.some((f) => f.fid === 251)).toBe(false);
  });

  it('rejects undefined fids, a second unique field and oversized data', () => {
    const org = readSignet(readVectorText('org-origin.signet'));
    expect(() => setSignetField(org, 5, 'x')).toThrow(expect.objectContaining({ code: 'UNKNOWN_FIELD' }));
    expect(() => addSignetFields(org, [{ fid: 16, data: 'again' }])).toThrow(expect.objectContaining({ code: 'DUPLICATE_FIELD' }));
    expect(() => setSignetField(org, 16, Buffer.alloc(256))).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
    expect(() => setSignetField(org, 253, Buffer.alloc(63))).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    expect(setSignetField(org, 252, Buffer.alloc(70000)).fields.find((f) => f.fid === 252)?.data).toHaveLength(70000);
    expect(() => setSignetField(org, 251, 'no name')).toThrow(TypeError);
    expect(() => setSignetField(org, 16, 'x', 'name')).toThrow(TypeError);
    expect(() => setSignetField(org, 256, 'x')).toThrow(RangeError);
    expect(() => setSignetId(readSignet(readVectorText('user-author.ssr')), 'a@b')).toThrow(expect.objectContaining({ code: 'WRONG_TYPE' }));
  });
});
