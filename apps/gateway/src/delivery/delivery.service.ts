// The `deliver` job (queue gateway-delivery): one attempt at the open recipients of one message for
// one (route, domain). Reads the bytes for that group, finds the next hops, runs one SMTP
// transaction for all of them under the domain's TLS policy (at most DESTINATION_CONCURRENCY at
// once per destination in this process), then records each recipient's fate:
//   2xx  delivered (recorded on the server's reply, before QUIT)
//   5xx  bounced now, DSN to the sender
//   4xx, connection or TLS failure, DNS trouble: deferred, retried after an exponential backoff
//        by a new delayed job (attempt + 1); after DELAY_NOTICE_AFTER one delay notice; once the
//        queue lifetime is over, bounced.
// A job whose recipients are already final, or already past this attempt, does nothing.
// Route 'dmtp' goes through DmtpDelivery (discovery, sealing, DMTP); when a `preferred` DIME domain
// turns out not to be reachable as DIME, the same attempt relays over SMTP under its TLS policy.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Worker, type ConnectionOptions } from 'bullmq';
import type { DeliveredMarker, DomainPolicyRepository, FinishedGroups, QueuedMessage, QueuedRecipient, QueueRepository, TlsPolicy } from '@lib/db';
import { QUEUES, type DeliverJob } from '@lib/jobs';
import type { GatewayConfig } from '../gateway.config';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import type { GatewayQueues } from '../pipeline/gateway-queues';
import type { MessageBodyStore } from '../pipeline/message-body.store';
import { SpoolError } from '../spool/spool.service';
import type { DmtpDelivery } from './dmtp-delivery';
import type { RoutedGroup } from './first-attempt.dispatcher';
import type { DsnService, RecipientReport } from './dsn.service';
import { KeyedSemaphore } from './keyed-semaphore';
import type { MessageFinisher } from './message-finisher';
import type { NextHopResolver } from './next-hop.resolver';
import { retryDelayMs } from './retry-backoff';
import { sendSmtpTransaction, type SmtpTransactionRequest, type SmtpTransactionResult } from './smtp-transaction';

export type DeliverJobData = DeliverJob['data'];

export interface DeliveryServiceDeps {
  readonly config: GatewayConfig;
  readonly queue: QueueRepository;
  /**
   * Records 2xx replies, and finishes a message they complete; default `queue`. The gateway passes
   * a DeliveredRecorder (a warm pool of its own, one statement for both), so that no pool wait
   * stands between the next hop's 2xx and the UPDATE.
   */
  readonly recorder?: DeliveredMarker | undefined;
  /** The per-domain TLS policy (DomainPolicyCache in the gateway). */
  readonly policies: Pick<DomainPolicyRepository, 'findTlsPolicy'>;
  readonly bodies: MessageBodyStore;
  readonly resolver: NextHopResolver;
  readonly queues: GatewayQueues;
  readonly dsn: DsnService;
  readonly finisher: MessageFinisher;
  readonly logger: GatewayLogger;
  readonly metrics?: GatewayMetrics | undefined;
  readonly clock?: () => number;
  readonly random?: () => number;
  /** DIME delivery for route 'dmtp'; without it such recipients are deferred (never sent in clear). */
  readonly dmtp?: DmtpDelivery | undefined;
  /** The SMTP engine (tests may wrap it). */
  readonly send?: (req: SmtpTransactionRequest) => Promise<SmtpTransactionResult>;
}

/** Set when a 2xx of this attempt finished the message (DeliveredMarker): its spool groups. */
interface FinishedHere {
  groups: FinishedGroups;
}

interface Outcome {
  readonly recipient: QueuedRecipient;
  readonly code: number;
  readonly reply: string;
  readonly remoteMta?: string | undefined;
}

function trustAnchors(caFile: string | undefined): readonly (string | Buffer)[] {
  return caFile ? [...rootCertificates, readFileSync(caFile)] : rootCertificates;
}

/**
 * How long a delivery already accepted by the next hop waits for PostgreSQL to record it. Giving
 * up fails the job, which is retried and sends the message again, so this outlasts any outage a
 * restart fixes; only a crash of this process can still cause that duplicate.
 */
