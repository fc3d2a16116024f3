// `dime-gateway retention|disposition` in-process against a real database (as dime_app), SoftHSM2
// and a filesystem archive: policies are added and locked (and then refuse shortening), a hold is
// placed by address, a sweep shreds an expired record into a certificate that `disposition show`
// exports and `disposition verify` checks offline (exit 0), while a tampered copy exits 1; `retention
// orphans` finds and deletes an archive blob no record names, and records it in the audit trail.
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { HsmAuditSigner, spkiToPem } from '@lib/audit';
import { JournalRepository, RetentionRepository } from '@lib/db';
import { BlindIndexer, FsArchiveStore, JournalService, loadEscrowPublicKey } from '@lib/escrow';
import { createComplianceEnv, type ComplianceEnv } from '../../../../test/compliance/compliance-env';
import { dbEnv } from '../../../../test/database';
import { main } from '../main';

jest.setTimeout(90_000);

let env: ComplianceEnv;
const saved: Record<string, string | undefined> = {};
let out: string[] = [];
let records: JournalRepository;
let keyFile: string;
const held = randomUUID();
const free = randomUUID();

async function run(...argv: string[]): Promise<{ code: number; json: unknown }> {
  out = [];
  const code = await main(argv);
  const text = out.join('');
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { code, json };
}

beforeAll(async () => {
  env = await createComplianceEnv('dime_retention_cli');
  const vars: Record<string, string> = {
    ...env.token.env,
    DIME_HOME: env.archiveDir,
    ...dbEnv(env.app, env.owner),
    ARCHIVE_DIR: join(env.archiveDir, 'archive'),
    RETENTION_SWEEP_BATCH: '100',
  };
  // the HSM work of the test itself happens before any command runs: each command opens and
  // finalizes the PKCS#11 module of this process, as the real CLI does
  await new RetentionRepository(env.ds).insertPolicy({ name: 'short', scope: 'domain', scopeValue: 'short.example', retentionDays: 1, action: 'dispose', priority: 5, enabled: true });
  records = new JournalRepository(env.ds);
  const journal = new JournalService(
    records,
    new RetentionRepository(env.ds),
    new BlindIndexer(env.keystore, env.labels.blindIndex),
    new FsArchiveStore(join(env.archiveDir, 'archive')),
    await loadEscrowPublicKey(env.keystore, env.labels.escrow),
    { defaultRetentionDays: 0, policyCacheMs: 0, clock: () => new Date(Date.now() - 5 * 86_400_000) },
  );
  await journal.journal({ messageId: held, direction: 'inbound', sender: 'x@else.example', recipients: ['kept@short.example'], content: Buffer.from('kept') });
  await journal.journal({ messageId: free, direction: 'inbound', sender: 'x@else.example', recipients: ['gone@short.example'], content: Buffer.from('gone') });

  keyFile = join(env.archiveDir, 'audit.pem');
  fs.writeFileSync(keyFile, spkiToPem(await new HsmAuditSigner(env.keystore, env.labels.audit).publicKeySpki()));
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  // the CLI writes results with fs.writeSync(1, ...): capture them (the module object, not the ES namespace)
  const fsModule = jest.requireActual<typeof fs>('node:fs');
  const real = fsModule.writeSync;
  jest.spyOn(fsModule, 'writeSync').mockImplementation(((fd: number, buffer: Buffer, ...rest: unknown[]) => {
    if (fd === 1 && Buffer.isBuffer(buffer)) {
      const [offset = 0, length = buffer.length - (offset as number)] = rest as number[];
      out.push(buffer.subarray(offset, offset + length).toString('utf8'));
      return length;
    }
    return (real as (...a: unknown[]) => number)(fd, buffer, ...rest);
  }) as typeof fs.writeSync);
});

afterAll(async () => {
  jest.restoreAllMocks();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await env?.close();
});

