// Trustful-mode users, sealing and opening between two organisations, with real PostgreSQL (one
// database per org, runtime role dime_app) and real SoftHSM2 tokens (one per org: POK, org encryption
// key, user KEK). The DimeDirectory is a small in-memory stand-in for discovery (a network component
// built by another part), answering from each org's own LocalSignetSource as SGNT would.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AuditService, HsmAuditSigner } from '@lib/audit';
import {
  ChunkType,
  createOrgSignet,
  fullSign,
  idSign,
  InMemorySigner,
  ed25519Generate,
  parseMessageFrame,
  parseSignet,
  sealMessage,
  serializeSignet,
  setSignetId,
  signetEncryptionKey,
  signetFingerprint,
  signetId,
  signetSigningKey,
  signOrigin,
  splitRfc5322,
  validateSignet,
  type ManagementRecord,
  type Signet,
} from '@lib/dime';
import { AuditRepository, DimeUserRepository, migrateDatabase, openDatabase, type DataSource } from '@lib/db';
import { HsmKeyAgreement, HsmKeystore, HsmSigner, keyLabel } from '@lib/hsm';
import { appRoleConfig, ensureAppRoleLogin } from '../../../../../test/audit/audit-database';
import { createTestDatabase, type TestDatabase } from '../../../../../test/database';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../../../../../test/hsm/softhsm-token';
import type { DimeDirectory, DimeDomain } from '../dime-directory';
import { DiscoveryError } from '../discovery/discovery.error';
import { DimeSealError } from '../seal/dime-seal.error';
import { DimeSealer, type DimeSenderPolicy } from '../seal/dime-sealer';
import { DimeUserError, DimeUserService } from '@lib/dime-users';
import { DimeDoorChecker } from './dime-door-checker';
import { DimeInboundOpener } from './dime-inbound-opener';
import { DimeOpenError } from './dime-open.error';
import { DimeMessageVerifier } from './dime-message-verifier';
import { DoorVerdictMemo } from './door-verdict-memo';

jest.setTimeout(60_000);

interface Org {
  domain: string;
  db: TestDatabase;
  ds: DataSource;
  keystore: HsmKeystore;
  pok: HsmSigner;
  encryption: HsmKeyAgreement;
  orgSignet: Signet;
  users: DimeUserService;
  sealer: (policy?: DimeSenderPolicy, bounceSignatures?: 'both' | 'meta' | 'display' | 'none') => DimeSealer;
  door: DimeDoorChecker;
  opener: DimeInboundOpener;
  verifier: DimeMessageVerifier;
  /** Shared by door and opener, as in the gateway (dime.services.ts). */
  verdicts: DoorVerdictMemo;
}

/** Discovery stand-in: org signets validated against the "record" POK, user signets from the org's LocalSignetSource. */
class InMemoryDirectory implements DimeDirectory {
  readonly orgs = new Map<string, Org>();
  failing: Error | undefined;
  lookups = 0;

  async lookupDomain(domain: string): Promise<DimeDomain | undefined> {
    this.lookups++;
    if (this.failing) throw this.failing;
    const org = this.orgs.get(domain);
    if (!org) return undefined;
    const record: ManagementRecord = { version: 1, poks: [Buffer.from(org.pok.publicKey)], tls: [], policy: 'experimental', syndicates: [], deliver: [], expiryDays: null, subdomain: 'strict' };
    expect(validateSignet(org.orgSignet, { poks: record.poks })).toBe('ID');
    return { domain, record, orgSignet: serializeSignet(org.orgSignet), endpoints: [], expiresAt: new Date(Date.now() + 60_000) };
  }

  fingerprintsAsked: Array<string | undefined> = [];

  async userSignet(address: string, _signal?: AbortSignal, fingerprint?: string): Promise<Uint8Array> {
    if (this.failing) throw this.failing;
    this.fingerprintsAsked.push(fingerprint);
    const org = this.orgs.get(address.slice(address.lastIndexOf('@') + 1).toLowerCase());
    const bytes = await org?.users.userSignet(address);
    if (!org || !bytes) throw new DiscoveryError('SIGNET_NOT_FOUND', `no signet for ${address}`);
    return bytes;
  }
}

