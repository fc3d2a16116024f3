// Key rotation as real processes on a fresh SoftHSM2 token: appliance/hsm-init.sh, then
// appliance/hsm-rotate.sh for the org POK and a TLS key, then --retire-expired with a clock past the
// overlap. Checks the token (pkcs11-tool, and a keystore opened once the commands are done), the
// re-issued org signet (ID with the new POK via `dime signet verify`, chain link with the old POK),
// the _dx record (`dime record parse`: both POKs during the overlap, tls= by the new POK), the
// versioned old TLS certificate, and a DIME message opened with the unchanged HSM org key.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base64NoPad,
  decodeBase64,
  ed25519Generate,
  ed25519Verify,
  InMemorySigner,
  openMessage,
  orgSignetChainLink,
  readSignet,
  sealMessage,
  secp256k1Generate,
  sha512,
  signetEncryptionKey,
  signetFingerprint,
  signetNamedField,
  signetSigningKey,
  type Signet,
} from '@lib/dime';
import { HsmKeyAgreement, HsmKeystore, RedactedSecret } from '@lib/hsm';
import { runDime } from '../dime-cli';
import { createTestToken, setRealEnv, type TestToken } from './softhsm-token';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..');
const DAY = 86_400_000;

interface RotateReport {
  rotated: Array<{ role: string; from: string; to: string; usableUntil: string }>;
  retired: string[];
  files: string[];
  removed: string[];
}

/** The output dir, the token's private key labels and the command's report after one step. */
interface Stage<R> {
  report: R;
  files: Map<string, string>;
  privateKeys: string[];
}

let dir: TestToken;
let out: string;
let pinFile: string;
let softhsmDir: string;
let init: Stage<unknown>;
let pokRotated: Stage<RotateReport>;
let tlsRotated: Stage<RotateReport>;
let retired: Stage<RotateReport>;
let retireTime: Date;

function run(script: string, args: readonly string[]): string {
  return execFileSync('bash', [script, ...args], { cwd: ROOT, env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, encoding: 'utf8' });
}

function privateKeyLabels(): string[] {
  const listing = execFileSync(
    'pkcs11-tool',
    ['--module', dir.modulePath, '--token-label', 'dime-gateway', '--login', '--pin', readFileSync(pinFile, 'utf8').trim(), '--list-objects', '--type', 'privkey'],
    { env: { PATH: '/usr/bin:/bin', SOFTHSM2_CONF: join(softhsmDir, 'softhsm2.conf') }, encoding: 'utf8' },
  );
  return [...listing.matchAll(/label:\s+(\S+)/g)].map((m) => m[1] as string).sort();
}

function stage<R>(report: R): Stage<R> {
  const files = new Map(readdirSync(out).map((name) => [name, readFileSync(join(out, name), 'utf8')]));
  return { report, files, privateKeys: privateKeyLabels() };
}

function rotate(args: readonly string[]): Stage<RotateReport> {
  return stage(JSON.parse(run('appliance/hsm-rotate.sh', ['--out', out, '--pin-file', pinFile, '--softhsm-dir', softhsmDir, ...args])) as RotateReport);
}

function file(s: Stage<unknown>, name: string): string {
  const text = s.files.get(name);
  if (text === undefined) throw new Error(`${name} missing`);
  return text;
}

function signetOf(s: Stage<unknown>): Signet {
  return readSignet(file(s, 'org.signet'));
}

function recordText(s: Stage<unknown>): string {
  return file(s, 'dx-record.txt').replace(/^.*TXT /, '').trim().replace(/^"|"$/g, '').replace(/" "/g, '');
}

function parsedRecord(s: Stage<unknown>): { poks: string[]; tls: string[] } {
  const r = runDime(['record', 'parse', recordText(s)]);
  expect(r.status).toBe(0);
  return r.json<{ poks: string[]; tls: string[] }>();
}

