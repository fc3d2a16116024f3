// Step `journal`: gives the message, its routed and refused recipients and its bytes to the
// JournalSink (see journal-sink.ts). Runs before `dispatch`, so a failing sink holds delivery.
// A D/MIME message received over DMTP is journaled as the message it carries (opened by `transform`):
// that is what the organisation received, and what an escrow export must reproduce.
import type { RecipientRoute, QueuedRecipient } from '@lib/db';
import { NOOP_JOURNAL_SINK, type JournalSink } from './journal-sink';
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';

export class JournalStep implements PipelineStep {
  readonly name = 'journal';

  constructor(
    readonly timeoutMs: number,
    private readonly sink: JournalSink = NOOP_JOURNAL_SINK,
  ) {}

  async run(ctx: PipelineContext): Promise<void> {
    const recipients: { recipient: QueuedRecipient; route: RecipientRoute }[] = [];
    for (const recipient of ctx.accepted) {
      const route = ctx.routeOf(recipient);
      if (route) recipients.push({ recipient, route });
    }
    await this.sink.record({
      message: ctx.message,
      recipients,
      rejected: ctx.rejections.map((r) => ({ recipient: r.recipient, reply: r.reply })),
      readBody: () => journaledBody(ctx),
    });
  }
}

async function journaledBody(ctx: PipelineContext): Promise<Buffer> {
  if (ctx.message.format === 'dime') {
    for (const group of ctx.groups()) {
      const opened = ctx.bodyOf(group);
      if (opened) return Buffer.from(opened.buffer, opened.byteOffset, opened.byteLength);
    }
  }
  return ctx.readBody();
}
