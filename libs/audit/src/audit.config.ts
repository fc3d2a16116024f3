// Audit checkpoint policy, read from the environment once (STYLE.md 4) and frozen.
import { AuditError } from './audit.error';

export interface AuditConfig {
  /** A checkpoint at least every this many entries (AUDIT_CHECKPOINT_EVERY, default 1000). */
  readonly checkpointEvery: number;
  /** ... and for entries older than this, when more arrive or the timer runs (AUDIT_CHECKPOINT_SECONDS, default 300). */
  readonly checkpointPeriodMs: number;
}

export type AuditEnv = Readonly<Record<string, string | undefined>>;

export function auditConfigFromEnv(env: AuditEnv): AuditConfig {
  const problems: string[] = [];
  const every = Number(env['AUDIT_CHECKPOINT_EVERY'] || 1000);
  if (!Number.isInteger(every) || every < 1 || every > 1_000_000) problems.push('AUDIT_CHECKPOINT_EVERY must be an integer in 1..1000000');
  const seconds = Number(env['AUDIT_CHECKPOINT_SECONDS'] || 300);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) problems.push('AUDIT_CHECKPOINT_SECONDS must be an integer in 1..86400');
  if (problems.length > 0) throw new AuditError('CONFIG_INVALID', `invalid audit configuration: ${problems.join('; ')}`);
  return Object.freeze({ checkpointEvery: every, checkpointPeriodMs: seconds * 1000 });
}