describe('dime-gateway retention and disposition', () => {
  it('adds, lists and locks policies; a locked policy refuses shortening', async () => {
    const added = await run('retention', 'policy', 'add', '--name', 'sec-17a-4', '--days', '2555', '--scope', 'direction', '--value', 'outbound');
    expect(added).toMatchObject({ code: 0, json: { name: 'sec-17a-4', days: 2555, locked: false } });
    expect((await run('retention', 'policy', 'lock', 'sec-17a-4')).json).toMatchObject({ locked: true });
    await expect(run('retention', 'policy', 'extend', 'sec-17a-4', '--days', '30')).rejects.toMatchObject({ code: 'POLICY_LOCKED' });
    expect((await run('retention', 'policy', 'extend', 'sec-17a-4', '--days', '3000')).json).toMatchObject({ days: 3000 });
    expect(((await run('retention', 'policy', 'list')).json as { name: string }[]).map((p) => p.name).sort()).toEqual(['sec-17a-4', 'short']);
    await expect(run('retention', 'policy', 'add', '--name', 'x', '--days', 'ten')).rejects.toThrow(/--days expects an integer/);
  });

  it('places a hold, sweeps, exports a certificate that verifies offline, and rejects a tampered one', async () => {
    const hold = await run('retention', 'hold', 'place', '--case', 'Case 42', '--custodians', 'Kept@Short.example', '--from', '2020-01-01');
    expect(hold.json).toMatchObject({ case: 'Case 42', custodians: 1, releasedAt: null });

    const swept = await run('retention', 'sweep');
    expect(swept.json).toMatchObject({ shredded: 1, blobsDeleted: 1 });
    const certId = ((swept.json as { certificateIds: string[] }).certificateIds)[0] as string;
    expect((await records.findByMessageId(held))?.wrappedKey).not.toBeNull();

    const certFile = join(env.archiveDir, 'cert.json');
    expect((await run('disposition', 'show', certId, '--out', certFile)).code).toBe(0);
    expect(await run('disposition', 'verify', certFile, '--key', keyFile)).toEqual({ code: 0, json: { ok: true, id: certId, count: 1, reason: null } });

    const gone = await records.findByMessageId(free);
    const text = fs.readFileSync(certFile, 'utf8');
    fs.writeFileSync(certFile, text.replace(gone?.contentSha256.toString('hex') ?? 'x', '0'.repeat(64)));
    expect(await run('disposition', 'verify', certFile, '--key', keyFile)).toMatchObject({ code: 1, json: { ok: false } });

    const released = await run('retention', 'hold', 'release', (hold.json as { id: string }).id);
    expect(released.json).toMatchObject({ releasedBy: expect.stringMatching(/^operator:/) });
    expect((await run('retention', 'sweep')).json).toMatchObject({ shredded: 1 });
  });

  it('finds and deletes archive blobs no record names, older than the grace period, and records it in the audit trail', async () => {
    const archive = join(env.archiveDir, 'archive');
    const orphan = `journal/ee/${randomUUID()}.djr`;
    fs.mkdirSync(join(archive, 'journal/ee'), { recursive: true });
    fs.writeFileSync(join(archive, orphan), 'ciphertext of a journal attempt whose record insert failed');
    const old = new Date(Date.now() - 3 * 3600_000);
    fs.utimesSync(join(archive, orphan), old, old);

    await expect(run('retention', 'orphans', '--grace-minutes', '5')).rejects.toThrow(/at least 10/);
    const dry = await run('retention', 'orphans', '--dry-run', 'true');
    expect(dry).toMatchObject({ code: 0, json: { orphans: 1, deleted: 0, keys: [orphan] } });
    expect(fs.existsSync(join(archive, orphan))).toBe(true);
    const done = await run('retention', 'orphans', '--grace-minutes', '120');
    expect(done).toMatchObject({ code: 0, json: { orphans: 1, deleted: 1, locked: 0 } });
    expect(fs.existsSync(join(archive, orphan))).toBe(false);
    // the records' own blobs are untouched
    expect((await records.findByMessageId(held))?.blobKey).toBeDefined();
    const entries: { action: string; actor: string }[] = await env.ds.query(`SELECT action, actor FROM audit_entries WHERE action LIKE 'journal.orphans.%' ORDER BY seq`);
    expect(entries.map((e) => e.action)).toEqual(['journal.orphans.check', 'journal.orphans.sweep']);
    expect(entries[1]!.actor).toMatch(/^operator:/);
  });
});
