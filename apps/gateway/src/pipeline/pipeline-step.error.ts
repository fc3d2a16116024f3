// A pipeline step failed (threw or exceeded its timeout): the process job fails and is retried.
export type PipelineStepErrorCode = 'STEP_FAILED' | 'STEP_TIMEOUT';

export class PipelineStepError extends Error {
  override readonly name = 'PipelineStepError';
  constructor(
    readonly code: PipelineStepErrorCode,
    readonly step: string,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(code === 'STEP_TIMEOUT' ? `pipeline step "${step}" timed out` : `pipeline step "${step}" failed${why}`, options);
  }
}
