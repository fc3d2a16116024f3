// DeliveryService.deliver with the group dispatch just routed (a direct first attempt): the state is
// taken from dispatch only when no other attempt of the group is running or waiting in this
// process; otherwise it is read back, so an attempt that ran meanwhile is never repeated.
import type { DomainPolicyRepository, QueuedMessage, QueuedRecipient, QueueRepository } from '@lib/db';
import { gatewayConfigFromEnv } from '../gateway.config';
import { createLogger } from '../observability/logger';
import type { GatewayQueues } from '../pipeline/gateway-queues';
import type { MessageBodyStore } from '../pipeline/message-body.store';
import { DeliveryService } from './delivery.service';
import type { DsnService } from './dsn.service';
import type { MessageFinisher } from './message-finisher';
import type { NextHopResolver } from './next-hop.resolver';
import type { SmtpTransactionRequest, SmtpTransactionResult } from './smtp-transaction';

const config = gatewayConfigFromEnv({ ...process.env, SOFTHSM2_CONF: undefined, HSM_PIN: '1234' });
const message: QueuedMessage = {
  id: '00000000-0000-4000-8000-000000000001',
  queueId: 'ABCDEF0123456789',
  direction: 'outbound',
  format: 'rfc5322',
  mailFrom: 'alice@example.test',
  size: 10,
  sha256: Buffer.alloc(32),
  spoolKeyId: 1,
  headerMessageId: null,
  clientAddress: '127.0.0.1',
  clientHelo: 'legacy',
  authUser: null,
  receivedAt: new Date(),
  expiresAt: new Date(Date.now() + 86_400_000),
  state: 'queued',
};
const bob: QueuedRecipient = {
  id: '00000000-0000-4000-8000-0000000000b0',
  messageId: message.id,
  address: 'bob@remote.test',
  domain: 'remote.test',
  route: 'remote',
  status: 'queued',
  attempts: 0,
  nextAttemptAt: null,
  lastReply: null,
  delayNotifiedAt: null,
};
const job = { messageId: message.id, route: 'remote' as const, domain: 'remote.test', attempt: 1, variant: false };

const GROUPS = [{ route: 'remote' as const, domain: 'remote.test' }];

function harness(options: { finishes?: boolean; failAfter2xx?: boolean } = {}) {
  // the database: bob is delivered once an attempt recorded it
  let bobRow: QueuedRecipient = { ...bob };
  const reads: string[] = [];
  const finishChecks: string[] = [];
  const removed: unknown[] = [];
  const sends: string[][] = [];
  let hold: Promise<void> = Promise.resolve();
  const queue = {
    findMessageWithRecipients: async (id: string) => {
      reads.push(id);
      return { message, recipients: [{ ...bobRow }] };
    },
    markDeferred: async () => undefined,
  } as unknown as QueueRepository;
  const service = new DeliveryService({
    config,
    queue,
    recorder: {
      markDeliveredAndFinish: async () => {
        bobRow = { ...bobRow, status: 'delivered', attempts: 1 };
        // the statement finished the message (no other recipient open) or it did not
        return options.finishes ? GROUPS : null;
      },
    },
    policies: { findTlsPolicy: async () => null } as Pick<DomainPolicyRepository, 'findTlsPolicy'>,
    bodies: { readForDelivery: async () => Buffer.from('Subject: x\r\n\r\nbody\r\n') } as unknown as MessageBodyStore,
    resolver: { resolve: async () => ({ kind: 'hops', hops: [{ host: '127.0.0.1', port: 25, name: 'mx.remote.test' }] }) } as unknown as NextHopResolver,
    queues: { addDeliver: async () => undefined } as unknown as GatewayQueues,
    dsn: {} as DsnService,
    finisher: {
      finishIfComplete: async (m: QueuedMessage) => void finishChecks.push(m.id),
      removeFiles: async (m: QueuedMessage, groups: unknown) => void removed.push([m.id, groups]),
    } as unknown as MessageFinisher,
    logger: createLogger({ level: 'silent' }),
    send: async (req: SmtpTransactionRequest): Promise<SmtpTransactionResult> => {
      sends.push([...req.recipients]);
      await hold;
      await req.onAccepted(req.recipients, '250 2.0.0 ok');
      if (options.failAfter2xx) throw new Error('connection lost after the 2xx');
      return { kind: 'completed', secure: true, outcomes: req.recipients.map((address) => ({ address, code: 250, reply: '250 2.0.0 ok' })) };
    },
  });
  return { service, reads, sends, finishChecks, removed, holdUntil: (p: Promise<void>) => (hold = p) };
}

describe('DeliveryService.deliver with the routed group', () => {
  it('does not read back a group dispatch just routed when no other attempt of it is running', async () => {
    const h = harness();
    await h.service.deliver(job, { message, recipients: [bob] });
    expect(h.reads).toEqual([]);
    expect(h.sends).toEqual([['bob@remote.test']]);
  });

  it('reads the state back when another attempt of the group ran first, and does not send again', async () => {
    const h = harness();
    let release!: () => void;
    h.holdUntil(new Promise<void>((r) => (release = r)));
    // a deliver job of the same group (e.g. made by the recovery sweeper) holds the group
    const first = h.service.deliver(job);
    await new Promise((r) => setImmediate(r));
    const direct = h.service.deliver(job, { message, recipients: [bob] });
    release();
    await Promise.all([first, direct]);
    expect(h.sends).toEqual([['bob@remote.test']]);
    expect(h.reads).toHaveLength(2);
  });
});

describe('DeliveryService: the 2xx that completes a message finishes it', () => {
  it('runs no separate finish and removes the spool files with the groups the mark returned', async () => {
    const h = harness({ finishes: true });
    await h.service.deliver(job, { message, recipients: [bob] });
    expect(h.finishChecks).toEqual([]);
    expect(h.removed).toEqual([[message.id, GROUPS]]);
  });

  it('runs the separate finish when the mark left the message open', async () => {
    const h = harness({ finishes: false });
    await h.service.deliver(job, { message, recipients: [bob] });
    expect(h.finishChecks).toEqual([message.id]);
    expect(h.removed).toEqual([]);
  });

  it('removes the files of a message its 2xx finished even when the attempt fails afterwards', async () => {
    const h = harness({ finishes: true, failAfter2xx: true });
    await expect(h.service.deliver(job, { message, recipients: [bob] })).rejects.toThrow('connection lost after the 2xx');
    expect(h.removed).toEqual([[message.id, GROUPS]]);
  });
});
