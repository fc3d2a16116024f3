// `dime-gateway audit ...`: the auditors' contract (docs/audit.md). `verify` is offline: it loads
// only @lib/audit (node:crypto), never the database or the HSM; the other subcommands load
// audit-online.ts, which connects to both.
import { verifyAuditExport } from '@lib/audit';
import { OperatorUsageError } from '../operator-cli.error';
import { readInput, writeOut } from '../operator-io';

interface Parsed {
  positionals: string[];
  options: Map<string, string>;
}

/** Positionals plus `--name value` / `--name=value` options; anything unknown is an error. */
export function parseOptions(argv: readonly string[], allowed: readonly string[]): Parsed {
  const positionals: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--') || arg === '--') {
      if (arg !== '--') positionals.push(arg);
      else positionals.push(...argv.slice(i + 1));
      if (arg === '--') break;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!allowed.includes(name)) throw new OperatorUsageError(`unknown option --${name}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new OperatorUsageError(`--${name} needs a value`);
    if (options.has(name)) throw new OperatorUsageError(`--${name} given twice`);
    options.set(name, value);
  }
  return { positionals, options };
}

function noPositionals(p: Parsed, expected: number): void {
  if (p.positionals.length > expected) throw new OperatorUsageError(`unexpected argument "${p.positionals[expected]}"`);
}

/** Prints the verification as one JSON line; exit 0 only when ok. */
function verify(argv: readonly string[]): number {
  const p = parseOptions(argv, ['key']);
  const file = p.positionals[0];
  if (file === undefined) throw new OperatorUsageError('missing FILE (audit verify FILE --key AUDIT_PUBLIC_KEY.pem)');
  noPositionals(p, 1);
  const keyPath = p.options.get('key');
  if (keyPath === undefined) throw new OperatorUsageError('--key AUDIT_PUBLIC_KEY.pem is required');
  const key = readInput(keyPath, 'public key');
  const text = readInput(file, 'audit export').toString('utf8');
  const result = verifyAuditExport(text.split('\n'), key);
  writeOut(`${JSON.stringify({ ok: result.ok, entries: result.entries, firstBroken: result.firstBroken, reason: result.reason })}\n`);
  return result.ok ? 0 : 1;
}

export async function runAuditCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'verify':
      return verify(rest);
    case 'export': {
      const p = parseOptions(rest, ['out']);
      noPositionals(p, 0);
      const out = p.options.get('out');
      if (out === undefined) throw new OperatorUsageError('--out FILE is required');
      const online = await import('./audit-online');
      return online.exportTrail(out);
    }
    case 'public-key': {
      noPositionals(parseOptions(rest, []), 0);
      const online = await import('./audit-online');
      return online.printPublicKey();
    }
    case 'checkpoint': {
      noPositionals(parseOptions(rest, []), 0);
      const online = await import('./audit-online');
      return online.forceCheckpoint();
    }
    case undefined:
      throw new OperatorUsageError('missing audit subcommand: export, verify, public-key or checkpoint');
    default:
      throw new OperatorUsageError(`unknown audit subcommand "${sub}"`);
  }
}
