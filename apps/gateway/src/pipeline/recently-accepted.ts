// Messages this process has just accepted, as acceptance wrote them to PostgreSQL (message row,
// recipients 'pending'), handed to the `process` job of the same message in the same process, so
// that it does not read back what it was told a moment ago. Taken once: a retried job, a job run
// by another gateway process, or one whose entry was evicted, reads PostgreSQL as before. Only
// acceptance writes these rows; nothing but processing changes them until processing starts.
import type { QueuedMessage, QueuedRecipient } from '@lib/db';

const MAX_ENTRIES = 10_000;
/** An entry older than this is not trusted any more (a job that waited this long reads the database). */
export const RECENTLY_ACCEPTED_MAX_AGE_MS = 5 * 60_000;

export interface AcceptedState {
  readonly message: QueuedMessage;
  readonly recipients: readonly QueuedRecipient[];
}

export class RecentlyAccepted {
  private readonly entries = new Map<string, { readonly state: AcceptedState; readonly at: number }>();

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

  get size(): number {
    return this.entries.size;
  }
}
