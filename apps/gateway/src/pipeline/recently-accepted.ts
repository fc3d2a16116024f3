// Messages this process has just accepted, as acceptance wrote them to PostgreSQL (message row,
// recipients 'pending'), handed to the `process` job of the same message in the same process, so
// that it does not read back what it was told a moment ago. Taken once: a retried job, a job run
// by another gateway process, or one whose entry was evicted, reads PostgreSQL as before. Only
// acceptance writes these rows; nothing but processing changes them until processing starts.
//
// Acceptance enqueues the `process` job while its insert is still on the way to PostgreSQL, so the
// job can start before the rows exist. An acceptance in progress is therefore registered here
// (begin) and settled when its insert has committed or it has failed; the job of such a message
// waits for that (settle) instead of finding no row.
import type { QueuedMessage, QueuedRecipient } from '@lib/db';

const MAX_ENTRIES = 10_000;
/** An entry older than this is not trusted any more (a job that waited this long reads the database). */
export const RECENTLY_ACCEPTED_MAX_AGE_MS = 5 * 60_000;

export interface AcceptedState {
  readonly message: QueuedMessage;
  readonly recipients: readonly QueuedRecipient[];
}

/** What settle() learnt about an acceptance of this process. */
export type LocalAcceptance =
  /** none in progress here (or its entry is gone): read PostgreSQL */
  | { readonly outcome: 'unknown' }
  /** it failed and its client got 451: its take-back decides what happens to the rows */
  | { readonly outcome: 'failed' }
  | { readonly outcome: 'accepted'; readonly state: AcceptedState };

export class RecentlyAccepted {
  private readonly entries = new Map<string, { readonly state: AcceptedState; readonly at: number }>();
  /** Acceptances in progress: resolved with whether their insert committed. */
  private readonly inProgress = new Map<string, Promise<boolean>>();
  /** Acceptances that failed after their job may have been enqueued (bounded like entries). */
  private readonly failed = new Set<string>();

  constructor(private readonly clock: () => number = Date.now) {}

  remember(state: AcceptedState): void {
    this.entries.delete(state.message.id);
    this.entries.set(state.message.id, { state, at: this.clock() });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The state acceptance wrote, once; undefined if unknown here, taken already or too old. */
  take(messageId: string): AcceptedState | undefined {
    const entry = this.entries.get(messageId);
    if (!entry) return undefined;
    this.entries.delete(messageId);
    return this.clock() - entry.at <= RECENTLY_ACCEPTED_MAX_AGE_MS ? entry.state : undefined;
  }

  forget(messageId: string): void {
    this.entries.delete(messageId);
  }

  /**
   * An acceptance of `messageId` starts; call the returned function once when it has committed
   * (true, after remember()) or failed (false).
   */
  begin(messageId: string): (committed: boolean) => void {
    let resolve!: (committed: boolean) => void;
    this.inProgress.set(messageId, new Promise<boolean>((r) => (resolve = r)));
    return (committed) => {
      this.inProgress.delete(messageId);
      if (!committed) {
        this.failed.add(messageId);
        if (this.failed.size > MAX_ENTRIES) this.failed.delete(this.failed.values().next().value!);
      }
      resolve(committed);
    };
  }

  /** take(), after waiting for an acceptance of this id still in progress here. */
  async settle(messageId: string): Promise<LocalAcceptance> {
    const running = this.inProgress.get(messageId);
    if (running) await running;
    if (this.failed.delete(messageId)) return { outcome: 'failed' };
    const state = this.take(messageId);
    return state ? { outcome: 'accepted', state } : { outcome: 'unknown' };
  }

  get size(): number {
    return this.entries.size;
  }
}