export const RECORD_DELIVERED_PATIENCE_MS = 10 * 60_000;
/**
 * Longest pause between two tries of that update. Short: while marks wait, a crash of this process
 * sends their messages again, so they are written within this long of PostgreSQL's return (a
 * failing try costs one refused connection).
 */
export const RECORD_DELIVERED_RETRY_MAX_MS = 250;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function codeOf(reply: string, fallback: number): number {
  const n = Number(/^([245]\d\d)\b/.exec(reply)?.[1]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export class DeliveryService {
  private readonly semaphore: KeyedSemaphore;
  /**
   * One job at a time per (message, route, domain) in this process. After Redis loses its jobs the
   * recovery sweeper re-enqueues the group of a delivery still in flight here (its job id is gone
   * from Redis), and BullMQ may hand out a job whose lock it lost; run concurrently, both would
   * read the recipients as open and send the message twice. Serialised, the second finds them
   * final (or past its attempt) and does nothing.
   */
  private readonly groups = new KeyedSemaphore(1);
  private readonly remoteCa: readonly (string | Buffer)[];
  private readonly legacyCa: readonly (string | Buffer)[];
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly send: (req: SmtpTransactionRequest) => Promise<SmtpTransactionResult>;
  private readonly recorder: DeliveredMarker;

  constructor(private readonly deps: DeliveryServiceDeps) {
    const { delivery, legacy } = deps.config;
    this.semaphore = new KeyedSemaphore(delivery.destinationConcurrency);
    this.remoteCa = trustAnchors(delivery.caFile);
    this.legacyCa = trustAnchors(legacy.caFile);
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.send = deps.send ?? sendSmtpTransaction;
    this.recorder = deps.recorder ?? deps.queue;
  }

  /**
   * `routed`: the group as dispatch just wrote it (a direct first attempt). It is used only when no
   * other attempt of the group holds or awaits its turn in this process; one that does may have
   * changed the recipients since, so the state is read back from PostgreSQL as for any job.
   */
  async deliver(job: DeliverJobData, routed?: RoutedGroup): Promise<void> {
    const key = `${job.messageId}/${job.route}/${job.domain}`;
    const known = routed && this.groups.active(key) === 0 ? routed : undefined;
    return this.groups.run(key, () => this.deliverGroup(job, known));
  }

  private async deliverGroup(job: DeliverJobData, known?: RoutedGroup): Promise<void> {
    const { queue } = this.deps;
    const found = known ?? (await queue.findMessageWithRecipients(job.messageId));
    if (!found || found.message.state === 'done') return;
    const { message, recipients: all } = found;
    const open = all.filter(
      (r) => r.route === job.route && r.domain === job.domain && (r.status === 'queued' || r.status === 'deferred') && r.attempts < job.attempt,
    );
    if (open.length === 0) {
      await this.deps.finisher.finishIfComplete(message);
      return;
    }
    const log = this.deps.logger.child({ queueId: message.queueId, route: job.route, domain: job.domain, attempt: job.attempt });

    let body: Buffer;
    try {
      body = await this.deps.bodies.readForDelivery(message.id, job.route, job.domain, job.variant);
    } catch (err) {
      if (!(err instanceof SpoolError) || err.code === 'IO') throw err;
      log.error({ code: err.code }, 'spool copy unusable; never delivered');
      await this.deps.dsn.bounce(message, open.map((recipient) => ({ recipient, reply: `554 5.3.0 message held: spool copy unusable (${err.code})` })));
      return;
    }

    const finished: FinishedHere = { groups: null };
    try {
      const outcomes = await this.attempt(message, open, job, body, log, finished);
      await this.record(message, outcomes, job, log, finished);
    } finally {
      // a 2xx of this attempt finished the message: its spool files go, whatever happened after
      if (finished.groups) await this.deps.finisher.removeFiles(message, finished.groups);
    }
  }

  private async attempt(message: QueuedMessage, open: readonly QueuedRecipient[], job: DeliverJobData, body: Buffer, log: GatewayLogger, finished: FinishedHere): Promise<Outcome[]> {
    if (job.route === 'dmtp') {
      const dmtp = this.deps.dmtp;
      if (!dmtp) return open.map((recipient) => ({ recipient, code: 451, reply: '451 4.3.5 DIME delivery is not configured on this gateway' }));
      const result = await this.semaphore.run(`dmtp/${job.domain}`, () =>
        dmtp.attempt(message, open, job.domain, body, (recipient, reply, host) => this.delivered(message, [recipient], reply, job.route, host, log, finished), log),
      );
      if (result.kind === 'outcomes') return result.outcomes;
      log.info({ reason: result.reason }, 'domain not reachable as DIME; relaying over SMTP (DIME policy preferred)');
    }
    return this.attemptSmtp(message, open, job.route === 'legacy' ? 'legacy' : 'remote', job, body, log, finished);
  }

  private async attemptSmtp(
    message: QueuedMessage,
    open: readonly QueuedRecipient[],
    route: 'legacy' | 'remote',
    job: DeliverJobData,
    body: Buffer,
    log: GatewayLogger,
    finished: FinishedHere,
  ): Promise<Outcome[]> {
    const next = await this.deps.resolver.resolve(route, job.domain);
    if (next.kind === 'failed') {
      log.info({ reply: next.reply }, 'no next hop');
      return open.map((recipient) => ({ recipient, code: codeOf(next.reply, next.permanent ? 550 : 451), reply: next.reply }));
    }
    const { config } = this.deps;
    const policy: TlsPolicy =
      route === 'legacy' ? config.legacy.tlsPolicy : ((await this.deps.policies.findTlsPolicy(job.domain)) ?? config.delivery.defaultTlsPolicy);
    const byAddress = new Map<string, QueuedRecipient[]>();
    for (const r of open) {
      const list = byAddress.get(r.address);
      if (list) list.push(r);
      else byAddress.set(r.address, [r]);
    }
    const destination = route === 'legacy' ? 'legacy' : `remote/${job.domain}`;

    return this.semaphore.run(destination, async () => {
      let last = '451 4.4.1 no next hop answered';
      for (const hop of next.hops) {
        const result = await this.send({
          hop,
          ehloName: config.hostname,
          tlsPolicy: policy,
          trustedCa: route === 'legacy' ? this.legacyCa : this.remoteCa,
          connectTimeoutMs: config.delivery.connectTimeoutMs,
          commandTimeoutMs: config.delivery.commandTimeoutMs,
          mailFrom: message.mailFrom,
          recipients: [...byAddress.keys()],
          body,
          onAccepted: (accepted, reply) => this.delivered(message, accepted.flatMap((a) => byAddress.get(a) ?? []), reply, job.route, hop.name, log, finished),
        });
        if (result.kind === 'completed') {
          return result.outcomes.flatMap((o) => (byAddress.get(o.address) ?? []).map((recipient) => ({ recipient, code: o.code, reply: o.reply, remoteMta: hop.name })));
        }
        log.info({ hop: `${hop.host}:${hop.port}`, policy, reply: result.reply }, 'next hop failed');
        if (result.permanent) return open.map((recipient) => ({ recipient, code: codeOf(result.reply, 554), reply: result.reply, remoteMta: hop.name }));
        last = result.reply;
      }
      return open.map((recipient) => ({ recipient, code: codeOf(last, 451), reply: last }));
    });
  }

  /**
   * Runs on the server's 2xx to the message, before QUIT. The message is at the next hop now, so a
   * failing update (PostgreSQL down or restarting) is retried here rather than failing the job,
   * whose retry would deliver the message a second time. When the marks leave no recipient of the
   * message open, the same statement finishes it (`finished`; its spool files go at the end of the
   * attempt).
   */
  private async delivered(
    message: QueuedMessage,
    recipients: readonly QueuedRecipient[],
    reply: string,
    route: DeliverJobData['route'],
    host: string,
    log: GatewayLogger,
    finished: FinishedHere,
  ): Promise<void> {
    if (recipients.length === 0) return;
    const now = this.clock();
    const ids = recipients.map((r) => r.id);
    // wall-clock patience (not this.clock, which tests may freeze)
    const giveUpAt = Date.now() + RECORD_DELIVERED_PATIENCE_MS;
    let failures = 0;
    for (let wait = 25; ; wait = Math.min(wait * 2, RECORD_DELIVERED_RETRY_MAX_MS)) {
      try {
        // nothing is awaited before this call: the UPDATE leaves in the tick that parsed the 2xx
        const groups = await this.recorder.markDeliveredAndFinish(message.id, ids, reply, new Date(now));
        if (groups) finished.groups = groups;
        if (failures > 0) log.info({ failures }, 'delivery recorded after database failures');
        break;
      } catch (err) {
        if (Date.now() >= giveUpAt) throw err;
        // one line per failure burst and then one every ~10 s, not one per try
        if (failures++ % 40 === 0) log.warn({ err: (err as Error).message, failures }, 'delivered but not yet recorded; retrying the database update');
        await sleep(wait);
      }
    }
    const latency = (now - message.receivedAt.getTime()) / 1000;
    for (let i = 0; i < recipients.length; i++) this.deps.metrics?.deliveryLatency.observe({ route }, latency);
    this.deps.metrics?.delivered.inc({ route }, recipients.length);
    log.info({ recipients: recipients.map((r) => r.address), host, reply }, 'delivered');
  }

  private async record(message: QueuedMessage, outcomes: readonly Outcome[], job: DeliverJobData, log: GatewayLogger, finished: FinishedHere): Promise<void> {
    const now = this.clock();
    const expired = now >= message.expiresAt.getTime();
    const bounce: RecipientReport[] = [];
    const defer: Outcome[] = [];
    for (const o of outcomes) {
      if (o.code < 300) continue; // recorded in delivered()
      if (o.code >= 500) bounce.push(o);
      else if (expired) bounce.push({ recipient: o.recipient, reply: o.reply, remoteMta: o.remoteMta });
      else defer.push(o);
    }
    if (expired && defer.length === 0 && bounce.length > 0) log.info('queue lifetime over');

    if (defer.length > 0) {
      const delay = retryDelayMs(job.attempt, this.deps.config.delivery.retryBaseMs, this.deps.config.delivery.retryMaxMs, this.random);
      const nextAt = Math.min(now + delay, message.expiresAt.getTime());
      const byReply = new Map<string, string[]>();
      for (const o of defer) byReply.set(o.reply, [...(byReply.get(o.reply) ?? []), o.recipient.id]);
      for (const [reply, ids] of byReply) await this.deps.queue.markDeferred(ids, reply, new Date(nextAt));
      this.deps.metrics?.deferred.inc({ route: job.route }, defer.length);
      await this.deps.queues.addDeliver({ ...job, attempt: job.attempt + 1 }, nextAt - now);
      log.info({ recipients: defer.map((o) => o.recipient.address), reply: defer[0]!.reply, retryInMs: nextAt - now }, 'deferred');

      const noticeAfter = this.deps.config.delivery.delayNoticeAfterMs;
      const notice = defer.filter((o) => o.recipient.delayNotifiedAt === null && now - message.receivedAt.getTime() >= noticeAfter);
      if (notice.length > 0) await this.deps.dsn.delayNotice(message, notice, message.expiresAt);
    }
    if (bounce.length > 0) await this.deps.dsn.bounce(message, bounce);
    else if (!finished.groups) await this.deps.finisher.finishIfComplete(message);
  }

  /** A BullMQ worker running `deliver` jobs (DELIVERY_CONCURRENCY at once); the caller closes it. */
  createWorker(connection: ConnectionOptions, prefix: string): Worker<DeliverJobData> {
    const worker = new Worker<DeliverJobData>(QUEUES.delivery, (job) => this.deliver(job.data), {
      connection,
      prefix,
      concurrency: this.deps.config.delivery.workerConcurrency,
      // a deliver job of a crashed process runs again after about this long (see GatewayConfig.workers)
      lockDuration: this.deps.config.workers.lockDurationMs,
      stalledInterval: this.deps.config.workers.stalledIntervalMs,
    });
    worker.on('failed', (job, err) => this.deps.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'deliver job failed'));
    worker.on('error', (err) => this.deps.logger.error({ err: err.message }, 'delivery worker error'));
    return worker;
  }
}
