// `dime-gateway principal ...`, `escrow ...` and `report ...`: escrow recovery under dual control
// and escrow reports (docs in usage.ts). `escrow decrypt` and `report verify` work offline (no
// database, HSM or Redis); the others load escrow-online.ts, which connects to all three.
// Results are JSON on stdout; any failure exits 1 with one line on stderr.
import { OperatorUsageError } from '../operator-cli.error';
import { readInput, writeOut } from '../operator-io';
import { parseOptions } from './audit.command';
import { positionalsAtMost, required } from './escrow-options';

/** YYYY-MM-DD (UTC midnight) or an ISO 8601 time with a zone. */
export function parseCliDate(value: string, what: string): Date {
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00.000Z` : value;
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const d = new Date(text);
  if (!ok || Number.isNaN(d.getTime())) throw new OperatorUsageError(`${what} must be YYYY-MM-DD or an ISO 8601 time with a zone, got "${value}"`);
  return d;
}

function print(value: unknown): number {
  writeOut(`${JSON.stringify(value)}\n`);
  return 0;
}

export async function runPrincipalCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const p = parseOptions(rest, ['role', 'public-key']);
      const name = p.positionals[0];
      if (name === undefined) throw new OperatorUsageError('missing NAME (principal add NAME --role ROLE[,ROLE] [--public-key PEM])');
      positionalsAtMost(p.positionals, 1);
      const roles = required(p.options, 'role', 'ROLE[,ROLE]').split(',').map((r) => r.trim()).filter((r) => r !== '');
      const keyArg = p.options.get('public-key');
      const pem = keyArg === undefined ? null : keyArg.startsWith('-----BEGIN') ? keyArg : readInput(keyArg, 'public key').toString('utf8');
      const online = await import('./escrow-online');
      return print(await online.withEscrow((c) => c.service.addPrincipal(name, roles, pem)));
    }
    case 'list': {
      positionalsAtMost(parseOptions(rest, []).positionals, 0);
      const online = await import('./escrow-online');
      return print(await online.withEscrow((c) => c.service.listPrincipals()));
    }
    case undefined:
      throw new OperatorUsageError('missing principal subcommand: add or list');
    default:
      throw new OperatorUsageError(`unknown principal subcommand "${sub}"`);
  }
}

export async function runEscrowCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'request': {
      const p = parseOptions(rest, ['as', 'case', 'custodian', 'from', 'to', 'records', 'justification']);
      positionalsAtMost(p.positionals, 0);
      const as = required(p.options, 'as', 'NAME');
      const caseRef = required(p.options, 'case', 'CASE');
      const justification = required(p.options, 'justification', 'TEXT');
      const from = p.options.has('from') ? parseCliDate(p.options.get('from') as string, '--from') : null;
      const to = p.options.has('to') ? parseCliDate(p.options.get('to') as string, '--to') : null;
      const recordIds = p.options.has('records') ? (p.options.get('records') as string).split(',').filter((s) => s !== '') : null;
      const custodian = p.options.get('custodian') ?? null;
      const online = await import('./escrow-online');
      return print(await online.withEscrow((c) => c.service.openRequest({ as, caseRef, custodian, from, to, recordIds, justification })));
    }
    case 'approve':
    case 'deny': {
      const p = parseOptions(rest, ['as']);
      const id = p.positionals[0];
      if (id === undefined) throw new OperatorUsageError(`missing ID (escrow ${sub} ID --as NAME)`);
      positionalsAtMost(p.positionals, 1);
      const as = required(p.options, 'as', 'NAME');
      const online = await import('./escrow-online');
      return print(await online.withEscrow((c) => (sub === 'approve' ? c.service.approve(id, as) : c.service.deny(id, as))));
    }
    case 'list': {
      const p = parseOptions(rest, ['limit']);
      positionalsAtMost(p.positionals, 0);
      const limit = Number(p.options.get('limit') ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new OperatorUsageError('--limit must be an integer in 1..10000');
      const online = await import('./escrow-online');
      return print(await online.withEscrow((c) => c.service.list(limit)));
    }
    case 'show': {
      const p = parseOptions(rest, []);
      const id = p.positionals[0];
      if (id === undefined) throw new OperatorUsageError('missing ID (escrow show ID)');
      positionalsAtMost(p.positionals, 1);
      const online = await import('./escrow-online');
      return print(await online.withEscrow((c) => c.service.get(id)));
    }
    case 'expire': {
      positionalsAtMost(parseOptions(rest, []).positionals, 0);
      const online = await import('./escrow-online');
      return print({ expired: await online.withEscrow((c) => c.service.expireDue()) });
    }
    case 'export': {
      const p = parseOptions(rest, ['as', 'out']);
      const id = p.positionals[0];
      if (id === undefined) throw new OperatorUsageError('missing ID (escrow export ID --as NAME --out FILE)');
      positionalsAtMost(p.positionals, 1);
      const as = required(p.options, 'as', 'NAME');
      const out = required(p.options, 'out', 'FILE');
      const online = await import('./escrow-online');
      return print(await online.exportRequest(id, as, out));
    }
    case 'decrypt':
      return (await import('./escrow-offline')).decrypt(rest);
    case undefined:
      throw new OperatorUsageError('missing escrow subcommand: request, approve, deny, list, show, expire, export or decrypt');
    default:
      throw new OperatorUsageError(`unknown escrow subcommand "${sub}"`);
  }
}

export async function runReportCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'escrow': {
      const p = parseOptions(rest, ['from', 'to', 'format', 'out']);
      positionalsAtMost(p.positionals, 0);
      const from = parseCliDate(required(p.options, 'from', 'DATE'), '--from');
      const to = parseCliDate(required(p.options, 'to', 'DATE'), '--to');
      const format = p.options.get('format') ?? 'json';
      if (format !== 'json' && format !== 'csv') throw new OperatorUsageError('--format must be json or csv');
      const out = required(p.options, 'out', 'FILE');
      const online = await import('./escrow-online');
      return print(await online.writeReport({ from, to }, format, out));
    }
    case 'verify':
      return (await import('./escrow-offline')).verifyReport(rest);
    case undefined:
      throw new OperatorUsageError('missing report subcommand: escrow or verify');
    default:
      throw new OperatorUsageError(`unknown report subcommand "${sub}"`);
  }
}
