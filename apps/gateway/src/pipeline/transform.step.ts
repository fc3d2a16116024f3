// Step `transform`: lets the MessageTransformer replace the bytes of each (route, domain) group.
// Replacements are written to the spool by `dispatch` before any delivery job exists.
import { IDENTITY_TRANSFORMER, type MessageTransformer } from './message-transformer';
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';

export class TransformStep implements PipelineStep {
  readonly name = 'transform';

  constructor(
    readonly timeoutMs: number,
    private readonly transformer: MessageTransformer = IDENTITY_TRANSFORMER,
  ) {}

  async run(ctx: PipelineContext): Promise<void> {
    for (const group of ctx.groups()) {
      const bytes = await this.transformer.transform(ctx, group);
      if (bytes !== undefined) ctx.setBody(group, bytes);
    }
  }
}
