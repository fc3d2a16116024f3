// Step `classify`: picks each recipient's route. A recipient in one of the organisation's domains
// (LOCAL_DOMAINS) is relayed to the legacy server; every other one is delivered to the Internet.
// The routes stay in the context until `dispatch` stores them (see pipeline-context.ts).
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';

export class ClassifyStep implements PipelineStep {
  readonly name = 'classify';
  private readonly local: ReadonlySet<string>;

  constructor(
    localDomains: readonly string[],
    readonly timeoutMs: number,
  ) {
    this.local = new Set(localDomains.map((d) => d.toLowerCase()));
  }

  async run(ctx: PipelineContext): Promise<void> {
    for (const r of ctx.accepted) ctx.setRoute(r, this.local.has(r.domain.toLowerCase()) ? 'legacy' : 'remote');
  }
}
