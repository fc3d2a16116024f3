// What acceptance leaves for its process job (RecentlyAccepted) is exactly what the process job
// would have read back from PostgreSQL; a failed acceptance leaves nothing.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, QueueRepository, type DataSource } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../../test/database';
import { createLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { RecentlyAccepted } from '../pipeline/recently-accepted';
import { SpoolKeyring } from '../spool/spool-keyring';
import { SpoolService } from '../spool/spool.service';
import { AcceptanceError, AcceptanceService, type AcceptRequest } from './acceptance.service';

let db: TestDatabase;
let ds: DataSource;
let queue: QueueRepository;
const spoolDir = mkdtempSync(join(tmpdir(), 'acceptance-'));

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
  queue = new QueueRepository(ds);
  await ds.query(`INSERT INTO spool_keys (id, wrapped_key, kek_label) VALUES (1, $1, 'kek')`, [randomBytes(40)]);
});

/** Every spool made by service(): closed at the end (each keeps its directory handles open for fsync). */
const spools: SpoolService[] = [];

afterAll(async () => {
  for (const spool of spools) spool.close();
  await ds?.destroy();
  await db?.drop();
  rmSync(spoolDir, { recursive: true, force: true });
});

function service(recent: RecentlyAccepted, addProcess: (id: string) => Promise<void>, repository: QueueRepository = queue): AcceptanceService {
  const spool = new SpoolService(spoolDir, SpoolKeyring.fromKeys(new Map([[1, randomBytes(32)]]), 1));
  spools.push(spool);
  return new AcceptanceService({ hostname: 'gw.example.test', queueLifetimeMs: 86_400_000, stageTimeoutMs: 10_000 }, spool, repository, { addProcess }, new GatewayMetrics(), createLogger({ level: 'silent' }), Date.now, recent);
}

/** The real repository, with insertAccepted replaced. */
function withInsert(insertAccepted: QueueRepository['insertAccepted']): QueueRepository {
  return new Proxy(queue, { get: (target, key) => (key === 'insertAccepted' ? insertAccepted : Reflect.get(target, key, target)) });
}

const request = (overrides: Partial<AcceptRequest> = {}): AcceptRequest => ({
  listener: 'submission',
  direction: 'outbound',
  mailFrom: 'alice@example.test',
  recipients: [
    { address: 'carol@remote.test', domain: 'remote.test' },
    { address: 'bob@other.test', domain: 'other.test' },
    { address: 'dave@remote.test', domain: 'remote.test' },
  ],
  clientAddress: '127.0.0.1',
  clientHelo: 'legacy.example.test',
  authUser: null,
  secure: false,
  message: Buffer.from('Message-ID: <m1@example.test>\r\nSubject: hi\r\n\r\nbody\r\n'),
  dataEndedAt: Date.now(),
  ...overrides,
});

const byId = <T extends { id: string }>(list: readonly T[]): T[] => [...list].sort((a, b) => a.id.localeCompare(b.id));

describe('AcceptanceService and RecentlyAccepted', () => {
  it('leaves for the process job exactly the rows PostgreSQL holds, once', async () => {
    const recent = new RecentlyAccepted();
    const enqueued: string[] = [];
    const result = await service(recent, async (id) => void enqueued.push(id)).accept(request());
    expect(enqueued).toEqual([result.messageId]);
    const stored = (await queue.findMessageWithRecipients(result.messageId))!;
    const left = recent.take(result.messageId)!;
    expect(left.message).toEqual(stored.message);
    expect(byId(left.recipients)).toEqual(byId(stored.recipients));
    expect(recent.take(result.messageId)).toBeUndefined();
  });

  it('the same for a D/MIME message from DMTP and the null sender', async () => {
    const recent = new RecentlyAccepted();
    const result = await service(recent, async () => undefined).accept(
      request({ listener: 'dmtp', direction: 'inbound', format: 'dime', mailFrom: '', recipients: [{ address: 'bob@example.test', domain: 'example.test' }], message: randomBytes(300) }),
    );
    const stored = (await queue.findMessageWithRecipients(result.messageId))!;
    expect(recent.take(result.messageId)).toEqual(stored);
  });

  it('leaves nothing when the acceptance fails after the insert', async () => {
    const recent = new RecentlyAccepted();
    await expect(service(recent, async () => Promise.reject(new Error('redis down'))).accept(request())).rejects.toBeInstanceOf(AcceptanceError);
    expect(recent.size).toBe(0);
  });

  it('enqueues while the insert is on its way, and a job that starts at once waits for the committed rows', async () => {
    const recent = new RecentlyAccepted();
    let releaseInsert!: () => void;
    const insertHeld = new Promise<void>((r) => (releaseInsert = r));
    let jobSaw: Promise<unknown> | undefined;
    let rowsWhenEnqueued: number | undefined;
    const repository = withInsert(async (row, recipients) => {
      await insertHeld;
      return queue.insertAccepted(row, recipients);
    });
    const accepting = service(
      recent,
      async (id) => {
        // the job starts as soon as it is enqueued, before the insert has committed
        rowsWhenEnqueued = (await ds.query(`SELECT count(*)::int AS n FROM messages WHERE id = $1`, [id]))[0].n;
        jobSaw = recent.settle(id);
        releaseInsert();
      },
      repository,
    ).accept(request());
    const result = await accepting;
    expect(rowsWhenEnqueued).toBe(0);
    const seen = (await jobSaw) as { outcome: string; state: unknown };
    expect(seen.outcome).toBe('accepted');
    expect(seen.state).toEqual(await queue.findMessageWithRecipients(result.messageId));
  });

  it('a job that starts before a failed insert is told the acceptance failed, and nothing is left', async () => {
    const recent = new RecentlyAccepted();
    let jobSaw: Promise<unknown> | undefined;
    let messageId = '';
    const repository = withInsert(async () => {
      await new Promise((r) => setTimeout(r, 20));
      throw new Error('connection terminated');
    });
    const accepting = service(
      recent,
      async (id) => {
        messageId = id;
        jobSaw = recent.settle(id);
      },
      repository,
    ).accept(request());
    await expect(accepting).rejects.toMatchObject({ stage: 'database', code: 'FAILED' });
    expect(await jobSaw).toEqual({ outcome: 'failed' });
    expect(recent.size).toBe(0);
    expect(await queue.findMessageWithRecipients(messageId)).toBeNull();
    // a later job for the same id (a sweep) reads PostgreSQL again
    expect(await recent.settle(messageId)).toEqual({ outcome: 'unknown' });
  });

  it('does not hand over an entry older than its age limit', () => {
    let now = 0;
    const recent = new RecentlyAccepted(() => now);
    const state = { message: { id: 'm' } as never, recipients: [] };
    recent.remember(state);
    now = 5 * 60_000 + 1;
    expect(recent.take('m')).toBeUndefined();
  });
});
