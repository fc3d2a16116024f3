// Keystore against a real SoftHSM2 token created for this file: key generation for every role,
// non-extractability, and each operation checked against node:crypto as the software peer.
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import * as pkcs11 from 'pkcs11js';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';
import { RedactedSecret } from './hsm.config';
import { HsmError } from './hsm.error';
import { ALL_HSM_KEY_ROLES, HSM_KEY_ROLES, keyLabel } from './hsm-key-roles';
import { HsmKeystore } from './hsm-keystore';
import { ecdsaDerToRaw } from './ecdsa-signature';

jest.setTimeout(60_000);

let token: TestToken;
let keystore: HsmKeystore;

beforeAll(async () => {
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  for (const role of ALL_HSM_KEY_ROLES) await keystore.ensureKey(role);
});

afterAll(() => {
  keystore?.close();
  token?.cleanup();
});

const secretRoles = ALL_HSM_KEY_ROLES.filter((r) => ['aes', 'hmac-sha256'].includes(HSM_KEY_ROLES[r].algorithm.type));
const pairRoles = ALL_HSM_KEY_ROLES.filter((r) => !secretRoles.includes(r));

describe('key generation', () => {
  it('creates one key per role, labelled <base>.v1', async () => {
    expect(await keystore.listKeyLabels()).toEqual(ALL_HSM_KEY_ROLES.map((r) => keyLabel(r)).sort());
  });

  it('does not create a second key when ensureKey runs again', async () => {
    const again = await keystore.ensureKey('org-primary');
    expect(again).toEqual({ label: 'dime-org-pok.v1', created: false });
    await expect(keystore.generateKey('org-primary')).rejects.toMatchObject({ code: 'KEY_EXISTS' });
  });

  it.each(ALL_HSM_KEY_ROLES)('makes the %s key a sensitive, non-extractable token object', async (role) => {
    const cls = secretRoles.includes(role) ? 'secret' : 'private';
    expect(await keystore.keyAttributes(keyLabel(role), cls)).toEqual({
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      alwaysSensitive: true,
      neverExtractable: true,
    });
  });

  it.each(ALL_HSM_KEY_ROLES)('refuses to reveal CKA_VALUE of the %s key', async (role) => {
    const cls = secretRoles.includes(role) ? pkcs11.CKO_SECRET_KEY : pkcs11.CKO_PRIVATE_KEY;
    const valueAttr = HSM_KEY_ROLES[role].algorithm.type === 'rsa' ? pkcs11.CKA_PRIVATE_EXPONENT : pkcs11.CKA_VALUE;
    const attempt = keystore.pool.withSession('read value', (session) => {
      const p11 = keystore.pool.module;
      p11.C_FindObjectsInit(session, [
        { type: pkcs11.CKA_CLASS, value: cls },
        { type: pkcs11.CKA_LABEL, value: keyLabel(role) },
      ]);
      const handle = p11.C_FindObjects(session);
      p11.C_FindObjectsFinal(session);
      if (handle === null) throw new Error('key missing');
      return p11.C_GetAttributeValue(session, handle, [{ type: valueAttr }]);
    });
    await expect(attempt).rejects.toMatchObject({ name: 'HsmError', code: 'ATTRIBUTE_SENSITIVE' });
  });

  it.each(pairRoles)('exposes the %s public key as SPKI', async (role) => {
    const pub = await keystore.publicKey(keyLabel(role));
    expect(createPublicKey({ key: pub.spki, format: 'der', type: 'spki' }).equals(pub.keyObject)).toBe(true);
  });
});

describe('signing', () => {
  const message = Buffer.from('DIME gateway signs this');

  it('signs Ed25519 so that node:crypto verifies with the raw public key', async () => {
    const label = keyLabel('org-primary');
    const pub = await keystore.publicKey(label);
    expect(pub.raw).toHaveLength(32);
    const sig = await keystore.signEd25519(label, message);
    expect(sig).toHaveLength(64);
    const fromRaw = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.raw.toString('base64url') }, format: 'jwk' });
    expect(verify(null, message, fromRaw, sig)).toBe(true);
    expect(verify(null, Buffer.from('other'), fromRaw, sig)).toBe(false);
  });

  it('signs ECDSA P-256 in DER and raw forms, both verified through the SPKI', async () => {
    const label = keyLabel('audit-signing');
    const spki = createPublicKey({ key: (await keystore.publicKey(label)).spki, format: 'der', type: 'spki' });
    const der = await keystore.signEcdsa(label, message, 'der');
    expect(verify('sha256', message, spki, der)).toBe(true);
    const raw = await keystore.signEcdsa(label, message, 'raw');
    expect(raw).toHaveLength(64);
    expect(verify('sha256', message, { key: spki, dsaEncoding: 'ieee-p1363' }, raw)).toBe(true);
    expect(ecdsaDerToRaw(der, 32)).toHaveLength(64);
  });

  it('signs RSA PKCS#1 v1.5 SHA-256 with the TLS RSA key', async () => {
    const label = keyLabel('tls-rsa');
    const sig = await keystore.signRsaSha256(label, message);
    expect(verify('sha256', message, (await keystore.publicKey(label)).keyObject, sig)).toBe(true);
  });

  it('computes HMAC-SHA256 deterministically and per key', async () => {
    const label = keyLabel('blind-index');
    const a = await keystore.hmacSha256(label, Buffer.from('alice@example.org'));
    expect(a).toHaveLength(32);
    expect(await keystore.hmacSha256(label, Buffer.from('alice@example.org'))).toEqual(a);
    expect(await keystore.hmacSha256(label, Buffer.from('bob@example.org'))).not.toEqual(a);
  });

  it('rejects a label whose key is missing with KEY_NOT_FOUND', async () => {
    await expect(keystore.signEd25519(keyLabel('org-primary', 99), message)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
  });
});

