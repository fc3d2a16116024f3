// Test harness for the compliance journal and retention (libs/escrow journal/retention/disposition):
// a SoftHSM2 token with the escrow, blind-index and audit-signing keys, a fresh migrated database
// used as the runtime role dime_app (migrations as the owner), a temp archive directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateDatabase, openDatabase, type DataSource, type DbConfig } from '@lib/db';
import { HsmKeystore, keyLabel } from '@lib/hsm';
import { appRoleConfig, ensureAppRoleLogin } from '../audit/audit-database';
import { createTestDatabase, type TestDatabase } from '../database';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../hsm/softhsm-token';

export interface ComplianceEnv {
  readonly token: TestToken;
  readonly keystore: HsmKeystore;
  readonly owner: DbConfig;
  readonly app: DbConfig;
  /** A pool as dime_app. */
  readonly ds: DataSource;
  readonly archiveDir: string;
  readonly labels: { readonly escrow: string; readonly blindIndex: string; readonly audit: string };
  close(): Promise<void>;
}

export async function createComplianceEnv(prefix = 'dime_journal'): Promise<ComplianceEnv> {
  const token = createTestToken();
  let db: TestDatabase | undefined;
  let keystore: HsmKeystore | undefined;
  let ds: DataSource | undefined;
  const archiveDir = mkdtempSync(join(tmpdir(), 'dime-archive-'));
  try {
    await useTokenInThisProcess(token);
    keystore = HsmKeystore.open(token.config());
    for (const role of ['escrow', 'blind-index', 'audit-signing'] as const) await keystore.ensureKey(role);
    db = await createTestDatabase(prefix);
    await migrateDatabase(db.config);
    ensureAppRoleLogin(db.config);
    const app = appRoleConfig(db.config);
    ds = await openDatabase(app, { applicationName: 'compliance-medium' });
    const k = keystore;
    const d = ds;
    const database = db;
    return {
      token,
      keystore: k,
      owner: db.config,
      app,
      ds: d,
      archiveDir,
      labels: { escrow: keyLabel('escrow'), blindIndex: keyLabel('blind-index'), audit: keyLabel('audit-signing') },
      close: async () => {
        // the token is released whatever the database does: the next suite in this process needs SoftHSM
        try {
          if (d.isInitialized) await d.destroy();
          await database.drop();
        } finally {
          k.close();
          token.cleanup();
          rmSync(archiveDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    if (ds?.isInitialized) await ds.destroy();
    await db?.drop();
    keystore?.close();
    token.cleanup();
    rmSync(archiveDir, { recursive: true, force: true });
    throw error;
  }
}
