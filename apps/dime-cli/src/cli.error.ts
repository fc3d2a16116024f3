// Errors of the `dime` command line itself (bad usage, unreadable files), as distinct from
// DimeError (bad DIME input). Both end the process with exit 1 and one line on stderr.
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

export class CliInputError extends Error {
  override readonly name = 'CliInputError';
}
