// Composition of the gateway's DIME side from its configuration, the HSM keystore and PostgreSQL:
// discovery (DNS `_dx` + DMTP SGNT), trustful-mode users (keys wrapped under the HSM KEK), the
// sealer (outbound, at delivery), the verifier shared by the DMTP door and the inbound opener.
// The org POK and org encryption key stay in the HSM (HsmSigner / HsmKeyAgreement).
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import type { AuditService } from '@lib/audit';
import { DimeUserRepository, type DataSource } from '@lib/db';
import { HsmError, HsmKeyAgreement, HsmKeyRotation, HsmSigner, keyLabel, type HsmKeystore } from '@lib/hsm';
import type { GatewayConfig } from '../gateway.config';
import { DnsDimeDirectory } from './discovery/dns-dime-directory';
import { DimeDoorChecker } from './open/dime-door-checker';
import { DimeInboundOpener } from './open/dime-inbound-opener';
import { DimeMessageVerifier } from './open/dime-message-verifier';
import { DoorVerdictMemo } from './open/door-verdict-memo';
import { DimeSealer } from './seal/dime-sealer';
import { DimeUserService, readOrgSignetFile } from '@lib/dime-users';

export interface DimeServices {
  readonly directory: DnsDimeDirectory;
  readonly users: DimeUserService;
  readonly sealer: DimeSealer;
  readonly doorCheck: DimeDoorChecker;
  readonly opener: DimeInboundOpener;
}

/** The label of a rotatable role's current key (v1 before any rotation). */
async function currentLabel(keystore: HsmKeystore, role: 'org-primary'): Promise<string> {
  try {
    return await new HsmKeyRotation(keystore).currentLabel(role);
  } catch (error) {
    if (error instanceof HsmError && error.code === 'KEY_NOT_FOUND') return keyLabel(role);
    throw error;
  }
}

/** A resolver on DNS_SERVERS (`ip[:port]`), or the system's. */
export function createDimeResolver(servers: readonly string[], timeoutMs = 10_000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

export async function createDimeServices(
  config: GatewayConfig,
  keystore: HsmKeystore,
  dataSource: DataSource,
  audit: AuditService,
): Promise<DimeServices> {
  if (!config.dime.orgSignetFile) throw new Error('ORG_SIGNET_FILE is not set: DIME needs the org signet made by appliance/hsm-init.sh');
  const orgSignet = readOrgSignetFile(config.dime.orgSignetFile);
  const pokLabel = await currentLabel(keystore, 'org-primary');
  if (!(await keystore.hasObject(pokLabel, 'private'))) throw new Error(`the HSM token has no org POK "${pokLabel}" (run appliance/hsm-init.sh)`);
  const signer = await HsmSigner.create(keystore, pokLabel);
  const orgKeys = await HsmKeyAgreement.create(keystore, keyLabel('org-encryption'));
  const timeouts = { connectMs: config.delivery.connectTimeoutMs, commandMs: config.delivery.commandTimeoutMs };
  const directory = new DnsDimeDirectory(
    {
      dmtpPort: config.dime.remotePort,
      // MX hosts are also tried in dual mode on the SMTP port (STARTTLS MODE=DMTPv1, docs/dmtp.md §3)
      dualModePort: config.delivery.remotePort,
      routes: config.dime.routes,
      maxTtlMs: config.dime.cacheMaxTtlMs,
      negativeTtlMs: config.dime.negativeTtlMs,
      ...(config.delivery.caFile ? { ca: readFileSync(config.delivery.caFile) } : {}),
      timeouts,
    },
    createDimeResolver(config.delivery.dnsServers),
  );
  // users provisioned on first use are recorded in the audit trail (actor system:gateway)
  const users = new DimeUserService(
    new DimeUserRepository(dataSource),
    keystore,
    signer,
    { orgSignet, localDomains: config.localDomains, kekLabel: keyLabel('user-kek') },
    audit,
  );
  const sealer = new DimeSealer(users, directory, { signer, keys: orgKeys }, { senderPolicy: config.dime.senderPolicy, bounceSignatures: config.dime.bounceSignatures });
  const verifier = new DimeMessageVerifier(users, directory, orgKeys);
  const verdicts = new DoorVerdictMemo();
  return { directory, users, sealer, doorCheck: new DimeDoorChecker(verifier, verdicts), opener: new DimeInboundOpener(verifier, verdicts) };
}
