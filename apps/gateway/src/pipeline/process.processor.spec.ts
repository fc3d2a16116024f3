// The `process` job of a message whose acceptance may still be committing: in this process it
// waits for the outcome; elsewhere a young job that finds no row retries, an old one gives up; the
// job of a failed acceptance never runs the pipeline.
import { randomUUID } from 'node:crypto';
import type { QueuedMessage, QueueRepository } from '@lib/db';
import { createLogger } from '../observability/logger';
import type { MessageBodyStore } from './message-body.store';
import type { Pipeline } from './pipeline';
import type { PipelineContext } from './pipeline-context';
import { MessageNotYetVisibleError, MessageProcessor } from './process.processor';
import { RecentlyAccepted } from './recently-accepted';
import type { RecipientBouncer } from './recipient-bouncer';

const NOW = 1_800_000_000_000;

function state(id: string) {
  const message = { id, queueId: 'Q', state: 'queued', expiresAt: new Date(NOW + 60_000) } as QueuedMessage;
  return { message, recipients: [{ id: randomUUID(), messageId: id, address: 'bob@remote.test', domain: 'remote.test', route: null, status: 'pending' as const, attempts: 0, nextAttemptAt: null, lastReply: null, delayNotifiedAt: null }] };
}

function setup(rows: Map<string, ReturnType<typeof state>>, recent = new RecentlyAccepted(() => NOW)) {
  const ran: string[] = [];
  let lookups = 0;
  const queue = {
    findMessageWithRecipients: async (id: string) => {
      lookups += 1;
      return rows.get(id) ?? null;
    },
  } as unknown as QueueRepository;
  const pipeline = { run: async (ctx: PipelineContext) => void ran.push(ctx.message.id) } as unknown as Pipeline;
  const processor = new MessageProcessor(queue, {} as MessageBodyStore, pipeline, {} as RecipientBouncer, createLogger({ level: 'silent' }), () => NOW, recent, 60_000);
  return { processor, recent, ran, lookups: () => lookups };
}

describe('MessageProcessor and acceptances still committing', () => {
  it('a job that starts during its acceptance in this process waits and runs on what was accepted', async () => {
    const { processor, recent, ran, lookups } = setup(new Map());
    const id = randomUUID();
    const settle = recent.begin(id);
    const job = processor.process(id, NOW);
    await new Promise((r) => setTimeout(r, 10));
    expect(ran).toEqual([]);
    recent.remember(state(id));
    settle(true);
    await job;
    expect(ran).toEqual([id]);
    expect(lookups()).toBe(0);
  });

  it('the job of an acceptance that failed here does nothing, even if its row committed late', async () => {
    const id = randomUUID();
    const { processor, recent, ran, lookups } = setup(new Map([[id, state(id)]]));
    const settle = recent.begin(id);
    const job = processor.process(id, NOW);
    settle(false);
    await job;
    expect(ran).toEqual([]);
    expect(lookups()).toBe(0);
    // the next job for it (a recovery sweep) reads PostgreSQL, where take-back has decided its fate
    await processor.process(id, NOW);
    expect(ran).toEqual([id]);
  });

  it('a young job that finds no row retries; an old one, or one without a time, gives up quietly', async () => {
    const { processor, ran } = setup(new Map());
    const id = randomUUID();
    await expect(processor.process(id, NOW - 59_000)).rejects.toBeInstanceOf(MessageNotYetVisibleError);
    await expect(processor.process(id, NOW - 61_000)).resolves.toBeUndefined();
    await expect(processor.process(id)).resolves.toBeUndefined();
    expect(ran).toEqual([]);
  });

  it('a row that is there is processed whatever the job age', async () => {
    const id = randomUUID();
    const { processor, ran } = setup(new Map([[id, state(id)]]));
    await processor.process(id, NOW);
    expect(ran).toEqual([id]);
  });
});
