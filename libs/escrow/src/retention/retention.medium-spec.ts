// Retention, legal holds and disposition against real PostgreSQL (as dime_app), SoftHSM2, Redis
// (BullMQ) and the filesystem archive: a locked policy resists shortening, disabling, deleting and
// early disposal through the service AND through SQL as dime_app; a held record survives a sweep;
// an expired record is crypto-shredded (key and blob gone) and listed in an HSM-signed certificate
// that verifies offline, while a tampered certificate does not; `review` policies queue records.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { AuditService, HsmAuditSigner, spkiToPem } from '@lib/audit';
import { AuditRepository, JournalRepository, RetentionRepository, type JournalRecord } from '@lib/db';
import { QUEUES } from '@lib/jobs';
import { connectAs } from '../../../../test/audit/audit-database';
import { createComplianceEnv, type ComplianceEnv } from '../../../../test/compliance/compliance-env';
import { BlindIndexer } from '../journal/blind-index';
import { FsArchiveStore } from '../journal/fs-archive-store';
import { openJournalRecord } from '../journal/journal-reader';
import { JournalService, loadEscrowPublicKey } from '../journal/journal.service';
import { verifyDispositionCertificate, type SignedDispositionCertificate } from '../disposition/disposition-certificate';
import { DispositionService } from '../disposition/disposition.service';
import { createRetentionSweepWorker, RetentionSweepQueue } from '../disposition/retention-sweep.queue';
import { RetentionService } from './retention.service';

jest.setTimeout(90_000);

const DAY = 86_400_000;
const operator = { id: 'operator:test', address: '127.0.0.1' };
let env: ComplianceEnv;
let records: JournalRepository;
let retentionRepo: RetentionRepository;
let store: FsArchiveStore;
let indexer: BlindIndexer;
let audit: AuditService;
let signer: HsmAuditSigner;
let service: RetentionService;
let disposition: DispositionService;
let publicKeyPem: string;

/** Journals with a clock `daysAgo` in the past. */
async function journalAt(daysAgo: number, sender: string, recipients: string[], content = `message ${randomUUID()}`): Promise<JournalRecord> {
  const j = new JournalService(records, retentionRepo, indexer, store, await loadEscrowPublicKey(env.keystore, env.labels.escrow), {
    defaultRetentionDays: 0,
    policyCacheMs: 0,
    clock: () => new Date(Date.now() - daysAgo * DAY),
  });
  const messageId = randomUUID();
  await j.journal({ messageId, direction: 'outbound', sender, recipients, content: Buffer.from(content) });
  const r = await records.findByMessageId(messageId);
  if (r === null) throw new Error('not journaled');
  return r;
}

