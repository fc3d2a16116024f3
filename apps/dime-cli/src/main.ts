#!/usr/bin/env node
// `dime`: the DIME command line for IT teams and interoperability checks (keys, signets, D/MIME
// messages, DNS management records). Contract: bad input of any kind exits 1 with one line on
// stderr, never a stack trace; results go to stdout (JSON, PEM text or binary).
import { isDimeError } from '@lib/dime';
import { CliInputError, CliUsageError } from './cli.error';
import { runKeysCommand } from './commands/keys.command';
import { runSignetCommand } from './commands/signet.command';
import { runMessageCommand } from './commands/message.command';
import { runRecordCommand } from './commands/record.command';
import { USAGE } from './usage';

export async function main(argv: readonly string[]): Promise<number> {
  const [group, ...rest] = argv;
  switch (group) {
    case 'keys':
      return runKeysCommand(rest);
    case 'signet':
      return runSignetCommand(rest);
    case 'message':
      return runMessageCommand(rest);
    case 'record':
      return runRecordCommand(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      throw new CliUsageError('missing command (try "dime help")');
    default:
      throw new CliUsageError(`unknown command "${group}" (try "dime help")`);
  }
}

export function describeError(err: unknown): string {
  if (isDimeError(err)) return `${err.code}: ${err.message}`;
  if (err instanceof CliUsageError) return `usage: ${err.message}`;
  if (err instanceof CliInputError) return err.message;
  if (err instanceof Error) return `internal error: ${err.message}`;
  return `internal error: ${String(err)}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`dime: ${oneLine(describeError(err))}\n`);
      process.exitCode = 1;
    },
  );
}