const directory = new InMemoryDirectory();
let token: TestToken;
let a: Org;
let b: Org;
let audit: AuditService;

async function makeOrg(domain: string, localDomains: string[], tokenLabel: string): Promise<Org> {
  const db = await createTestDatabase('dime_users');
  await migrateDatabase(db.config);
  ensureAppRoleLogin(db.config);
  const ds = await openDatabase(appRoleConfig(db.config));
  const keystore = HsmKeystore.open(token.config({ tokenLabel }));
  for (const role of ['org-primary', 'org-encryption', 'user-kek', 'audit-signing'] as const) await keystore.ensureKey(role);
  const pok = await HsmSigner.create(keystore, keyLabel('org-primary'));
  const encryption = await HsmKeyAgreement.create(keystore, keyLabel('org-encryption'));
  let orgSignet = await createOrgSignet({ pok, encryptionPublicKey: encryption.publicKey });
  orgSignet = await idSign(setSignetId(await fullSign(orgSignet, pok), domain), pok);
  const auditService = new AuditService(new AuditRepository(ds), new HsmAuditSigner(keystore, keyLabel('audit-signing')), { checkpointEvery: 1000, checkpointPeriodMs: 3600_000 });
  const users = new DimeUserService(new DimeUserRepository(ds), keystore, pok, { orgSignet, localDomains, kekLabel: keyLabel('user-kek') }, auditService);
  const verifier = new DimeMessageVerifier(users, directory, encryption);
  const verdicts = new DoorVerdictMemo();
  const org: Org = {
    domain,
    db,
    ds,
    keystore,
    pok,
    encryption,
    orgSignet,
    users,
    sealer: (senderPolicy = 'refuse', bounceSignatures = 'both') => new DimeSealer(users, directory, { signer: pok, keys: encryption }, { senderPolicy, bounceSignatures }),
    door: new DimeDoorChecker(verifier, verdicts),
    opener: new DimeInboundOpener(verifier, verdicts),
    verifier,
    verdicts,
  };
  if (domain === 'a.test') audit = auditService;
  directory.orgs.set(domain, org);
  return org;
}

const MESSAGE = Buffer.from(
  [
    'Received: from exchange.a.test by gateway.a.test; Fri, 27 Nov 2026 10:00:00 +0000',
    'Message-ID: <m1@a.test>',
    'Date: Fri, 27 Nov 2026 10:00:00 +0000',
    'From: Alice <alice@a.test>',
    'To: Bob <bob@b.test>,',
    '  Other <other@b.test>',
    'Subject: Quarterly numbers (confidential)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The numbers are attached.  Trailing spaces stay.   ',
    '--b1',
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    '',
    randomBytes(600).toString('base64'),
    '--b1--',
    '',
  ].join('\r\n'),
  'latin1',
);

beforeAll(async () => {
  token = createTestToken();
  // org B's token lives in the same token directory: SoftHSM reads the directory once per process
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', `${token.tokenLabel}-b`, '--so-pin', randomBytes(8).toString('hex'), '--pin', token.pin], {
    env: { PATH: '/usr/bin:/bin', SOFTHSM2_CONF: token.softhsmConf },
    stdio: 'pipe',
  });
  await useTokenInThisProcess(token);
  a = await makeOrg('a.test', ['a.test'], token.tokenLabel);
  b = await makeOrg('b.test', ['b.test', 'b2.test'], `${token.tokenLabel}-b`);
  await a.users.provision('alice@a.test');
  await b.users.provision('bob@b.test');
});

afterAll(async () => {
  // the HSM side is released whatever the databases do: the next suite in this process needs it
  try {
    for (const org of [a, b]) {
      if (org?.ds.isInitialized) await org.ds.destroy();
      await org?.db.drop();
    }
  } finally {
    a?.keystore.close();
    b?.keystore.close();
    token?.cleanup();
  }
});

