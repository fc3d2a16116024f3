// `dime-gateway users ...` (trustful-mode DIME users: add, list, suspend, resume, signet) and
// `dime-gateway dime record` (the `_dx` TXT record hsm-init wrote). Parsing only here; the commands
// that need PostgreSQL and the HSM load users-online.ts, so other commands never load them. Results on
// stdout (one JSON object per line, or PEM/zone text); failures exit 1 with one line on stderr.
import { loadOperatorEnv } from '../operator-cli.config';
import { OperatorUsageError } from '../operator-cli.error';
import { readInput, writeOut } from '../operator-io';
import { parseOptions } from './audit.command';
import { usersConfigFromEnv } from './users.config';

function oneAddress(argv: readonly string[], sub: string): string {
  const p = parseOptions(argv, []);
  const address = p.positionals[0];
  if (address === undefined) throw new OperatorUsageError(`missing ADDRESS (users ${sub} ADDRESS)`);
  if (p.positionals.length > 1) throw new OperatorUsageError(`unexpected argument "${p.positionals[1]}"`);
  return address;
}

export async function runUsersCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add':
    case 'suspend':
    case 'resume':
    case 'signet': {
      const address = oneAddress(rest, sub);
      const online = await import('./users-online');
      return online.runUsersAction(sub, address);
    }
    case 'list': {
      const p = parseOptions(rest, ['domain']);
      if (p.positionals.length > 0) throw new OperatorUsageError(`unexpected argument "${p.positionals[0]}"`);
      const online = await import('./users-online');
      return online.runUsersAction('list', p.options.get('domain'));
    }
    case undefined:
      throw new OperatorUsageError('missing users subcommand: add, list, suspend, resume or signet');
    default:
      throw new OperatorUsageError(`unknown users subcommand "${sub}"`);
  }
}

/** `dime record`: the `_dx` TXT record this organisation must publish (hsm-init's dx-record.txt). */
export function runDimeCommand(argv: readonly string[]): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'record': {
      const p = parseOptions(rest, []);
      if (p.positionals.length > 0) throw new OperatorUsageError(`unexpected argument "${p.positionals[0]}"`);
      const config = usersConfigFromEnv(loadOperatorEnv());
      const text = readInput(config.dxRecordFile, 'DIME record (run appliance/hsm-init.sh)').toString('utf8');
      writeOut(text.endsWith('\n') ? text : `${text}\n`);
      return 0;
    }
    case undefined:
      throw new OperatorUsageError('missing dime subcommand: record');
    default:
      throw new OperatorUsageError(`unknown dime subcommand "${sub}"`);
  }
}
