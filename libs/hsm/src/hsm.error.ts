// The one domain error of libs/hsm (STYLE.md 2). pkcs11js errors are translated here, once, by
// their CKR code (Pkcs11Error.code), never by message text.
import * as pkcs11 from 'pkcs11js';
import { CKR_CURVE_NOT_SUPPORTED } from './pkcs11.constants';

export type HsmErrorCode =
  | 'PIN_INCORRECT'
  | 'PIN_LOCKED'
  | 'PIN_INVALID'
  | 'TOKEN_NOT_PRESENT'
  | 'TOKEN_NOT_FOUND'
  | 'TOKEN_NOT_INITIALIZED'
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'KEY_NOT_PERMITTED'
  | 'MECHANISM_UNSUPPORTED'
  | 'DEVICE_ERROR'
  | 'DEVICE_MEMORY'
  | 'SESSION_LOST'
  | 'SESSION_LIMIT'
  | 'NOT_LOGGED_IN'
  | 'ATTRIBUTE_SENSITIVE'
  | 'INVALID_INPUT'
  | 'SIGNATURE_INVALID'
  | 'MODULE_LOAD_FAILED'
  | 'CONFIG_INVALID'
  | 'CLOSED'
  | 'TLS_ENGINE_UNAVAILABLE'
  | 'UNKNOWN';

export class HsmError extends Error {
  override readonly name = 'HsmError';

  constructor(
    readonly code: HsmErrorCode,
    message: string,
    /** The PKCS#11 return value when the error came from the module (CKR_*), for logs. */
    readonly ckr?: number,
  ) {
    super(message);
  }
}

/** CKR value -> HsmErrorCode. Anything absent is 'UNKNOWN' (and carries the CKR number). */
const CKR_TO_CODE: ReadonlyMap<number, HsmErrorCode> = new Map<number, HsmErrorCode>([
  [pkcs11.CKR_PIN_INCORRECT, 'PIN_INCORRECT'],
  [pkcs11.CKR_PIN_LOCKED, 'PIN_LOCKED'],
  [pkcs11.CKR_PIN_EXPIRED, 'PIN_LOCKED'],
  [pkcs11.CKR_PIN_INVALID, 'PIN_INVALID'],
  [pkcs11.CKR_PIN_LEN_RANGE, 'PIN_INVALID'],
  [pkcs11.CKR_TOKEN_NOT_PRESENT, 'TOKEN_NOT_PRESENT'],
  [pkcs11.CKR_TOKEN_NOT_RECOGNIZED, 'TOKEN_NOT_PRESENT'],
  [pkcs11.CKR_DEVICE_REMOVED, 'TOKEN_NOT_PRESENT'],
  [pkcs11.CKR_SLOT_ID_INVALID, 'TOKEN_NOT_PRESENT'],
  [pkcs11.CKR_USER_PIN_NOT_INITIALIZED, 'TOKEN_NOT_INITIALIZED'],
  [pkcs11.CKR_KEY_HANDLE_INVALID, 'KEY_NOT_FOUND'],
  [pkcs11.CKR_OBJECT_HANDLE_INVALID, 'KEY_NOT_FOUND'],
  [pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, 'KEY_NOT_PERMITTED'],
  [pkcs11.CKR_KEY_TYPE_INCONSISTENT, 'KEY_NOT_PERMITTED'],
  [pkcs11.CKR_KEY_UNEXTRACTABLE, 'ATTRIBUTE_SENSITIVE'],
  [pkcs11.CKR_ATTRIBUTE_SENSITIVE, 'ATTRIBUTE_SENSITIVE'],
  [pkcs11.CKR_MECHANISM_INVALID, 'MECHANISM_UNSUPPORTED'],
  [pkcs11.CKR_MECHANISM_PARAM_INVALID, 'MECHANISM_UNSUPPORTED'],
  [CKR_CURVE_NOT_SUPPORTED, 'MECHANISM_UNSUPPORTED'],
  [pkcs11.CKR_FUNCTION_NOT_SUPPORTED, 'MECHANISM_UNSUPPORTED'],
  [pkcs11.CKR_DEVICE_ERROR, 'DEVICE_ERROR'],
  [pkcs11.CKR_GENERAL_ERROR, 'DEVICE_ERROR'],
  [pkcs11.CKR_FUNCTION_FAILED, 'DEVICE_ERROR'],
  [pkcs11.CKR_DEVICE_MEMORY, 'DEVICE_MEMORY'],
  [pkcs11.CKR_HOST_MEMORY, 'DEVICE_MEMORY'],
  [pkcs11.CKR_SESSION_HANDLE_INVALID, 'SESSION_LOST'],
  [pkcs11.CKR_SESSION_CLOSED, 'SESSION_LOST'],
  [pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, 'SESSION_LOST'],
  [pkcs11.CKR_SESSION_COUNT, 'SESSION_LIMIT'],
  [pkcs11.CKR_USER_NOT_LOGGED_IN, 'NOT_LOGGED_IN'],
  [pkcs11.CKR_DATA_INVALID, 'INVALID_INPUT'],
  [pkcs11.CKR_DATA_LEN_RANGE, 'INVALID_INPUT'],
  [pkcs11.CKR_ENCRYPTED_DATA_INVALID, 'INVALID_INPUT'],
  [pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, 'INVALID_INPUT'],
  [pkcs11.CKR_WRAPPED_KEY_INVALID, 'INVALID_INPUT'],
  [pkcs11.CKR_WRAPPED_KEY_LEN_RANGE, 'INVALID_INPUT'],
  [pkcs11.CKR_DOMAIN_PARAMS_INVALID, 'INVALID_INPUT'],
  [pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, 'INVALID_INPUT'],
  [pkcs11.CKR_TEMPLATE_INCONSISTENT, 'INVALID_INPUT'],
  [pkcs11.CKR_SIGNATURE_INVALID, 'SIGNATURE_INVALID'],
  [pkcs11.CKR_SIGNATURE_LEN_RANGE, 'SIGNATURE_INVALID'],
]);

