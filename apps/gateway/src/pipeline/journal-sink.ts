// The compliance journal's hook point. The `journal` step hands every processed message to a
// JournalSink before any delivery job exists; if `record` throws, the job fails and is retried,
// so nothing is delivered unjournalled. The compliance issue supplies the real sink (encrypted
// journal record, key escrowed to the HSM escrow key); until then NOOP_JOURNAL_SINK records nothing.
import type { QueuedMessage, QueuedRecipient, RecipientRoute } from '@lib/db';

export interface JournalEntry {
  readonly message: QueuedMessage;
  /** Recipients that will be delivered, with their route. */
  readonly recipients: readonly { readonly recipient: QueuedRecipient; readonly route: RecipientRoute }[];
  /** Recipients refused by the pipeline, with the reply given in the DSN. */
  readonly rejected: readonly { readonly recipient: QueuedRecipient; readonly reply: string }[];
  /** The accepted bytes (authenticated spool copy). */
  readBody(): Promise<Buffer>;
}

export interface JournalSink {
  /** Must be idempotent per message id: a retried job records the same message again. */
  record(entry: JournalEntry): Promise<void>;
}

/** The default sink: journaling is not configured, so nothing is recorded. */
export const NOOP_JOURNAL_SINK: JournalSink = Object.freeze({
  record: async () => undefined,
});