describe('ECDH', () => {
  it('matches node createECDH on secp256k1 for compressed and uncompressed peers', async () => {
    const label = keyLabel('org-encryption');
    const own = await keystore.publicKey(label);
    const peer = createECDH('secp256k1');
    peer.generateKeys();
    const expected = peer.computeSecret(own.raw);
    expect(await keystore.deriveEcdh(label, peer.getPublicKey(null, 'compressed'))).toEqual(expected);
    expect(await keystore.deriveEcdh(label, peer.getPublicKey(null, 'uncompressed'))).toEqual(expected);
  });

  it('matches node diffieHellman on P-384 (escrow)', async () => {
    const label = keyLabel('escrow');
    const own = await keystore.publicKey(label);
    const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: own.keyObject });
    const peerPoint = Buffer.from(peer.publicKey.export({ format: 'der', type: 'spki' })).subarray(-97);
    const secret = await keystore.deriveEcdh(label, peerPoint);
    expect(secret).toHaveLength(48);
    expect(secret).toEqual(expected);
  });

  it('refuses a peer key that is not on the curve with INVALID_INPUT', async () => {
    const bogus = Buffer.concat([Buffer.from([0x02]), Buffer.alloc(32, 0xff)]); // x >= p
    await expect(keystore.deriveEcdh(keyLabel('org-encryption'), bogus)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('leaves no derived secret objects behind', async () => {
    await keystore.deriveEcdh(keyLabel('org-encryption'), createECDH('secp256k1').generateKeys());
    const leftovers = await keystore.pool.withSession('count', (session) => {
      const p11 = keystore.pool.module;
      p11.C_FindObjectsInit(session, [{ type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY }, { type: pkcs11.CKA_TOKEN, value: false }]);
      const found = p11.C_FindObjects(session, 100);
      p11.C_FindObjectsFinal(session);
      return found.length;
    });
    expect(leftovers).toBe(0);
  });
});

describe('key wrap', () => {
  const kek = keyLabel('user-kek');

  it.each([1, 7, 8, 32, 64, 65, 1000])('round-trips %i bytes of key material', async (length) => {
    const material = randomBytes(length);
    const wrapped = await keystore.wrap(kek, material);
    expect(wrapped.length % 8).toBe(0);
    if (length >= 8) expect(wrapped.includes(material)).toBe(false);
    expect(await keystore.unwrap(kek, wrapped)).toEqual(material);
  });

  it('rejects tampered wrapped data with INVALID_INPUT', async () => {
    const wrapped = await keystore.wrap(kek, randomBytes(64));
    wrapped[5] = (wrapped[5] ?? 0) ^ 1;
    await expect(keystore.unwrap(kek, wrapped)).rejects.toMatchObject({ name: 'HsmError', code: 'INVALID_INPUT' });
  });

  it('rejects a programmer error (string input) with TypeError', async () => {
    await expect(keystore.wrap(kek, 'secret' as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('concurrency', () => {
  it('runs many mixed operations over the session pool without errors', async () => {
    const ops: Array<Promise<unknown>> = [];
    for (let i = 0; i < 50; i++) {
      ops.push(keystore.signEd25519(keyLabel('org-primary'), Buffer.from([i])));
      ops.push(keystore.hmacSha256(keyLabel('blind-index'), Buffer.from([i])));
      ops.push(keystore.wrap(keyLabel('user-kek'), randomBytes(40)));
    }
    const results = await Promise.all(ops);
    expect(results).toHaveLength(150);
  });
});

describe('rotation state storage', () => {
  it('stores and replaces CKO_DATA objects', async () => {
    expect(await keystore.readData('test-data')).toBeNull();
    await keystore.writeData('test-data', Buffer.from('one'));
    await keystore.writeData('test-data', Buffer.from('two'));
    expect((await keystore.readData('test-data'))?.toString()).toBe('two');
  });
});

describe('errors', () => {
  it('translates a wrong PIN into PIN_INCORRECT', () => {
    keystore.close();
    const wrong = token.config({ pin: new RedactedSecret('not-the-pin') });
    try {
      HsmKeystore.open(wrong);
      throw new Error('opened with a wrong PIN');
    } catch (error) {
      expect(error).toBeInstanceOf(HsmError);
      expect((error as HsmError).code).toBe('PIN_INCORRECT');
    }
    keystore = HsmKeystore.open(token.config());
  });

  it('reports an unknown token label as TOKEN_NOT_FOUND', () => {
    keystore.close();
    expect(() => HsmKeystore.open(token.config({ tokenLabel: 'no-such-token' }))).toThrow(expect.objectContaining({ code: 'TOKEN_NOT_FOUND' }));
    keystore = HsmKeystore.open(token.config());
  });
});
