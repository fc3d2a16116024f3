// `dime signet ...`: verify signets (JSON report, exit 0 only if valid in the state they claim),
// create org signets, signing requests, user signets, and split views.
import {
  addSignetFields,
  armorSignet,
  createOrgSignet,
  createSsr,
  decodeBase64,
  DimeError,
  fullSign,
  idSign,
  InMemorySigner,
  readKeyFile,
  readSignet,
  secp256k1PublicFromPrivate,
  setSignetId,
  signetFingerprint,
  signetId,
  signetStructureState,
  signSsr,
  splitSignet,
  validateSignet,
  type Signet,
  type SignetAnchor,
  type SignetFieldInput,
  type SignetFingerprintKind,
} from '@lib/dime';
import { allValues, noMorePositionals, optionalValue, parseArgs, positional, requiredValue } from '../cli-args';
import { CliUsageError } from '../cli.error';
import { printJson, readInputFile, writeStdout } from '../cli-io';

export async function runSignetCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'verify':
      return verify(rest);
    case 'create-org':
      return createOrg(rest);
    case 'request':
      return request(rest);
    case 'sign':
      return sign(rest);
    case 'split': {
      const args = parseArgs(rest, { values: ['view'] });
      const signet = readSignetFile(positional(args, 0, 'signet file'));
      noMorePositionals(args, 1);
      const view = requiredValue(args, 'view');
      if (view !== 'crypto' && view !== 'full') throw new CliUsageError('--view must be crypto or full');
      writeStdout(armorSignet(splitSignet(signet, view)));
      return 0;
    }
    default:
      throw new CliUsageError(
        sub === undefined ? 'signet needs a subcommand: verify, create-org, request, sign, split' : `unknown signet subcommand "${sub}"`,
      );
  }
}

function readSignetFile(path: string, what = 'signet'): Signet {
  return readSignet(readInputFile(path, what));
}

function fingerprintOrNull(signet: Signet, kind: SignetFingerprintKind): string | null {
  if (kind === 'ssr' && signet.type === 'org') return null;
  try {
    return signetFingerprint(signet, kind);
  } catch (err) {
    if (err instanceof DimeError) return null;
    throw err;
  }
}

function verify(argv: readonly string[]): number {
  const args = parseArgs(argv, { values: ['org', 'pok'] });
  const signet = readSignetFile(positional(args, 0, 'signet file'));
  noMorePositionals(args, 1);
  const orgFile = optionalValue(args, 'org');
  const pok = optionalValue(args, 'pok');
  if (orgFile !== undefined && pok !== undefined) throw new CliUsageError('give --org or --pok, not both');

  let anchor: SignetAnchor = { none: true };
  let anchorProblem: string | undefined;
  if (pok !== undefined) {
    const key = decodeBase64(pok, '--pok');
    if (key.length !== 32) throw new CliUsageError(`--pok must be a 32-byte Ed25519 key in base64, got ${key.length} bytes`);
    anchor = { poks: [key] };
  } else if (orgFile !== undefined) {
    const org = readSignetFile(orgFile, 'org signet');
    if (org.type !== 'org') throw new CliUsageError(`--org expects an organizational signet, got a ${org.type} signet`);
    const orgState = validateSignet(org, { none: true });
    if (!['CRYPTO', 'FULL', 'ID'].includes(orgState)) anchorProblem = `the org signet given with --org is not valid (${orgState})`;
    anchor = { orgSignet: org };
  } else if (signet.type === 'user') {
    anchorProblem = 'a user signet needs --org ORG_SIGNET_FILE or --pok BASE64 to check its organizational signatures';
  }

  const claimed = signetStructureState(signet);
  const state = anchorProblem === undefined ? validateSignet(signet, anchor) : 'INVALID';
  printJson({
    type: signet.type,
    state,
    id: signetId(signet),
    fingerprints: {
      crypto: fingerprintOrNull(signet, 'crypto'),
      full: fingerprintOrNull(signet, 'full'),
      id: fingerprintOrNull(signet, 'id'),
      ssr: fingerprintOrNull(signet, 'ssr'),
    },
  });
  if (state === claimed) return 0;
  const reason =
    anchorProblem ??
    (state === 'INVALID' && signet.type === 'org' && 'poks' in anchor
      ? 'the signet is not signed by the given POK'
      : `the signet claims state ${claimed} but validates to ${state}`);
  process.stderr.write(`dime: ${reason}\n`);
  return 1;
}

function infoFields(args: ReturnType<typeof parseArgs>): SignetFieldInput[] {
  const fields: SignetFieldInput[] = [];
  const name = optionalValue(args, 'name');
  if (name !== undefined) fields.push({ fid: 16, data: name });
  const website = optionalValue(args, 'website');
  if (website !== undefined) fields.push({ fid: 160, data: website });
  for (const kv of allValues(args, 'field')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliUsageError(`--field expects NAME=VALUE, got "${kv}"`);
    fields.push({ fid: 251, name: kv.slice(0, eq), data: kv.slice(eq + 1) });
  }
  return fields;
}

async function createOrg(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['keys', 'domain', 'name', 'website'], repeatable: ['field'] });
  noMorePositionals(args, 0);
  const keys = readKeyFile(readInputFile(requiredValue(args, 'keys'), 'org key file'));
  if (keys.type !== 'org') throw new CliUsageError('--keys expects an organizational key file');
  const pok = new InMemorySigner(keys.signingSeed);
  let signet = await createOrgSignet({ pok, encryptionPublicKey: secp256k1PublicFromPrivate(keys.encryptionPrivateKey) });
  const fields = infoFields(args);
  if (fields.length > 0) signet = addSignetFields(signet, fields);
  signet = await fullSign(signet, pok);
  const domain = optionalValue(args, 'domain');
  if (domain !== undefined) signet = await idSign(setSignetId(signet, domain), pok);
  writeStdout(armorSignet(signet));
  return 0;
}

async function request(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['keys'] });
  noMorePositionals(args, 0);
  const keys = readKeyFile(readInputFile(requiredValue(args, 'keys'), 'user key file'));
  if (keys.type !== 'user') throw new CliUsageError('--keys expects a user key file');
  const ssr = await createSsr({ signer: new InMemorySigner(keys.signingSeed), encryptionPublicKey: secp256k1PublicFromPrivate(keys.encryptionPrivateKey) });
  writeStdout(armorSignet(ssr));
  return 0;
}

async function sign(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['org-keys', 'address', 'name', 'website'], repeatable: ['field'] });
  const ssr = readSignetFile(positional(args, 0, 'signing request file'), 'signing request');
  noMorePositionals(args, 1);
  const keys = readKeyFile(readInputFile(requiredValue(args, 'org-keys'), 'org key file'));
  if (keys.type !== 'org') throw new CliUsageError('--org-keys expects an organizational key file');
  const org = new InMemorySigner(keys.signingSeed);
  let signet = await signSsr(ssr, org);
  const fields = infoFields(args);
  if (fields.length > 0) signet = addSignetFields(signet, fields);
  signet = await fullSign(signet, org);
  const address = optionalValue(args, 'address');
  if (address !== undefined) signet = await idSign(setSignetId(signet, address), org);
  writeStdout(armorSignet(signet));
  return 0;
}
