// Settings of `dime-gateway users` and `dime-gateway dime`, from the merged operator environment
// (operator-cli.config.ts): the same keys as the gateway. ORG_SIGNET_FILE defaults to the local
// quickstart's `.local/hsm/org.signet`; the `_dx` record is hsm-init's dx-record.txt beside it.
import { dirname, join, resolve } from 'node:path';
import { isDomainName } from '@lib/dime';
import { operatorHome, type OperatorEnv } from '../operator-cli.config';
import { OperatorInputError } from '../operator-cli.error';

export interface UsersConfig {
  readonly localDomains: readonly string[];
  readonly orgSignetFile: string;
  readonly dxRecordFile: string;
}

export function usersConfigFromEnv(env: OperatorEnv): UsersConfig {
  const home = operatorHome(env);
  const orgDomain = (env['ORG_DOMAIN']?.trim() || 'example.test').toLowerCase();
  const localDomains = (env['LOCAL_DOMAINS']?.trim() || orgDomain)
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((d) => d.toLowerCase());
  const bad = localDomains.filter((d) => !isDomainName(d));
  if (bad.length > 0) throw new OperatorInputError(`LOCAL_DOMAINS: "${bad[0]}" is not a domain name`);
  const orgSignetFile = resolve(home, env['ORG_SIGNET_FILE']?.trim() || join('.local', 'hsm', 'org.signet'));
  return Object.freeze({ localDomains, orgSignetFile, dxRecordFile: join(dirname(orgSignetFile), 'dx-record.txt') });
}
