// `dime-gateway users ...` (trustful-mode DIME users) and `dime-gateway dime record`: against the
// running installation (PostgreSQL as the runtime role, the HSM token: user-kek wraps the keys, the
// org POK signs the signets), found through the local `npm start` state by default. Results on
// stdout (one JSON object per line, or PEM/zone text), failures exit 1 with one line on stderr.
import { userInfo } from 'node:os';
import { auditConfigFromEnv, AuditService, HsmAuditSigner } from '@lib/audit';
import { AuditRepository, DimeUserRepository, dbConfigFromEnv, openDatabase } from '@lib/db';
import { armorSignet, parseSignet } from '@lib/dime';
import { DimeUserError, DimeUserService, readOrgSignetFile, type DimeUser } from '@lib/dime-users';
import { HsmError, hsmConfigFromEnv, HsmKeyRotation, HsmKeystore, HsmSigner, keyLabel } from '@lib/hsm';
import { exportSoftHsmConf, loadOperatorEnv } from '../operator-cli.config';
import { OperatorUsageError } from '../operator-cli.error';
import { readInput, writeOut } from '../operator-io';
import { parseOptions } from './audit.command';
import { usersConfigFromEnv } from './users.config';

function userJson(u: DimeUser): string {
  return `${JSON.stringify({
    address: u.address,
    status: u.status,
    fingerprint: u.fingerprints.crypto,
    createdAt: u.createdAt.toISOString(),
    suspendedAt: u.suspendedAt?.toISOString() ?? null,
  })}\n`;
}

/** The current org POK (after a rotation, the rotation state names it). */
async function currentPok(keystore: HsmKeystore): Promise<string> {
  try {
    return await new HsmKeyRotation(keystore).currentLabel('org-primary');
  } catch (err) {
    if (err instanceof HsmError && err.code === 'KEY_NOT_FOUND') return keyLabel('org-primary');
    throw err;
  }
}

async function withUsers<T>(fn: (users: DimeUserService) => Promise<T>): Promise<T> {
  const env = loadOperatorEnv();
  const config = usersConfigFromEnv(env);
  const orgSignet = readOrgSignetFile(config.orgSignetFile);
  const auditConfig = auditConfigFromEnv(env);
  const dbConfig = dbConfigFromEnv(env);
  const hsmConfig = hsmConfigFromEnv(env);
  exportSoftHsmConf(env);
  const keystore = HsmKeystore.open(hsmConfig);
  try {
    const pok = await HsmSigner.create(keystore, await currentPok(keystore));
    const ds = await openDatabase(dbConfig, { applicationName: 'dime-gateway-cli' });
    try {
      const audit = new AuditService(new AuditRepository(ds), new HsmAuditSigner(keystore, keyLabel('audit-signing')), auditConfig);
      const users = new DimeUserService(
        new DimeUserRepository(ds),
        keystore,
        pok,
        { orgSignet, localDomains: config.localDomains, kekLabel: keyLabel('user-kek'), actor: `operator:${userInfo().username}` },
        audit,
      );
      return await fn(users);
    } finally {
      await ds.destroy();
    }
  } finally {
    keystore.close();
  }
}

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
    case 'add': {
      const address = oneAddress(rest, 'add');
      const user = await withUsers((users) => users.provision(address));
      writeOut(userJson(user));
      return 0;
    }
    case 'list': {
      const p = parseOptions(rest, ['domain']);
      if (p.positionals.length > 0) throw new OperatorUsageError(`unexpected argument "${p.positionals[0]}"`);
      const list = await withUsers((users) => users.list(p.options.get('domain')));
      writeOut(list.map(userJson).join(''));
      return 0;
    }
    case 'suspend':
    case 'resume': {
      const address = oneAddress(rest, sub);
      const user = await withUsers((users) => (sub === 'suspend' ? users.suspend(address) : users.resume(address)));
      writeOut(userJson(user));
      return 0;
    }
    case 'signet': {
      const address = oneAddress(rest, 'signet');
      const user = await withUsers(async (users) => users.find(address));
      if (!user) throw new DimeUserError('UNKNOWN_USER', `no DIME user ${address}`);
      writeOut(armorSignet(parseSignet(user.signet, 'user')));
      return 0;
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
