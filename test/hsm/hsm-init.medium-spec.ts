// The token initialisation command as a real process (appliance/hsm-init.sh) on a fresh SoftHSM2
// directory: every key generated once, re-running reuses them, only non-secret files are written,
// and the DIME objects made through the HSM hold up: the org signet and a user signet validate to
// ID with the project's own `dime signet verify`, the _dx tls= signature matches the certificate,
// and a DIME message for the org opens as destination with the HSM-held org key.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemorySigner, createSsr, ed25519Generate, fullSign, idSign, openMessage, sealMessage, secp256k1Generate, setSignetId, signSsr, signetFingerprint, armorSignet, readSignet } from '@lib/dime';
import { HsmKeyAgreement, HsmKeystore, HsmSigner, keyLabel, RedactedSecret } from '@lib/hsm';
import { runDime } from '../dime-cli';
import { createTestToken, setRealEnv, type TestToken } from './softhsm-token';

jest.setTimeout(120_000);

let dir: TestToken;
let out: string;
let pinFile: string;
let firstRun: { tokenCreated: boolean; keys: Array<{ role: string; label: string; created: boolean }> };
let secondRun: typeof firstRun;

function runInit(): typeof firstRun {
  const stdout = execFileSync('bash', ['appliance/hsm-init.sh', '--domain', 'example.org', '--out', out, '--pin-file', pinFile, '--softhsm-dir', join(dir.dir, 'softhsm'), '--hostname', 'localhost'], {
    cwd: join(__dirname, '..', '..'),
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as typeof firstRun;
}

beforeAll(() => {
  dir = createTestToken({ init: false });
  out = join(dir.dir, 'out');
  pinFile = join(dir.dir, 'init.pin');
  firstRun = runInit();
  secondRun = runInit();
});

afterAll(() => dir?.cleanup());

it('creates the token and every key role on the first run', () => {
  expect(firstRun.tokenCreated).toBe(true);
  expect(firstRun.keys.map((k) => k.label).sort()).toEqual(
    ['dime-audit-signing.v1', 'dime-blind-index.v1', 'dime-escrow.v1', 'dime-org-encryption.v1', 'dime-org-pok.v1', 'dime-tls-ecdsa.v1', 'dime-tls-rsa.v1', 'dime-user-kek.v1'],
  );
  expect(firstRun.keys.every((k) => k.created)).toBe(true);
});

it('reuses the token and all keys when run again', () => {
  expect(secondRun.tokenCreated).toBe(false);
  expect(secondRun.keys.some((k) => k.created)).toBe(false);
});

it('writes the user PIN 0600 and never prints it; only public material lands in the output dir', () => {
  expect(statSync(pinFile).mode & 0o777).toBe(0o600);
  const pin = readFileSync(pinFile, 'utf8').trim();
  expect(JSON.stringify(firstRun)).not.toContain(pin);
  expect(readdirSync(out).sort()).toEqual(
    ['dx-record.txt', 'openssl-pkcs11.cnf', 'org.signet', 'public-keys.json', 'tls-ecdsa.cert.pem', 'tls-ecdsa.csr.pem', 'tls-rsa.cert.pem', 'tls-rsa.csr.pem'],
  );
  for (const file of readdirSync(out)) {
    const text = readFileSync(join(out, file), 'utf8');
    expect(text).not.toContain(pin);
    expect(text).not.toMatch(/PRIVATE KEY/);
  }
});

describe('DIME through the HSM', () => {
  let keystore: HsmKeystore;
  let pok: HsmSigner;
  let orgKeys: HsmKeyAgreement;

  beforeAll(async () => {
    await setRealEnv('SOFTHSM2_CONF', join(dir.dir, 'softhsm', 'softhsm2.conf'));
    keystore = HsmKeystore.open({
      modulePath: dir.modulePath,
      tokenLabel: 'dime-gateway',
      pin: new RedactedSecret(readFileSync(pinFile, 'utf8').trim()),
      sessions: 2,
      reinitializeOnLoss: false,
    });
    pok = await HsmSigner.create(keystore, keyLabel('org-primary'));
    orgKeys = await HsmKeyAgreement.create(keystore, keyLabel('org-encryption'));
  });

  afterAll(() => keystore?.close());

  it('an org signet signed by the HSM POK validates to ID with `dime signet verify`', () => {
    const r = runDime(['signet', 'verify', join(out, 'org.signet'), '--pok', Buffer.from(pok.publicKey).toString('base64')]);
    expect(r.status).toBe(0);
    expect(r.json<{ state: string; id: string }>()).toMatchObject({ state: 'ID', id: 'example.org' });
  });

  it('the _dx record tls= signature verifies against the served certificate', () => {
    const record = readFileSync(join(out, 'dx-record.txt'), 'utf8').replace(/^.*TXT /, '').trim().replace(/^"|"$/g, '').replace(/" "/g, '');
    const r = runDime(['record', 'verify-tls', record, '--cert', join(out, 'tls-ecdsa.cert.pem')]);
    expect(r.status).toBe(0);
  });

  it('a user signet whose SSR the HSM POK signs validates to ID against the org signet', async () => {
    // trustful mode: the user's keys are software keys stored wrapped under the HSM KEK
    const userSeed = ed25519Generate().seed;
    const wrapped = await keystore.wrap(keyLabel('user-kek'), userSeed);
    const user = new InMemorySigner(await keystore.unwrap(keyLabel('user-kek'), wrapped));
    const userEnc = secp256k1Generate();
    const ssr = await createSsr({ signer: user, encryptionPublicKey: userEnc.publicKey });
    let signet = await signSsr(ssr, pok);
    signet = await fullSign(signet, pok);
    signet = await idSign(setSignetId(signet, 'alice@example.org'), pok);
    const file = join(dir.dir, 'alice.signet');
    writeFileSync(file, armorSignet(signet));
    const r = runDime(['signet', 'verify', file, '--org', join(out, 'org.signet')]);
    expect(r.status).toBe(0);
    expect(r.json<{ state: string }>().state).toBe('ID');
  });

  it('a DIME message for the org opens as destination with the HSM-held org encryption key', async () => {
    const orgSignet = readSignet(readFileSync(join(out, 'org.signet')));
    const author = new InMemorySigner(ed25519Generate().seed);
    const authorEnc = secp256k1Generate();
    const recipientEnc = secp256k1Generate();
    const remoteOrgEnc = secp256k1Generate();
    const fp = signetFingerprint(orgSignet, 'crypto');
    const message = await sealMessage({
      author: { address: 'bob@origin.example', signetFingerprint: fp, encryptionKey: authorEnc.publicKey, signer: author },
      origin: { domain: 'origin.example', signetFingerprint: fp, encryptionKey: remoteOrgEnc.publicKey },
      destination: { domain: 'example.org', signetFingerprint: fp, encryptionKey: orgKeys.publicKey },
      recipient: { address: 'alice@example.org', signetFingerprint: fp, encryptionKey: recipientEnc.publicKey },
      commonHeaders: Buffer.from('Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nTo: alice@example.org\r\nFrom: bob@origin.example\r\nSubject: hello\r\n'),
      otherHeaders: Buffer.from('Message-ID: <1@origin.example>\r\n'),
      display: [Buffer.from('hello from the HSM test\r\n')],
    });
    const opened = await openMessage(message, { actor: 'destination', keys: orgKeys, strict: false });
    expect(opened.destination).toMatchObject({ recipient: 'alice@example.org' });
  });
});
