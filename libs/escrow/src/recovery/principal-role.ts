// The roles a principal (operator, auditor, approver) can hold; the admin API authenticates
// principals later, the operator CLI acts as a named one (`--as NAME`).
import type { PrincipalRole } from '@lib/db';

export const PRINCIPAL_ROLES: readonly PrincipalRole[] = Object.freeze(['auditor', 'escrow-approver', 'compliance-officer', 'admin']);

export function isPrincipalRole(value: string): value is PrincipalRole {
  return (PRINCIPAL_ROLES as readonly string[]).includes(value);
}
