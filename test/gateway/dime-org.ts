// Test harness: one DIME organisation's HSM side, made exactly as an operator makes it
// (appliance/hsm-init.sh on a fresh SoftHSM2 token): every key role, the TLS certificate of the
// HSM-held key, the org signet signed by the HSM-held POK and the `_dx` record with its tls=
// signature. Gives what startGatewayProcess needs (token env, certificate, OpenSSL engine config,
// ORG_SIGNET_FILE) and the TXT strings a DNS server must publish for the domain.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestToken } from '../hsm/softhsm-token';
import type { GatewayToken } from './gateway-process';

const ROOT = join(__dirname, '..', '..');

export interface DimeOrg {
  readonly domain: string;
  /** Names in the TLS certificate (the first is its CN). */
  readonly hostnames: readonly string[];
  readonly gatewayToken: GatewayToken;
  readonly outDir: string;
  readonly orgSignetFile: string;
  /** The `_dx.<domain>` TXT record as character-strings (libs/dime splits it at 255 bytes). */
  readonly dxTxt: readonly string[];
  /** Gateway settings for this organisation (token, certificate, org signet, domain). */
  readonly env: Readonly<Record<string, string>>;
  cleanup(): void;
}

/** The quoted character-strings of a zone-file TXT line (`name. IN TXT "a" "b"`). */
export function txtStringsOfZoneLine(line: string): string[] {
  const strings: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) strings.push(m[1]!.replace(/\\(.)/g, '$1'));
  if (strings.length === 0) throw new Error(`no TXT strings in ${line}`);
  return strings;
}

export function createDimeOrg(domain: string, options: { hostnames?: readonly string[] } = {}): DimeOrg {
  const token = createTestToken({ init: false });
  const outDir = join(token.dir, 'out');
  const hostnames = options.hostnames ?? [`gw.${domain}`, 'localhost'];
  const args = ['appliance/hsm-init.sh', '--domain', domain, '--out', outDir, '--pin-file', token.pinFile, '--softhsm-dir', token.dir, '--token-label', token.tokenLabel];
  for (const h of hostnames) args.push('--hostname', h);
  try {
    execFileSync('bash', args, { cwd: ROOT, env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    token.cleanup();
    const e = err as { stderr?: Buffer };
    throw new Error(`hsm-init for ${domain} failed: ${e.stderr?.toString() ?? String(err)}`);
  }
  const certFile = join(outDir, 'tls-ecdsa.cert.pem');
  const orgSignetFile = join(outDir, 'org.signet');
  const gatewayToken: GatewayToken = {
    token,
    certPem: readFileSync(certFile, 'utf8'),
    certFile,
    opensslConfig: join(outDir, 'openssl-pkcs11.cnf'),
    env: Object.freeze({ ...token.env, TLS_CERT_FILE: certFile }),
    cleanup: () => token.cleanup(),
  };
  return {
    domain,
    hostnames,
    gatewayToken,
    outDir,
    orgSignetFile,
    dxTxt: txtStringsOfZoneLine(readFileSync(join(outDir, 'dx-record.txt'), 'utf8')),
    env: Object.freeze({
      ...gatewayToken.env,
      ORG_DOMAIN: domain,
      GATEWAY_HOSTNAME: hostnames[0]!,
      ORG_SIGNET_FILE: orgSignetFile,
      DIME_ENABLED: 'true',
    }),
    cleanup: () => token.cleanup(),
  };
}

/** Retries, timeouts and shutdown sized for peers on loopback (seconds, not the production hours). */
export const LOOPBACK_TIMINGS: Readonly<Record<string, string>> = Object.freeze({
  RETRY_BASE: '1s',
  RETRY_MAX: '3s',
  RECOVERY_INTERVAL: '5s',
  SMTP_CONNECT_TIMEOUT: '5s',
  SMTP_COMMAND_TIMEOUT: '30s',
  SHUTDOWN_GRACE: '5s',
});

/**
 * The settings of one organisation's gateway in a two-organisation setup on loopback: DIME on with
 * the `required` policy (never SMTP to the peer), discovery through `dnsServer`, the peer's DX host
 * pinned by DMTP_ROUTES (both gateways listen on 127.0.0.1), senders provisioned on first use, and
 * the legacy server at 127.0.0.1:`legacy.port`.
 */
export function dimeGatewayEnv(
  org: DimeOrg,
  options: { dmtpPort: number; dnsServer: string; routes: Readonly<Record<string, number>>; legacy: { port: number; caFile?: string } },
): Record<string, string> {
  return {
    ...org.env,
    LOCAL_DOMAINS: org.domain,
    DMTP_PORT: String(options.dmtpPort),
    DNS_SERVERS: options.dnsServer,
    DMTP_ROUTES: Object.entries(options.routes)
      .map(([domain, port]) => `${domain}=127.0.0.1:${port}`)
      .join(','),
    DIME_DEFAULT_POLICY: 'required',
    DIME_SENDER_POLICY: 'provision',
    LEGACY_HOST: '127.0.0.1',
    LEGACY_PORT: String(options.legacy.port),
    ...(options.legacy.caFile
      ? { LEGACY_CA_FILE: options.legacy.caFile, LEGACY_TLS_POLICY: 'required-verified' }
      : // a sink without STARTTLS (benchmarks)
        { LEGACY_TLS_POLICY: 'opportunistic' }),
  };
}
