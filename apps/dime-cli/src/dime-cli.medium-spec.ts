// The `dime` command line as a real process, against Lavabit's reference vectors: the contract in
// the README (JSON shapes, exit codes, one-line errors) is what other tools depend on.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDime, type CliResult } from '../../../test/dime-cli';
import { readVector, readVectorText, vectorPath, vectorValue } from '../../../test/vectors';

const V = vectorPath;
const tmp = mkdtempSync(join(tmpdir(), 'dime-cli-'));

function expectOneLineFailure(r: CliResult, pattern?: RegExp): void {
  expect(r.status).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^dime: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  if (pattern) expect(r.stderr).toMatch(pattern);
}

type VerifyJson = { type: string; state: string; id: string | null; fingerprints: Record<string, string | null> };
type OpenJson = {
  origin: Record<string, string> | null;
  destination: Record<string, string> | null;
  commonHeaders: string | null;
  otherHeaders: string | null;
  display: string[];
  attachments: string[];
  eml: string | null;
  signatures: Record<string, string>;
};

describe('dime keys', () => {
  it.each(['org', 'user'])('generates a %s key file that the CLI reads back', (type) => {
    const r = runDime(['keys', 'generate', `--${type}`]);
    expect(r.status).toBe(0);
    expect(r.text).toMatch(type === 'org' ? /^-----BEGIN ORGANIZATIONAL KEY-----\n/ : /^-----BEGIN USER KEY-----\n/);
    const file = join(tmp, `${type}.keys`);
    writeFileSync(file, r.stdout);
    const pub = runDime(['keys', 'public', file]);
    expect(pub.status).toBe(0);
    expect(pub.json()).toMatchObject({ type });
  });

  it('refuses generate without exactly one of --org/--user', () => {
    expectOneLineFailure(runDime(['keys', 'generate']), /exactly one/);
    expectOneLineFailure(runDime(['keys', 'generate', '--org', '--user']));
  });
});