function certDer(pem: string): Buffer {
  return new X509Certificate(pem).raw;
}

function spkiOfCert(pem: string): string {
  return Buffer.from(new X509Certificate(pem).publicKey.export({ format: 'der', type: 'spki' })).toString('base64');
}

function publicKeys(s: Stage<unknown>): Record<string, { label: string; spki: string; overlap?: Array<{ label: string; spki: string }> }> {
  return JSON.parse(file(s, 'public-keys.json')) as ReturnType<typeof publicKeys>;
}

/** Raw Ed25519 key from its SPKI (the last 32 bytes). */
function rawEd25519(spkiBase64: string): Buffer {
  return Buffer.from(spkiBase64, 'base64').subarray(-32);
}

beforeAll(() => {
  dir = createTestToken({ init: false });
  out = join(dir.dir, 'out');
  pinFile = join(dir.dir, 'init.pin');
  softhsmDir = join(dir.dir, 'softhsm');
  init = stage(JSON.parse(run('appliance/hsm-init.sh', ['--domain', 'example.org', '--out', out, '--pin-file', pinFile, '--softhsm-dir', softhsmDir, '--hostname', 'localhost'])));
  pokRotated = rotate(['--role', 'org-primary', '--overlap', '1d']);
  tlsRotated = rotate(['--role', 'tls-ecdsa', '--overlap', '1d']);
  retireTime = new Date(Date.now() + 2 * DAY);
  retired = rotate(['--retire-expired', '--now', retireTime.toISOString()]);
});

afterAll(() => dir?.cleanup());

describe('rotating the org POK', () => {
  const oldPok = (): Buffer => rawEd25519(publicKeys(init)['org-primary']!.spki);
  const newPok = (): Buffer => rawEd25519(publicKeys(pokRotated)['org-primary']!.spki);

  it('makes dime-org-pok.v2 current and keeps v1 usable for the overlap', () => {
    expect(pokRotated.report.rotated).toEqual([expect.objectContaining({ role: 'org-primary', from: 'dime-org-pok.v1', to: 'dime-org-pok.v2' })]);
    expect(pokRotated.privateKeys).toEqual(expect.arrayContaining(['dime-org-pok.v1', 'dime-org-pok.v2']));
    expect(publicKeys(pokRotated)['org-primary']).toMatchObject({ label: 'dime-org-pok.v2', overlap: [{ label: 'dime-org-pok.v1', spki: publicKeys(init)['org-primary']!.spki }] });
    expect(newPok().equals(oldPok())).toBe(false);
  });

  it('re-issues the org signet: ID with the new POK (`dime signet verify`), not with the old one', () => {
    const path = join(dir.dir, 'rotated-org.signet');
    writeFileSync(path, file(pokRotated, 'org.signet'));
    const withNew = runDime(['signet', 'verify', path, '--pok', newPok().toString('base64')]);
    expect(withNew.status).toBe(0);
    expect(withNew.json<{ state: string; id: string }>()).toMatchObject({ state: 'ID', id: 'example.org' });
    expect(runDime(['signet', 'verify', path, '--pok', oldPok().toString('base64')]).status).not.toBe(0);
    expect(signetSigningKey(signetOf(pokRotated)).equals(newPok())).toBe(true);
  });

  it('the new signet names the old POK and its chain link verifies with the old POK only', () => {
    const signet = signetOf(pokRotated);
    expect(signetNamedField(signet, 'Previous-POK')?.toString()).toBe(base64NoPad(oldPok()));
    expect(orgSignetChainLink(signet, oldPok())).toBe('valid');
    expect(orgSignetChainLink(signet, ed25519Generate().publicKey)).toBe('invalid');
    expect(orgSignetChainLink(signetOf(init), oldPok())).toBe('absent');
  });

  it('keeps the org encryption key: the new signet names the same one as before', () => {
    expect(signetEncryptionKey(signetOf(pokRotated)).equals(signetEncryptionKey(signetOf(init)))).toBe(true);
  });

  it('the _dx record lists the new POK, then the old one, with tls= for both certificates by the new POK', () => {
    const record = parsedRecord(pokRotated);
    expect(record.poks).toEqual([base64NoPad(newPok()), base64NoPad(oldPok())]);
    const certs = ['tls-ecdsa.cert.pem', 'tls-rsa.cert.pem'].map((name) => sha512(certDer(file(pokRotated, name))));
    expect(record.tls).toHaveLength(2);
    record.tls.forEach((sig, i) => expect(ed25519Verify(newPok(), certs[i]!, decodeBase64(sig, 'tls'))).toBe(true));
  });

  it('stays byte-identical when the outputs are regenerated without a change (deterministic Ed25519)', () => {
    expect(file(tlsRotated, 'org.signet')).toBe(file(pokRotated, 'org.signet'));
  });
});

