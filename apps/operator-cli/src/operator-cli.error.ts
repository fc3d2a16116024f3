// Errors of the `dime-gateway` operator command line: bad usage and unreadable/unwritable files.
// Like every other failure they end the process with exit 1 and one line on stderr.
export class OperatorUsageError extends Error {
  override readonly name = 'OperatorUsageError';
}

export class OperatorInputError extends Error {
  override readonly name = 'OperatorInputError';
}
