// The escrow subcommands that need the running installation: PostgreSQL (runtime role), the HSM
// (blind-index, escrow and audit keys), Redis (the escrow-export queue) and the archive store,
// found through the local `npm start` state by default. The CLI acts as the principal named by
// --as; the admin API will authenticate principals instead.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { QueueEvents, type ConnectionOptions } from 'bullmq';
import { auditConfigFromEnv, AuditService, HsmAuditSigner } from '@lib/audit';
import { AuditRepository, dbConfigFromEnv, openDatabase, type EscrowRepository } from '@lib/db';
import {
  createArchiveStore,
  createEscrowExportWorker,
  createEscrowRecovery,
  escrowRecoveryConfigFromEnv,
  exportFilePath,
  journalConfigFromEnv,
  writeFully,
  type EscrowExportQueue,
  type EscrowExportService,
  type EscrowRecoveryConfig,
  type EscrowRecoveryService,
  type EscrowReportFormat,
  type EscrowReportService,
} from '@lib/escrow';
import { hsmConfigFromEnv, HsmKeystore, keyLabel } from '@lib/hsm';
import { jobsConfigFromEnv } from '@lib/jobs';
import { exportSoftHsmConf, loadOperatorEnv, operatorHome } from '../operator-cli.config';
import { OperatorInputError } from '../operator-cli.error';
import { createNewFile } from '../operator-io';

/** How long `escrow export` waits for its job. */
const EXPORT_WAIT_MS = 30 * 60_000;

export interface EscrowContext {
  readonly service: EscrowRecoveryService;
  readonly exporter: EscrowExportService;
  readonly queue: EscrowExportQueue;
  readonly repository: EscrowRepository;
  readonly reports: EscrowReportService;
  readonly config: EscrowRecoveryConfig;
  readonly connection: ConnectionOptions;
  readonly prefix: string;
}

export async function withEscrow<T>(fn: (c: EscrowContext) => Promise<T>): Promise<T> {
  const env = loadOperatorEnv();
  const home = operatorHome(env);
  const config = escrowRecoveryConfigFromEnv(env, join(home, '.local', 'escrow-exports'));
  const auditConfig = auditConfigFromEnv(env);
  const journalConfig = journalConfigFromEnv(env);
  const dbConfig = dbConfigFromEnv(env);
  const jobs = jobsConfigFromEnv(env);
  const hsmConfig = hsmConfigFromEnv(env);
  exportSoftHsmConf(env);
  const keystore = HsmKeystore.open(hsmConfig);
  try {
    const ds = await openDatabase(dbConfig, { applicationName: 'dime-gateway-cli' });
    const connection: ConnectionOptions = { host: jobs.host, port: jobs.port, maxRetriesPerRequest: null };
    const audit = new AuditService(new AuditRepository(ds), new HsmAuditSigner(keystore, keyLabel('audit-signing')), auditConfig);
    const store = createArchiveStore({ ...journalConfig, archiveDir: resolve(home, journalConfig.archiveDir) });
    const recovery = createEscrowRecovery({ config, dataSource: ds, keystore, store, audit, connection, prefix: jobs.prefix });
    try {
      return await fn({ ...recovery, config, connection, prefix: jobs.prefix });
    } finally {
      await recovery.close();
      await ds.destroy();
    }
  } finally {
    keystore.close();
  }
}

function writeAtomically(out: string, chunks: readonly Buffer[]): void {
  const tmp = `${out}.partial-${process.pid}`;
  const fd = createNewFile(tmp, out);
  try {
    for (const c of chunks) writeFully(fd, c);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, out);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Queues the export (refused unless approved; `as` must be the requester), runs an export worker
 * in this process while it waits (a gateway's worker may take the job as well), then copies the
 * encrypted archive to `out` after checking its hash against the recorded export.
 */
export async function exportRequest(id: string, as: string, out: string): Promise<{ requestId: string; out: string; records: number; sha256: string }> {
  return withEscrow(async (c) => {
    const events = new QueueEvents(c.queue.queue.name, { connection: c.connection, prefix: c.prefix });
    const worker = createEscrowExportWorker(c.exporter, c.connection, c.prefix);
    try {
      await events.waitUntilReady();
      const state = await c.service.requestExport(id, as);
      if (state === 'queued') {
        try {
          await c.queue.waitForExport(id.toLowerCase(), events, EXPORT_WAIT_MS);
        } catch (err) {
          throw new OperatorInputError(`the export job failed: ${(err as Error).message}`);
        }
      }
      const recorded = await c.repository.findExport(id.toLowerCase());
      if (recorded === null) throw new OperatorInputError('the export job finished without recording an export');
      const file = readFileSync(exportFilePath(c.config.exportDir, recorded.requestId, recorded.id));
      const sha256 = createHash('sha256').update(file).digest();
      if (!sha256.equals(recorded.fileSha256)) throw new OperatorInputError('the export file does not match the recorded hash');
      writeAtomically(out, [file]);
      return { requestId: recorded.requestId, out, records: recorded.recordCount, sha256: sha256.toString('hex') };
    } finally {
      await worker.close();
      await events.close();
    }
  });
}

/** Writes the report to `out` and its detached signature to `out.sig`. */
export async function writeReport(period: { from: Date; to: Date }, format: EscrowReportFormat, out: string): Promise<unknown> {
  return withEscrow(async (c) => {
    const signed = await c.reports.generateSigned(period, format);
    writeAtomically(out, [signed.file]);
    writeAtomically(`${out}.sig`, [Buffer.from(signed.signature, 'utf8')]);
    return {
      out,
      signature: `${out}.sig`,
      sha256: createHash('sha256').update(signed.file).digest('hex'),
      anchor: signed.report.anchor,
      totals: signed.report.totals,
    };
  });
}
