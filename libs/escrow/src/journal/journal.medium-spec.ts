// The compliance journal against real PostgreSQL (as dime_app), SoftHSM2 and the filesystem archive:
// a journaled message cannot be read from the database and the blob store alone (ciphertext, no
// addresses), the HSM escrow key reproduces it byte for byte, journaling is idempotent per message,
// and a tampered blob or a wrapped key moved to another record is refused.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { JournalRepository, RetentionRepository } from '@lib/db';
import { createComplianceEnv, type ComplianceEnv } from '../../../../test/compliance/compliance-env';
import { connectAs } from '../../../../test/audit/audit-database';
import { BlindIndexer } from './blind-index';
import { FsArchiveStore } from './fs-archive-store';
import { openJournalRecord } from './journal-reader';
import { JournalService, loadEscrowPublicKey } from './journal.service';
import { EscrowJournalSink } from './escrow-journal-sink';
import { createComplianceJournal } from './journal.factory';
import { journalConfigFromEnv } from './journal.config';
import { journalBlobKey } from './archive-store';
import { OrphanBlobSweep } from '../disposition/orphan-blob-sweep';

jest.setTimeout(60_000);

let env: ComplianceEnv;
let journal: JournalService;
let records: JournalRepository;
let store: FsArchiveStore;
let indexer: BlindIndexer;

const MESSAGE = Buffer.from(
  'From: Alice Secret <alice.secret@acme-corp.example>\r\nTo: bob.hidden@partner-bank.example\r\nSubject: merger codename BLUEBIRD\r\n\r\n' +
    'The BLUEBIRD figures are attached.\r\n\x00\xff binary tail',
  'latin1',
);

beforeAll(async () => {
  env = await createComplianceEnv();
  records = new JournalRepository(env.ds);
  const retention = new RetentionRepository(env.ds);
  await retention.insertPolicy({ name: 'all-mail', scope: 'all', scopeValue: null, retentionDays: 2555, action: 'dispose', priority: 0, enabled: true });
  store = new FsArchiveStore(env.archiveDir);
  indexer = new BlindIndexer(env.keystore, env.labels.blindIndex, 100);
  journal = new JournalService(records, retention, indexer, store, await loadEscrowPublicKey(env.keystore, env.labels.escrow), { defaultRetentionDays: 0 });
});

afterAll(async () => {
  await env?.close();
});

function entry(messageId: string, body: Buffer) {
  return {
    message: { id: messageId, direction: 'outbound' as const, mailFrom: 'Alice.Secret@ACME-corp.example' },
    recipients: [{ recipient: { address: 'bob.hidden@partner-bank.example' } }],
    rejected: [{ recipient: { address: 'carol.bcc@elsewhere.example' } }],
    readBody: async () => body,
  };
}

