// Escrow recovery settings: defaults, and every bad key named at once.
import { isEscrowError } from '../journal/escrow.error';
import { escrowRecoveryConfigFromEnv } from './escrow-recovery.config';

describe('escrowRecoveryConfigFromEnv', () => {
  it('defaults to 2 approvals, 72 hours and the given export directory', () => {
    expect(escrowRecoveryConfigFromEnv({}, '/srv/dime/.local/escrow-exports')).toEqual({
      requiredApprovals: 2,
      requestTtlMs: 72 * 3600_000,
      exportDir: '/srv/dime/.local/escrow-exports',
    });
    expect(escrowRecoveryConfigFromEnv({ ESCROW_REQUIRED_APPROVALS: '3', ESCROW_REQUEST_TTL_HOURS: '1', ESCROW_EXPORT_DIR: '/x' }, '/d')).toEqual({
      requiredApprovals: 3,
      requestTtlMs: 3600_000,
      exportDir: '/x',
    });
  });

  it('names every bad key', () => {
    let message = '';
    try {
      escrowRecoveryConfigFromEnv({ ESCROW_REQUIRED_APPROVALS: '0', ESCROW_REQUEST_TTL_HOURS: '1.5', ESCROW_EXPORT_DIR: 'relative' }, '/d');
    } catch (err) {
      expect(isEscrowError(err, 'INVALID_INPUT')).toBe(true);
      message = (err as Error).message;
    }
    expect(message).toMatch(/ESCROW_REQUIRED_APPROVALS/);
    expect(message).toMatch(/ESCROW_REQUEST_TTL_HOURS/);
    expect(message).toMatch(/ESCROW_EXPORT_DIR/);
  });
});