async function sealAliceToBob(rfc5322: Buffer = MESSAGE): Promise<Uint8Array> {
  return a.sealer().seal({ rfc5322, sender: 'alice@a.test', recipient: 'bob@b.test' });
}

describe('DimeUserService (provisioning with the HSM)', () => {
  it('issues a user signet signed by the HSM POK that validates to ID against the org signet', async () => {
    const user = await a.users.provision('Carol@A.TEST');
    expect(user).toMatchObject({ address: 'Carol@a.test', domain: 'a.test', status: 'active' });
    const signet = parseSignet(user.signet, 'user');
    expect(validateSignet(signet, { orgSignet: a.orgSignet })).toBe('ID');
    expect(signetId(signet)).toBe('Carol@a.test');
    expect(user.fingerprints.crypto).toBe(signetFingerprint(signet, 'crypto'));
    // and not against the other organisation's signet
    expect(validateSignet(signet, { orgSignet: b.orgSignet })).toBe('INVALID');
    expect(await a.users.find('carol@a.test')).toMatchObject({ address: 'Carol@a.test' });
  });

  it('stores the keys only wrapped under the HSM user-kek', async () => {
    const [row] = (await a.ds.query(`SELECT * FROM dime_users WHERE address = 'alice@a.test'`)) as Array<Record<string, Buffer | string>>;
    const wrappedSeed = row!['wrapped_signing_seed'] as Buffer;
    const wrappedKey = row!['wrapped_encryption_key'] as Buffer;
    expect(row!['kek_label']).toBe(keyLabel('user-kek'));
    const seed = await a.keystore.unwrap(keyLabel('user-kek'), wrappedSeed);
    const scalar = await a.keystore.unwrap(keyLabel('user-kek'), wrappedKey);
    try {
      expect(seed).toHaveLength(32);
      expect(scalar).toHaveLength(32);
      const signet = parseSignet(row!['signet'] as Buffer, 'user');
      expect(Buffer.from(new InMemorySigner(seed).publicKey)).toEqual(signetSigningKey(signet));
      // the plaintext appears nowhere in the row
      const all = Buffer.concat(Object.values(row!).filter((v): v is Buffer => Buffer.isBuffer(v)));
      expect(all.includes(seed)).toBe(false);
      expect(all.includes(scalar)).toBe(false);
      // and another token's KEK cannot unwrap it
      await expect(b.keystore.unwrap(keyLabel('user-kek'), wrappedSeed)).rejects.toThrow();
    } finally {
      seed.fill(0);
      scalar.fill(0);
    }
  });

  it('refuses a second provision, foreign domains and non-addresses', async () => {
    await expect(a.users.provision('ALICE@a.test')).rejects.toMatchObject({ code: 'EXISTS' });
    await expect(a.users.provision('mallory@b.test')).rejects.toMatchObject({ code: 'NOT_LOCAL' });
    await expect(a.users.provision('not an address')).rejects.toMatchObject({ code: 'BAD_ADDRESS' });
  });

  it('records provision, suspend and resume in the audit trail', async () => {
    await a.users.provision('dan@a.test');
    await a.users.suspend('dan@a.test');
    await a.users.resume('Dan@a.test');
    const rows = (await a.ds.query(`SELECT action, object_id, outcome FROM audit_entries WHERE object_id = 'dan@a.test' ORDER BY seq`)) as unknown[];
    expect(rows).toEqual([
      { action: 'dime.user.provision', object_id: 'dan@a.test', outcome: 'success' },
      { action: 'dime.user.suspend', object_id: 'dan@a.test', outcome: 'success' },
      { action: 'dime.user.resume', object_id: 'dan@a.test', outcome: 'success' },
    ]);
    expect(audit).toBeDefined();
  });

  it('the runtime role cannot delete users', async () => {
    await expect(a.ds.query(`DELETE FROM dime_users WHERE address = 'dan@a.test'`)).rejects.toThrow(/permission denied/);
  });

  it('serves the org signet for local domains and signets of active users only', async () => {
    expect(Buffer.from((await b.users.orgSignet('B2.test'))!)).toEqual(serializeSignet(b.orgSignet));
    expect(await b.users.orgSignet('a.test')).toBeUndefined();
    await a.users.provision('erin@a.test');
    expect(await a.users.userSignet('erin@a.test')).toBeDefined();
    await a.users.suspend('erin@a.test');
    expect(await a.users.userSignet('erin@a.test')).toBeUndefined();
    expect(await a.users.userSignet('nobody@a.test')).toBeUndefined();
    await expect(a.users.withUserKeys('erin@a.test', async () => 1)).rejects.toMatchObject({ code: 'SUSPENDED' });
  });

  it('unwraps only the key a call uses, and refuses keys that do not match the signet', async () => {
    const unwraps: Buffer[] = [];
    const counting = { wrap: a.keystore.wrap.bind(a.keystore), unwrap: async (label: string, wrapped: Uint8Array) => (unwraps.push(Buffer.from(wrapped)), a.keystore.unwrap(label, wrapped)) };
    const users = new DimeUserService(new DimeUserRepository(a.ds), counting, a.pok, { orgSignet: a.orgSignet, localDomains: ['a.test'], kekLabel: keyLabel('user-kek') });
    await users.withUserKeys('alice@a.test', async ({ signer }) => signer.sign(Buffer.from('x')));
    expect(unwraps).toHaveLength(1);
    await users.withUserKeys('alice@a.test', async () => undefined);
    expect(unwraps).toHaveLength(1);
    // a row whose wrapped keys were swapped for another user's: refused, never used
    await a.ds.query(
      `UPDATE dime_users SET wrapped_signing_seed = (SELECT wrapped_signing_seed FROM dime_users WHERE address = 'dan@a.test') WHERE address = 'erin@a.test'`,
    );
    await a.users.resume('erin@a.test');
    await expect(a.users.withUserKeys('erin@a.test', async ({ signer }) => signer.sign(Buffer.from('x')))).rejects.toMatchObject({ code: 'ORG_SIGNET' });
  });

  it('wipes the unwrapped key bytes after use', async () => {
    const agreement = await a.users.withUserKeys('alice@a.test', async (keys) => {
      expect(await keys.keyAgreement.deriveSharedSecret(signetEncryptionKey(b.orgSignet))).toHaveLength(32);
      return keys.keyAgreement;
    });
    // released with the call: the key refuses to work afterwards (its bytes were overwritten)
    await expect(agreement.deriveSharedSecret(signetEncryptionKey(b.orgSignet))).rejects.toThrow(/keys of alice@a\.test were released/);
  });
});