/** Codes after which the session (or the whole login) must be re-established before a retry. */
const SESSION_LOST_CKRS: ReadonlySet<number> = new Set([
  pkcs11.CKR_SESSION_HANDLE_INVALID,
  pkcs11.CKR_SESSION_CLOSED,
  pkcs11.CKR_DEVICE_REMOVED,
  pkcs11.CKR_DEVICE_ERROR,
  pkcs11.CKR_TOKEN_NOT_PRESENT,
  pkcs11.CKR_USER_NOT_LOGGED_IN,
  pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
]);

function ckrOf(error: unknown): number | undefined {
  if (error instanceof pkcs11.Pkcs11Error) return error.code;
  return undefined;
}

/** Translate anything thrown by pkcs11js into an HsmError (HsmErrors and programmer errors pass through). */
export function toHsmError(error: unknown, operation: string): Error {
  if (error instanceof HsmError || error instanceof TypeError || error instanceof RangeError) return error;
  const ckr = ckrOf(error);
  if (ckr === undefined) {
    return new HsmError('DEVICE_ERROR', `${operation}: PKCS#11 module failed without a CKR code`);
  }
  const code = CKR_TO_CODE.get(ckr) ?? 'UNKNOWN';
  return new HsmError(code, `${operation}: CKR 0x${ckr.toString(16).padStart(8, '0')}`, ckr);
}

/** True when the failure means the session/login is gone and a fresh session may succeed. */
export function isSessionLost(error: unknown): boolean {
  const ckr = error instanceof HsmError ? error.ckr : ckrOf(error);
  return ckr !== undefined && SESSION_LOST_CKRS.has(ckr);
}

/** True when error is a pkcs11js error with exactly this CKR value. */
export function hasCkr(error: unknown, ckr: number): boolean {
  return ckrOf(error) === ckr;
}
