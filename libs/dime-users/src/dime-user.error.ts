// The domain outcomes of local DIME users (trustful mode): one error, a closed set of codes, each
// with the SMTP/DMTP reply it becomes when it ends a mail transaction (STYLE.md 2, 3).
export type DimeUserErrorCode =
  | 'BAD_ADDRESS' // not a mailbox address
  | 'NOT_LOCAL' // the address's domain is not one of ours
  | 'EXISTS' // provision of an address that already has keys
  | 'UNKNOWN_USER' // no such local DIME user
  | 'SUSPENDED' // the user exists but is suspended: neither direction
  | 'ORG_SIGNET'; // the org signet does not belong to the HSM's POK (misconfiguration)

/** Reply when the error ends a mail transaction; ORG_SIGNET is ours to fix, so the sender retries. */
export const DIME_USER_ERROR_REPLIES = {
  BAD_ADDRESS: '553 5.1.3 not a valid mailbox address',
  NOT_LOCAL: '550 5.7.1 sender is not in a local domain',
  EXISTS: '550 5.1.0 DIME user already provisioned',
  UNKNOWN_USER: '550 5.7.1 sender has no DIME keys and provisioning on first use is off',
  SUSPENDED: '550 5.2.1 DIME user suspended',
  ORG_SIGNET: '451 4.3.0 temporary failure, try again later',
} as const satisfies Record<DimeUserErrorCode, string>;

export class DimeUserError extends Error {
  override readonly name = 'DimeUserError';

  constructor(
    readonly code: DimeUserErrorCode,
    message: string,
  ) {
    super(message);
  }

  get reply(): string {
    return DIME_USER_ERROR_REPLIES[this.code];
  }

  /** False for the outcomes no retry can change. */
  get transient(): boolean {
    return this.code === 'ORG_SIGNET';
  }
}

export function isDimeUserError(err: unknown): err is DimeUserError {
  return err instanceof DimeUserError;
}
