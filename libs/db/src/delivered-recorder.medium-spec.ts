// The delivered-recorder against a real PostgreSQL: its warm pool is open before the first mark,
// marks only open recipients (a bounced or already delivered one stays as it is), finishes in the
// same statement a message whose last open recipients it marked (deleting its spooled body), and closes.
import { randomBytes, randomUUID } from 'node:crypto';
import { DeliveredRecorder, openDatabase, QueueRepository, type DataSource } from '@lib/db';
import { createTestDatabase, type TestDatabase } from '../../../test/database';

let db: TestDatabase;
let ds: DataSource;
let queue: QueueRepository;
let recorder: DeliveredRecorder;

beforeAll(async () => {
  db = await createTestDatabase();
  ds = await openDatabase(db.config);
  queue = new QueueRepository(ds);
  recorder = new DeliveredRecorder(db.config, { size: 3, applicationName: 'recorder-test' });
});

afterAll(async () => {
  await recorder?.close();
  await ds?.destroy();
  await db?.drop();
});

it('keeps its connections open before the first mark and marks only open recipients delivered', async () => {
  await recorder.warm();
  const open: { n: number }[] = await ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'recorder-test'`);
  expect(open[0]!.n).toBe(3);

  const keys: { id: number }[] = await ds.query(`INSERT INTO spool_keys (wrapped_key, kek_label) VALUES ($1, 'kek') RETURNING id`, [randomBytes(40)]);
  const spoolKeyId = keys[0]!.id;
  const now = new Date();
  const messageId = randomUUID();
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  await queue.insertAccepted(
    { id: messageId, queueId: 'Q1', direction: 'outbound', mailFrom: 'a@example.test', size: 1, sha256: randomBytes(32), spoolKeyId, headerMessageId: null, clientAddress: '127.0.0.1', clientHelo: null, authUser: null, receivedAt: now, expiresAt: new Date(now.getTime() + 86400_000) },
    ids.map((id, i) => ({ id, address: `r${i}@x.test`, domain: 'x.test' })),
  );
  await queue.routeRecipients(ids.map((id) => ({ id, route: 'remote' as const })));
  await queue.markBounced([ids[2]!], '550 no', now);

  const at = new Date('2026-03-02T10:00:00Z');
  // the third recipient is final (bounced): marking the other two completes the message
  expect(await recorder.markDeliveredAndFinish(messageId, ids, '250 2.0.0 ok', at)).toEqual([{ route: 'remote', domain: 'x.test' }]);
  expect(await recorder.markDeliveredAndFinish(messageId, [ids[0]!], '250 again', new Date())).toBeNull(); // a second mark changes nothing
  expect((await queue.findMessage(messageId))!.state).toBe('done');

  const rows = await queue.findRecipientsOfMessage(messageId);
  expect(rows.map((r) => [r.id, r.status, r.lastReply, r.attempts])).toEqual(
    expect.arrayContaining([
      [ids[0], 'delivered', '250 2.0.0 ok', 1],
      [ids[1], 'delivered', '250 2.0.0 ok', 1],
      [ids[2], 'bounced', '550 no', 0],
    ]),
  );
  const delivered: { delivered_at: Date }[] = await ds.query(`SELECT delivered_at FROM recipients WHERE id = $1`, [ids[0]]);
  expect(delivered[0]!.delivered_at.toISOString()).toBe(at.toISOString());
});

it('records 2xx replies that arrive together in one statement, each recipient with its own reply and time', async () => {
  const keys: { id: number }[] = await ds.query(`INSERT INTO spool_keys (wrapped_key, kek_label) VALUES ($1, 'kek') RETURNING id`, [randomBytes(40)]);
  const now = new Date();
  const messages = Array.from({ length: 8 }, () => ({ id: randomUUID(), rcpts: [randomUUID(), randomUUID()] }));
  for (const [i, m] of messages.entries()) {
    await queue.insertAccepted(
      { id: m.id, queueId: `QB${i}`, direction: 'outbound', mailFrom: 'a@example.test', size: 1, sha256: randomBytes(32), spoolKeyId: keys[0]!.id, headerMessageId: null, clientAddress: '127.0.0.1', clientHelo: null, authUser: null, receivedAt: now, expiresAt: new Date(now.getTime() + 86400_000) },
      m.rcpts.map((id, j) => ({ id, address: `r${j}@x.test`, domain: 'x.test' })),
    );
  }
  // one statement slot: the eight marks of this turn leave as one UPDATE
  const grouped = new DeliveredRecorder(db.config, { size: 1, maxInFlight: 1, applicationName: 'recorder-batch-test' });
  try {
    const finished = await Promise.all(messages.map((m, i) => grouped.markDeliveredAndFinish(m.id, m.rcpts, `250 2.0.0 queued as ${i}`, new Date(Date.UTC(2026, 2, 2, 10, i)))));
    // each message was completed by its own item of the one statement (not routed: route null)
    expect(finished).toEqual(messages.map(() => [{ route: null, domain: 'x.test' }]));
  } finally {
    await grouped.close();
  }
  for (const [i, m] of messages.entries()) {
    const rows: { status: string; last_reply: string; delivered_at: Date; attempts: number }[] = await ds.query(`SELECT status, last_reply, delivered_at, attempts FROM recipients WHERE message_id = $1`, [m.id]);
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r).toMatchObject({ status: 'delivered', last_reply: `250 2.0.0 queued as ${i}`, attempts: 1 });
      expect(r.delivered_at.toISOString()).toBe(new Date(Date.UTC(2026, 2, 2, 10, i)).toISOString());
    }
  }
});

it('leaves a message open while another recipient is open, and finishes it with the last mark', async () => {
  const keys: { id: number }[] = await ds.query(`INSERT INTO spool_keys (wrapped_key, kek_label) VALUES ($1, 'kek') RETURNING id`, [randomBytes(40)]);
  const now = new Date();
  const messageId = randomUUID();
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  await queue.insertAccepted(
    { id: messageId, queueId: 'QL', direction: 'outbound', mailFrom: 'a@example.test', size: 1, sha256: randomBytes(32), spoolKeyId: keys[0]!.id, headerMessageId: null, clientAddress: '127.0.0.1', clientHelo: null, authUser: null, receivedAt: now, expiresAt: new Date(now.getTime() + 86400_000) },
    [
      { id: a, address: 'a@x.test', domain: 'x.test' },
      { id: b, address: 'b@y.test', domain: 'y.test' },
      { id: c, address: 'c@y.test', domain: 'y.test' },
    ],
    Buffer.from('sealed body'),
  );
  const bodies = async () => (await ds.query(`SELECT count(*)::int AS n FROM spool_bodies WHERE message_id = $1`, [messageId]))[0].n;
  await queue.routeRecipients([a, b, c].map((id) => ({ id, route: 'remote' as const })));
  await queue.markDeferred([b], '451 later', new Date(now.getTime() + 60_000));

  expect(await recorder.markDeliveredAndFinish(messageId, [a], '250 ok', now)).toBeNull();
  expect((await queue.findMessage(messageId))!.state).toBe('queued');
  expect(await bodies()).toBe(1);
  // two items of one message in one statement (two transactions ending at once): the first gets the groups
  const grouped = new DeliveredRecorder(db.config, { size: 1, maxInFlight: 1, applicationName: 'recorder-last-test' });
  try {
    const both = await Promise.all([grouped.markDeliveredAndFinish(messageId, [b], '250 ok', now), grouped.markDeliveredAndFinish(messageId, [c], '250 ok', now)]);
    expect(both[0]).toEqual(expect.arrayContaining([{ route: 'remote', domain: 'x.test' }, { route: 'remote', domain: 'y.test' }]));
    expect(both[0]).toHaveLength(2);
    expect(both[1]).toBeNull();
  } finally {
    await grouped.close();
  }
  expect((await queue.findMessage(messageId))!.state).toBe('done');
  // the statement that finished the message deleted its spooled body
  expect(await bodies()).toBe(0);
  // a later finish finds nothing to do
  expect(await queue.finishMessageReturningGroups(messageId)).toBeNull();
});
