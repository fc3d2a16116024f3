// Escrow recovery settings, read from the environment once (STYLE.md 4) and frozen.
import { EscrowError } from '../journal/escrow.error';

export interface EscrowRecoveryConfig {
  /** Distinct approvers a request needs (ESCROW_REQUIRED_APPROVALS, default 2, 1..16). */
  readonly requiredApprovals: number;
  /** How long a request stays open or approved before it expires (ESCROW_REQUEST_TTL_HOURS, default 72). */
  readonly requestTtlMs: number;
  /** Where export archives are written, encrypted (ESCROW_EXPORT_DIR, default <home>/.local/escrow-exports). */
  readonly exportDir: string;
}

export type EscrowRecoveryEnv = Readonly<Record<string, string | undefined>>;

export function escrowRecoveryConfigFromEnv(env: EscrowRecoveryEnv, defaultExportDir: string): EscrowRecoveryConfig {
  const problems: string[] = [];
  const m = Number(env['ESCROW_REQUIRED_APPROVALS'] || 2);
  if (!Number.isInteger(m) || m < 1 || m > 16) problems.push('ESCROW_REQUIRED_APPROVALS must be an integer in 1..16');
  const hours = Number(env['ESCROW_REQUEST_TTL_HOURS'] || 72);
  if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 365) problems.push('ESCROW_REQUEST_TTL_HOURS must be an integer in 1..8760');
  const exportDir = env['ESCROW_EXPORT_DIR'] || defaultExportDir;
  if (!exportDir.startsWith('/')) problems.push('ESCROW_EXPORT_DIR must be an absolute path');
  if (problems.length > 0) throw new EscrowError('INVALID_INPUT', `invalid escrow configuration: ${problems.join('; ')}`);
  return Object.freeze({ requiredApprovals: m, requestTtlMs: hours * 3600_000, exportDir });
}
