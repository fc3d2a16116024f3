// Records security-relevant actions in the hash-chained trail and signs checkpoints with the HSM
// audit key. Appends from any number of processes stay linear: each runs in one transaction under
// the chain lock (AuditRepository.withChainLock). A checkpoint is made in the same transaction as
// the entry that makes it due (every `checkpointEvery` entries, or when the last one is older than
// `checkpointPeriodMs`), so a crash can never leave more than checkpointEvery - 1 entries uncovered
// and the verifier may insist on that spacing; an optional timer covers an idle tail.
import type { AuditChainWriter, AuditRepository } from '@lib/db';
import { AuditError } from './audit.error';
import { AUDIT_GENESIS_HASH, checkpointSigningInput, entryHash } from './audit-chain';
import { canonicalJson } from './audit-canonical';
import type { AuditSigner } from './audit-signer';
import { AUDIT_OUTCOMES, type AuditEntry, type AuditJson, type AuditRecordInput, type RecordedAuditEntry } from './audit.types';
import { writeAuditExport, type AuditExportSummary } from './audit-export';

export interface AuditServiceOptions {
  readonly checkpointEvery: number;
  readonly checkpointPeriodMs: number;
  /** The clock (a parameter, STYLE.md 9). */
  readonly clock?: () => Date;
}

export interface AuditCheckpointMade {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
}

const MAX_FIELD = 1024;

function text(input: AuditRecordInput, name: 'actor' | 'action', required: true): string;
function text(input: AuditRecordInput, name: 'actorAddress' | 'objectType' | 'objectId', required: false): string | null;
function text(input: AuditRecordInput, name: keyof AuditRecordInput, required: boolean): string | null {
  const value = input[name];
  if (value === undefined || value === null) {
    if (required) throw new TypeError(`"${name}" expected a string, got ${String(value)}`);
    return null;
  }
  if (typeof value !== 'string') throw new TypeError(`"${name}" expected a string, got ${typeof value}`);
  if (required && value.length === 0) throw new AuditError('INVALID_ENTRY', `${name} is empty`);
  if (value.length > MAX_FIELD) throw new AuditError('INVALID_ENTRY', `${name} is longer than ${MAX_FIELD} characters`);
  return value;
}

export class AuditService {
  private readonly clock: () => Date;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repository: AuditRepository,
    private readonly signer: AuditSigner,
    private readonly options: AuditServiceOptions,
  ) {
    if (!Number.isInteger(options.checkpointEvery) || options.checkpointEvery < 1) throw new RangeError('"checkpointEvery" expected a positive integer');
    if (!(options.checkpointPeriodMs > 0)) throw new RangeError('"checkpointPeriodMs" expected a positive number');
    this.clock = options.clock ?? (() => new Date());
  }

  /** Appends one entry (and a checkpoint when one is due). AuditError INVALID_ENTRY for bad input. */
  async record(input: AuditRecordInput): Promise<RecordedAuditEntry> {
    if (typeof input !== 'object' || input === null) throw new TypeError('"input" expected an object');
    const actor = text(input, 'actor', true);
    const action = text(input, 'action', true);
    const actorAddress = text(input, 'actorAddress', false);
    const objectType = text(input, 'objectType', false);
    const objectId = text(input, 'objectId', false);
    if (!AUDIT_OUTCOMES.includes(input.outcome)) throw new AuditError('INVALID_ENTRY', `outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
    const details: AuditJson = input.details ?? {};
    if (typeof details !== 'object' || details === null || Array.isArray(details)) throw new TypeError('"details" expected a plain object');
    // a deep copy through the canonical form: validated now, and later changes by the caller do not leak in
    const frozenDetails = JSON.parse(canonicalJson(details)) as AuditJson;

    return this.repository.withChainLock(async (w) => {
      const { head, lastCheckpoint } = await w.state();
      const now = this.clock();
      const entry: AuditEntry = {
        seq: (head?.seq ?? 0) + 1,
        time: now.toISOString(),
        actor,
        actorAddress,
        action,
        objectType,
        objectId,
        outcome: input.outcome,
        details: frozenDetails,
      };
      const prevHash = head?.hash ?? AUDIT_GENESIS_HASH;
      const hash = entryHash(prevHash, entry);
      await w.insertEntry({ ...entry, time: new Date(entry.time), prevHash, hash });
      const lastSeq = lastCheckpoint?.seq ?? 0;
      const due =
        entry.seq - lastSeq >= this.options.checkpointEvery ||
        (lastCheckpoint !== null && now.getTime() - lastCheckpoint.time.getTime() >= this.options.checkpointPeriodMs);
      if (due) await this.insertCheckpoint(w, entry.seq, hash, lastSeq, now);
      return { seq: entry.seq, hash: hash.toString('hex'), time: entry.time, checkpointed: due };
    });
  }

  /** Checkpoints the head now unless it already is (`dime-gateway audit checkpoint`); null if nothing to do. */
  async checkpoint(): Promise<AuditCheckpointMade | null> {
    return this.repository.withChainLock(async (w) => {
      const { head, lastCheckpoint } = await w.state();
      if (head === null || (lastCheckpoint !== null && lastCheckpoint.seq >= head.seq)) return null;
      const now = this.clock();
      await this.insertCheckpoint(w, head.seq, head.hash, lastCheckpoint?.seq ?? 0, now);
      return { seq: head.seq, hash: head.hash.toString('hex'), time: now.toISOString() };
    });
  }

  /** Every checkpointPeriodMs, checkpoint an idle tail. Errors go to onError (the trail itself is unaffected). */
  startCheckpointTimer(onError: (err: unknown) => void = () => undefined): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.checkpoint().catch(onError);
    }, this.options.checkpointPeriodMs);
    this.timer.unref();
  }

  stopCheckpointTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Writes the whole trail as JSON Lines (header, entries with checkpoints after them, seal).
   * write() gets one or more complete lines per call, without the final newline.
   */
  exportTo(write: (line: string) => void | Promise<void>): Promise<AuditExportSummary> {
    return writeAuditExport(this.repository, this.signer, write, this.clock);
  }

  private async insertCheckpoint(w: AuditChainWriter, seq: number, hash: Buffer, prevCheckpointSeq: number, now: Date): Promise<void> {
    const time = new Date(now.toISOString());
    const interval = this.options.checkpointEvery;
    const signature = await this.signer.sign(checkpointSigningInput({ seq, hash, timeMs: time.getTime(), prevCheckpointSeq, interval }));
    await w.insertCheckpoint({ seq, hash, time, prevCheckpointSeq, interval, keyLabel: this.signer.keyLabel, signature });
  }
}
