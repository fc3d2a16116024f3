// Durable acceptance (ARCHITECTURE.md §5.1): the message is written to the spool (encrypted,
// fsynced: a spool file, or, up to AcceptanceSettings.bodyInDatabaseMaxBytes, sealed and stored
// with its row in the same PostgreSQL statement, whose commit fsyncs it), recorded in PostgreSQL
// (message + recipients 'pending', one transaction) and announced
// to the pipeline as a BullMQ `process` job, all before the listener answers 250. Any failure or
// timeout on the way throws AcceptanceError (the listener answers 451 4.3.0) after undoing what was
// written, so a client that retries does not get its message delivered twice.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AcceptedRecipient, MessageDirection, MessageFormat, QueueRepository } from '@lib/db';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import type { SpoolService, SpoolWriteResult } from '../spool/spool.service';
import { headerMessageId, receivedHeader } from '../smtp/trace-headers';
import type { RecentlyAccepted } from '../pipeline/recently-accepted';

export type AcceptanceStage = 'spool' | 'database' | 'enqueue';

export class AcceptanceError extends Error {
  override readonly name = 'AcceptanceError';
  constructor(
    readonly stage: AcceptanceStage,
    readonly code: 'FAILED' | 'TIMEOUT',
    message: string,
  ) {
    super(message);
  }
}

/** What acceptance needs from the job queues (GatewayQueues in pipeline/gateway-queues.ts). */
export interface ProcessEnqueuer {
  addProcess(messageId: string): Promise<void>;
}

export type ListenerName = 'smtp' | 'submission' | 'dmtp';

export interface AcceptRequest {
  readonly listener: ListenerName;
  readonly direction: MessageDirection;
  /** Envelope sender; '' for the null path. */
  readonly mailFrom: string;
  readonly recipients: readonly { readonly address: string; readonly domain: string }[];
  readonly clientAddress: string;
  readonly clientHelo: string | null;
  readonly authUser: string | null;
  readonly secure: boolean;
  /** The message as received (the Received header is added here, to RFC 5322 messages only). */
  readonly message: Buffer;
  /** Default 'rfc5322'; a D/MIME message ('dime', from DMTP) is stored exactly as received. */
  readonly format?: MessageFormat;
  /** When the end of DATA arrived (ms), for the accept latency. */
  readonly dataEndedAt: number;
}

export interface AcceptResult {
  readonly messageId: string;
  readonly queueId: string;
  readonly size: number;
}

export interface AcceptanceSettings {
  readonly hostname: string;
  readonly queueLifetimeMs: number;
  /** Upper bound of each of the three stages. */
  readonly stageTimeoutMs: number;
  /**
   * Messages up to this size (bytes, as spooled) are sealed and stored in PostgreSQL with their
   * queue row, in the same statement (spool_bodies), instead of in a spool file of their own;
   * larger ones go to a file. 0 or undefined: every message goes to a file.
   */
  readonly bodyInDatabaseMaxBytes?: number;
}