describe('dime signet verify', () => {
  const pokOf = (who: string) => Buffer.from(vectorValue(`${who}.ed25519.public`), 'hex').toString('base64');

  it.each([
    ['org-origin.signet', ['--pok', 'org-origin'], 'org', 'ID', 'org-origin'],
    ['org-destination.signet.bin', ['--pok', 'org-destination'], 'org', 'ID', 'org-destination'],
    ['org-origin-crypto-only.signet', ['--pok', 'org-origin'], 'org', 'CRYPTO', 'org-origin-crypto-only'],
    ['user-author.signet', ['--org', 'org-origin.signet'], 'user', 'ID', 'user-author'],
    ['user-recipient.signet.bin', ['--org', 'org-destination.signet'], 'user', 'ID', 'user-recipient'],
  ])('reports %s as valid in the state it claims, with libdime fingerprints', (file, [opt, anchor], type, state, who) => {
    const anchorArg = opt === '--pok' ? pokOf(anchor as string) : V(anchor as string);
    const r = runDime(['signet', 'verify', V(file), opt as string, anchorArg]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const json = r.json<VerifyJson>();
    expect(json).toMatchObject({ type, state });
    expect(json.fingerprints.crypto).toBe(vectorValue(`${who}.fingerprint.crypto`));
    expect(json.fingerprints.full).toBe(vectorValue(`${who}.fingerprint.full`));
    expect(json.fingerprints.id).toBe(vectorValue(`${who}.fingerprint.id`));
    if (type === 'user') expect(json.fingerprints.ssr).toBe(vectorValue(`${who}.fingerprint.ssr`));
  });

  it('reports an SSR as SSR with its fingerprint', () => {
    const r = runDime(['signet', 'verify', V('user-author.ssr')]);
    expect(r.status).toBe(0);
    expect(r.json<VerifyJson>()).toMatchObject({ type: 'ssr', state: 'SSR', fingerprints: { ssr: vectorValue('user-author.fingerprint.ssr') } });
  });

  it('fails a user signet checked against the wrong organisation', () => {
    const r = runDime(['signet', 'verify', V('user-author.signet'), '--org', V('org-destination.signet')]);
    expectOneLineFailure(r);
    expect(r.json<VerifyJson>().state).toBe('INVALID');
  });

  it('fails an org signet checked against another POK', () => {
    expectOneLineFailure(runDime(['signet', 'verify', V('org-origin.signet'), '--pok', pokOf('org-destination')]), /POK/);
  });

  it('fails a tampered signet with a one-line reason', () => {
    const bytes = Buffer.from(readVector('user-author.signet.bin'));
    bytes[bytes.length - 10]! ^= 0x01;
    const file = join(tmp, 'tampered.signet');
    writeFileSync(file, bytes);
    expectOneLineFailure(runDime(['signet', 'verify', file, '--org', V('org-origin.signet')]));
  });

  it('fails a signet whose armor checksum is wrong', () => {
    const text = readVectorText('org-origin.signet').replace(/^=.{4}$/m, '=AAAA');
    const file = join(tmp, 'badcrc.signet');
    writeFileSync(file, text);
    expectOneLineFailure(runDime(['signet', 'verify', file]), /BAD_CHECKSUM/);
  });

  it('creates org and user signets that verify to ID', () => {
    const orgKeys = join(tmp, 'o.keys');
    const userKeys = join(tmp, 'u.keys');
    writeFileSync(orgKeys, runDime(['keys', 'generate', '--org']).stdout);
    writeFileSync(userKeys, runDime(['keys', 'generate', '--user']).stdout);
    const org = runDime(['signet', 'create-org', '--keys', orgKeys, '--domain', 'example.test', '--name', 'Example', '--field', 'X-Comment=hi']);
    expect(org.status).toBe(0);
    writeFileSync(join(tmp, 'o.signet'), org.stdout);
    const ssr = runDime(['signet', 'request', '--keys', userKeys]);
    writeFileSync(join(tmp, 'u.ssr'), ssr.stdout);
    const user = runDime(['signet', 'sign', join(tmp, 'u.ssr'), '--org-keys', orgKeys, '--address', 'ann@example.test']);
    expect(user.status).toBe(0);
    writeFileSync(join(tmp, 'u.signet'), user.stdout);
    expect(runDime(['signet', 'verify', join(tmp, 'o.signet')]).json<VerifyJson>()).toMatchObject({ state: 'ID', id: 'example.test' });
    const v = runDime(['signet', 'verify', join(tmp, 'u.signet'), '--org', join(tmp, 'o.signet')]);
    expect(v.status).toBe(0);
    expect(v.json<VerifyJson>()).toMatchObject({ type: 'user', state: 'ID', id: 'ann@example.test' });
  });
});

describe('dime message', () => {
  const signets = ['--author-signet', V('user-author.signet'), '--origin-signet', V('org-origin.signet')];
  const keysOf: Record<string, string> = {
    author: 'user-author.keys',
    origin: 'org-origin.keys',
    destination: 'org-destination.keys',
    recipient: 'user-recipient.keys',
  };

  it('reproduces libdime message-2 byte for byte by origin-signing message-1', () => {
    const r = runDime(['message', 'sign-origin', V('message-1-from-author.dmsg'), '--keys', V('org-origin.keys')]);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(readVector('message-2-signed-by-origin.dmsg'))).toBe(true);
  });

  it.each([
    ['author', true, true, true],
    ['origin', true, false, false],
    ['destination', false, true, false],
    ['recipient', true, true, true],
  ])('opens libdime message-2 as %s with exactly what that actor may see', (actor, seesOrigin, seesDestination, seesContent) => {
    const r = runDime(['message', 'open', V('message-2-signed-by-origin.dmsg.b64'), '--as', actor, '--keys', V(keysOf[actor]!), ...signets]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = r.json<OpenJson>();
    expect(j.origin !== null).toBe(seesOrigin);
    expect(j.destination !== null).toBe(seesDestination);
    expect(j.commonHeaders !== null).toBe(seesContent);
    expect(j.eml !== null).toBe(seesContent);
    expect(j.display.length > 0).toBe(seesContent);
    if (seesContent) {
      expect(j.commonHeaders).toBe(readVectorText('plain-common-headers-chunk-data.txt'));
      expect(Buffer.from(j.display[0]!, 'base64').equals(readVector('plain-display.txt'))).toBe(true);
      expect(Buffer.from(j.attachments[0]!, 'base64').equals(readVector('plain-attachment.txt'))).toBe(true);
    }
    if (seesOrigin) expect(j.origin).toEqual({
      author: 'alice@origin.example',
      authorSignet: vectorValue('user-author.fingerprint.crypto'),
      destination: 'destination.example',
      destinationSignet: vectorValue('org-destination.fingerprint.crypto'),
    });
    if (seesDestination) expect(j.destination).toEqual({
      recipient: 'bob@destination.example',
      recipientSignet: vectorValue('user-recipient.fingerprint.crypto'),
      origin: 'origin.example',
      originSignet: vectorValue('org-origin.fingerprint.crypto'),
    });
    const expected = actor === 'destination' ? ['not-visible', 'not-visible', 'valid', 'valid', 'valid'] : ['valid', 'valid', 'valid', 'valid', 'valid'];
    expect(Object.values(j.signatures)).toEqual(expected);
  });

  it('exits 1 when a visible signature cannot be checked for want of a signet', () => {
    const r = runDime(['message', 'open', V('message-2-signed-by-origin.dmsg'), '--as', 'destination', '--keys', V('org-destination.keys')]);
    expectOneLineFailure(r, /unverified/);
    expect(r.json<OpenJson>().signatures.originFull).toBe('unverified');
  });

  it('exits 1 on the author message before the origin signed it (zero origin signatures)', () => {
    const r = runDime(['message', 'open', V('message-1-from-author.dmsg'), '--as', 'recipient', '--keys', V('user-recipient.keys'), ...signets]);
    expectOneLineFailure(r, /invalid/);
    expect(r.json<OpenJson>().signatures.originFull).toBe('invalid');
  });

  it('seals an ordinary message that the origin signs and every actor opens, with no plaintext on the wire', () => {
    const subject = 'Quarterly figures 7f3a';
    const body = 'The secret body text 91c2.\r\n.\r\n..leading dots\r\n';
    const eml = [
      'Received: from mx by gw; Mon, 1 Jan 2024 00:00:00 +0000',
      'From: Alice <alice@origin.example>',
      'To: Bob <bob@destination.example>',
      `Subject: ${subject}`,
      'Date: Tue, 02 Jan 2024 10:00:00 +0100',
      'Message-ID: <m1@origin.example>',
      'MIME-Version: 1.0',
      '',
      body,
    ].join('\r\n');
    const emlFile = join(tmp, 'in.eml');
    writeFileSync(emlFile, eml);
    const sealed = runDime([
      'message', 'seal', '--eml', emlFile,
      '--author-keys', V('user-author.keys'), '--author-signet', V('user-author.signet'),
      '--origin-signet', V('org-origin.signet'), '--destination-signet', V('org-destination.signet'),
      '--recipient-signet', V('user-recipient.signet'),
    ]);
    expect(sealed.stderr).toBe('');
    expect(sealed.status).toBe(0);
    const sealedFile = join(tmp, 'sealed.dmsg');
    writeFileSync(sealedFile, sealed.stdout);
    const signed = runDime(['message', 'sign-origin', sealedFile, '--keys', V('org-origin.keys'), '--author-signet', V('user-author.signet')]);
    expect(signed.status).toBe(0);
    const signedFile = join(tmp, 'signed.dmsg');
    writeFileSync(signedFile, signed.stdout);
    for (const needle of [subject, 'secret body text', 'alice@origin.example', 'bob@destination.example']) {
      expect(signed.stdout.includes(Buffer.from(needle))).toBe(false);
    }
    for (const actor of ['author', 'origin', 'destination', 'recipient']) {
      const r = runDime(['message', 'open', signedFile, '--as', actor, '--keys', V(keysOf[actor]!), ...signets]);
      expect(r.status).toBe(0);
      if (actor === 'author' || actor === 'recipient') expect(r.json<OpenJson>().eml).toBe(eml);
    }
  });

  it.each([
    ['a truncated message', (m: Buffer) => m.subarray(0, m.length - 100)],
    ['a message with one flipped payload bit', (m: Buffer) => { const c = Buffer.from(m); c[200]! ^= 0x10; return c; }],
    ['random bytes', () => Buffer.from('0123456789abcdef'.repeat(40), 'hex')],
    ['an empty file', () => Buffer.alloc(0)],
  ])('refuses %s with a one-line reason', (_name, mutate) => {
    const file = join(tmp, 'bad.dmsg');
    writeFileSync(file, mutate(readVector('message-2-signed-by-origin.dmsg')));
    expectOneLineFailure(runDime(['message', 'open', file, '--as', 'recipient', '--keys', V('user-recipient.keys'), ...signets]));
  });

  it('refuses to open with the wrong key', () => {
    expectOneLineFailure(runDime(['message', 'open', V('message-2-signed-by-origin.dmsg'), '--as', 'recipient', '--keys', V('user-author.keys'), ...signets]));
  });

  it('refuses an org key file where a user key file is expected', () => {
    expectOneLineFailure(runDime(['message', 'open', V('message-2-signed-by-origin.dmsg'), '--as', 'recipient', '--keys', V('org-origin.keys')]), /org keys/);
  });
});

describe('dime record', () => {
  it('parses the genrec record', () => {
    const r = runDime(['record', 'parse', readVectorText('dime-management-record.txt').trim()]);
    expect(r.status).toBe(0);
    expect(r.json()).toMatchObject({
      version: 1,
      poks: ['8ESWwsmUyXK66wpVnfoIMiGvRi4LG/BnhejUvKPpwYo'],
      policy: 'mixed',
      deliver: ['dx.origin.example'],
      expiryDays: 30,
      subdomain: 'strict',
    });
  });

  it('creates the genrec record byte for byte from the same inputs', () => {
    const r = runDime([
      'record', 'create', '--pok-keys', V('org-origin.ed25519.pem'), '--tls-cert', V('dx-tls.cert.pem'),
      '--dx', 'dx.origin.example', '--policy', 'mixed', '--subdomain', 'strict', '--expiry', '30',
    ]);
    expect(r.status).toBe(0);
    expect(r.text.trim()).toBe(readVectorText('dime-management-record.txt').trim());
    const fromKeys = runDime(['record', 'create', '--pok-keys', V('org-origin.keys'), '--policy', 'experimental']);
    expect(fromKeys.text.trim()).toBe(readVectorText('dime-management-record-minimal.txt').trim());
  });

  it('checks the tls= signature against the certificate', () => {
    const record = readVectorText('dime-management-record.txt').trim();
    expect(runDime(['record', 'verify-tls', record, '--cert', V('dx-tls.cert.pem')]).status).toBe(0);
    const other = readFileSync(V('dx-tls.cert.pem'), 'utf8');
    expect(other.length).toBeGreaterThan(0);
    expectOneLineFailure(runDime(['record', 'verify-tls', record.replace(/tls=\S{5}/, 'tls=AAAAA'), '--cert', V('dx-tls.cert.pem')]));
  });

  it('refuses a record without pok', () => {
    expectOneLineFailure(runDime(['record', 'parse', 'ver=1 pol=strict']), /BAD_RECORD/);
  });
});

describe('dime usage errors', () => {
  it.each([[[]], [['frobnicate']], [['signet', 'verify']], [['signet', 'verify', '/nonexistent/file']], [['message', 'open', 'x', '--bogus', '1']]])(
    'answers %j with one line and exit 1',
    (args) => {
      expectOneLineFailure(runDime(args));
    },
  );
});