async function asApp(sql: string, params: unknown[] = []): Promise<unknown> {
  const c = await connectAs(env.app);
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

async function auditActions(): Promise<string[]> {
  const rows: { action: string }[] = await env.ds.query('SELECT action FROM audit_entries ORDER BY seq');
  return rows.map((r) => r.action);
}

beforeAll(async () => {
  env = await createComplianceEnv('dime_retention');
  records = new JournalRepository(env.ds);
  retentionRepo = new RetentionRepository(env.ds);
  store = new FsArchiveStore(env.archiveDir);
  indexer = new BlindIndexer(env.keystore, env.labels.blindIndex);
  signer = new HsmAuditSigner(env.keystore, env.labels.audit);
  publicKeyPem = spkiToPem(await signer.publicKeySpki());
  audit = new AuditService(new AuditRepository(env.ds), signer, { checkpointEvery: 1000, checkpointPeriodMs: 3600_000 });
  service = new RetentionService(retentionRepo, records, indexer, audit);
  disposition = new DispositionService(records, store, signer, audit, { batchSize: 2 });
  await service.addPolicy({ name: 'short', scope: 'domain', scopeValue: 'short.example', retentionDays: 1, priority: 10 }, operator);
  await service.addPolicy({ name: 'reviewed', scope: 'domain', scopeValue: 'review.example', retentionDays: 1, action: 'review', priority: 10 }, operator);
  await service.addPolicy({ name: 'books-and-records', scope: 'all', retentionDays: 2555, priority: 0 }, operator);
});

afterAll(async () => {
  await env?.close();
});

describe('locked policies', () => {
  it('refuse shortening, disabling, deleting and unlocking through the service and through SQL as dime_app', async () => {
    const policy = await service.lockPolicy((await service.findPolicy('books-and-records')).id, operator);
    expect(policy.locked).toBe(true);

    await expect(service.updatePolicy(policy.id, { retentionDays: 30 }, operator)).rejects.toMatchObject({ code: 'POLICY_LOCKED' });
    await expect(service.updatePolicy(policy.id, { enabled: false }, operator)).rejects.toMatchObject({ code: 'POLICY_LOCKED' });
    await expect(service.updatePolicy(policy.id, { priority: -5 }, operator)).rejects.toMatchObject({ code: 'POLICY_LOCKED' });
    await expect(service.deletePolicy(policy.id, operator)).rejects.toMatchObject({ code: 'POLICY_LOCKED' });

    for (const sql of [
      'UPDATE retention_policies SET retention_days = 1 WHERE id = $1',
      'UPDATE retention_policies SET enabled = false WHERE id = $1',
      'UPDATE retention_policies SET locked = false, locked_at = NULL WHERE id = $1',
      "UPDATE retention_policies SET scope = 'domain', scope_value = 'nobody.example' WHERE id = $1",
      'DELETE FROM retention_policies WHERE id = $1',
    ]) {
      await expect(asApp(sql, [policy.id])).rejects.toMatchObject({ code: '42501' });
    }
    await expect(asApp('TRUNCATE retention_policies CASCADE')).rejects.toMatchObject({ code: expect.stringMatching(/^42501$/) });
    await expect(asApp('ALTER TABLE retention_policies DISABLE TRIGGER retention_policies_guard')).rejects.toMatchObject({ code: '42501' });

    // extending is allowed, through the service and through SQL
    expect((await service.updatePolicy(policy.id, { retentionDays: 3650 }, operator)).retentionDays).toBe(3650);
    await asApp('UPDATE retention_policies SET retention_days = 3651 WHERE id = $1', [policy.id]);
    const after = await service.findPolicy(policy.id);
    expect({ locked: after.locked, enabled: after.enabled, retentionDays: after.retentionDays }).toEqual({ locked: true, enabled: true, retentionDays: 3651 });
    expect(await auditActions()).toEqual(expect.arrayContaining(['retention.policy.lock', 'retention.policy.update']));
  });

  it('keep their records from early disposal: the sweep leaves them and dime_app cannot shred, shorten or delete them', async () => {
    const record = await journalAt(0, 'trader@bank.example', ['client@fund.example']);
    expect(record.retainUntil.getTime()).toBeGreaterThan(Date.now() + 3000 * DAY);

    const result = await disposition.sweep();
    expect(result.certificateIds.length).toBeGreaterThanOrEqual(0);
    expect((await records.findById(record.id))?.wrappedKey).not.toBeNull();

    for (const [sql, params] of [
      ['UPDATE journal_records SET wrapped_key = NULL, ephemeral_public_key = NULL, disposed_at = now(), disposition_id = $2 WHERE id = $1', [record.id, randomUUID()]],
      ['UPDATE journal_records SET retain_until = journaled_at + interval \'1 second\' WHERE id = $1', [record.id]],
      ["UPDATE journal_records SET disposition_action = 'review' WHERE id = $1", [record.id]],
      ["UPDATE journal_records SET local_domain = 'other.example' WHERE id = $1", [record.id]],
      ['UPDATE journal_records SET sender_index = $2 WHERE id = $1', [record.id, Buffer.alloc(32)]],
      ['UPDATE journal_records SET wrapped_key = $2 WHERE id = $1', [record.id, Buffer.alloc(40)]],
      ['DELETE FROM journal_records WHERE id = $1', [record.id]],
    ] as const) {
      await expect(asApp(sql, [...params])).rejects.toMatchObject({ code: '42501' });
    }
    await expect(asApp('TRUNCATE journal_records CASCADE')).rejects.toMatchObject({ code: '42501' });
    // nor queue its blob for deletion
    await expect(asApp('INSERT INTO journal_blob_deletions (record_id, blob_key) VALUES ($1, $2)', [record.id, record.blobKey])).rejects.toMatchObject({ code: '42501' });
    const opened = await openJournalRecord(env.keystore, store, (await records.findById(record.id)) as JournalRecord);
    expect(opened.toString()).toMatch(/^message /);
  });
});

describe('legal holds and disposition', () => {
  it('shreds expired records into a signed certificate, spares held ones until the hold is released', async () => {
    const held = await journalAt(10, 'custodian@short.example', ['peer@else.example'], 'held content');
    const heldAsRecipient = await journalAt(10, 'someone@else.example', ['Custodian@SHORT.example'], 'held as recipient');
    const outOfRange = await journalAt(40, 'custodian@short.example', ['peer@else.example'], 'before the hold range');
    const expired = [await journalAt(10, 'a@short.example', ['b@x.example'], 'expired one'), await journalAt(9, 'c@short.example', ['d@x.example'], 'expired two')];

    const hold = await service.placeHold(
      { caseName: 'SEC v. Example', custodians: ['custodian@short.example'], dateFrom: new Date(Date.now() - 20 * DAY), reason: 'subpoena' },
      operator,
    );
    expect(await records.isHeld(held.id)).toBe(true);
    expect(await records.isHeld(heldAsRecipient.id)).toBe(true);
    expect(await records.isHeld(outOfRange.id)).toBe(false);

    // the database refuses to shred a held record even though it is past retention
    await expect(
      asApp('UPDATE journal_records SET wrapped_key = NULL, ephemeral_public_key = NULL, disposed_at = now(), disposition_id = $2 WHERE id = $1', [held.id, randomUUID()]),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(asApp('DELETE FROM legal_holds WHERE id = $1', [hold.id])).rejects.toMatchObject({ code: '42501' });
    await expect(asApp("UPDATE legal_holds SET date_from = now() WHERE id = $1", [hold.id])).rejects.toMatchObject({ code: '42501' });

    const progress: number[] = [];
    const result = await disposition.sweep((p) => {
      progress.push(p.shredded);
    });
    const shreddedIds = [outOfRange.id, ...expired.map((r) => r.id)].sort();
    expect(result.shredded).toBe(3);
    expect(result.blobsDeleted).toBe(3);
    expect(result.certificateIds).toHaveLength(2); // batchSize 2
    expect(progress.at(-1)).toBe(3);

    for (const r of [held, heldAsRecipient]) {
      const now = await records.findById(r.id);
      expect(now?.wrappedKey).not.toBeNull();
      expect(existsSync(join(env.archiveDir, r.blobKey))).toBe(true);
    }
    expect((await openJournalRecord(env.keystore, store, (await records.findById(held.id)) as JournalRecord)).toString()).toBe('held content');

    for (const id of shreddedIds) {
      const r = (await records.findById(id)) as JournalRecord;
      expect(r.wrappedKey).toBeNull();
      expect(r.ephemeralPublicKey).toBeNull();
      expect(r.disposedAt).not.toBeNull();
      expect(existsSync(join(env.archiveDir, r.blobKey))).toBe(false);
      expect(await records.isBlobDeletionPending(id)).toBe(false);
      await expect(openJournalRecord(env.keystore, store, r)).rejects.toMatchObject({ code: 'RECORD_SHREDDED' });
      // a shredded key cannot come back
      await expect(asApp('UPDATE journal_records SET wrapped_key = $2, ephemeral_public_key = $3 WHERE id = $1', [id, Buffer.alloc(40), Buffer.alloc(97)])).rejects.toMatchObject({
        code: '42501',
      });
    }

    // the certificates list exactly the shredded records with their content hashes, and verify offline
    const listed = new Map<string, string>();
    for (const certId of result.certificateIds) {
      const file = await disposition.certificate(certId);
      if (file === null) throw new Error('certificate missing');
      const v = verifyDispositionCertificate(JSON.stringify(file), publicKeyPem);
      expect(v).toMatchObject({ ok: true, reason: null });
      for (const r of v.certificate?.records ?? []) listed.set(r.id, r.sha256);
    }
    expect([...listed.keys()].sort()).toEqual(shreddedIds);
    for (const r of [outOfRange, ...expired]) expect(listed.get(r.id)).toBe(r.contentSha256.toString('hex'));
    await expect(asApp('DELETE FROM disposition_certificates')).rejects.toMatchObject({ code: '42501' });

    // tampering: a changed hash, a dropped record, a foreign key
    const file = (await disposition.certificate(result.certificateIds[0] as string)) as SignedDispositionCertificate;
    const text = file.certificate;
    const firstHash = (JSON.parse(text) as { records: { sha256: string }[] }).records[0]?.sha256 ?? '';
    const flipped = firstHash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(verifyDispositionCertificate({ ...file, certificate: text.replace(firstHash, flipped) }, publicKeyPem)).toMatchObject({ ok: false, reason: 'signature does not verify' });
    const cert = JSON.parse(text) as { records: unknown[]; count: number };
    const dropped = JSON.stringify({ ...cert, records: cert.records.slice(1), count: cert.count - 1 });
    expect(verifyDispositionCertificate({ ...file, certificate: dropped }, publicKeyPem).ok).toBe(false);
    const { generateKeyPairSync } = await import('node:crypto');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    expect(verifyDispositionCertificate(file, other).ok).toBe(false);

    // released: the next sweep shreds the formerly held records
    await service.releaseHold(hold.id, operator);
    await expect(service.releaseHold(hold.id, operator)).rejects.toMatchObject({ code: 'HOLD_RELEASED' });
    const second = await disposition.sweep();
    expect(second.shredded).toBe(2);
    expect((await records.findById(held.id))?.wrappedKey).toBeNull();
    expect(await auditActions()).toEqual(expect.arrayContaining(['retention.hold.place', 'retention.hold.release', 'retention.dispose']));
  });

  it('queues records of a review policy for disposition review instead of shredding them', async () => {
    const r = await journalAt(5, 'x@review.example', ['y@z.example'], 'needs review');
    const first = await disposition.sweep();
    expect(first.reviewQueued).toBe(1);
    expect(first.shredded).toBe(0);
    const pending = await service.listPendingReview();
    expect(pending.map((p) => p.id)).toEqual([r.id]);
    await expect(
      asApp('UPDATE journal_records SET wrapped_key = NULL, ephemeral_public_key = NULL, disposed_at = now(), disposition_id = $2 WHERE id = $1', [r.id, randomUUID()]),
    ).rejects.toMatchObject({ code: '42501' });
    expect(await service.approveDisposal([r.id], operator)).toEqual([r.id]);
    const second = await disposition.sweep();
    expect(second.shredded).toBe(1);
    expect((await records.findById(r.id))?.disposedAt).not.toBeNull();
  });

  it('runs the sweep as a BullMQ job with progress', async () => {
    const r = await journalAt(3, 'q@short.example', ['w@e.example']);
    const prefix = `dime-test-${randomUUID().slice(0, 8)}`;
    const connection = { host: '127.0.0.1', port: 6379 };
    const queue = new RetentionSweepQueue(connection, prefix);
    const events = new QueueEvents(QUEUES.retentionSweep, { connection, prefix });
    const worker = createRetentionSweepWorker(disposition, connection, prefix);
    try {
      await events.waitUntilReady();
      const progress: unknown[] = [];
      events.on('progress', ({ data }) => progress.push(data));
      const jobId = await queue.runNow();
      const job = await queue.queue.getJob(jobId);
      const result = (await job?.waitUntilFinished(events, 30_000)) as { shredded: number };
      expect(result.shredded).toBe(1);
      expect(progress.length).toBeGreaterThan(0);
      expect((await records.findById(r.id))?.wrappedKey).toBeNull();
      await queue.schedule(3_600_000);
      expect(await queue.queue.getJobSchedulers()).toHaveLength(1);
      await queue.schedule(0);
      expect(await queue.queue.getJobSchedulers()).toHaveLength(0);
    } finally {
      await worker.close();
      await events.close();
      await queue.queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
