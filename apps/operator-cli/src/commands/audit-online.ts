// The audit subcommands that need the running installation: the database (runtime role, as the
// gateway) and the HSM's audit key, found through the local `npm start` state by default.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { auditConfigFromEnv, AuditService, HsmAuditSigner, spkiToPem } from '@lib/audit';
import { AuditRepository, dbConfigFromEnv, openDatabase } from '@lib/db';
import { hsmConfigFromEnv, HsmKeystore, keyLabel } from '@lib/hsm';
import { exportSoftHsmConf, loadOperatorEnv, type OperatorEnv } from '../operator-cli.config';
import { OperatorInputError } from '../operator-cli.error';
import { writeOut } from '../operator-io';

function openKeystore(env: OperatorEnv): HsmKeystore {
  const config = hsmConfigFromEnv(env);
  exportSoftHsmConf(env);
  return HsmKeystore.open(config);
}

async function withService<T>(fn: (service: AuditService) => Promise<T>): Promise<T> {
  const env = loadOperatorEnv();
  const auditConfig = auditConfigFromEnv(env);
  const dbConfig = dbConfigFromEnv(env);
  const keystore = openKeystore(env);
  try {
    const ds = await openDatabase(dbConfig, { applicationName: 'dime-gateway-cli' });
    try {
      const signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
      return await fn(new AuditService(new AuditRepository(ds), signer, auditConfig));
    } finally {
      await ds.destroy();
    }
  } finally {
    keystore.close();
  }
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

/** Writes the export to a temporary file beside FILE and renames it: FILE is complete or absent. */
export async function exportTrail(out: string): Promise<number> {
  const toStdout = out === '-';
  const tmp = `${out}.partial-${process.pid}`;
  let fd: number;
  try {
    fd = toStdout ? 1 : openSync(tmp, 'wx', 0o640);
  } catch (err) {
    throw new OperatorInputError(`cannot write "${out}": ${(err as NodeJS.ErrnoException).code ?? 'unwritable'}`);
  }
  try {
    const summary = await withService((service) => service.exportTo((lines) => writeAll(fd, `${lines}\n`)));
    if (!toStdout) {
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, out);
      writeOut(`${JSON.stringify({ out, ...summary })}\n`);
    }
    return 0;
  } catch (err) {
    if (!toStdout) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
    }
    throw err;
  }
}

export async function printPublicKey(): Promise<number> {
  const keystore = openKeystore(loadOperatorEnv());
  try {
    const signer = new HsmAuditSigner(keystore, keyLabel('audit-signing'));
    writeOut(spkiToPem(await signer.publicKeySpki()));
    return 0;
  } finally {
    keystore.close();
  }
}

export async function forceCheckpoint(): Promise<number> {
  const made = await withService((service) => service.checkpoint());
  writeOut(`${JSON.stringify(made ?? { seq: null })}\n`);
  return 0;
}
