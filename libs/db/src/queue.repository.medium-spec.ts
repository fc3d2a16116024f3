// The durable queue against a real PostgreSQL: migrations up and down, acceptance in one
// transaction, recipient state transitions, and completion.
import { randomBytes, randomUUID } from 'node:crypto';
import { createDataSource, openDatabase, QueueRepository, type AcceptedMessage, type DataSource } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../test/database';

let db: TestDatabase;
let ds: DataSource;
let queue: QueueRepository;
let spoolKeyId: number;

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
  queue = new QueueRepository(ds);
  const rows: { id: number }[] = await ds.query(`INSERT INTO spool_keys (wrapped_key, kek_label) VALUES ($1, 'kek') RETURNING id`, [randomBytes(40)]);
  spoolKeyId = rows[0]!.id;
});

afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

function message(overrides: Partial<AcceptedMessage> = {}): AcceptedMessage {
  const now = new Date();
  return {
    id: randomUUID(),
    queueId: randomBytes(6).toString('hex').toUpperCase(),
    direction: 'outbound',
    mailFrom: 'alice@example.test',
    size: 1234,
    sha256: randomBytes(32),
    spoolKeyId,
    headerMessageId: '<m@example.test>',
    clientAddress: '127.0.0.1',
    clientHelo: 'legacy.example.test',
    authUser: null,
    receivedAt: now,
    expiresAt: new Date(now.getTime() + 5 * 86400_000),
    ...overrides,
  };
}

