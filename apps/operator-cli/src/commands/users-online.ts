// The `dime-gateway users` subcommands that need the running installation: PostgreSQL (runtime
// role, as the gateway) and the HSM token (user-kek wraps the keys, the org POK signs the signets),
// found through the local `npm start` state by default. Loaded only by the commands that need it.
import { userInfo } from 'node:os';
import { auditConfigFromEnv, AuditService, HsmAuditSigner } from '@lib/audit';
import { AuditRepository, DimeUserRepository, dbConfigFromEnv, openDatabase } from '@lib/db';
import { armorSignet, parseSignet } from '@lib/dime';
import { DimeUserError, DimeUserService, readOrgSignetFile, type DimeUser } from '@lib/dime-users';
import { HsmError, hsmConfigFromEnv, HsmKeyRotation, HsmKeystore, HsmSigner, keyLabel } from '@lib/hsm';
import { exportSoftHsmConf, loadOperatorEnv } from '../operator-cli.config';
import { writeOut } from '../operator-io';
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

export type UsersAction = 'add' | 'list' | 'suspend' | 'resume' | 'signet';

/** Runs one online users action and prints its result (JSON lines, or the armored signet). */
export async function runUsersAction(action: UsersAction, argument: string | undefined): Promise<number> {
  await withUsers(async (users) => {
    switch (action) {
      case 'add':
        writeOut(userJson(await users.provision(argument as string)));
        return;
      case 'list':
        writeOut((await users.list(argument)).map(userJson).join(''));
        return;
      case 'suspend':
        writeOut(userJson(await users.suspend(argument as string)));
        return;
      case 'resume':
        writeOut(userJson(await users.resume(argument as string)));
        return;
      case 'signet': {
        const user = await users.find(argument as string);
        if (!user) throw new DimeUserError('UNKNOWN_USER', `no DIME user ${argument as string}`);
        writeOut(armorSignet(parseSignet(user.signet, 'user')));
        return;
      }
    }
  });
  return 0;
}
