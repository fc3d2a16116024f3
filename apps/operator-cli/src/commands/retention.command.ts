// `dime-gateway retention ...` and `dime-gateway disposition ...`: retention policies (add, list,
// lock), legal holds (place, release, list), the disposition sweep, and disposition certificates
// (show from the database; verify OFFLINE with the audit public key only, exit 0 only when valid).
// The online parts load retention-online.ts (database, HSM, archive store) lazily.
import { verifyDispositionCertificate, type RetentionPolicyInput } from '@lib/escrow';
import { OperatorUsageError } from '../operator-cli.error';
import { readInput, writeOut } from '../operator-io';
import { parseOptions } from './audit.command';

const SCOPES = ['all', 'domain', 'user', 'direction'] as const;

function positionals(p: { positionals: string[] }, expected: number, what: string): string[] {
  if (p.positionals.length < expected) throw new OperatorUsageError(`missing ${what}`);
  if (p.positionals.length > expected) throw new OperatorUsageError(`unexpected argument "${p.positionals[expected]}"`);
  return p.positionals;
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d{1,9}$/.test(value)) throw new OperatorUsageError(`--${name} expects an integer`);
  return Number(value);
}

/** YYYY-MM-DD (UTC midnight) or a full ISO 8601 time. */
export function parseDate(value: string | undefined, name: string): Date | null {
  if (value === undefined) return null;
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const d = new Date(iso);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) throw new OperatorUsageError(`--${name} expects YYYY-MM-DD or ISO 8601`);
  return d;
}

export function policyInputFromArgs(argv: readonly string[]): RetentionPolicyInput {
  const p = parseOptions(argv, ['name', 'scope', 'value', 'days', 'action', 'priority', 'disabled']);
  positionals(p, 0, '');
  const name = p.options.get('name');
  const scope = p.options.get('scope') ?? 'all';
  const days = integer(p.options.get('days'), 'days');
  if (name === undefined) throw new OperatorUsageError('--name is required');
  if (days === undefined) throw new OperatorUsageError('--days is required');
  if (!(SCOPES as readonly string[]).includes(scope)) throw new OperatorUsageError('--scope must be all, domain, user or direction');
  const action = p.options.get('action') ?? 'dispose';
  if (action !== 'dispose' && action !== 'review') throw new OperatorUsageError('--action must be dispose or review');
  const disabled = p.options.get('disabled');
  if (disabled !== undefined && disabled !== 'true' && disabled !== 'false') throw new OperatorUsageError('--disabled takes true or false');
  return {
    name,
    scope: scope as RetentionPolicyInput['scope'],
    scopeValue: p.options.get('value') ?? null,
    retentionDays: days,
    action,
    priority: integer(p.options.get('priority'), 'priority') ?? 0,
    enabled: disabled !== 'true',
  };
}

async function runPolicy(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const online = await import('./retention-online');
  switch (sub) {
    case 'add':
      return online.addPolicy(policyInputFromArgs(rest));
    case 'list':
      positionals(parseOptions(rest, []), 0, '');
      return online.listPolicies();
    case 'lock': {
      const [id] = positionals(parseOptions(rest, []), 1, 'policy ID or name');
      return online.lockPolicy(id as string);
    }
    case 'extend': {
      const p = parseOptions(rest, ['days']);
      const [id] = positionals(p, 1, 'policy ID or name');
      const days = integer(p.options.get('days'), 'days');
      if (days === undefined) throw new OperatorUsageError('--days is required');
      return online.extendPolicy(id as string, days);
    }
    default:
      throw new OperatorUsageError(`unknown retention policy subcommand "${sub ?? ''}" (add, list, lock, extend)`);
  }
}

async function runHold(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'place': {
      const p = parseOptions(rest, ['case', 'custodians', 'from', 'to', 'reason']);
      positionals(p, 0, '');
      const caseName = p.options.get('case');
      const custodians = p.options.get('custodians');
      if (caseName === undefined) throw new OperatorUsageError('--case is required');
      if (custodians === undefined) throw new OperatorUsageError('--custodians ADDRESS[,ADDRESS...] is required');
      const input = {
        caseName,
        custodians: custodians.split(',').map((c) => c.trim()).filter((c) => c !== ''),
        dateFrom: parseDate(p.options.get('from'), 'from'),
        dateTo: parseDate(p.options.get('to'), 'to'),
        reason: p.options.get('reason') ?? null,
      };
      return (await import('./retention-online')).placeHold(input);
    }
    case 'release': {
      const [id] = positionals(parseOptions(rest, []), 1, 'hold ID');
      return (await import('./retention-online')).releaseHold(id as string);
    }
    case 'list': {
      const p = parseOptions(rest, ['all']);
      positionals(p, 0, '');
      return (await import('./retention-online')).listHolds(p.options.get('all') !== 'true');
    }
    default:
      throw new OperatorUsageError(`unknown retention hold subcommand "${sub ?? ''}" (place, release, list)`);
  }
}