describe('QueueRepository', () => {
  it('stores a message with its recipients pending, and finishes it once every recipient is final', async () => {
    const m = message();
    const [a, b] = [randomUUID(), randomUUID()];
    await queue.insertAccepted(m, [
      { id: a, address: 'bob@remote.test', domain: 'remote.test' },
      { id: b, address: 'carol@other.test', domain: 'other.test' },
    ]);
    expect((await queue.findMessage(m.id))?.state).toBe('queued');
    expect((await queue.findRecipientsOfMessage(m.id)).map((r) => r.status)).toEqual(['pending', 'pending']);

    const routed = await queue.routeRecipients([
      { id: a, route: 'remote' },
      { id: b, route: 'remote' },
    ]);
    expect(routed.sort()).toEqual([a, b].sort());
    // routed already: a second run of the same dispatch changes nothing and says so
    expect(await queue.routeRecipients([{ id: a, route: 'legacy' }])).toEqual([]);
    await queue.markDelivered([a], '250 2.0.0 ok', new Date());
    expect(await queue.finishMessageIfComplete(m.id)).toBe(false);
    await queue.markDeferred([b], '451 4.3.0 try later', new Date(Date.now() + 60_000));
    const deferred = (await queue.findRecipientsOfMessage(m.id)).find((r) => r.id === b)!;
    expect(deferred).toMatchObject({ status: 'deferred', attempts: 1, lastReply: '451 4.3.0 try later' });
    await queue.markBounced([b], '550 5.1.1 no such user', new Date());
    expect(await queue.finishMessageIfComplete(m.id)).toBe(true);
    expect((await queue.findMessage(m.id))?.state).toBe('done');
  });

  it('reads a message with its recipients in one call, the same records as findMessage + findRecipientsOfMessage', async () => {
    const m = message();
    await queue.insertAccepted(m, [
      { id: randomUUID(), address: 'zed@remote.test', domain: 'remote.test' },
      { id: randomUUID(), address: 'amy@other.test', domain: 'other.test' },
    ]);
    const found = await queue.findMessageWithRecipients(m.id);
    expect(found?.message).toEqual(await queue.findMessage(m.id));
    expect(found?.recipients).toEqual(await queue.findRecipientsOfMessage(m.id));
    expect(found?.recipients.map((r) => r.address)).toEqual(['amy@other.test', 'zed@remote.test']);
    expect(await queue.findMessageWithRecipients(randomUUID())).toBeNull();
  });

  it('finishes a complete message returning its distinct (route, domain) groups, and only once', async () => {
    const m = message();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await queue.insertAccepted(m, [
      { id: ids[0]!, address: 'a@remote.test', domain: 'remote.test' },
      { id: ids[1]!, address: 'b@remote.test', domain: 'remote.test' },
      { id: ids[2]!, address: 'c@local.test', domain: 'local.test' },
    ]);
    await queue.routeRecipients([
      { id: ids[0]!, route: 'remote' },
      { id: ids[1]!, route: 'remote' },
      { id: ids[2]!, route: 'legacy' },
    ]);
    await queue.markDelivered(ids.slice(0, 2), '250 ok', new Date());
    expect(await queue.finishMessageReturningGroups(m.id)).toBeNull(); // c is still open
    await queue.markBounced([ids[2]!], '550 no', new Date());
    const groups = await queue.finishMessageReturningGroups(m.id);
    expect(groups?.sort((x, y) => x.domain.localeCompare(y.domain))).toEqual([
      { route: 'legacy', domain: 'local.test' },
      { route: 'remote', domain: 'remote.test' },
    ]);
    expect((await queue.findMessage(m.id))?.state).toBe('done');
    expect(await queue.finishMessageReturningGroups(m.id)).toBeNull();
  });

  it('group commit: concurrent calls share statements and each gets its own result; a bad item fails alone', async () => {
    // one statement slot: everything submitted in the same turn leaves as one batch
    const grouped = new QueueRepository(ds, { coalesce: { maxInFlight: 1, maxBatch: 64 } });
    const messages = Array.from({ length: 12 }, (_, i) => ({
      m: message({ format: i % 3 === 0 ? 'dime' : 'rfc5322', headerMessageId: i % 2 ? null : `<${i}@x.test>`, clientHelo: i % 4 ? 'h' : null }),
      rcpts: Array.from({ length: 1 + (i % 3) }, (_, j) => ({ id: randomUUID(), address: `r${j}@d${i}.test`, domain: `d${i}.test` })),
    }));
    const broken = message({ spoolKeyId: 999_999 }); // no such spool key: a foreign key violation
    const inserted = await Promise.allSettled([...messages.map(({ m, rcpts }) => grouped.insertAccepted(m, rcpts)), grouped.insertAccepted(broken, [{ id: randomUUID(), address: 'x@y.test', domain: 'y.test' }])]);
    expect(inserted.slice(0, 12).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(inserted[12]).toMatchObject({ status: 'rejected' });
    expect(await grouped.findMessage(broken.id)).toBeNull();
    for (const { m, rcpts } of messages) {
      const found = await grouped.findMessageWithRecipients(m.id);
      expect(found?.message).toEqual({ ...m, format: m.format ?? 'rfc5322', state: 'queued' });
      expect(found?.recipients.map((r) => [r.id, r.address, r.domain, r.status]).sort()).toEqual(rcpts.map((r) => [r.id, r.address, r.domain, 'pending']).sort());
    }

    // two runs of the same message's job route the same recipient: only the first call gets it
    const [first, second] = [messages[1]!, messages[2]!];
    const routed = await Promise.all([
      grouped.routeRecipients(first.rcpts.map((r) => ({ id: r.id, route: 'remote' as const }))),
      grouped.routeRecipients(second.rcpts.map((r) => ({ id: r.id, route: 'legacy' as const }))),
      grouped.routeRecipients([{ id: first.rcpts[0]!.id, route: 'legacy' as const }]),
    ]);
    expect(routed).toEqual([first.rcpts.map((r) => r.id), second.rcpts.map((r) => r.id), []]);
    expect((await grouped.findRecipientsOfMessage(first.m.id)).map((r) => r.route)).toEqual(first.rcpts.map(() => 'remote'));

    // finishing: the complete message once (named twice), the incomplete one not at all
    await grouped.markDelivered(first.rcpts.map((r) => r.id), '250 ok', new Date());
    const finished = await Promise.all([grouped.finishMessageReturningGroups(first.m.id), grouped.finishMessageReturningGroups(second.m.id), grouped.finishMessageReturningGroups(first.m.id)]);
    expect(finished).toEqual([[{ route: 'remote', domain: first.rcpts[0]!.domain }], null, null]);
    expect((await grouped.findMessage(first.m.id))?.state).toBe('done');
    expect((await grouped.findMessage(second.m.id))?.state).toBe('queued');
  });

  it('an insert withdrawn before its group commit never reaches the table', async () => {
    const grouped = new QueueRepository(ds, { coalesce: { maxInFlight: 1, maxBatch: 64 } });
    const [a, b] = [message(), message()];
    const first = grouped.insertAccepted(a, [{ id: randomUUID(), address: 'a@x.test', domain: 'x.test' }]);
    await new Promise<void>((resolve) => setImmediate(resolve)); // a is sent and holds the only slot
    const second = grouped.insertAccepted(b, [{ id: randomUUID(), address: 'b@x.test', domain: 'x.test' }]);
    expect(grouped.withdrawAccepted(a.id)).toBe(false);
    expect(grouped.withdrawAccepted(b.id)).toBe(true);
    await expect(second).rejects.toThrow(/withdrawn/);
    await first;
    expect(await grouped.findMessage(a.id)).not.toBeNull();
    expect(await grouped.findMessage(b.id)).toBeNull();
    expect(grouped.withdrawAccepted(b.id)).toBe(false);
  });

  it('never moves a final recipient back (delivered stays delivered)', async () => {
    const m = message();
    const id = randomUUID();
    await queue.insertAccepted(m, [{ id, address: 'x@remote.test', domain: 'remote.test' }]);
    await queue.markDelivered([id], '250 ok', new Date());
    await queue.markDeferred([id], '451 later', new Date());
    await queue.markBounced([id], '550 no', new Date());
    expect((await queue.findRecipientsOfMessage(m.id))[0]).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('keeps a spooled body with its row: inserted in the same statement, deleted by any finish or with the row', async () => {
    const bodies = async (id: string): Promise<number> => (await ds.query(`SELECT count(*)::int AS n FROM spool_bodies WHERE message_id = $1`, [id]))[0].n;
    const sealedOf = (id: string, n: number): Buffer => Buffer.concat([Buffer.from(`sealed ${id} `), randomBytes(n)]);
    const sent = new Map<string, Buffer>();
    const accepted = async (n = 10) => {
      const m = message();
      const id = randomUUID();
      const sealed = sealedOf(m.id, n);
      sent.set(m.id, sealed);
      await queue.insertAccepted(m, [{ id, address: 'bob@remote.test', domain: 'remote.test' }], sealed);
      return { m, id };
    };
    // messages in shared group commits (two statements in flight, the rest together): each gets
    // its own body, byte for byte, a message without one gets none
    const plain = message();
    const [one, two, ...more] = await Promise.all([
      accepted(),
      accepted(20_000),
      queue.insertAccepted(plain, [{ id: randomUUID(), address: 'x@remote.test', domain: 'remote.test' }]).then(() => undefined),
      accepted(0),
      accepted(70_000),
      accepted(1),
    ]);
    for (const a of [one, two, ...more]) if (a) expect((await queue.findSpoolBody(a.m.id))!.equals(sent.get(a.m.id)!)).toBe(true);
    expect(await queue.findSpoolBody(plain.id)).toBeUndefined();

    // finishMessageIfComplete
    await queue.markDelivered([one!.id], '250 ok', new Date());
    expect(await queue.finishMessageIfComplete(one!.m.id)).toBe(true);
    expect(await bodies(one!.m.id)).toBe(0);
    // finishMessageReturningGroups (via the two-statement markDeliveredAndFinish)
    expect(await queue.markDeliveredAndFinish(two!.m.id, [two!.id], '250 ok', new Date())).not.toBeNull();
    expect(await bodies(two!.m.id)).toBe(0);
    // removeUnprocessed: with the row
    const three = await accepted();
    expect(await queue.removeUnprocessed(three.m.id)).toBe(true);
    expect(await bodies(three.m.id)).toBe(0);
    // a body for a message that is not inserted fails the statement: no body without its row
    await expect(ds.query(`INSERT INTO spool_bodies (message_id, sealed) VALUES ($1, 'x')`, [randomUUID()])).rejects.toThrow(/foreign key/);
  });

  it('rolls back the message when a recipient row cannot be written', async () => {
    const m = message();
    const id = randomUUID();
    await expect(
      queue.insertAccepted(m, [
        { id, address: 'a@x.test', domain: 'x.test' },
        { id, address: 'b@x.test', domain: 'x.test' },
      ]),
    ).rejects.toThrow();
    expect(await queue.findMessage(m.id)).toBeNull();
  });

  it('finds a message whose recipients are all final but which was never finished (crash between the two)', async () => {
    const m = message();
    const id = randomUUID();
    await queue.insertAccepted(m, [{ id, address: 'f@final.test', domain: 'final.test' }]);
    expect(await queue.findCompleteUnfinishedMessageIds(1000)).not.toContain(m.id);
    await queue.markDelivered([id], '250 ok', new Date());
    expect(await queue.findCompleteUnfinishedMessageIds(1000)).toContain(m.id);
    expect(await queue.finishMessageIfComplete(m.id)).toBe(true);
    expect(await queue.findCompleteUnfinishedMessageIds(1000)).not.toContain(m.id);
  });

  it('finds due recipients for recovery, oldest first, and counts the queue', async () => {
    const m = message();
    const due = randomUUID();
    const later = randomUUID();
    await queue.insertAccepted(m, [
      { id: due, address: 'd@due.test', domain: 'due.test' },
      { id: later, address: 'l@later.test', domain: 'later.test' },
    ]);
    await queue.markDeferred([later], '421 busy', new Date(Date.now() + 3600_000));
    const found = await queue.findDueRecipients(new Date(), 1000);
    expect(found.map((r) => r.id)).toContain(due);
    expect(found.map((r) => r.id)).not.toContain(later);
    const counts = await queue.countOpenByStatus();
    expect(counts.deferred).toBeGreaterThanOrEqual(1);
  });

  it('migrates down and up again', async () => {
    const fresh = await createTestDatabase();
    const ds2 = createDataSource(fresh.config);
    try {
      await ds2.initialize();
      await ds2.runMigrations();
      // every migration down (later migrations build on the queue tables)
      for (let i = 0; i < ds2.migrations.length; i++) await ds2.undoLastMigration();
      const tables: { n: string }[] = await ds2.query(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'messages'`);
      expect(Number(tables[0]!.n)).toBe(0);
      await ds2.runMigrations();
      await expect(ds2.query('SELECT 1 FROM recipients LIMIT 1')).resolves.toEqual([]);
    } finally {
      await ds2.destroy();
      await fresh.drop();
    }
  });
});
