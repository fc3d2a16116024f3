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

function service(recent: RecentlyAccepted, addProcess: (id: string) => Promise<void>): AcceptanceService {
  const spool = new SpoolService(spoolDir, SpoolKeyring.fromKeys(new Map([[1, randomBytes(32)]]), 1));
  spools.push(spool);
  return new AcceptanceService({ hostname: 'gw.example.test', queueLifetimeMs: 86_400_000, stageTimeoutMs: 10_000 }, spool, queue, { addProcess }, new GatewayMetrics(), createLogger({ level: 'silent' }), Date.now, recent);
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

  it('does not hand over an entry older than its age limit', () => {
    let now = 0;
    const recent = new RecentlyAccepted(() => now);
    const state = { message: { id: 'm' } as never, recipients: [] };
    recent.remember(state);
    now = 5 * 60_000 + 1;
    expect(recent.take('m')).toBeUndefined();
  });
});
