import type { DeliverJob } from '@lib/jobs';
import { createLogger } from '../observability/logger';
import { DIRECT_RETRY_DELAY_MS, FirstAttemptDispatcher } from './first-attempt.dispatcher';

type Data = DeliverJob['data'];

function setup(limit: number) {
  const enqueued: { data: Data; delayMs: number }[] = [];
  const started: Data[] = [];
  const finishers: ((err?: Error) => void)[] = [];
  const queues = {
    addDeliver: (data: Data, delayMs = 0) => {
      enqueued.push({ data, delayMs });
      return Promise.resolve();
    },
  };
  const deliver = (data: Data) =>
    new Promise<void>((resolve, reject) => {
      started.push(data);
      finishers.push((err) => (err ? reject(err) : resolve()));
    });
  const dispatcher = new FirstAttemptDispatcher(queues, deliver, limit, createLogger({ level: 'silent' }));
  return { dispatcher, enqueued, started, finishers };
}

const job = (attempt = 1, messageId = '00000000-0000-4000-8000-000000000001'): Data => ({ messageId, route: 'remote', domain: 'remote.test', attempt });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FirstAttemptDispatcher', () => {
  it('starts a first attempt in this process without a job, and leaves later or delayed attempts to the deliver queue', async () => {
    const { dispatcher, enqueued, started, finishers } = setup(10);
    await dispatcher.addDeliver(job(1));
    await dispatcher.addDeliver(job(2));
    await dispatcher.addDeliver(job(1), 5000);
    expect(started).toEqual([job(1)]);
    expect(enqueued).toEqual([
      { data: job(2), delayMs: 0 },
      { data: job(1), delayMs: 5000 },
    ]);
    expect(dispatcher.running).toBe(1);
    finishers[0]!();
    await tick();
    expect(dispatcher.running).toBe(0);
  });

  it('enqueues first attempts beyond its limit of direct attempts in flight', async () => {
    const { dispatcher, enqueued, started } = setup(2);
    for (let i = 0; i < 3; i++) await dispatcher.addDeliver(job(1, `00000000-0000-4000-8000-00000000000${i}`));
    expect(started).toHaveLength(2);
    expect(enqueued.map((e) => e.data.messageId)).toEqual(['00000000-0000-4000-8000-000000000002']);
  });

  it('turns a direct attempt that throws into a deliver job after the first backoff', async () => {
    const { dispatcher, enqueued, finishers } = setup(10);
    await dispatcher.addDeliver(job(1));
    finishers[0]!(new Error('spool I/O error'));
    await tick();
    expect(enqueued).toEqual([{ data: job(1), delayMs: DIRECT_RETRY_DELAY_MS }]);
    expect(dispatcher.running).toBe(0);
  });

  it('drain waits for the attempts in flight and sends later ones to the queue', async () => {
    const { dispatcher, enqueued, finishers } = setup(10);
    await dispatcher.addDeliver(job(1));
    let drained = false;
    const draining = dispatcher.drain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false);
    finishers[0]!();
    await draining;
    expect(drained).toBe(true);
    await dispatcher.addDeliver(job(1));
    expect(enqueued).toEqual([{ data: job(1), delayMs: 0 }]);
  });
});
