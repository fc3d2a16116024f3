// The gateway's JournalSink, implemented here (libs cannot import apps): the structural shape of
// apps/gateway/src/pipeline/journal-sink.ts. Every processed message becomes one journal record
// (all envelope recipients: routed and refused) before any delivery job exists; a failure throws,
// so the pipeline job retries and nothing is delivered unjournalled. Idempotent per message id.
import type { MessageDirection } from '@lib/db';
import type { JournalOutcome, JournalService } from './journal.service';

/** The part of the gateway's JournalEntry this sink reads. */
export interface JournalSinkEntry {
  readonly message: { readonly id: string; readonly direction: MessageDirection; readonly mailFrom: string };
  readonly recipients: readonly { readonly recipient: { readonly address: string } }[];
  readonly rejected: readonly { readonly recipient: { readonly address: string } }[];
  readBody(): Promise<Buffer>;
}

export class EscrowJournalSink {
  constructor(private readonly journal: Pick<JournalService, 'journal'>) {}

  async record(entry: JournalSinkEntry): Promise<void> {
    await this.recordWithOutcome(entry);
  }

  async recordWithOutcome(entry: JournalSinkEntry): Promise<JournalOutcome> {
    const recipients = [...entry.recipients, ...entry.rejected].map((r) => r.recipient.address);
    return this.journal.journal({
      messageId: entry.message.id,
      direction: entry.message.direction,
      sender: entry.message.mailFrom,
      recipients,
      content: await entry.readBody(),
    });
  }
}
