// Test harness child: one more process appending to the audit trail (DB_* and HSM_* from its
// environment, AUDIT_WRITES entries, checkpoints signed in the HSM), then one JSON line and exit.
import { AuditService, HsmAuditSigner, auditConfigFromEnv } from '@lib/audit';
import { AuditRepository, createDataSource, dbConfigFromEnv } from '@lib/db';
import { hsmConfigFromEnv, HsmKeystore, keyLabel } from '@lib/hsm';

async function main(): Promise<void> {
  const keystore = HsmKeystore.open(hsmConfigFromEnv(process.env));
  const ds = createDataSource(dbConfigFromEnv(process.env), { applicationName: 'audit-writer-child' });
  await ds.initialize();
  const service = new AuditService(new AuditRepository(ds), new HsmAuditSigner(keystore, keyLabel('audit-signing')), auditConfigFromEnv(process.env));
  const writes = Number(process.env['AUDIT_WRITES'] ?? '10');
  const seqs: number[] = [];
  await Promise.all(
    Array.from({ length: 4 }, async (_, lane) => {
      for (let i = lane; i < writes; i += 4) {
        const r = await service.record({ actor: `child:${process.pid}`, action: 'test.write', outcome: 'success', objectType: 'lane', objectId: String(lane), details: { i } });
        seqs.push(r.seq);
      }
    }),
  );
  await ds.destroy();
  keystore.close();
  process.stdout.write(`${JSON.stringify({ pid: process.pid, seqs })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