describe('seal at org A, door check and open at org B', () => {
  it('delivers the original message byte for byte under the trace headers', async () => {
    const sealed = await sealAliceToBob();
    const verdict = await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed });
    expect(verdict).toEqual({ ok: true, recipient: 'bob@b.test', author: 'alice@a.test' });
    const opened = await b.opener.open({ message: sealed, originDomain: 'a.test', recipient: 'bob@b.test' });
    const aliceFp = (await a.users.find('alice@a.test'))!.fingerprints.crypto;
    expect(opened.traceHeaders).toBe(
      `X-DIME-Verified: pass (origin=a.test; author=alice@a.test)\r\n` +
        `X-DIME-Origin-Signet: ${signetFingerprint(a.orgSignet, 'crypto')}\r\n` +
        `X-DIME-Author-Signet: ${aliceFp}\r\n`,
    );
    expect(opened.rfc5322.subarray(opened.traceHeaders.length).equals(MESSAGE)).toBe(true);
    expect(opened).toMatchObject({ recipient: 'bob@b.test', author: 'alice@a.test', originDomain: 'a.test' });
    // the author signet was asked for by the fingerprint the message names
    expect(directory.fingerprintsAsked.at(-1)).toBe(aliceFp);
  });

  it('makes the bounce signatures DIME_BOUNCE_SIGNATURES asks for; the door takes the message either way', async () => {
    const cases = [
      ['both', [ChunkType.originMetaBounceSig, ChunkType.originDisplayBounceSig]],
      ['meta', [ChunkType.originMetaBounceSig]],
      ['display', [ChunkType.originDisplayBounceSig]],
      ['none', []],
    ] as const;
    for (const [setting, present] of cases) {
      const sealed = await a.sealer('refuse', setting).seal({ rfc5322: MESSAGE, sender: 'alice@a.test', recipient: 'bob@b.test' });
      const types = parseMessageFrame(sealed).chunks.map((c) => c.type);
      for (const bounce of [ChunkType.originMetaBounceSig, ChunkType.originDisplayBounceSig]) expect(types.includes(bounce)).toBe((present as readonly number[]).includes(bounce));
      expect(types).toContain(ChunkType.originFullSig);
      expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed })).toMatchObject({ ok: true });
      const opened = await b.opener.open({ message: sealed, originDomain: 'a.test', recipient: 'bob@b.test' });
      expect(opened.rfc5322.subarray(opened.traceHeaders.length).equals(MESSAGE)).toBe(true);
    }
    expect(() => new DimeSealer(a.users, directory, { signer: a.pok, keys: a.encryption }, { senderPolicy: 'refuse', bounceSignatures: 'some' as never })).toThrow(RangeError);
  });

  it('keeps subject, body and mailboxes out of the sealed bytes', async () => {
    const sealed = Buffer.from(await sealAliceToBob());
    for (const secret of ['Quarterly', 'numbers are attached', 'alice@a.test', 'bob@b.test', 'b.test']) expect(sealed.includes(Buffer.from(secret))).toBe(false);
  });

  it('maps an LF-only message and a message without body, byte for byte', async () => {
    for (const text of ['From: alice@a.test\nTo: bob@b.test\nSubject: lf\nX-Other: 1\n\nline one\nline two\n', 'Subject: only headers\r\nX-A: b\r\n']) {
      const original = Buffer.from(text, 'latin1');
      const opened = await b.opener.open({ message: await sealAliceToBob(original) });
      expect(opened.rfc5322.subarray(opened.traceHeaders.length).equals(original)).toBe(true);
    }
  });

  it('refuses an altered chunk', async () => {
    const sealed = Buffer.from(await sealAliceToBob());
    // one bit of the common-headers chunk (subject, from, to), inside its encrypted author signature
    const chunk = parseMessageFrame(sealed).chunks.find((c) => c.type === ChunkType.commonHeaders)!;
    flipBits(sealed, chunk.offset + 4 + 20, 0x01);
    const verdict = await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed });
    expect(verdict).toEqual({ ok: false, reply: '554 5.7.7 DIME signature invalid: message altered after signing (from a.test)' });
    // the last ciphertext byte of the body chunk: its padding no longer decodes
    const again = Buffer.from(await sealAliceToBob());
    const display = parseMessageFrame(again).chunks.find((c) => c.type === ChunkType.display)!;
    flipBits(again, display.offset + 4 + display.payload.length - 1, 0x80);
    expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: again })).toMatchObject({ ok: false, reply: expect.stringMatching(/^554 5\.7\.[57] .*tampered/) });
    await expect(b.opener.open({ message: sealed })).rejects.toBeInstanceOf(DimeOpenError);
  });

  it('refuses a message origin-signed with another key than the origin POK', async () => {
    const rogue = new InMemorySigner(ed25519Generate().seed);
    const forged = await a.users.withUserKeys('alice@a.test', async ({ signet, signer }) => {
      const aliceSealed = await sealAs(signet, signer);
      return signOrigin(aliceSealed, { keys: a.encryption, signer: rogue });
    });
    const verdict = await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: forged });
    expect(verdict).toEqual({ ok: false, reply: "554 5.7.7 DIME origin signature invalid: not signed by the origin organisation's key (a.test)" });
  });

  it('refuses a forged author (author signatures by a key that is not the author signet)', async () => {
    const alice = parseSignet((await a.users.find('alice@a.test'))!.signet, 'user');
    const forged = await signOrigin(await sealAs(alice, new InMemorySigner(ed25519Generate().seed)), { keys: a.encryption, signer: a.pok });
    const verdict = await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: forged });
    expect(verdict).toEqual({ ok: false, reply: "554 5.7.7 DIME author signature invalid: not signed by the author's signet (alice@a.test)" });
  });

  it('refuses a message replayed to another destination', async () => {
    const sealed = await sealAliceToBob();
    // to another organisation (A's gateway): its org key does not open the destination envelope
    expect(await a.door.check({ originDomain: 'a.test', destinationDomain: 'a.test', message: sealed })).toEqual({
      ok: false,
      reply: '554 5.7.5 DIME message not encrypted to this organisation (the destination keyslots do not open with our org key)',
    });
    // to another domain of the same organisation
    expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b2.test', message: sealed })).toEqual({
      ok: false,
      reply: '554 5.7.1 envelope does not match MAIL FROM / RCPT TO (recipient domain b.test, RCPT TO b2.test)',
    });
    // claimed from another origin
    expect(await b.door.check({ originDomain: 'c.test', destinationDomain: 'b.test', message: sealed })).toMatchObject({ ok: false, reply: expect.stringMatching(/^554 5\.7\.1 envelope does not match/) });
    // for a domain B does not serve
    expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'x.test', message: sealed })).toMatchObject({ ok: false, reply: expect.stringMatching(/^550 5\.1\.2 /) });
  });

  it('refuses malformed bytes with the DMTP reply', async () => {
    const verdict = await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: Buffer.from('not dime at all') });
    expect(verdict).toMatchObject({ ok: false, reply: expect.stringMatching(/^554 5\.6\.0 /) });
  });

  it('defers (4xx) when the directory cannot answer, never accepts', async () => {
    const sealed = await sealAliceToBob();
    directory.failing = new DiscoveryError('DNS_FAILURE', 'SERVFAIL');
    try {
      expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed })).toEqual({ ok: false, reply: '451 4.4.3 DIME discovery: DNS lookup failed (a.test: DNS_FAILURE)' });
      const err = (await a.sealer().seal({ rfc5322: MESSAGE, sender: 'alice@a.test', recipient: 'bob@b.test' }).catch((e: unknown) => e)) as DimeSealError;
      expect(err).toBeInstanceOf(DimeSealError);
      expect(err).toMatchObject({ code: 'DIRECTORY_UNAVAILABLE', transient: true, reply: '451 4.4.3 DIME discovery: DNS lookup failed' });
      // an origin org signet that does not chain to its record's POK: discovery's precise reply
      directory.failing = new DiscoveryError('SIGNET_INVALID', 'org signet of a.test does not validate against the record POKs');
      expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed })).toEqual({
        ok: false,
        reply: '451 4.7.5 DIME signet does not validate against the management record (a.test: SIGNET_INVALID)',
      });
      // anything else a directory throws defers too (fail closed, never accept)
      directory.failing = new Error('socket hang up');
      expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed })).toEqual({ ok: false, reply: '451 4.4.3 DIME signets of the origin cannot be fetched now (a.test: UNKNOWN)' });
    } finally {
      directory.failing = undefined;
    }
  });

  it('refuses recipients that are unknown, and a domain without a DIME record', async () => {
    await expect(a.sealer().seal({ rfc5322: MESSAGE, sender: 'alice@a.test', recipient: 'nobody@b.test' })).rejects.toMatchObject({
      code: 'DIRECTORY_REFUSED',
      transient: false,
      reply: '550 5.1.1 no DIME signet for the recipient',
    });
    await expect(a.sealer().seal({ rfc5322: MESSAGE, sender: 'alice@a.test', recipient: 'x@plain.test' })).rejects.toMatchObject({ code: 'NOT_DIME_DOMAIN', transient: false });
  });
});

