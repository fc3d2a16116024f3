// Small option checks shared by the escrow, principal and report subcommands.
import { OperatorUsageError } from '../operator-cli.error';

export function positionalsAtMost(positionals: readonly string[], n: number): void {
  if (positionals.length > n) throw new OperatorUsageError(`unexpected argument "${positionals[n]}"`);
}

export function required(options: Map<string, string>, name: string, hint: string): string {
  const v = options.get(name);
  if (v === undefined) throw new OperatorUsageError(`--${name} ${hint} is required`);
  return v;
}
