// The retention/disposition subcommands that need the installation: the database (runtime role),
// the HSM (blind-index and audit keys), the archive store and, to enqueue, Redis. Results are JSON
// on stdout. The operator is recorded in the audit trail as `operator:<login>`.
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { auditConfigFromEnv, AuditService, HsmAuditSigner } from '@lib/audit';
import { AuditRepository, dbConfigFromEnv, JournalRepository, openDatabase, RetentionRepository, type LegalHoldRecord, type RetentionPolicyRecord } from '@lib/db';
import {
  BlindIndexer,
  createArchiveStore,
  DispositionService,
  journalConfigFromEnv,
  OrphanBlobSweep,
  RetentionService,
  RetentionSweepQueue,
  type Actor,
  type LegalHoldInput,
  type RetentionPolicyInput,
} from '@lib/escrow';
import { hsmConfigFromEnv, HsmKeystore, keyLabel } from '@lib/hsm';
import { jobsConfigFromEnv } from '@lib/jobs';
import { exportSoftHsmConf, loadOperatorEnv, operatorHome } from '../operator-cli.config';
import { OperatorInputError } from '../operator-cli.error';
import { writeOut } from '../operator-io';

interface Online {
  retention: RetentionService;
  disposition: DispositionService;
  journal: JournalRepository;
  orphans: OrphanBlobSweep;
}

const actor = (): Actor => ({ id: `operator:${userInfo().username}`, address: null });
const json = (value: unknown): number => {
  writeOut(`${JSON.stringify(value)}\n`);
  return 0;
};

async function withOnline<T>(fn: (o: Online) => Promise<T>): Promise<T> {
  const env = loadOperatorEnv();
  const journalConfig = journalConfigFromEnv(env);
  const archiveDir = isAbsolute(journalConfig.archiveDir) ? journalConfig.archiveDir : join(operatorHome(env), journalConfig.archiveDir);
  exportSoftHsmConf(env);
  const keystore = HsmKeystore.open(hsmConfigFromEnv(env));
  try {
    const ds = await openDatabase(dbConfigFromEnv(env), { applicationName: 'dime-gateway-cli' });
    try {
      const signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
      const audit = new AuditService(new AuditRepository(ds), signer, auditConfigFromEnv(env));
      const journal = new JournalRepository(ds);
      const indexer = new BlindIndexer(keystore, keyLabel('blind-index'), journalConfig.blindIndexCacheSize);
      const store = createArchiveStore({ ...journalConfig, archiveDir });
      return await fn({
        retention: new RetentionService(new RetentionRepository(ds), journal, indexer, audit),
        disposition: new DispositionService(journal, store, signer, audit, { batchSize: journalConfig.sweepBatchSize }),
        journal,
        orphans: new OrphanBlobSweep(store, journal, audit),
      });
    } finally {
      await ds.destroy();
    }
  } finally {
    keystore.close();
  }
}

const policyJson = (p: RetentionPolicyRecord): Record<string, unknown> => ({
  id: p.id,
  name: p.name,
  scope: p.scope,
  value: p.scopeValue,
  days: p.retentionDays,
  action: p.action,
  priority: p.priority,
  enabled: p.enabled,
  locked: p.locked,
  lockedAt: p.lockedAt?.toISOString() ?? null,
});

const holdJson = (h: LegalHoldRecord): Record<string, unknown> => ({
  id: h.id,
  case: h.caseName,
  custodians: h.custodianIndexes.length,
  from: h.dateFrom?.toISOString() ?? null,
  to: h.dateTo?.toISOString() ?? null,
  reason: h.reason,
  placedBy: h.placedBy,
  placedAt: h.placedAt.toISOString(),
  releasedBy: h.releasedBy,
  releasedAt: h.releasedAt?.toISOString() ?? null,
});

export const addPolicy = (input: RetentionPolicyInput): Promise<number> => withOnline(async (o) => json(policyJson(await o.retention.addPolicy(input, actor()))));
export const listPolicies = (): Promise<number> => withOnline(async (o) => json((await o.retention.listPolicies()).map(policyJson)));
export const lockPolicy = (idOrName: string): Promise<number> =>
  withOnline(async (o) => json(policyJson(await o.retention.lockPolicy((await o.retention.findPolicy(idOrName)).id, actor()))));
export const extendPolicy = (idOrName: string, days: number): Promise<number> =>
  withOnline(async (o) => json(policyJson(await o.retention.updatePolicy((await o.retention.findPolicy(idOrName)).id, { retentionDays: days }, actor()))));

export const placeHold = (input: LegalHoldInput): Promise<number> => withOnline(async (o) => json(holdJson(await o.retention.placeHold(input, actor()))));
export const releaseHold = (id: string): Promise<number> => withOnline(async (o) => json(holdJson(await o.retention.releaseHold(id, actor()))));
export const listHolds = (activeOnly: boolean): Promise<number> => withOnline(async (o) => json((await o.retention.listHolds(activeOnly)).map(holdJson)));

export const sweep = (): Promise<number> => withOnline(async (o) => json(await o.disposition.sweep()));

/** Archive blobs no journal record names, older than the grace period (orphan-blob-sweep.ts). */
export const sweepOrphans = (graceMs: number, dryRun: boolean): Promise<number> =>
  withOnline(async (o) => json(await o.orphans.sweep({ graceMs, dryRun, actor: actor().id })));
export const listReview = (): Promise<number> =>
  withOnline(async (o) =>
    json((await o.retention.listPendingReview()).map((r) => ({ id: r.id, journaledAt: r.journaledAt.toISOString(), retainUntil: r.retainUntil.toISOString(), policyId: r.policyId }))),
  );
export const approveReview = (ids: string[]): Promise<number> => withOnline(async (o) => json({ approved: await o.retention.approveDisposal(ids, actor()) }));

export async function enqueueSweep(): Promise<number> {
  const jobs = jobsConfigFromEnv(loadOperatorEnv());
  const queue = new RetentionSweepQueue({ host: jobs.host, port: jobs.port, maxRetriesPerRequest: null }, jobs.prefix);
  try {
    return json({ jobId: await queue.runNow() });
  } finally {
    await queue.close();
  }
}

export const showCertificate = (id: string, out: string): Promise<number> =>
  withOnline(async (o) => {
    const file = await o.disposition.certificate(id);
    if (file === null) throw new OperatorInputError(`no disposition certificate ${id}`);
    const text = `${JSON.stringify(file)}\n`;
    if (out === '-') writeOut(text);
    else writeFileSync(out, text, { mode: 0o640 });
    return 0;
  });

export const listCertificates = (from: Date | null, to: Date | null): Promise<number> =>
  withOnline(async (o) =>
    json(
      (await o.journal.listCertificates(from ?? new Date(0), to ?? new Date('9999-12-31T00:00:00Z'), 10_000)).map((c) => ({
        id: c.id,
        issuedAt: c.issuedAt.toISOString(),
        records: c.recordCount,
        journaledFrom: c.journaledFrom?.toISOString() ?? null,
        journaledTo: c.journaledTo?.toISOString() ?? null,
      })),
    ),
  );