describe('journal records', () => {
  it('keeps only ciphertext and blind indexes: neither the database nor the blob store reveals content or addresses', async () => {
    const messageId = randomUUID();
    const outcome = await new EscrowJournalSink(journal).recordWithOutcome(entry(messageId, MESSAGE));
    expect(outcome.inserted).toBe(true);
    const record = await records.findByMessageId(messageId);
    expect(record).not.toBeNull();

    // everything PostgreSQL holds about the record, as text (bytea rendered as hex and as escape)
    const client = await connectAs(env.owner);
    let dump: string;
    try {
      const res = await client.query(
        `SELECT row_to_json(r)::text AS j, encode(r.wrapped_key, 'escape') || encode(r.sender_index, 'escape') AS e FROM journal_records r WHERE id = $1`,
        [record?.id],
      );
      dump = `${res.rows[0].j}\n${res.rows[0].e}`;
    } finally {
      await client.end();
    }
    const blob = readFileSync(join(env.archiveDir, record?.blobKey ?? 'missing'));
    const hex = (s: string): string => Buffer.from(s).toString('hex');
    // the one plaintext fact: the organisation's own domain (for per-domain escrow reports)
    expect(record?.localDomain).toBe('acme-corp.example');
    for (const secret of ['alice.secret', 'bob.hidden', 'partner-bank', 'carol.bcc', 'elsewhere', 'BLUEBIRD', 'merger']) {
      expect(dump.toLowerCase()).not.toContain(secret.toLowerCase());
      expect(dump).not.toContain(hex(secret));
      expect(blob.includes(Buffer.from(secret))).toBe(false);
    }
    expect(blob.length).toBe(MESSAGE.length + 4 + 12 + 16);
    expect(record?.size).toBe(MESSAGE.length);
    // sender and both recipients (delivered and refused) are findable by their blind index only
    expect(record?.senderIndex.equals(await indexer.addressIndex('alice.secret@acme-corp.example'))).toBe(true);
    expect(record?.recipientIndexes).toHaveLength(2);
    const found = await records.find({ custodianIndexes: [await indexer.addressIndex('CAROL.BCC@elsewhere.example')], limit: 10 });
    expect(found.map((r) => r.id)).toEqual([record?.id]);
  });

  it('reproduces the original bytes exactly with the HSM escrow key', async () => {
    const messageId = randomUUID();
    await journal.journal({ messageId, direction: 'inbound', sender: '', recipients: ['x@y.example'], content: MESSAGE });
    const record = await records.findByMessageId(messageId);
    if (record === null) throw new Error('no record');
    const opened = await openJournalRecord(env.keystore, store, record);
    expect(opened.equals(MESSAGE)).toBe(true);
  });

  it('journals a message once however often the pipeline retries it', async () => {
    const messageId = randomUUID();
    const sink = new EscrowJournalSink(journal);
    const first = await sink.recordWithOutcome(entry(messageId, MESSAGE));
    const again = await Promise.all([sink.recordWithOutcome(entry(messageId, MESSAGE)), sink.recordWithOutcome(entry(messageId, MESSAGE))]);
    expect(first.inserted).toBe(true);
    for (const o of again) expect(o).toEqual({ recordId: first.recordId, inserted: false });
    const rows = await records.find({ ids: [first.recordId ?? ''], limit: 10 });
    expect(rows).toHaveLength(1);
  });

  it('refuses a tampered blob and a wrapped key moved to another record', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await journal.journal({ messageId: a, direction: 'outbound', sender: 'a@x.example', recipients: ['b@x.example'], content: Buffer.from('first message') });
    await journal.journal({ messageId: b, direction: 'outbound', sender: 'a@x.example', recipients: ['b@x.example'], content: Buffer.from('second message') });
    const ra = await records.findByMessageId(a);
    const rb = await records.findByMessageId(b);
    if (ra === null || rb === null) throw new Error('no records');

    const swapped = { ...ra, wrappedKey: rb.wrappedKey, ephemeralPublicKey: rb.ephemeralPublicKey };
    await expect(openJournalRecord(env.keystore, store, swapped)).rejects.toMatchObject({ code: 'INTEGRITY' });

    const blob = await store.get(ra.blobKey);
    blob.writeUInt8((blob.at(-20) ?? 0) ^ 0x01, blob.length - 20);
    const tampered = { get: async () => blob };
    await expect(openJournalRecord(env.keystore, tampered, ra)).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect((await openJournalRecord(env.keystore, store, ra)).toString()).toBe('first message');
  });

  it('is wired from the configuration as the gateway does it (JOURNAL_ENABLED, ARCHIVE_DIR)', async () => {
    expect(await createComplianceJournal(journalConfigFromEnv({}), env.keystore, env.ds)).toBeNull();
    const wired = await createComplianceJournal(journalConfigFromEnv({ JOURNAL_ENABLED: 'true', ARCHIVE_DIR: env.archiveDir }), env.keystore, env.ds);
    if (wired === null) throw new Error('not wired');
    const messageId = randomUUID();
    await wired.sink.record(entry(messageId, MESSAGE));
    const record = await records.findByMessageId(messageId);
    if (record === null) throw new Error('no record');
    expect((await openJournalRecord(env.keystore, wired.store, record)).equals(MESSAGE)).toBe(true);
  });

  it('does not journal mail no policy matches when there is no default retention', async () => {
    const retention = new RetentionRepository(env.ds);
    const narrow = new JournalService(
      records,
      { listPolicies: async () => (await retention.listPolicies(true)).map((p) => ({ ...p, scope: 'domain' as const, scopeValue: 'only.example' })) },
      indexer,
      store,
      await loadEscrowPublicKey(env.keystore, env.labels.escrow),
      { defaultRetentionDays: 0 },
    );
    const outcome = await narrow.journal({ messageId: randomUUID(), direction: 'inbound', sender: 'a@other.example', recipients: ['b@other.example'], content: MESSAGE });
    expect(outcome).toEqual({ recordId: null, inserted: false });
  });
});