describe('rotating a TLS key', () => {
  it('makes a new self-signed certificate and CSR for the new token key and keeps the old certificate as tls-ecdsa.v1.cert.pem', () => {
    expect(tlsRotated.report.rotated).toEqual([expect.objectContaining({ role: 'tls-ecdsa', from: 'dime-tls-ecdsa.v1', to: 'dime-tls-ecdsa.v2' })]);
    const keys = publicKeys(tlsRotated)['tls-ecdsa']!;
    expect(keys.label).toBe('dime-tls-ecdsa.v2');
    expect(spkiOfCert(file(tlsRotated, 'tls-ecdsa.cert.pem'))).toBe(keys.spki);
    expect(file(tlsRotated, 'tls-ecdsa.v1.cert.pem')).toBe(file(init, 'tls-ecdsa.cert.pem'));
    expect(file(tlsRotated, 'tls-ecdsa.csr.pem')).not.toBe(file(init, 'tls-ecdsa.csr.pem'));
    expect(file(tlsRotated, 'tls-rsa.cert.pem')).toBe(file(init, 'tls-rsa.cert.pem'));
  });

  it('keeps the old private key in the token during the overlap', () => {
    expect(tlsRotated.privateKeys).toEqual(expect.arrayContaining(['dime-tls-ecdsa.v1', 'dime-tls-ecdsa.v2']));
  });

  it('signs the new and the old certificate in the _dx record during the overlap', () => {
    const record = parsedRecord(tlsRotated);
    expect(record.tls).toHaveLength(3);
    for (const name of ['tls-ecdsa.cert.pem', 'tls-ecdsa.v1.cert.pem']) {
      const path = join(dir.dir, `check-${name}`);
      writeFileSync(path, file(tlsRotated, name));
      expect(runDime(['record', 'verify-tls', recordText(tlsRotated), '--cert', path]).status).toBe(0);
    }
  });
});

describe('--retire-expired past the overlap', () => {
  it('destroys exactly the old POK and TLS private keys', () => {
    expect(retireTime.getTime()).toBeGreaterThan(Date.parse(pokRotated.report.rotated[0]!.usableUntil));
    expect(retired.report.rotated).toEqual([]);
    expect(retired.report.retired.sort()).toEqual(['dime-org-pok.v1', 'dime-tls-ecdsa.v1']);
    expect(retired.privateKeys).not.toContain('dime-org-pok.v1');
    expect(retired.privateKeys).not.toContain('dime-tls-ecdsa.v1');
    expect(retired.privateKeys).toEqual(expect.arrayContaining(['dime-org-pok.v2', 'dime-tls-ecdsa.v2', 'dime-tls-rsa.v1']));
  });

  it('drops the old POK from the _dx record and the old certificate from the outputs', () => {
    const record = parsedRecord(retired);
    expect(record.poks).toEqual([base64NoPad(rawEd25519(publicKeys(pokRotated)['org-primary']!.spki))]);
    expect(record.tls).toHaveLength(2);
    expect(retired.files.has('tls-ecdsa.v1.cert.pem')).toBe(false);
    expect(existsSync(join(out, 'tls-ecdsa.v1.cert.pem'))).toBe(false);
    expect(retired.report.removed).toEqual([join(out, 'tls-ecdsa.v1.cert.pem')]);
    expect(publicKeys(retired)['org-primary']!.overlap).toBeUndefined();
  });

  it('keeps the org signet and its chain link unchanged', () => {
    expect(file(retired, 'org.signet')).toBe(file(pokRotated, 'org.signet'));
  });
});

