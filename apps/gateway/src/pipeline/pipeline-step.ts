// One step of the processing pipeline. Steps run in a fixed order, each bounded by `timeoutMs`;
// a step that throws or times out fails the whole job, which BullMQ retries: no step is ever
// skipped (STYLE.md 3, fail closed). A step refuses a recipient for good with `ctx.reject`.
import type { PipelineContext } from './pipeline-context';

export interface PipelineStep {
  readonly name: string;
  readonly timeoutMs: number;
  run(ctx: PipelineContext): Promise<void>;
}
