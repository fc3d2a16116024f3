// Escrow recovery and escrow reports against real PostgreSQL (as dime_app), SoftHSM2 (escrow,
// blind-index and audit keys), Redis (the BullMQ export queue and worker) and the filesystem
// archive: a quorum-approved export reproduces the journaled messages byte for byte; with M-1
// approvals, with the requester approving their own request, after a denial and after expiry
// nothing can be exported (the service refuses, the job refuses, and PostgreSQL refuses the same
// shortcuts taken in SQL); a second approval by the same approver does not count; the report's
// numbers match the seeded period and a tampered report fails verification.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents, type ConnectionOptions, type Worker } from 'bullmq';
import { AuditService, HsmAuditSigner, spkiToPem } from '@lib/audit';
import { AuditRepository, EscrowRepository, JournalRepository, RetentionRepository } from '@lib/db';
import { createComplianceEnv, type ComplianceEnv } from '../../../../test/compliance/compliance-env';
import { connectAs } from '../../../../test/audit/audit-database';
import { BlindIndexer } from '../journal/blind-index';
import { FsArchiveStore } from '../journal/fs-archive-store';
import { JournalService, loadEscrowPublicKey } from '../journal/journal.service';
import { EscrowReportService } from '../reports/escrow-report.service';
import { verifyEscrowReport } from '../reports/escrow-report';
import { isEscrowError, type EscrowErrorCode } from '../journal/escrow.error';
import { EscrowExportService, exportFilePath, type EscrowExportManifest } from './escrow-export.service';
import { createEscrowExportWorker, EscrowExportQueue } from './escrow-export.queue';
import { EscrowRecoveryService } from './escrow-recovery.service';
import { openExport } from './export-envelope';
import { JournalRecordSource } from './journal-record-source';
import { readStoredZip } from './stored-zip';

jest.setTimeout(90_000);

const HOUR = 3600_000;
const TTL = 24 * HOUR;
const connection: ConnectionOptions = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const prefix = `escrow-test-${randomBytes(4).toString('hex')}`;

let env: ComplianceEnv;
let now: Date;
const clock = (): Date => new Date(now.getTime());
let audit: AuditService;
let auditPublicKeyPem: string;
let repo: EscrowRepository;
let journal: JournalService;
let service: EscrowRecoveryService;
let exporter: EscrowExportService;
let exportQueue: EscrowExportQueue;
let events: QueueEvents;
let worker: Worker;
let exportDir: string;
let annKey: KeyObject;
let acmePolicyId: string;
let allPolicyId: string;
const originals = new Map<string, Buffer>();

async function journalMessage(sender: string, recipients: string[], content: Buffer): Promise<string> {
  const outcome = await journal.journal({ messageId: randomUUID(), direction: 'outbound', sender, recipients, content });
  if (outcome.recordId === null) throw new Error('not journaled');
  originals.set(outcome.recordId, content);
  return outcome.recordId;
}

async function expectCode(p: Promise<unknown>, code: EscrowErrorCode): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isEscrowError(err)) throw new Error(`expected EscrowError ${code}, got ${err === null ? 'success' : String(err)}`);
  expect(err.code).toBe(code);
}

