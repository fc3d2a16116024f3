// Readiness and recovery against a real SoftHSM2 token: lost sessions, lost login, and a token
// whose storage disappears and comes back, all without restarting the process.
import { renameSync } from 'node:fs';
import * as pkcs11 from 'pkcs11js';
import { createTestToken, setRealEnv, useTokenInThisProcess, type TestToken } from '../../../test/hsm/softhsm-token';
import { keyLabel } from './hsm-key-roles';
import { HsmHealthCheck } from './hsm-health';
import { HsmKeystore } from './hsm-keystore';

jest.setTimeout(60_000);

let token: TestToken;
let keystore: HsmKeystore;
let health: HsmHealthCheck;
const pok = keyLabel('org-primary');

/** A second, independent PKCS#11 handle on the same module: plays "someone else" in the process. */
function intruder(): { p11: pkcs11.PKCS11; session: Buffer } {
  const p11 = new pkcs11.PKCS11();
  p11.load(token.modulePath);
  try {
    p11.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK });
  } catch {
    // already initialised by the keystore: same library instance
  }
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trimEnd() === token.tokenLabel);
  if (slot === undefined) throw new Error('token not visible');
  return { p11, session: p11.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION) };
}

beforeAll(async () => {
  token = createTestToken();
  await useTokenInThisProcess(token);
  keystore = HsmKeystore.open(token.config({ reinitializeOnLoss: true, sessions: 2 }));
  await keystore.ensureKey('org-primary');
  health = new HsmHealthCheck(keystore, { probeLabel: pok });
});

afterAll(() => {
  keystore?.close();
  token?.cleanup();
});

it('is ready with a present, logged-in token', async () => {
  const readiness = await health.check();
  expect(readiness).toMatchObject({ ready: true, recovered: false, status: { tokenLabel: token.tokenLabel, loggedIn: true } });
});

it('re-opens sessions closed under it and the next operation still succeeds', async () => {
  await keystore.signEd25519(pok, Buffer.from('warm'));
  const other = intruder();
  other.p11.C_CloseAllSessions(keystore.pool.slotId);
  const generation = keystore.pool.generation;
  const signature = await keystore.signEd25519(pok, Buffer.from('after the sessions were closed'));
  expect(signature).toHaveLength(64);
  expect(keystore.pool.generation).toBeGreaterThan(generation);
});

it('fails readiness when the login is lost, then recovers by logging in again', async () => {
  const other = intruder();
  other.p11.C_Logout(other.session); // PKCS#11 login state is per application: this logs us out too
  other.p11.C_CloseSession(other.session);
  const probe = keystore.pool.status();
  await expect(probe).rejects.toMatchObject({ code: 'NOT_LOGGED_IN' });
  const readiness = await health.check();
  expect(readiness).toMatchObject({ ready: true, recovered: true });
  expect(await keystore.signEd25519(pok, Buffer.from('x'))).toHaveLength(64);
});

it('signs again after a lost login without a readiness check in between', async () => {
  const other = intruder();
  other.p11.C_Logout(other.session);
  other.p11.C_CloseSession(other.session);
  expect(await keystore.signEd25519(pok, Buffer.from('retry after re-login'))).toHaveLength(64);
});

it('fails readiness with TOKEN_NOT_PRESENT when the token storage disappears, and recovers when it returns', async () => {
  const moved = `${token.tokenDir}.away`;
  renameSync(token.tokenDir, moved);
  try {
    const down = await health.check();
    expect(down.ready).toBe(false);
    expect(['TOKEN_NOT_PRESENT', 'TOKEN_NOT_FOUND']).toContain(down.code);
    await expect(keystore.signEd25519(pok, Buffer.from('no token'))).rejects.toMatchObject({ name: 'HsmError' });
    const stillDown = await health.check();
    expect(stillDown).toMatchObject({ ready: false, code: 'TOKEN_NOT_PRESENT' });
  } finally {
    renameSync(moved, token.tokenDir);
  }
  const up = await health.check();
  expect(up).toMatchObject({ ready: true });
  expect(await keystore.signEd25519(pok, Buffer.from('back'))).toHaveLength(64);
});

it('refuses to open a token that is not there with TOKEN_NOT_FOUND (SOFTHSM2_CONF pointing elsewhere)', async () => {
  keystore.close();
  const empty = createTestToken({ init: false });
  try {
    await setRealEnv('SOFTHSM2_CONF', empty.softhsmConf);
    expect(() => HsmKeystore.open(token.config())).toThrow(expect.objectContaining({ code: 'TOKEN_NOT_FOUND' }));
  } finally {
    empty.cleanup();
    await useTokenInThisProcess(token);
    keystore = HsmKeystore.open(token.config({ reinitializeOnLoss: true }));
  }
});
