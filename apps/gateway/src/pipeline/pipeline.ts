// The ordered pipeline: runs every step in turn under its own timeout and records each step's
// duration and outcome. Any failure stops the run and surfaces as a PipelineStepError (the job
// is retried from the first step: steps keep their effects in the context until `dispatch`).
import type { GatewayMetrics } from '../observability/metrics';
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';
import { PipelineStepError } from './pipeline-step.error';

export class Pipeline {
  readonly steps: readonly PipelineStep[];

  constructor(
    steps: readonly PipelineStep[],
    private readonly metrics: GatewayMetrics | undefined,
  ) {
    const names = new Set<string>();
    for (const s of steps) {
      if (names.has(s.name)) throw new RangeError(`"steps" has two steps named ${s.name}`);
      if (!(s.timeoutMs > 0)) throw new RangeError(`"steps": step ${s.name} needs a positive timeoutMs`);
      names.add(s.name);
    }
    this.steps = Object.freeze([...steps]);
  }

  async run(ctx: PipelineContext): Promise<void> {
    for (const step of this.steps) {
      const started = process.hrtime.bigint();
      let outcome: 'ok' | 'error' | 'timeout' = 'ok';
      try {
        await runWithTimeout(step, ctx);
      } catch (err) {
        outcome = err instanceof PipelineStepError && err.code === 'STEP_TIMEOUT' ? 'timeout' : 'error';
        ctx.logger.warn({ step: step.name, outcome, err }, 'pipeline step failed; the job will be retried');
        throw err instanceof PipelineStepError ? err : new PipelineStepError('STEP_FAILED', step.name, { cause: err });
      } finally {
        this.metrics?.stepDuration.observe({ step: step.name, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
      }
    }
  }
}

async function runWithTimeout(step: PipelineStep, ctx: PipelineContext): Promise<void> {
  const controller = new AbortController();
  ctx.signal = controller.signal;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new PipelineStepError('STEP_TIMEOUT', step.name));
    }, step.timeoutMs);
  });
  try {
    await Promise.race([step.run(ctx), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