export async function runRetentionCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'policy':
      return runPolicy(rest);
    case 'hold':
      return runHold(rest);
    case 'sweep': {
      const p = parseOptions(rest, ['enqueue']);
      positionals(p, 0, '');
      const online = await import('./retention-online');
      return p.options.get('enqueue') === 'true' ? online.enqueueSweep() : online.sweep();
    }
    case 'orphans': {
      const p = parseOptions(rest, ['grace-minutes', 'dry-run']);
      positionals(p, 0, '');
      const graceText = p.options.get('grace-minutes') ?? '60';
      const graceMinutes = Number(graceText);
      if (!Number.isInteger(graceMinutes) || graceMinutes < 10) throw new OperatorUsageError('--grace-minutes must be an integer of at least 10 (a journal attempt may still be between its blob and its record)');
      const dryRun = p.options.get('dry-run') ?? 'false';
      if (dryRun !== 'true' && dryRun !== 'false') throw new OperatorUsageError('--dry-run takes true or false');
      const online = await import('./retention-online');
      return online.sweepOrphans(graceMinutes * 60_000, dryRun === 'true');
    }
    case 'review': {
      const [what, ...more] = rest;
      const online = await import('./retention-online');
      if (what === 'list') {
        positionals(parseOptions(more, []), 0, '');
        return online.listReview();
      }
      if (what === 'approve') {
        const p = parseOptions(more, ['records']);
        positionals(p, 0, '');
        const ids = p.options.get('records');
        if (ids === undefined) throw new OperatorUsageError('--records ID[,ID...] is required');
        return online.approveReview(ids.split(',').map((s) => s.trim()).filter((s) => s !== ''));
      }
      throw new OperatorUsageError('retention review takes list or approve --records ID,...');
    }
    case undefined:
      throw new OperatorUsageError('missing retention subcommand: policy, hold, sweep, orphans or review');
    default:
      throw new OperatorUsageError(`unknown retention subcommand "${sub}"`);
  }
}

/** Offline: prints {"ok":bool,"count":n|null,"id":...,"reason":...}; exit 0 only when the certificate verifies. */
function verifyCertificate(argv: readonly string[]): number {
  const p = parseOptions(argv, ['key']);
  const [file] = positionals(p, 1, 'CERT file (disposition verify CERT --key AUDIT_PUBLIC_KEY.pem)');
  const keyPath = p.options.get('key');
  if (keyPath === undefined) throw new OperatorUsageError('--key AUDIT_PUBLIC_KEY.pem is required');
  const key = readInput(keyPath, 'public key');
  const text = readInput(file as string, 'disposition certificate').toString('utf8');
  const result = verifyDispositionCertificate(text, key);
  writeOut(
    `${JSON.stringify({ ok: result.ok, id: result.certificate?.id ?? null, count: result.certificate?.count ?? null, reason: result.reason })}\n`,
  );
  return result.ok ? 0 : 1;
}

export async function runDispositionCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'verify':
      return verifyCertificate(rest);
    case 'show': {
      const p = parseOptions(rest, ['out']);
      const [id] = positionals(p, 1, 'certificate ID');
      return (await import('./retention-online')).showCertificate(id as string, p.options.get('out') ?? '-');
    }
    case 'list': {
      const p = parseOptions(rest, ['from', 'to']);
      positionals(p, 0, '');
      return (await import('./retention-online')).listCertificates(parseDate(p.options.get('from'), 'from'), parseDate(p.options.get('to'), 'to'));
    }
    case undefined:
      throw new OperatorUsageError('missing disposition subcommand: verify, show or list');
    default:
      throw new OperatorUsageError(`unknown disposition subcommand "${sub}"`);
  }
}
