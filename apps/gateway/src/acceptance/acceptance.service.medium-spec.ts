// What acceptance leaves for its process job (RecentlyAccepted) is exactly what the process job
// would have read back from PostgreSQL; a failed acceptance leaves nothing.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, QueueRepository, type DataSource } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../../test/database';
import { createLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { RecentlyAccepted } from '../pipeline/recently-accepted';
import { SpoolKeyring } from '../spool/spool-keyring';
import { SpoolError, SpoolService } from '../spool/spool.service';
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

const spoolKeys = SpoolKeyring.fromKeys(new Map([[1, randomBytes(32)]]), 1);

function newSpool(): SpoolService {
  const spool = new SpoolService(spoolDir, spoolKeys, { bodies: queue });
  spools.push(spool);
  return spool;
}

function service(recent: RecentlyAccepted, addProcess: (id: string) => Promise<void>, repository: QueueRepository = queue, options: { spool?: SpoolService; bodyInDatabaseMaxBytes?: number } = {}): AcceptanceService {
  const spool = options.spool ?? newSpool();
  return new AcceptanceService(
    { hostname: 'gw.example.test', queueLifetimeMs: 86_400_000, stageTimeoutMs: 10_000, bodyInDatabaseMaxBytes: options.bodyInDatabaseMaxBytes ?? 0 },
    spool,
    repository,
    { addProcess },
    new GatewayMetrics(),
    createLogger({ level: 'silent' }),
    Date.now,
    recent,
  );
}

const spoolFile = (id: string) => join(spoolDir, id.slice(0, 2), `${id}.msg`);
const storedBodies = async (id: string): Promise<number> => (await ds.query(`SELECT count(*)::int AS n FROM spool_bodies WHERE message_id = $1`, [id]))[0].n;

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

describe('AcceptanceService with bodies spooled in PostgreSQL (bodyInDatabaseMaxBytes)', () => {
  const big = Buffer.concat([Buffer.from('Message-ID: <big@example.test>\r\n\r\n'), Buffer.alloc(4096, 0x61), Buffer.from('\r\n')]);

  it('stores a small message sealed with its row, and no file; a large one in a file, and no row body', async () => {
    const spool = newSpool();
    const accept = service(new RecentlyAccepted(), async () => undefined, queue, { spool, bodyInDatabaseMaxBytes: 2048 });
    const small = await accept.accept(request());
    expect(await storedBodies(small.messageId)).toBe(1);
    expect(existsSync(spoolFile(small.messageId))).toBe(false);
    const sealed = (await queue.findSpoolBody(small.messageId))!;
    // the spool file format, encrypted: the message text is not in it
    expect(sealed.subarray(0, 4).toString()).toBe('DGS1');
    expect(sealed.includes(Buffer.from('Subject: hi'))).toBe(false);

    const large = await accept.accept(request({ message: big }));
    expect(large.size).toBeGreaterThan(2048);
    expect(await storedBodies(large.messageId)).toBe(0);
    expect(existsSync(spoolFile(large.messageId))).toBe(true);
  });

  it('reads the body back from PostgreSQL in another process (no memory of it), authenticated', async () => {
    const accepted = await service(new RecentlyAccepted(), async () => undefined, queue, { bodyInDatabaseMaxBytes: 65536 }).accept(request());
    const fresh = newSpool();
    const body = await fresh.read(accepted.messageId);
    expect(body.toString('latin1')).toMatch(/^Received: from legacy\.example\.test[\s\S]*\r\nMessage-ID: <m1@example\.test>\r\nSubject: hi\r\n\r\nbody\r\n$/);
    // a body of another message under this id fails authentication (the id is associated data)
    const other = await service(new RecentlyAccepted(), async () => undefined, queue, { bodyInDatabaseMaxBytes: 65536 }).accept(request());
    const swapped = { findSpoolBody: async (id: string) => (id === accepted.messageId ? queue.findSpoolBody(other.messageId) : undefined) };
    const tricked = new SpoolService(spoolDir, spoolKeys, { bodies: swapped });
    spools.push(tricked);
    await expect(tricked.read(accepted.messageId)).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('finishing the message deletes its body in the same statement; remove() then touches no file', async () => {
    const spool = newSpool();
    const accepted = await service(new RecentlyAccepted(), async () => undefined, queue, { spool, bodyInDatabaseMaxBytes: 65536 }).accept(request());
    const { recipients } = (await queue.findMessageWithRecipients(accepted.messageId))!;
    expect(await queue.markDeliveredAndFinish(accepted.messageId, recipients.map((r) => r.id), '250 ok', new Date())).not.toBeNull();
    expect(await storedBodies(accepted.messageId)).toBe(0);
    await spool.remove(accepted.messageId);
    await expect(newSpool().read(accepted.messageId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a failed enqueue takes row and body back together', async () => {
    let messageId = '';
    const failing = service(new RecentlyAccepted(), async (id) => {
      messageId = id;
      throw new Error('redis down');
    }, queue, { bodyInDatabaseMaxBytes: 65536 });
    await expect(failing.accept(request())).rejects.toMatchObject({ stage: 'enqueue' });
    expect(await queue.findMessageWithRecipients(messageId)).toBeNull();
    expect(await storedBodies(messageId)).toBe(0);
  });

  it('when PostgreSQL cannot say whether the row committed, an aborted mark wins over the stored body', async () => {
    let messageId = '';
    // the insert commits, then the enqueue fails and the row cannot be deleted (PostgreSQL "down")
    const repository = new Proxy(queue, {
      get: (target, key) => (key === 'removeUnprocessed' ? async () => Promise.reject(new Error('connection refused')) : Reflect.get(target, key, target)),
    });
    const spool = newSpool();
    const failing = service(new RecentlyAccepted(), async (id) => {
      messageId = id;
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('redis down');
    }, repository, { spool, bodyInDatabaseMaxBytes: 65536 });
    await expect(failing.accept(request())).rejects.toMatchObject({ stage: 'enqueue' });
    expect(await storedBodies(messageId)).toBe(1);
    expect(existsSync(`${spoolFile(messageId)}.aborted`)).toBe(true);
    const error = await newSpool().read(messageId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolError);
    expect(error).toMatchObject({ code: 'ABORTED' });
    // processing drops it: removing the spool entry removes the mark
    await spool.remove(messageId);
    expect(existsSync(`${spoolFile(messageId)}.aborted`)).toBe(false);
  });
});