describe('the token after the rotations', () => {
  let keystore: HsmKeystore;

  beforeAll(async () => {
    await setRealEnv('SOFTHSM2_CONF', join(softhsmDir, 'softhsm2.conf'));
    keystore = HsmKeystore.open({
      modulePath: dir.modulePath,
      tokenLabel: 'dime-gateway',
      pin: new RedactedSecret(readFileSync(pinFile, 'utf8').trim()),
      sessions: 2,
      reinitializeOnLoss: false,
    });
  });

  afterAll(() => keystore?.close());

  it('holds the keys the outputs name: the signet POK is dime-org-pok.v2, the TLS certificate key is dime-tls-ecdsa.v2', async () => {
    expect(signetSigningKey(signetOf(retired)).equals((await keystore.publicKey('dime-org-pok.v2')).raw)).toBe(true);
    expect(spkiOfCert(file(retired, 'tls-ecdsa.cert.pem'))).toBe((await keystore.publicKey('dime-tls-ecdsa.v2')).spki.toString('base64'));
  });

  it('keeps the retired public keys for verification but not their private keys', async () => {
    expect(await keystore.hasObject('dime-org-pok.v1', 'public')).toBe(true);
    expect(await keystore.hasObject('dime-org-pok.v1', 'private')).toBe(false);
    expect(await keystore.hasObject('dime-tls-ecdsa.v1', 'private')).toBe(false);
  });

  it('a DIME message addressed with the new org signet opens as destination with the HSM org encryption key (it does not rotate with the POK)', async () => {
    const orgSignet = signetOf(retired);
    const orgKeys = await HsmKeyAgreement.create(keystore, 'dime-org-encryption.v1');
    expect(signetEncryptionKey(orgSignet).equals(Buffer.from(orgKeys.publicKey))).toBe(true);
    const fp = signetFingerprint(orgSignet, 'crypto');
    const author = new InMemorySigner(ed25519Generate().seed);
    const message = await sealMessage({
      author: { address: 'bob@origin.example', signetFingerprint: fp, encryptionKey: secp256k1Generate().publicKey, signer: author },
      origin: { domain: 'origin.example', signetFingerprint: fp, encryptionKey: secp256k1Generate().publicKey },
      destination: { domain: 'example.org', signetFingerprint: fp, encryptionKey: signetEncryptionKey(orgSignet) },
      recipient: { address: 'alice@example.org', signetFingerprint: fp, encryptionKey: secp256k1Generate().publicKey },
      commonHeaders: Buffer.from('Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nTo: alice@example.org\r\nFrom: bob@origin.example\r\nSubject: after rotation\r\n'),
      otherHeaders: Buffer.from('Message-ID: <rot@origin.example>\r\n'),
      display: [Buffer.from('hello after the POK rotation\r\n')],
    });
    const opened = await openMessage(message, { actor: 'destination', keys: orgKeys, strict: false });
    expect(opened.destination).toMatchObject({ recipient: 'alice@example.org' });
  });
});

it('never writes the PIN into the outputs or the reports', () => {
  const pin = readFileSync(pinFile, 'utf8').trim();
  for (const s of [pokRotated, tlsRotated, retired]) {
    expect(JSON.stringify(s.report)).not.toContain(pin);
    for (const text of s.files.values()) expect(text).not.toContain(pin);
  }
});
