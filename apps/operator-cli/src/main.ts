#!/usr/bin/env node
// `dime-gateway`: the operator command line of the DIME gateway, installed as the package's bin.
// Its audit part is a contract auditors' scripts rely on (docs/audit.md): results on stdout
// (JSON or PEM), bad input of any kind exits 1 with one line on stderr, never a stack trace.
import { isAuditError } from '@lib/audit';
import { isEscrowError } from '@lib/escrow';
import { OperatorInputError, OperatorUsageError } from './operator-cli.error';
import { runAuditCommand } from './commands/audit.command';
import { runDispositionCommand, runRetentionCommand } from './commands/retention.command';
import { runEscrowCommand, runPrincipalCommand, runReportCommand } from './commands/escrow.command';
import { runDimeCommand, runUsersCommand } from './commands/users.command';
import { USAGE } from './usage';

export async function main(argv: readonly string[]): Promise<number> {
  const [group, ...rest] = argv;
  switch (group) {
    case 'audit':
      return runAuditCommand(rest);
    case 'retention':
      return runRetentionCommand(rest);
    case 'disposition':
      return runDispositionCommand(rest);
    case 'principal':
      return runPrincipalCommand(rest);
    case 'escrow':
      return runEscrowCommand(rest);
    case 'report':
      return runReportCommand(rest);
    case 'users':
      return runUsersCommand(rest);
    case 'dime':
      return runDimeCommand(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      throw new OperatorUsageError('missing command (try "dime-gateway help")');
    default:
      throw new OperatorUsageError(`unknown command "${group}" (try "dime-gateway help")`);
  }
}

export function describeError(err: unknown): string {
  if (isAuditError(err)) return `${err.code}: ${err.message}`;
  if (isEscrowError(err)) return `${err.code}: ${err.message}`;
  if (err instanceof OperatorUsageError) return `usage: ${err.message}`;
  if (err instanceof OperatorInputError) return err.message;
  // HsmError and friends carry a code; database errors a message worth showing as is
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error) return typeof code === 'string' && err.name !== 'Error' ? `${code}: ${err.message}` : err.message;
  return String(err);
}

const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, ' ').trim();

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`dime-gateway: ${oneLine(describeError(err))}\n`);
      process.exitCode = 1;
    },
  );
}