function withTimeout<T>(stage: AcceptanceStage, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AcceptanceError(stage, 'TIMEOUT', `${stage} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Short id for logs and the 250 reply: 16 upper-case hex digits. */
export function newQueueId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

export class AcceptanceService {
  constructor(
    private readonly settings: AcceptanceSettings,
    private readonly spool: SpoolService,
    private readonly queue: QueueRepository,
    private readonly jobs: ProcessEnqueuer,
    private readonly metrics: GatewayMetrics,
    private readonly logger: GatewayLogger,
    private readonly clock: () => number = Date.now,
    /** Where the rows just written are left for this process's `process` job (recently-accepted.ts). */
    private readonly recent?: RecentlyAccepted,
  ) {}

  async accept(req: AcceptRequest): Promise<AcceptResult> {
    if (req.recipients.length === 0) throw new RangeError('"recipients" must not be empty');
    const messageId = randomUUID();
    const queueId = newQueueId();
    const log = this.logger.child({ queueId });
    const receivedAt = new Date(this.clock());
    const format = req.format ?? 'rfc5322';
    // a D/MIME message is signed byte for byte: its trace header is added when it is opened
    const bytes = format === 'dime' ? req.message : Buffer.concat([
      receivedHeader({
        helo: req.clientHelo,
        clientAddress: req.clientAddress,
        hostname: this.settings.hostname,
        secure: req.secure,
        authenticated: req.authUser !== null,
        queueId,
        date: receivedAt,
      }),
      req.message,
    ]);
    const ms = this.settings.stageTimeoutMs;

    // the body with the row (one commit makes both durable), or in a file of its own first
    const withRow = bytes.length <= (this.settings.bodyInDatabaseMaxBytes ?? 0);
    const stored: SpoolWriteResult & { sealed?: Buffer } = withRow
      ? await this.stage(log, 'spool', () => Promise.resolve(this.spool.seal(messageId, bytes)), () => Promise.resolve())
      : await this.stage(log, 'spool', () => withTimeout('spool', ms, this.spool.write(messageId, bytes)), async () => {
          await this.spool.remove(messageId);
        });

    const recipients: AcceptedRecipient[] = req.recipients.map((r) => ({ id: randomUUID(), address: r.address, domain: r.domain }));
    const row = {
      id: messageId,
      queueId,
      direction: req.direction,
      format,
      mailFrom: req.mailFrom,
      size: bytes.length,
      sha256: stored.sha256,
      spoolKeyId: stored.keyId,
      headerMessageId: format === 'dime' ? null : headerMessageId(req.message),
      clientAddress: req.clientAddress,
      clientHelo: req.clientHelo,
      authUser: req.authUser,
      receivedAt,
      expiresAt: new Date(receivedAt.getTime() + this.settings.queueLifetimeMs),
    };
    const insert = () => withTimeout('database', ms, this.queue.insertAccepted(row, recipients, stored.sealed));
    const enqueue = () => withTimeout('enqueue', ms, this.jobs.addProcess(messageId));
    const recent = this.recent;
    if (!recent) {
      await this.stage(log, 'database', insert, () => this.takeBack(messageId));
      if (withRow) this.spool.storedWithRow(messageId, bytes);
      // a job that still lands later finds no message (or an aborted one) and does nothing
      await this.stage(log, 'enqueue', enqueue, () => this.takeBack(messageId));
    } else {
      // The insert and the enqueue overlap, and the 250 waits for both. The job may therefore
      // start before the rows exist: this process's job waits for the outcome here
      // (RecentlyAccepted.settle), a job another process runs retries. A failure of either step
      // takes both back, and the job of a failed acceptance does nothing.
      const settle = recent.begin(messageId);
      const [inserted, enqueued] = await Promise.allSettled([this.timed('database', insert), this.timed('enqueue', enqueue)]);
      if (inserted.status === 'rejected' || enqueued.status === 'rejected') {
        settle(false);
        const failure = inserted.status === 'rejected' ? inserted.reason : (enqueued as PromiseRejectedResult).reason;
        await this.fail(log, failure as AcceptanceError, () => this.takeBack(messageId));
      }
      if (withRow) this.spool.storedWithRow(messageId, bytes);
      recent.remember({
        message: { ...row, state: 'queued' },
        // as findMessageWithRecipients returns them
        recipients: recipients
          .map((r) => ({ id: r.id, messageId, address: r.address, domain: r.domain, route: null, status: 'pending' as const, attempts: 0, nextAttemptAt: null, lastReply: null, delayNotifiedAt: null }))
          .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)),
      });
      settle(true);
    }

    const seconds = (this.clock() - req.dataEndedAt) / 1000;
    this.metrics.acceptLatency.observe({ listener: req.listener }, Math.max(0, seconds));
    this.metrics.accepted.inc({ listener: req.listener });
    log.info(
      { messageId, direction: req.direction, from: req.mailFrom, rcpts: recipients.length, size: bytes.length, client: req.clientAddress, auth: req.authUser ?? undefined, tls: req.secure, ms: Math.round(seconds * 1000) },
      'accepted',
    );
    return { messageId, queueId, size: bytes.length };
  }

  /**
   * Undo after the database stage: a failed or timed-out insert may still have committed. When the
   * row is known to be gone, drop the spool file; when that cannot be known (PostgreSQL down), mark
   * the spool file aborted so that processing drops the row silently (the client got 451 and will
   * retry: delivering it, or bouncing it, would be wrong).
   */
  private async takeBack(messageId: string): Promise<void> {
    this.recent?.forget(messageId);
    // an insert still waiting for its group commit is taken back unsent: the row will never exist
    if (this.queue.withdrawAccepted(messageId)) {
      await this.spool.remove(messageId);
      return;
    }
    let removed: boolean | undefined;
    try {
      removed = await this.queue.removeUnprocessed(messageId);
    } catch {
      removed = undefined;
    }
    if (removed === undefined) await this.spool.markAborted(messageId);
    else await this.spool.remove(messageId);
  }

  /** Runs one stage and records its duration; any error becomes an AcceptanceError of that stage. */
  private async timed<T>(stage: AcceptanceStage, work: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      const result = await work();
      this.metrics.acceptStageDuration.observe({ stage }, Number(process.hrtime.bigint() - started) / 1e9);
      return result;
    } catch (error) {
      throw error instanceof AcceptanceError ? error : new AcceptanceError(stage, 'FAILED', error instanceof Error ? error.message : String(error));
    }
  }

  /** Logs the failure, undoes what was written, and throws it (the listener answers 451). */
  private async fail(log: GatewayLogger, failure: AcceptanceError, undo: () => Promise<void>): Promise<never> {
    log.error({ stage: failure.stage, code: failure.code, err: failure.message }, 'acceptance failed; answering 451');
    try {
      await undo();
    } catch (undoError) {
      log.error({ stage: failure.stage, err: undoError instanceof Error ? undoError.message : String(undoError) }, 'could not undo a failed acceptance');
    }
    throw failure;
  }

  private async stage<T>(log: GatewayLogger, stage: AcceptanceStage, work: () => Promise<T>, undo: () => Promise<void>): Promise<T> {
    try {
      return await this.timed(stage, work);
    } catch (error) {
      return this.fail(log, error as AcceptanceError, undo);
    }
  }
}
