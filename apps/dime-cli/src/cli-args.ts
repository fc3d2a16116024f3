// A small, strict argument parser for the `dime` command line: positionals plus `--name value`
// options and boolean `--flag`s. Unknown options are errors, never ignored.
import { CliUsageError } from './cli.error';

export interface OptionSpec {
  /** Options that take a value (`--keys FILE`). Repeatable ones collect every value. */
  readonly values?: readonly string[];
  readonly repeatable?: readonly string[];
  /** Options that are boolean flags (`--org`). */
  readonly flags?: readonly string[];
}

export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly values: ReadonlyMap<string, readonly string[]>;
  readonly flags: ReadonlySet<string>;
}

export function parseArgs(argv: readonly string[], spec: OptionSpec): ParsedArgs {
  const valueNames = new Set([...(spec.values ?? []), ...(spec.repeatable ?? [])]);
  const repeatable = new Set(spec.repeatable ?? []);
  const flagNames = new Set(spec.flags ?? []);
  const positionals: string[] = [];
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (flagNames.has(name)) {
      if (eq !== -1) throw new CliUsageError(`--${name} takes no value`);
      flags.add(name);
    } else if (valueNames.has(name)) {
      let value: string | undefined;
      if (eq !== -1) value = arg.slice(eq + 1);
      else value = argv[++i];
      if (value === undefined) throw new CliUsageError(`--${name} needs a value`);
      const list = values.get(name) ?? [];
      if (list.length > 0 && !repeatable.has(name)) throw new CliUsageError(`--${name} given twice`);
      list.push(value);
      values.set(name, list);
    } else {
      throw new CliUsageError(`unknown option --${name}`);
    }
  }
  return { positionals, values, flags };
}

export function optionalValue(args: ParsedArgs, name: string): string | undefined {
  return args.values.get(name)?.[0];
}

export function requiredValue(args: ParsedArgs, name: string): string {
  const v = optionalValue(args, name);
  if (v === undefined) throw new CliUsageError(`--${name} is required`);
  return v;
}

export function allValues(args: ParsedArgs, name: string): readonly string[] {
  return args.values.get(name) ?? [];
}

export function positional(args: ParsedArgs, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined) throw new CliUsageError(`missing ${what}`);
  return v;
}

export function noMorePositionals(args: ParsedArgs, count: number): void {
  if (args.positionals.length > count) throw new CliUsageError(`unexpected argument "${args.positionals[count]}"`);
}
