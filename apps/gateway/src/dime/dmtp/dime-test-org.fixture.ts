// Test fixture: a DIME organisation made with libs/dime and in-memory keys, as appliance/hsm-init
// and `dime signet` make a real one: POK + encryption key, org signet (crypto, full, ID signatures,
// 254 = the domain), `_dx` record with `tls=` over the DX certificate, users with signets signed by
// the POK, and a LocalSignetSource serving them. Also seals + origin-signs a message between two
// such organisations. No I/O.
import {
  createOrgSignet,
  createSsr,
  createTlsSignature,
  ed25519Generate,
  formatManagementRecord,
  fullSign,
  idSign,
  InMemoryKeyAgreement,
  InMemorySigner,
  sealMessage,
  secp256k1Generate,
  serializeSignet,
  setSignetId,
  signetFingerprint,
  signOrigin,
  signSsr,
  toTxtStrings,
  type ManagementRecord,
  type Signet,
} from '@lib/dime';
import type { LocalSignetSource } from '../local-signets';

export interface TestUser {
  readonly address: string;
  readonly signer: InMemorySigner;
  readonly keys: InMemoryKeyAgreement;
  readonly signet: Signet;
  readonly bytes: Buffer;
}

export interface TestOrg {
  readonly domain: string;
  readonly pok: InMemorySigner;
  readonly keys: InMemoryKeyAgreement;
  readonly signet: Signet;
  /** The org signet, ID state (what appliance/hsm-init writes). */
  readonly signetBytes: Buffer;
  readonly record: ManagementRecord;
  readonly recordText: string;
  /** The record as TXT character-strings (several, when longer than 255). */
  readonly txt: string[];
  readonly users: ReadonlyMap<string, TestUser>;
  /** Serves the org signet for `domain` and the users' signets; `suspended` users are hidden. */
  readonly signets: LocalSignetSource & { readonly suspended: Set<string> };
}

function newSigner(): InMemorySigner {
  return new InMemorySigner(ed25519Generate().seed);
}

function newKeys(): InMemoryKeyAgreement {
  return new InMemoryKeyAgreement(secp256k1Generate().privateKey);
}

export async function createTestUser(address: string, orgPok: InMemorySigner): Promise<TestUser> {
  const signer = newSigner();
  const keys = newKeys();
  const ssr = await createSsr({ signer, encryptionPublicKey: keys.publicKey });
  let signet = await signSsr(ssr, orgPok);
  signet = await fullSign(signet, orgPok);
  signet = await idSign(setSignetId(signet, address), orgPok);
  return { address, signer, keys, signet, bytes: serializeSignet(signet) };
}

export interface CreateTestOrgOptions {
  readonly domain: string;
  /** `dx=` hosts (default none: MX, then the bare domain). */
  readonly dx?: readonly string[];
  /** DER certificates of the DX hosts: each gets a `tls=` signature by the POK. */
  readonly certificates?: readonly Uint8Array[];
  readonly expiryDays?: number;
  /** Local parts of users to create. */
  readonly users?: readonly string[];
}

export async function createTestOrg(options: CreateTestOrgOptions): Promise<TestOrg> {
  const { domain } = options;
  const pok = newSigner();
  const keys = newKeys();
  let signet = await createOrgSignet({ pok, encryptionPublicKey: keys.publicKey });
  signet = await fullSign(signet, pok);
  signet = await idSign(setSignetId(signet, domain), pok);
  const record: ManagementRecord = {
    version: 1,
    poks: [Buffer.from(pok.publicKey)],
    tls: await Promise.all((options.certificates ?? []).map((der) => createTlsSignature(pok, der))),
    policy: 'strict',
    syndicates: [],
    deliver: [...(options.dx ?? [])],
    expiryDays: options.expiryDays ?? 30,
    subdomain: 'strict',
  };
  const recordText = formatManagementRecord(record);
  const users = new Map<string, TestUser>();
  for (const local of options.users ?? []) {
    const user = await createTestUser(`${local}@${domain}`, pok);
    users.set(user.address, user);
  }
  const signetBytes = serializeSignet(signet);
  const suspended = new Set<string>();
  const signets = {
    suspended,
    orgSignet: (d: string) => Promise.resolve(d === domain ? signetBytes : undefined),
    userSignet: (a: string) => Promise.resolve(suspended.has(a) ? undefined : users.get(a)?.bytes),
  };
  return { domain, pok, keys, signet, signetBytes, record, recordText, txt: toTxtStrings(recordText), users, signets };
}

/** A D/MIME message from `author` (a user of `origin`) to `recipient` (a user of `destination`), sealed and origin-signed. */
export async function sealTestMessage(origin: TestOrg, author: string, destination: TestOrg, recipient: string, text = 'Hello over DMTP'): Promise<Buffer> {
  const a = origin.users.get(author);
  const r = destination.users.get(recipient);
  if (!a || !r) throw new RangeError(`unknown test user ${a ? recipient : author}`);
  const sealed = await sealMessage({
    author: { address: author, signetFingerprint: signetFingerprint(a.signet, 'crypto'), encryptionKey: a.keys.publicKey, signer: a.signer },
    origin: { domain: origin.domain, signetFingerprint: signetFingerprint(origin.signet, 'crypto'), encryptionKey: origin.keys.publicKey },
    destination: { domain: destination.domain, signetFingerprint: signetFingerprint(destination.signet, 'crypto'), encryptionKey: destination.keys.publicKey },
    recipient: { address: recipient, signetFingerprint: signetFingerprint(r.signet, 'crypto'), encryptionKey: r.keys.publicKey },
    commonHeaders: Buffer.from(`Date: Fri, 27 Nov 2026 12:00:00 +0000\r\nTo: <${recipient}>\r\nFrom: <${author}>\r\nSubject: test\r\n`),
    otherHeaders: Buffer.from('Message-ID: <t1@test>\r\n'),
    display: [Buffer.from(`${text}\r\n`)],
  });
  return signOrigin(sealed, { keys: origin.keys, signer: origin.pok, authorSigningKey: a.signer.publicKey });
}
