// `dime record ...`: parse, create and check DIME management records (`_dx.<domain>` TXT).
import { X509Certificate } from 'node:crypto';
import {
  base64NoPad,
  createTlsSignature,
  dearmor,
  formatManagementRecord,
  InMemorySigner,
  parseEd25519PrivateKeyPem,
  parseKeyFile,
  parseManagementRecord,
  verifyTlsSignature,
  type DimeMessagePolicy,
  type DimeSubdomainPolicy,
  type ManagementRecord,
} from '@lib/dime';
import { allValues, noMorePositionals, optionalValue, parseArgs, positional, requiredValue } from '../cli-args';
import { CliInputError, CliUsageError } from '../cli.error';
import { printJson, readInputFile, writeStdout } from '../cli-io';

export async function runRecordCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'parse': {
      const args = parseArgs(rest, {});
      const rec = parseManagementRecord(args.positionals.length > 1 ? [...args.positionals] : positional(args, 0, 'record text'));
      printJson(recordJson(rec));
      return 0;
    }
    case 'create':
      return create(rest);
    case 'verify-tls': {
      const args = parseArgs(rest, { values: ['cert'] });
      const rec = parseManagementRecord(positional(args, 0, 'record text'));
      noMorePositionals(args, 1);
      const der = certificateDer(requiredValue(args, 'cert'));
      if (rec.tls.length === 0) throw new CliInputError('the record has no tls= signature');
      if (verifyTlsSignature(rec, der)) return 0;
      process.stderr.write('dime: no tls= signature of the record matches the certificate under its POK(s)\n');
      return 1;
    }
    default:
      throw new CliUsageError(sub === undefined ? 'record needs a subcommand: parse, create, verify-tls' : `unknown record subcommand "${sub}"`);
  }
}

function recordJson(rec: ManagementRecord): Record<string, unknown> {
  return {
    version: rec.version,
    poks: rec.poks.map((k) => base64NoPad(k)),
    tls: rec.tls.map((s) => base64NoPad(s)),
    policy: rec.policy,
    syndicates: rec.syndicates,
    deliver: rec.deliver,
    expiryDays: rec.expiryDays,
    subdomain: rec.subdomain,
  };
}

function certificateDer(path: string): Buffer {
  try {
    return new X509Certificate(readInputFile(path, 'certificate')).raw;
  } catch (err) {
    if (err instanceof CliInputError) throw err;
    throw new CliInputError(`"${path}" is not an X.509 certificate (PEM or DER)`);
  }
}

/** The POK seed from an org key file or genrec's "ED25519 PRIVATE KEY" PEM. */
function pokSeed(path: string): Buffer {
  const input = readInputFile(path, 'POK key file');
  const text = input.toString('latin1');
  if (text.includes('-----BEGIN ED25519 PRIVATE KEY-----')) return parseEd25519PrivateKeyPem(text);
  const keys = text.includes('-----BEGIN') ? parseKeyFile(dearmor(text, ['ORGANIZATIONAL KEY']).bytes) : parseKeyFile(input);
  if (keys.type !== 'org') throw new CliUsageError('--pok-keys expects an organizational key file or an ED25519 PRIVATE KEY');
  return keys.signingSeed;
}

const POLICIES: readonly DimeMessagePolicy[] = ['experimental', 'mixed', 'strict'];
const SUBDOMAINS: readonly DimeSubdomainPolicy[] = ['strict', 'relaxed', 'explicit'];

async function create(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['pok-keys', 'policy', 'subdomain', 'expiry'], repeatable: ['tls-cert', 'dx', 'syndicate'] });
  noMorePositionals(args, 0);
  const signer = new InMemorySigner(pokSeed(requiredValue(args, 'pok-keys')));
  const policy = (optionalValue(args, 'policy') ?? 'experimental') as DimeMessagePolicy;
  if (!POLICIES.includes(policy)) throw new CliUsageError(`--policy must be one of ${POLICIES.join(', ')}`);
  const subdomain = (optionalValue(args, 'subdomain') ?? 'strict') as DimeSubdomainPolicy;
  if (!SUBDOMAINS.includes(subdomain)) throw new CliUsageError(`--subdomain must be one of ${SUBDOMAINS.join(', ')}`);
  const expiry = optionalValue(args, 'expiry');
  if (expiry !== undefined && !/^[0-9]{1,5}$/.test(expiry)) throw new CliUsageError('--expiry must be a whole number of days');
  const tls: Buffer[] = [];
  for (const cert of allValues(args, 'tls-cert')) tls.push(Buffer.from(await createTlsSignature(signer, certificateDer(cert))));
  const rec: ManagementRecord = {
    version: 1,
    poks: [Buffer.from(signer.publicKey)],
    tls,
    policy,
    syndicates: [...allValues(args, 'syndicate')],
    deliver: [...allValues(args, 'dx')],
    expiryDays: expiry === undefined ? null : Number(expiry),
    subdomain,
  };
  writeStdout(`${formatManagementRecord(rec)}\n`);
  return 0;
}