describe('orphan blob sweep', () => {
  it('deletes old blobs no record names (a failed insert, an interrupted put), keeps records and young blobs, and records the sweep', async () => {
    const messageId = randomUUID();
    await journal.journal({ messageId, direction: 'outbound', sender: 'a@b.example', recipients: ['c@d.example'], content: MESSAGE });
    const kept = (await records.findByMessageId(messageId))!;
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    // a journal attempt that wrote its blob and then could not insert its record
    const failed = journalBlobKey(randomUUID());
    await store.put(failed, Buffer.from('ciphertext whose key was never stored'), { retainUntil: new Date() });
    utimesSync(join(env.archiveDir, failed), twoHoursAgo, twoHoursAgo);
    // a put interrupted between its temporary file and the rename
    const tmp = `${journalBlobKey(randomUUID())}.0a1b2c3d4e5f.tmp`;
    mkdirSync(dirname(join(env.archiveDir, tmp)), { recursive: true });
    writeFileSync(join(env.archiveDir, tmp), 'half a blob');
    utimesSync(join(env.archiveDir, tmp), twoHoursAgo, twoHoursAgo);
    // an attempt that may still be between its put and its insert
    const young = journalBlobKey(randomUUID());
    await store.put(young, Buffer.from('in flight'), { retainUntil: new Date() });
    // the record's blob is old too: it stays because a record names it
    utimesSync(join(env.archiveDir, kept.blobKey), twoHoursAgo, twoHoursAgo);

    const audited: { action: string; details?: unknown }[] = [];
    const sweep = new OrphanBlobSweep(store, records, { record: async (e) => void audited.push(e) as never });
    const dry = await sweep.sweep({ dryRun: true });
    expect(dry).toMatchObject({ orphans: 2, deleted: 0, locked: 0 });
    expect([...dry.keys].sort()).toEqual([failed, tmp].sort());
    expect(dry.young).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(env.archiveDir, failed))).toBe(true);

    const done = await sweep.sweep();
    expect(done).toMatchObject({ orphans: 2, deleted: 2, locked: 0 });
    expect(existsSync(join(env.archiveDir, failed))).toBe(false);
    expect(existsSync(join(env.archiveDir, tmp))).toBe(false);
    expect(existsSync(join(env.archiveDir, young))).toBe(true);
    expect((await openJournalRecord(env.keystore, store, kept)).equals(MESSAGE)).toBe(true);
    expect(audited.map((e) => e.action)).toEqual(['journal.orphans.check', 'journal.orphans.sweep']);
    expect(audited[1]!.details).toMatchObject({ orphans: 2, deleted: 2, locked: 0 });
  });

  it('counts an orphan the store refuses to delete (a retention lock) as locked and leaves it for a later sweep', async () => {
    const failed = journalBlobKey(randomUUID());
    await store.put(failed, Buffer.from('locked ciphertext'), { retainUntil: new Date() });
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(env.archiveDir, failed), old, old);
    const locking = Object.assign(Object.create(store) as FsArchiveStore, {
      delete: async () => Promise.reject(new Error('HTTP 403 AccessDenied: object is WORM protected')),
    });
    const result = await new OrphanBlobSweep(locking, records, { record: async () => undefined as never }).sweep();
    expect(result).toMatchObject({ deleted: 0, locked: result.orphans });
    expect(result.keys).toContain(failed);
    expect(existsSync(join(env.archiveDir, failed))).toBe(true);
  });
});