describe("the door's verdict in the pipeline (DoorVerdictMemo)", () => {
  const door = (message: Uint8Array) => b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message });

  it('opens the bytes the door passed without verifying them again, once, with the same result as a full verification', async () => {
    const sealed = await sealAliceToBob();
    expect(await door(sealed)).toMatchObject({ ok: true });
    const verify = jest.spyOn(b.verifier, 'verify');
    try {
      const fromDoor = await b.opener.open({ message: sealed, originDomain: 'a.test', recipient: 'bob@b.test' });
      expect(verify).not.toHaveBeenCalled();
      // taken once: the same bytes again are verified in full, and give the same message
      const full = await b.opener.open({ message: sealed, originDomain: 'a.test', recipient: 'bob@b.test' });
      expect(verify).toHaveBeenCalledTimes(1);
      expect(fromDoor.rfc5322.equals(full.rfc5322)).toBe(true);
      expect(fromDoor.traceHeaders).toBe(full.traceHeaders);
    } finally {
      verify.mockRestore();
    }
  });

  it('verifies in full whatever differs from what the door passed: other bytes, origin or recipient', async () => {
    const sealed = Buffer.from(await sealAliceToBob());
    expect(await door(sealed)).toMatchObject({ ok: true });
    const altered = Buffer.from(sealed);
    const chunk = parseMessageFrame(altered).chunks.find((c) => c.type === ChunkType.commonHeaders)!;
    flipBits(altered, chunk.offset + 4 + 20, 0x01);
    await expect(b.opener.open({ message: altered, originDomain: 'a.test', recipient: 'bob@b.test' })).rejects.toMatchObject({ code: expect.stringMatching(/SIGNATURE|TAMPERED/) });
    // the verdict is for (bytes, origin a.test, bob): another origin or recipient does not take it
    expect(b.verdicts.size).toBeGreaterThan(0);
    await expect(b.opener.open({ message: sealed, originDomain: 'a2.test', recipient: 'bob@b.test' })).rejects.toMatchObject({ code: 'ENVELOPE_MISMATCH' });
    expect(await door(sealed)).toMatchObject({ ok: true });
    await expect(b.opener.open({ message: sealed, originDomain: 'a.test', recipient: 'other@b.test' })).rejects.toMatchObject({ code: 'ENVELOPE_MISMATCH' });
  });

  it('still refuses a recipient suspended between the door and the pipeline', async () => {
    const sealed = await sealAliceToBob();
    expect(await door(sealed)).toMatchObject({ ok: true });
    await b.users.suspend('bob@b.test');
    try {
      await expect(b.opener.open({ message: sealed, originDomain: 'a.test', recipient: 'bob@b.test' })).rejects.toMatchObject({ code: 'RECIPIENT_SUSPENDED' });
    } finally {
      await b.users.resume('bob@b.test');
    }
  });

  it('forgets a verdict after its maximum age', async () => {
    let now = 1_000_000;
    const memo = new DoorVerdictMemo(() => now, 1000);
    const sealed = await sealAliceToBob();
    const verified = await b.verifier.verify({ message: sealed, originDomain: 'a.test' });
    memo.remember(sealed, 'a.test', verified);
    now += 1001;
    expect(memo.take(sealed, 'a.test', 'bob@b.test')).toBeUndefined();
    memo.remember(sealed, 'A.TEST', verified);
    expect(memo.take(sealed, 'a.test', 'Bob@B.test')).toBe(verified);
    expect(memo.size).toBe(0);
  });
});