/** Runs the export job for a request through Redis and the worker: its result or its failure. */
async function runJob(requestId: string): Promise<{ ok: true; value: unknown } | { ok: false; reason: string }> {
  await exportQueue.enqueueExport(requestId);
  const job = await exportQueue.queue.getJob(`escrow-export/${requestId}`);
  if (!job) throw new Error('job not found');
  try {
    return { ok: true, value: await job.waitUntilFinished(events, 30_000) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/** Export files (final or partial) of a request in the export directory. */
function filesOf(requestId: string): string[] {
  return readdirSync(exportDir).filter((f) => f.startsWith(requestId));
}

async function sqlAsApp(sql: string, params: unknown[]): Promise<string | null> {
  const c = await connectAs(env.app);
  try {
    await c.query(sql, params);
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end();
  }
}

async function auditActions(objectId: string): Promise<string[]> {
  const rows: { action: string; outcome: string }[] = await env.ds.query(`SELECT action, outcome FROM audit_entries WHERE object_id = $1 ORDER BY seq`, [objectId]);
  return rows.map((r) => `${r.action}:${r.outcome}`);
}

beforeAll(async () => {
  now = new Date('2026-11-27T12:00:00.000Z');
  env = await createComplianceEnv('dime_escrow');
  const signer = new HsmAuditSigner(env.keystore, env.labels.audit);
  auditPublicKeyPem = spkiToPem(await signer.publicKeySpki());
  audit = new AuditService(new AuditRepository(env.ds), signer, { checkpointEvery: 7, checkpointPeriodMs: HOUR, clock });
  repo = new EscrowRepository(env.ds);
  const records = new JournalRepository(env.ds);
  const retention = new RetentionRepository(env.ds);
  acmePolicyId = (await retention.insertPolicy({ name: 'acme-mail', scope: 'domain', scopeValue: 'acme.example', retentionDays: 3650, action: 'dispose', priority: 10, enabled: true })).id;
  allPolicyId = (await retention.insertPolicy({ name: 'all-mail', scope: 'all', scopeValue: null, retentionDays: 365, action: 'dispose', priority: 0, enabled: true })).id;
  const store = new FsArchiveStore(env.archiveDir);
  const indexer = new BlindIndexer(env.keystore, env.labels.blindIndex, 100);
  journal = new JournalService(records, retention, indexer, store, await loadEscrowPublicKey(env.keystore, env.labels.escrow), { defaultRetentionDays: 0, policyCacheMs: 0, clock });
  const source = new JournalRecordSource(records, indexer, env.keystore, store);
  exportDir = mkdtempSync(join(tmpdir(), 'dime-escrow-exports-'));
  exportQueue = new EscrowExportQueue(connection, prefix);
  events = new QueueEvents('escrow-export', { connection, prefix });
  await events.waitUntilReady();
  service = new EscrowRecoveryService(repo, source, audit, exportQueue, { requiredApprovals: 2, requestTtlMs: TTL, clock });
  exporter = new EscrowExportService(repo, source, audit, { exportDir, clock });
  worker = createEscrowExportWorker(exporter, connection, prefix);

  annKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const annPub = spkiToPem(generatePublicSpki(annKey));
  await service.addPrincipal('ann', ['auditor'], annPub);
  await service.addPrincipal('bob', ['escrow-approver'], null);
  await service.addPrincipal('cat', ['escrow-approver'], null);
  await service.addPrincipal('dan', ['auditor', 'escrow-approver'], spkiToPem(generatePublicSpki(generateKeyPairSync('x25519').privateKey)));
  await service.addPrincipal('eve', ['compliance-officer'], null);
});

function generatePublicSpki(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
}

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await exportQueue?.queue.obliterate({ force: true }).catch(() => undefined);
  await exportQueue?.close();
  await env?.close();
  if (exportDir) rmSync(exportDir, { recursive: true, force: true });
});

describe('escrow recovery', () => {
  const alice = 'alice@acme.example';
  let aliceRecords: string[];
  let otherRecord: string;

  beforeAll(async () => {
    now = new Date('2026-11-27T12:00:00.000Z');
    aliceRecords = [
      await journalMessage(alice, ['x@partner.example'], Buffer.from('From: alice@acme.example\r\nSubject: one\r\n\r\nfirst body\r\n', 'latin1')),
      await journalMessage('bob.c@partner.example', [alice, 'z@acme.example'], Buffer.concat([Buffer.from('Subject: two\r\n\r\n'), randomBytes(70_000), Buffer.from('\x00\xff\r\n', 'latin1')])),
    ];
    otherRecord = await journalMessage('carol@elsewhere.example', ['dave@acme.example'], Buffer.from('Subject: not alice\r\n\r\nno\r\n'));
  });

  function openForAlice(as = 'ann') {
    return service.openRequest({ as, caseRef: 'CASE-17', custodian: 'Alice@ACME.example', from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-12-01T00:00:00Z'), justification: 'litigation hold review' });
  }

  it('exports a quorum-approved request for its requester, reproducing each message byte for byte with a manifest', async () => {
    now = new Date('2026-11-27T13:00:00.000Z');
    const request = await openForAlice();
    expect(request.status).toBe('open');
    expect(request.requiredApprovals).toBe(2);
    expect((await service.approve(request.id, 'bob')).status).toBe('open');
    const approved = await service.approve(request.id, 'cat');
    expect(approved.status).toBe('approved');
    expect(approved.approvals).toBe(2);

    expect(await service.requestExport(request.id, 'ann')).toBe('queued');
    const job = await exportQueue.queue.getJob(`escrow-export/${request.id}`);
    expect(job?.data).toEqual({ requestId: request.id });
    const result = (await job?.waitUntilFinished(events, 30_000)) as { file: string; records: number };
    expect(result.records).toBe(2);
    expect(result.file).toBe(exportFilePath(exportDir, request.id, (await repo.findExport(request.id))?.id ?? 'none'));

    expect(readdirSync(exportDir).filter((f) => f.includes('.partial'))).toEqual([]);
    const sealed = readFileSync(result.file);
    // the archive on disk is ciphertext: no message byte in the clear
    expect(sealed.includes(Buffer.from('first body'))).toBe(false);
    const entries = readStoredZip(openExport(sealed, annKey));
    const manifestEntry = entries.find((e) => e.name === 'manifest.json');
    const manifest = JSON.parse(Buffer.from(manifestEntry?.data ?? []).toString('utf8')) as EscrowExportManifest;
    expect(manifest.requestId).toBe(request.id);
    expect(manifest.approvers.map((a) => a.name)).toEqual(['bob', 'cat']);
    expect(manifest.records.map((r) => r.id).sort()).toEqual([...aliceRecords].sort());
    for (const r of manifest.records) {
      const eml = entries.find((e) => e.name === r.file);
      expect(Buffer.from(eml?.data ?? []).equals(originals.get(r.id) as Buffer)).toBe(true);
      expect(r.sha256).toBe(createHash('sha256').update(originals.get(r.id) as Buffer).digest('hex'));
    }
    expect(entries.some((e) => e.name.includes(otherRecord))).toBe(false);

    expect((await service.get(request.id)).status).toBe('exported');
    const recorded = await repo.findExport(request.id);
    expect(recorded?.exportedBy).toBe('ann');
    expect(recorded?.fileSha256.toString('hex')).toBe((result as unknown as { fileSha256: string }).fileSha256);
    const actions = await auditActions(request.id);
    expect(actions).toEqual([
      'escrow.request.open:success',
      'escrow.request.approve:success',
      'escrow.request.approve:success',
      'escrow.request.approved:success',
      'escrow.export.request:success',
      'escrow.export.start:success',
      'escrow.export:success',
    ]);
    // exported once: a second export is neither queued nor run
    expect(await service.requestExport(request.id, 'ann')).toBe('exported');
    await expectCode(exporter.run(request.id), 'NOT_APPROVED');
  });

  it('exports nothing with M-1 approvals: the service, the job and PostgreSQL all refuse', async () => {
    now = new Date('2026-11-27T14:00:00.000Z');
    const request = await openForAlice();
    await service.approve(request.id, 'bob');
    await expectCode(service.requestExport(request.id, 'ann'), 'NOT_APPROVED');
    await expectCode(exporter.run(request.id), 'NOT_APPROVED');
    const job = await runJob(request.id);
    expect(job.ok).toBe(false);
    expect(job.ok ? '' : job.reason).toContain('NOT_APPROVED');
    expect(filesOf(request.id)).toEqual([]);
    // the shortcuts in SQL as the application's role
    expect(await sqlAsApp(`UPDATE escrow_requests SET status = 'approved', approved_at = now() WHERE id = $1`, [request.id])).toMatch(/fewer than 2 distinct approvals/);
    expect(
      await sqlAsApp(`INSERT INTO escrow_exports (id, request_id, file_sha256, manifest, record_count, exported_by, exported_at) VALUES ($1, $2, $3, '{}', 0, 'ann', now())`, [
        randomUUID(),
        request.id,
        randomBytes(32),
      ]),
    ).toMatch(/not approved/);
    expect(await repo.recordExport({ id: randomUUID(), requestId: request.id, fileSha256: randomBytes(32), manifest: {}, recordCount: 0, exportedBy: 'ann', exportedAt: now }, now)).toBe(false);
    expect((await service.get(request.id)).status).toBe('open');
    expect(await auditActions(request.id)).toContain('escrow.export:denied');
  });

  it('does not let the requester approve their own request, in the service or in SQL', async () => {
    now = new Date('2026-11-27T15:00:00.000Z');
    const request = await openForAlice('dan');
    await expectCode(service.approve(request.id, 'dan'), 'FORBIDDEN');
    expect(await sqlAsApp(`INSERT INTO escrow_approvals (request_id, approver, decision, decided_at) VALUES ($1, 'dan', 'approve', now())`, [request.id])).toMatch(
      /requester cannot decide/,
    );
    await service.approve(request.id, 'bob');
    const view = await service.get(request.id);
    expect(view.status).toBe('open');
    expect(view.approvals).toBe(1);
    await expectCode(service.requestExport(request.id, 'dan'), 'NOT_APPROVED');
    expect((await runJob(request.id)).ok).toBe(false);
    // a principal without the approver role cannot decide either
    await expectCode(service.approve(request.id, 'eve'), 'FORBIDDEN');
    expect(await sqlAsApp(`INSERT INTO escrow_approvals (request_id, approver, decision, decided_at) VALUES ($1, 'eve', 'approve', now())`, [request.id])).toMatch(
      /lacks the escrow-approver role/,
    );
    // nor can anyone but an auditor open a request
    await expectCode(service.openRequest({ as: 'bob', caseRef: 'X', recordIds: [aliceRecords[0] as string], justification: 'j' }), 'FORBIDDEN');
    expect(await auditActions(request.id)).toContain('escrow.request.approve:denied');
  });

  it('keeps the requester\'s export key fixed: the runtime role cannot swap it in SQL before an export', async () => {
    now = new Date('2026-11-27T15:30:00.000Z');
    await openForAlice('dan');
    const other = generatePublicSpki(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
    expect(await sqlAsApp(`UPDATE principals SET public_key = $1 WHERE name = 'dan'`, [other])).toMatch(/export key is fixed once set/);
    // nor can a key be slipped onto a keyless principal who already has requests
    expect(await sqlAsApp(`UPDATE principals SET public_key = NULL WHERE name = 'dan'`, [])).toMatch(/export key is fixed once set/);
    expect(await sqlAsApp(`UPDATE principals SET name = 'dan2' WHERE name = 'dan'`, [])).toMatch(/name never changes/);
  });

  it('exports nothing after a denial, and takes no decisions after it', async () => {
    now = new Date('2026-11-27T16:00:00.000Z');
    const request = await openForAlice();
    await service.approve(request.id, 'bob');
    expect((await service.deny(request.id, 'cat')).status).toBe('denied');
    await expectCode(service.approve(request.id, 'dan'), 'REQUEST_NOT_OPEN');
    expect(await sqlAsApp(`INSERT INTO escrow_approvals (request_id, approver, decision, decided_at) VALUES ($1, 'dan', 'approve', now())`, [request.id])).toMatch(/is denied, not open/);
    expect(await sqlAsApp(`UPDATE escrow_requests SET status = 'approved', approved_at = now() WHERE id = $1`, [request.id])).toMatch(/cannot go from denied to approved/);
    await expectCode(service.requestExport(request.id, 'ann'), 'NOT_APPROVED');
    await expectCode(exporter.run(request.id), 'NOT_APPROVED');
    expect((await runJob(request.id)).ok).toBe(false);
    expect(filesOf(request.id)).toEqual([]);
  });

  it('exports nothing after expiry, even once approved', async () => {
    now = new Date('2026-11-27T17:00:00.000Z');
    const request = await openForAlice();
    await service.approve(request.id, 'bob');
    await service.approve(request.id, 'cat');
    expect((await service.get(request.id)).status).toBe('approved');
    now = new Date(now.getTime() + TTL + 1000);
    await expectCode(service.requestExport(request.id, 'ann'), 'NOT_APPROVED');
    expect((await service.get(request.id)).status).toBe('expired');
    await expectCode(exporter.run(request.id), 'NOT_APPROVED');
    expect((await runJob(request.id)).ok).toBe(false);
    expect(filesOf(request.id)).toEqual([]);
    expect(await auditActions(request.id)).toContain('escrow.request.expire:success');

    // an open request expires by the sweep, and then takes no approvals
    now = new Date('2026-11-27T18:00:00.000Z');
    const open = await openForAlice();
    now = new Date(now.getTime() + TTL);
    expect(await service.expireDue()).toContain(open.id);
    await expectCode(service.approve(open.id, 'bob'), 'REQUEST_NOT_OPEN');
  });

  it('approves a request whose two approvals arrive at the same time, and records one export when two runs race', async () => {
    now = new Date('2026-11-28T10:00:00.000Z');
    const request = await openForAlice();
    const views = await Promise.all([service.approve(request.id, 'bob'), service.approve(request.id, 'cat')]);
    expect(views.map((v) => v.status).sort()).toEqual(['approved', 'open']);
    expect((await service.get(request.id)).status).toBe('approved');
    // and two export runs at once (a stalled job run twice): one export is recorded, with its file
    const runs = await Promise.allSettled([exporter.run(request.id), exporter.run(request.id)]);
    expect(runs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = runs.find((r) => r.status === 'rejected');
    expect(isEscrowError(rejected?.status === 'rejected' ? rejected.reason : null, 'NOT_APPROVED')).toBe(true);
    const recorded = await repo.findExport(request.id);
    expect(filesOf(request.id)).toEqual([exportFilePath(exportDir, request.id, recorded?.id ?? 'none').slice(exportDir.length + 1)]);
    const file = readFileSync(exportFilePath(exportDir, request.id, recorded?.id ?? 'none'));
    expect(createHash('sha256').update(file).digest().equals(recorded?.fileSha256 ?? Buffer.alloc(0))).toBe(true);
  });

  it('counts a second approval by the same approver once', async () => {
    now = new Date('2026-11-28T12:00:00.000Z');
    const request = await openForAlice();
    await service.approve(request.id, 'bob');
    await expectCode(service.approve(request.id, 'bob'), 'ALREADY_DECIDED');
    await expectCode(service.deny(request.id, 'bob'), 'ALREADY_DECIDED');
    expect(await sqlAsApp(`INSERT INTO escrow_approvals (request_id, approver, decision, decided_at) VALUES ($1, 'bob', 'approve', now())`, [request.id])).toMatch(/duplicate key/);
    const view = await service.get(request.id);
    expect(view.status).toBe('open');
    expect(view.approvals).toBe(1);
    await expectCode(service.requestExport(request.id, 'ann'), 'NOT_APPROVED');
    // approvals and exports are append-only for the application's role
    expect(await sqlAsApp(`DELETE FROM escrow_approvals WHERE request_id = $1`, [request.id])).toMatch(/permission denied|append-only/);
    expect(await sqlAsApp(`UPDATE escrow_requests SET requester = 'dan' WHERE id = $1`, [request.id])).toMatch(/never change/);
  });
});

describe('escrow report', () => {
  it('counts the seeded period per domain and policy, is anchored to the latest checkpoint, and a tampered copy fails verification', async () => {
    // a period of its own: January 2027 (what the tests above left open expires before it)
    now = new Date('2026-12-31T00:00:00.000Z');
    await service.expireDue();
    now = new Date('2027-01-10T09:00:00.000Z');
    for (let i = 0; i < 4; i++) await journalMessage(`user${i}@acme.example`, ['ext@partner.example'], Buffer.from(`Subject: acme ${i}\r\n\r\nx\r\n`));
    for (let i = 0; i < 3; i++) await journalMessage(`user${i}@other.example`, ['ext@partner.example'], Buffer.from(`Subject: other ${i}\r\n\r\ny\r\n`));
    const open = (custodian: string) => service.openRequest({ as: 'ann', caseRef: 'CASE-JAN', custodian, from: new Date('2027-01-01T00:00:00Z'), to: new Date('2027-01-31T00:00:00Z'), justification: 'audit' });
    const exported = await open('user0@acme.example');
    await service.approve(exported.id, 'bob');
    await service.approve(exported.id, 'cat');
    expect((await runJob(exported.id)).ok).toBe(true);
    const denied = await open('user1@acme.example');
    await service.deny(denied.id, 'bob');
    const expiring = await service.openRequest({ as: 'dan', caseRef: 'CASE-JAN-2', custodian: 'user0@other.example', from: new Date('2027-01-01T00:00:00Z'), justification: 'audit' });
    now = new Date(now.getTime() + TTL + 1);
    await service.expireDue();
    await audit.checkpoint();
    const checkpoint = await repo.latestAuditCheckpoint();

    const reports = new EscrowReportService(repo, new HsmAuditSigner(env.keystore, env.labels.audit), clock);
    const report = await reports.generate({ from: new Date('2027-01-01T00:00:00Z'), to: new Date('2027-02-01T00:00:00Z') });
    expect(report.records).toEqual([
      { domain: 'acme.example', policyId: acmePolicyId, policy: 'acme-mail', direction: 'outbound', records: 4 },
      { domain: 'other.example', policyId: allPolicyId, policy: 'all-mail', direction: 'outbound', records: 3 },
    ]);
    expect(report.requests).toEqual([
      { domain: 'acme.example', opened: 2, approved: 1, denied: 1, expired: 0, exported: 1 },
      { domain: 'other.example', opened: 1, approved: 0, denied: 0, expired: 1, exported: 0 },
    ]);
    expect(report.principals).toEqual([
      { principal: 'ann', opened: 2, approvals: 0, denials: 0, exports: 1 },
      { principal: 'bob', opened: 0, approvals: 1, denials: 1, exports: 0 },
      { principal: 'cat', opened: 0, approvals: 1, denials: 0, exports: 0 },
      { principal: 'dan', opened: 1, approvals: 0, denials: 0, exports: 0 },
    ]);
    expect(report.exports).toHaveLength(1);
    expect(report.exports[0]).toMatchObject({ requestId: exported.id, by: 'ann', records: 1, approvers: ['bob', 'cat'], domain: 'acme.example' });
    expect(report.totals).toEqual({ records: 7, opened: 3, approved: 1, denied: 1, expired: 1, exported: 1 });
    expect(report.anchor).toEqual({ checkpointSeq: checkpoint?.seq, checkpointHash: checkpoint?.hash.toString('hex'), checkpointTime: checkpoint?.time.toISOString() });
    expect(expiring.id).not.toBe(denied.id);

    // a signed report through the trail: recorded, checkpointed, anchored to that very entry
    const traced = new EscrowReportService(repo, new HsmAuditSigner(env.keystore, env.labels.audit), clock, audit);
    const viaTrail = await traced.generateSigned({ from: new Date('2027-01-01T00:00:00Z'), to: new Date('2027-02-01T00:00:00Z') }, 'json', 'ann');
    const head: { seq: string; action: string; actor: string }[] = await env.ds.query(`SELECT seq, action, actor FROM audit_entries ORDER BY seq DESC LIMIT 1`);
    expect(head[0]).toMatchObject({ action: 'escrow.report', actor: 'ann' });
    expect(viaTrail.report.anchor?.checkpointSeq).toBe(Number(head[0]?.seq));
    expect(viaTrail.report.totals).toEqual(report.totals);

    for (const format of ['json', 'csv'] as const) {
      const signed = await reports.sign(report, format);
      expect(verifyEscrowReport(signed.file, signed.signature, auditPublicKeyPem)).toMatchObject({ ok: true, reason: null });
      const text = signed.file.toString('utf8');
      const tampered = format === 'json' ? text.replace('"records": 4', '"records": 3') : text.replace('records_escrowed,4', 'records_escrowed,3');
      expect(tampered).not.toBe(text);
      expect(verifyEscrowReport(Buffer.from(tampered), signed.signature, auditPublicKeyPem)).toMatchObject({ ok: false });
      // a re-hashed signature file over the tampered report still fails: the signature covers the hash
      const forged = JSON.parse(signed.signature) as { sha256: string };
      forged.sha256 = createHash('sha256').update(tampered).digest('hex');
      expect(verifyEscrowReport(Buffer.from(tampered), JSON.stringify(forged), auditPublicKeyPem)).toMatchObject({ ok: false, reason: 'the signature does not verify' });
    }
  });
});
