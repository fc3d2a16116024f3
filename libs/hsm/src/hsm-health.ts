// Readiness of the HSM: not ready when the token is absent or our login is gone; each failed
// check also tries to re-establish the connection (re-open sessions, re-login; re-initialise the
// module if configured), so the process recovers without a restart once the token is back.
import { HsmError, type HsmErrorCode } from './hsm.error';
import type { HsmKeystore } from './hsm-keystore';
import type { HsmTokenStatus } from './hsm-session-pool';

export interface HsmReadiness {
  readonly ready: boolean;
  /** Why it is not ready (absent when ready). */
  readonly code?: HsmErrorCode;
  readonly detail?: string;
  /** True when this check found a problem and repaired it. */
  readonly recovered: boolean;
  readonly status?: HsmTokenStatus;
  readonly checkedAt: Date;
}

export interface HsmHealthOptions {
  /** A private key that must be visible (e.g. the org POK), proving the login sees key objects. */
  readonly probeLabel?: string;
  readonly clock?: () => Date;
}

export class HsmHealthCheck {
  private readonly clock: () => Date;

  constructor(
    private readonly keystore: HsmKeystore,
    private readonly options: HsmHealthOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  async check(): Promise<HsmReadiness> {
    const first = await this.probe();
    if (!(first instanceof HsmError)) return { ready: true, recovered: false, status: first, checkedAt: this.clock() };
    try {
      await this.keystore.pool.reconnect();
    } catch (error) {
      const reason = error instanceof HsmError ? ` (reconnect: ${error.code})` : '';
      return { ready: false, code: first.code, detail: first.message + reason, recovered: false, checkedAt: this.clock() };
    }
    const second = await this.probe();
    if (second instanceof HsmError) {
      return { ready: false, code: second.code, detail: second.message, recovered: false, checkedAt: this.clock() };
    }
    return { ready: true, recovered: true, status: second, checkedAt: this.clock() };
  }

  private async probe(): Promise<HsmTokenStatus | HsmError> {
    try {
      const status = await this.keystore.pool.status();
      const probe = this.options.probeLabel;
      if (probe !== undefined && !(await this.keystore.hasObject(probe, 'private'))) {
        return new HsmError('KEY_NOT_FOUND', `probe key "${probe}" is not visible`);
      }
      return status;
    } catch (error) {
      return error instanceof HsmError ? error : new HsmError('UNKNOWN', 'health probe failed');
    }
  }
}