describe('sender policy and suspension', () => {
  it('provisions an unknown sender on first use, or refuses it', async () => {
    await expect(a.sealer('refuse').seal({ rfc5322: MESSAGE, sender: 'frank@a.test', recipient: 'bob@b.test' })).rejects.toMatchObject({
      code: 'SENDER_REFUSED',
      reply: '550 5.7.1 sender has no DIME keys here',
    });
    expect(await a.users.find('frank@a.test')).toBeUndefined();
    const sealed = await a.sealer('provision').seal({ rfc5322: MESSAGE, sender: 'frank@a.test', recipient: 'bob@b.test' });
    expect(await a.users.find('frank@a.test')).toMatchObject({ status: 'active' });
    expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed })).toEqual({ ok: true, recipient: 'bob@b.test', author: 'frank@a.test' });
    await expect(a.sealer('provision').seal({ rfc5322: MESSAGE, sender: 'frank@b.test', recipient: 'bob@b.test' })).rejects.toMatchObject({ code: 'SENDER_REFUSED' });
  });

  it('refuses mail whose author the origin no longer serves a signet for (suspended there)', async () => {
    const sealed = await sealAliceToBob();
    await a.users.suspend('alice@a.test');
    try {
      expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: sealed })).toEqual({
        ok: false,
        reply: '554 5.7.5 the origin serves no DIME signet for the author (alice@a.test: SIGNET_NOT_FOUND)',
      });
    } finally {
      await a.users.resume('alice@a.test');
    }
  });

  it('provisions a new sender once when two deliveries race for it', async () => {
    const sealer = a.sealer('provision');
    const sealed = await Promise.all([1, 2, 3].map(() => sealer.seal({ rfc5322: MESSAGE, sender: 'gina@a.test', recipient: 'bob@b.test' })));
    const rows = (await a.ds.query(`SELECT count(*)::int AS n FROM dime_users WHERE lower(address) = 'gina@a.test'`)) as Array<{ n: number }>;
    expect(rows).toEqual([{ n: 1 }]);
    const provisions = (await a.ds.query(`SELECT count(*)::int AS n FROM audit_entries WHERE action = 'dime.user.provision' AND object_id = 'gina@a.test'`)) as Array<{ n: number }>;
    expect(provisions).toEqual([{ n: 1 }]);
    for (const message of sealed) expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message })).toMatchObject({ ok: true, author: 'gina@a.test' });
  });

  it('a suspended user neither sends nor receives; resumed, both work again', async () => {
    const before = await sealAliceToBob();
    await a.users.suspend('alice@a.test');
    await b.users.suspend('bob@b.test');
    try {
      await expect(sealAliceToBob()).rejects.toMatchObject({ code: 'SENDER_SUSPENDED', transient: false });
      expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: before })).toEqual({ ok: false, reply: '550 5.2.1 recipient DIME user suspended (bob@b.test)' });
      await expect(b.opener.open({ message: before })).rejects.toMatchObject({ code: 'RECIPIENT_SUSPENDED' });
      await expect(a.users.withUserKeys('alice@a.test', async () => 1)).rejects.toBeInstanceOf(DimeUserError);
    } finally {
      await a.users.resume('alice@a.test');
      await b.users.resume('bob@b.test');
    }
    expect(await b.door.check({ originDomain: 'a.test', destinationDomain: 'b.test', message: before })).toMatchObject({ ok: true });
  });
});

/** Alice's message sealed by the given author key (for the forgery cases). */
async function sealAs(authorSignet: Signet, signer: InMemorySigner | { publicKey: Uint8Array; sign(d: Uint8Array): Promise<Uint8Array> }): Promise<Buffer> {
  const bob = parseSignet((await b.users.find('bob@b.test'))!.signet, 'user');
  const content = splitRfc5322(MESSAGE);
  return sealMessage({
    author: { address: 'alice@a.test', signetFingerprint: signetFingerprint(authorSignet, 'crypto'), encryptionKey: signetEncryptionKey(authorSignet), signer },
    origin: { domain: 'a.test', signetFingerprint: signetFingerprint(a.orgSignet, 'crypto'), encryptionKey: signetEncryptionKey(a.orgSignet) },
    destination: { domain: 'b.test', signetFingerprint: signetFingerprint(b.orgSignet, 'crypto'), encryptionKey: signetEncryptionKey(b.orgSignet) },
    recipient: { address: 'bob@b.test', signetFingerprint: signetFingerprint(bob, 'crypto'), encryptionKey: signetEncryptionKey(bob) },
    ...content,
  });
}

function flipBits(bytes: Buffer, at: number, mask: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ mask, at);
}
