// Rotation of the org POK and a TLS key in a real SoftHSM2 token: new versioned key, old one
// usable during the overlap, custody signature by the old POK, expiry destroys the old private key.
import { createPublicKey, verify } from 'node:crypto';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';
import { keyLabel } from './hsm-key-roles';
import { HsmKeystore } from './hsm-keystore';
import { HsmKeyRotation } from './hsm-rotation';

jest.setTimeout(60_000);

let token: TestToken;
let keystore: HsmKeystore;
let now = new Date('2026-01-01T00:00:00Z');
let rotation: HsmKeyRotation;

beforeAll(async () => {
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config());
  await keystore.ensureKey('org-primary');
  await keystore.ensureKey('tls-ecdsa');
  rotation = new HsmKeyRotation(keystore, () => now);
});

afterAll(() => {
  keystore?.close();
  token?.cleanup();
});

it('starts at version 1 before any rotation', async () => {
  expect(await rotation.currentLabel('org-primary')).toBe('dime-org-pok.v1');
});

it('rotates the POK: v2 becomes current, v1 stays usable for the overlap, v1 signs v2 (custody)', async () => {
  const state = await rotation.rotate('org-primary', 86_400);
  expect(state.current).toBe(2);
  expect(await rotation.currentLabel('org-primary')).toBe('dime-org-pok.v2');
  expect(await rotation.usableLabels('org-primary')).toEqual(['dime-org-pok.v2', 'dime-org-pok.v1']);
  const v1 = await keystore.publicKey(keyLabel('org-primary', 1));
  const v2 = await keystore.publicKey(keyLabel('org-primary', 2));
  const custody = Buffer.from(state.versions[1]?.custodySignature ?? '', 'base64');
  const v1Key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: v1.raw.toString('base64url') }, format: 'jwk' });
  expect(verify(null, v2.raw, v1Key, custody)).toBe(true);
});

it('keeps the state in the token, so a second keystore sees the same current key', async () => {
  const other = new HsmKeyRotation(keystore, () => now);
  expect((await other.state('org-primary')).current).toBe(2);
});

it('destroys the old private key after the overlap and keeps its public key', async () => {
  expect(await rotation.retireExpired('org-primary')).toEqual([]);
  now = new Date(now.getTime() + 86_400_000 + 1000);
  expect(await rotation.retireExpired('org-primary')).toEqual(['dime-org-pok.v1']);
  expect(await rotation.usableLabels('org-primary')).toEqual(['dime-org-pok.v2']);
  expect(await keystore.hasObject('dime-org-pok.v1', 'private')).toBe(false);
  expect(await keystore.hasObject('dime-org-pok.v1', 'public')).toBe(true);
});

it('rotates a TLS key the same way and refuses roles without a rotation procedure', async () => {
  const state = await rotation.rotate('tls-ecdsa', 3600);
  expect(state.current).toBe(2);
  expect(await keystore.signEcdsa(keyLabel('tls-ecdsa', 2), Buffer.from('x'))).toBeInstanceOf(Buffer);
  await expect(rotation.rotate('user-kek', 0)).rejects.toBeInstanceOf(RangeError);
});
