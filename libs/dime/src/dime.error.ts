// The one domain error of libs/dime: every bad input (truncated, tampered, wrong key, wrong
// dialect) surfaces as a DimeError with a code from this closed set. Programmer errors (wrong
// argument types) are TypeError/RangeError instead (STYLE.md 2).

export type DimeErrorCode =
  | 'TRUNCATED' // input ends before a declared length
  | 'MALFORMED' // structurally invalid (bad length, bad order, trailing bytes, bad syntax)
  | 'BAD_ARMOR' // PEM armor missing, mismatched tags, bad base64
  | 'BAD_CHECKSUM' // armor CRC-24 missing or wrong
  | 'WRONG_TYPE' // a valid object of another kind (magic number) than expected
  | 'UNKNOWN_FIELD' // field id not defined for this object type
  | 'DUPLICATE_FIELD' // unique field repeated, or repeats not consecutive
  | 'FIELD_ORDER' // field ids not ascending
  | 'MISSING_FIELD' // a required field (or chunk) is absent
  | 'BAD_KEY' // a key is not a valid point/scalar/seed
  | 'BAD_SIGNATURE' // a signature does not verify
  | 'DECRYPT_FAILED' // a keyslot or payload does not decrypt to a consistent plaintext
  | 'BAD_PADDING' // payload padding inconsistent with its length fields
  | 'NOT_VISIBLE' // the actor has no keyslot for the requested chunk
  | 'TOO_LARGE' // exceeds a format limit
  | 'UNSUPPORTED' // a defined but unimplemented feature (flags, alternate chunks, L1 dialect on write)
  | 'BAD_RECORD' // DNS management record invalid
  | 'BAD_COMMAND' // DMTP command or reply invalid
  | 'BAD_MESSAGE'; // RFC 5322 message cannot be mapped

export class DimeError extends Error {
  override readonly name = 'DimeError';

  constructor(
    readonly code: DimeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isDimeError(err: unknown): err is DimeError {
  return err instanceof DimeError;
}
