// The pipeline's contract: steps run in order, each under its timeout; a throwing or timed-out
// step fails the run (the job is retried) and no later step runs; and each step's own rules.
import { createHash, randomUUID } from 'node:crypto';
import type { QueuedMessage, QueuedRecipient, RecipientRoute } from '@lib/db';
import { createLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { SpoolError } from '../spool/spool.service';
import { ClassifyStep } from './classify.step';
import { DispatchStep } from './dispatch.step';
import type { GatewayQueues } from './gateway-queues';
import type { JournalEntry } from './journal-sink';
import { JournalStep } from './journal.step';
import { bodyVariantId, type MessageBodyStore } from './message-body.store';
import { Pipeline } from './pipeline';
import { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';
import { PipelineStepError } from './pipeline-step.error';
import { countReceived, MAX_RECEIVED_HEADERS, PolicyStep } from './policy.step';
import { TransformStep } from './transform.step';
import type { QueueRepository } from '@lib/db';

const logger = createLogger({ level: 'silent' });
const BODY = Buffer.from('From: a@org.test\r\nSubject: hi\r\n\r\nbody\r\n');

function message(body: Buffer = BODY, overrides: Partial<QueuedMessage> = {}): QueuedMessage {
  const now = new Date();
  return {
    id: randomUUID(),
    queueId: 'Q1',
    direction: 'outbound',
    format: 'rfc5322',
    mailFrom: 'a@org.test',
    size: body.length,
    sha256: createHash('sha256').update(body).digest(),
    spoolKeyId: 1,
    headerMessageId: null,
    clientAddress: '127.0.0.1',
    clientHelo: null,
    authUser: null,
    receivedAt: now,
    expiresAt: new Date(now.getTime() + 86400_000),
    state: 'queued',
    ...overrides,
  };
}

function recipient(messageId: string, address: string): QueuedRecipient {
  return {
    id: randomUUID(),
    messageId,
    address,
    domain: address.slice(address.indexOf('@') + 1).toLowerCase(),
    route: null,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: null,
    lastReply: null,
    delayNotifiedAt: null,
  };
}

function context(addresses: string[], body: Buffer | Error = BODY, m = message(body instanceof Buffer ? body : BODY)): PipelineContext {
  return new PipelineContext(m, addresses.map((a) => recipient(m.id, a)), logger, async () => {
    if (body instanceof Error) throw body;
    return body;
  });
}

function step(name: string, run: PipelineStep['run'], timeoutMs = 1000): PipelineStep {
  return { name, timeoutMs, run };
}

describe('Pipeline', () => {
  it('runs the steps in their order and records each step duration', async () => {
    const order: string[] = [];
    const metrics = new GatewayMetrics();
    const p = new Pipeline(['a', 'b', 'c'].map((n) => step(n, async () => void order.push(n))), metrics);
    await p.run(context(['x@remote.test']));
    expect(order).toEqual(['a', 'b', 'c']);
    const observed = (await metrics.stepDuration.get()).values.filter((v) => v.metricName?.endsWith('_count'));
    expect(observed.map((v) => [v.labels['step'], v.labels['outcome'], v.value])).toEqual([
      ['a', 'ok', 1],
      ['b', 'ok', 1],
      ['c', 'ok', 1],
    ]);
  });

  it('fails the run when a step throws, and never runs the steps after it', async () => {
    const order: string[] = [];
    const p = new Pipeline(
      [
        step('a', async () => void order.push('a')),
        step('b', async () => {
          throw new Error('boom');
        }),
        step('c', async () => void order.push('c')),
      ],
      undefined,
    );
    const err = await p.run(context(['x@remote.test'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineStepError);
    expect(err).toMatchObject({ code: 'STEP_FAILED', step: 'b' });
    expect(order).toEqual(['a']);
  });

  it('fails the run when a step exceeds its timeout, aborting its signal', async () => {
    let aborted = false;
    const after = jest.fn();
    const p = new Pipeline(
      [
        step(
          'slow',
          (ctx) =>
            new Promise<void>((resolve) => {
              ctx.signal.addEventListener('abort', () => {
                aborted = true;
                setTimeout(resolve, 5);
              });
            }),
          30,
        ),
        step('after', async () => after()),
      ],
      undefined,
    );
    await expect(p.run(context(['x@remote.test']))).rejects.toMatchObject({ code: 'STEP_TIMEOUT', step: 'slow' });
    expect(aborted).toBe(true);
    expect(after).not.toHaveBeenCalled();
  });

  it('refuses two steps with one name and a step without a timeout', () => {
    expect(() => new Pipeline([step('a', async () => undefined), step('a', async () => undefined)], undefined)).toThrow(RangeError);
    expect(() => new Pipeline([step('a', async () => undefined, 0)], undefined)).toThrow(RangeError);
  });
});

describe('PolicyStep', () => {
  const policy = new PolicyStep(1000);

  it('accepts a sane message', async () => {
    const ctx = context(['b@remote.test', 'c@org.test']);
    await policy.run(ctx);
    expect(ctx.rejections).toEqual([]);
  });

  it('never lets a message through whose spool copy fails authentication', async () => {
    const ctx = context(['b@remote.test'], new SpoolError('CORRUPT', 'fails authentication'));
    await policy.run(ctx);
    expect(ctx.accepted).toEqual([]);
    expect(ctx.rejections[0]!.reply).toMatch(/^554 5\.3\.0 .*CORRUPT/);
  });

  it('retries (throws) on a spool I/O error instead of deciding', async () => {
    await expect(policy.run(context(['b@remote.test'], new SpoolError('IO', 'disk')))).rejects.toMatchObject({ code: 'IO' });
  });

  it('refuses a spool copy whose bytes differ from the accepted SHA-256', async () => {
    const m = message(BODY);
    const ctx = new PipelineContext(m, [recipient(m.id, 'b@remote.test')], logger, async () => Buffer.from(BODY.toString().replace('hi', 'ho')));
    await policy.run(ctx);
    expect(ctx.rejections[0]!.reply).toMatch(/^554 5\.3\.0 .*does not match/);
  });

  it('refuses a mail loop (too many Received headers)', async () => {
    const looped = Buffer.concat([Buffer.from('Received: from x by y\r\n'.repeat(MAX_RECEIVED_HEADERS + 1)), BODY]);
    expect(countReceived(looped)).toBe(MAX_RECEIVED_HEADERS + 1);
    const ctx = context(['b@remote.test'], looped);
    await policy.run(ctx);
    expect(ctx.rejections[0]!.reply).toMatch(/^554 5\.4\.6/);
  });

  it('does not count Received lines in the body', () => {
    expect(countReceived(Buffer.from('Subject: x\r\n\r\nReceived: from body\r\n'))).toBe(0);
  });

  it('refuses only the recipients with a bad address', async () => {
    const ctx = context(['good@remote.test', 'bad address@remote.test']);
    await policy.run(ctx);
    expect(ctx.accepted.map((r) => r.address)).toEqual(['good@remote.test']);
    expect(ctx.rejections.map((r) => [r.recipient.address, r.reply.slice(0, 9)])).toEqual([['bad address@remote.test', '553 5.1.3']]);
  });

  it('accepts the null sender (a bounce) and refuses a malformed sender', async () => {
    const nullSender = message(BODY, { mailFrom: '' });
    const ok = new PipelineContext(nullSender, [recipient(nullSender.id, 'b@remote.test')], logger, async () => BODY);
    await policy.run(ok);
    expect(ok.rejections).toEqual([]);
    const bad = message(BODY, { mailFrom: 'no-at-sign' });
    const ctx = new PipelineContext(bad, [recipient(bad.id, 'b@remote.test')], logger, async () => BODY);
    await policy.run(ctx);
    expect(ctx.rejections[0]!.reply).toMatch(/^553 5\.1\.7/);
  });
});

describe('ClassifyStep and TransformStep', () => {
  it('routes local domains to the legacy server and the rest to the Internet, grouped per domain', async () => {
    const ctx = context(['a@org.test', 'b@remote.test', 'c@ORG.test', 'd@remote.test', 'e@other.test']);
    await new ClassifyStep(['org.test'], 1000).run(ctx);
    expect(ctx.groups().map((g) => [g.route, g.domain, g.recipients.map((r) => r.address)])).toEqual([
      ['legacy', 'org.test', ['a@org.test', 'c@ORG.test']],
      ['remote', 'other.test', ['e@other.test']],
      ['remote', 'remote.test', ['b@remote.test', 'd@remote.test']],
    ]);
  });

  it('delivers the accepted bytes by default, or what the transformer returns per group', async () => {
    const ctx = context(['a@org.test', 'b@remote.test']);
    await new ClassifyStep(['org.test'], 1000).run(ctx);
    await new TransformStep(1000).run(ctx);
    expect(ctx.groups().map((g) => ctx.bodyOf(g))).toEqual([undefined, undefined]);
    const sealed = Buffer.from('sealed');
    await new TransformStep(1000, { transform: async (_c, g) => (g.route === 'remote' ? sealed : undefined) }).run(ctx);
    expect(ctx.bodyOf({ route: 'remote', domain: 'remote.test' })).toBe(sealed);
    expect(ctx.bodyOf({ route: 'legacy', domain: 'org.test' })).toBeUndefined();
  });
});

describe('JournalStep', () => {
  it('hands the routed and refused recipients and the bytes to the sink', async () => {
    const entries: JournalEntry[] = [];
    const ctx = context(['a@org.test', 'b@remote.test']);
    ctx.reject([ctx.recipients[1]!], '550 5.7.1 no');
    await new ClassifyStep(['org.test'], 1000).run(ctx);
    await new JournalStep(1000, { record: async (e) => void entries.push(e) }).run(ctx);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.recipients.map((r) => [r.recipient.address, r.route])).toEqual([['a@org.test', 'legacy']]);
    expect(entries[0]!.rejected.map((r) => r.reply)).toEqual(['550 5.7.1 no']);
    expect((await entries[0]!.readBody()).equals(BODY)).toBe(true);
  });

  it('fails when the sink fails (nothing is delivered unjournalled)', async () => {
    const p = new Pipeline([new JournalStep(1000, { record: async () => Promise.reject(new Error('journal down')) })], undefined);
    await expect(p.run(context(['a@org.test']))).rejects.toMatchObject({ code: 'STEP_FAILED', step: 'journal' });
  });
});

describe('DispatchStep', () => {
  it('stores replacement bytes, then routes, then enqueues one job per group, then bounces the refused', async () => {
    const calls: string[] = [];
    const bodies = { writeVariant: async (_m: string, route: RecipientRoute, domain: string) => void calls.push(`variant ${route}/${domain}`) };
    const queue = {
      routeRecipients: async (r: { id: string; route: RecipientRoute }[]) => {
        calls.push(`route ${r.length}`);
        return r.map((x) => x.id);
      },
    };
    const queues = { addDeliver: async (d: { route: string; domain: string; attempt: number }) => void calls.push(`job ${d.route}/${d.domain}#${d.attempt}`) };
    const bouncer = { bounce: async (_m: QueuedMessage, r: readonly unknown[]) => void calls.push(`bounce ${r.length}`) };
    const ctx = context(['a@org.test', 'b@remote.test', 'c@remote.test', 'd@bad.test']);
    ctx.reject([ctx.recipients[3]!], '550 no');
    await new ClassifyStep(['org.test'], 1000).run(ctx);
    ctx.setBody({ route: 'remote', domain: 'remote.test' }, Buffer.from('sealed'));
    const dispatch = new DispatchStep(1000, queue as unknown as QueueRepository, bodies as unknown as MessageBodyStore, queues as unknown as GatewayQueues, bouncer);
    await dispatch.run(ctx);
    expect(calls).toEqual(['variant remote/remote.test', 'route 3', 'job legacy/org.test#1', 'job remote/remote.test#1', 'bounce 1']);
  });

  it('hands the routed group to the first attempt only when this run routed all of it', async () => {
    const seen: { group: string; variant: boolean | undefined; known: string[] | undefined }[] = [];
    // b@remote.test was routed by another run of the same job: this run's UPDATE did not change it
    const queue = { routeRecipients: async (r: { id: string; route: RecipientRoute }[]) => r.filter((x) => x.id !== ctx.recipients[1]!.id).map((x) => x.id) };
    const queues = {
      addDeliver: async (d: { route: string; domain: string; variant?: boolean }, _delay: number, known?: { recipients: readonly QueuedRecipient[] }) =>
        void seen.push({ group: `${d.route}/${d.domain}`, variant: d.variant, known: known?.recipients.map((r) => `${r.address}:${r.status}:${r.route}`) }),
    };
    const ctx = context(['a@org.test', 'b@remote.test', 'c@remote.test']);
    await new ClassifyStep(['org.test'], 1000).run(ctx);
    ctx.setBody({ route: 'legacy', domain: 'org.test' }, Buffer.from('opened'));
    const bodies = { writeVariant: async () => undefined };
    await new DispatchStep(1000, queue as unknown as QueueRepository, bodies as unknown as MessageBodyStore, queues, { bounce: async () => undefined }).run(ctx);
    expect(seen).toEqual([
      { group: 'legacy/org.test', variant: true, known: ['a@org.test:queued:legacy'] },
      { group: 'remote/remote.test', variant: false, known: undefined },
    ]);
  });

  it('names replacement bytes deterministically per message, route and domain', () => {
    const id = randomUUID();
    expect(bodyVariantId(id, 'remote', 'a.test')).toBe(bodyVariantId(id, 'remote', 'a.test'));
    expect(bodyVariantId(id, 'remote', 'a.test')).not.toBe(bodyVariantId(id, 'legacy', 'a.test'));
    expect(bodyVariantId(id, 'remote', 'a.test')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
