// The gateway's configuration: read from process.env once at boot (STYLE.md 4), validated with
// every bad key named at once, frozen. Secrets (the HSM PIN) stay in libs/hsm's RedactedSecret.
// Every key, its default and meaning is documented in appliance/gateway.env.example.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { auditConfigFromEnv, type AuditConfig } from '@lib/audit';
import { escrowRecoveryConfigFromEnv, journalConfigFromEnv, type EscrowRecoveryConfig, type JournalConfig } from '@lib/escrow';
import { dbConfigFromEnv, type DbConfig, type DimePolicy, type TlsPolicy } from '@lib/db';
import { hsmConfigFromEnv, type HsmConfig } from '@lib/hsm';
import { jobsConfigFromEnv, type JobsConfig } from '@lib/jobs';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

export interface GatewayConfig {
  /** Host name in banners, Received headers and DSNs (GATEWAY_HOSTNAME). */
  readonly hostname: string;
  /** The organisation's primary domain (ORG_DOMAIN). */
  readonly orgDomain: string;
  /** Domains the gateway accepts mail for from the Internet (LOCAL_DOMAINS, default ORG_DOMAIN). */
  readonly localDomains: readonly string[];
  readonly listen: {
    readonly address: string; // GATEWAY_BIND
    readonly smtpPort: number; // SMTP_PORT (inbound from the Internet)
    readonly submissionPort: number; // SUBMISSION_PORT (from the legacy server)
    readonly metricsPort: number; // METRICS_PORT (Prometheus /metrics, /healthz, /readyz)
  };
  readonly submission: {
    /** Client networks allowed to relay through the submission port (SUBMISSION_NETWORKS). */
    readonly networks: readonly Cidr[];
    /** File of `user:scrypt$...` lines for SMTP AUTH over TLS (SUBMISSION_AUTH_FILE); none: AUTH off. */
    readonly authFile: string | undefined;
    /** Require AUTH even from the allowed networks (SUBMISSION_REQUIRE_AUTH). */
    readonly requireAuth: boolean;
  };
  readonly legacy: {
    /** The organisation's own server that inbound mail is relayed to (LEGACY_HOST, LEGACY_PORT). */
    readonly host: string;
    readonly port: number;
    /** TLS policy of that hop (LEGACY_TLS_POLICY, default required-verified when LEGACY_CA_FILE is set, else required). */
    readonly tlsPolicy: TlsPolicy;
    readonly caFile: string | undefined;
  };
  readonly limits: {
    readonly maxMessageBytes: number; // MAX_MESSAGE_SIZE
    readonly maxLineBytes: number; // MAX_LINE_LENGTH (excluding CRLF)
    readonly maxRecipients: number; // MAX_RECIPIENTS
    readonly maxConnections: number; // MAX_CONNECTIONS (per listener)
  };
  readonly delivery: {
    readonly defaultTlsPolicy: TlsPolicy; // DEFAULT_TLS_POLICY
    /** Port of remote MX hosts (REMOTE_SMTP_PORT, 25; tests point it at loopback peers). */
    readonly remotePort: number;
    /** DNS servers for MX lookups, `ip[:port]` (DNS_SERVERS); empty: the system resolver. */
    readonly dnsServers: readonly string[];
    /** Extra CA bundle for required-verified peers (TLS_CA_FILE). */
    readonly caFile: string | undefined;
    /**
     * Next hops that bypass MX resolution, `domain=host:port` (STATIC_ROUTES, comma-separated): for
     * sites without usable DNS and for tests that deliver to loopback peers. Keys are lower-cased.
     */
    readonly staticRoutes: Readonly<Record<string, StaticRoute>>;
    readonly queueLifetimeMs: number; // QUEUE_LIFETIME (e.g. 5d)
    readonly delayNoticeAfterMs: number; // DELAY_NOTICE_AFTER (e.g. 4h)
    readonly retryBaseMs: number; // RETRY_BASE (first retry delay, doubled each time)
    readonly retryMaxMs: number; // RETRY_MAX (cap of the backoff)
    readonly destinationConcurrency: number; // DESTINATION_CONCURRENCY (connections per domain per process)
    readonly workerConcurrency: number; // DELIVERY_CONCURRENCY (delivery jobs in flight per process)
    readonly connectTimeoutMs: number; // SMTP_CONNECT_TIMEOUT
    readonly commandTimeoutMs: number; // SMTP_COMMAND_TIMEOUT
    readonly recoveryIntervalMs: number; // RECOVERY_INTERVAL (sweep of due recipients from PostgreSQL)
    /** Connections of the pool that only records 2xx replies (DELIVERED_POOL_SIZE, besides DB_POOL_SIZE). */
    readonly deliveredPoolSize: number;
  };
  /**
   * BullMQ job locks of the process and deliver workers. A job whose worker died is run again once
   * its lock expired (JOB_LOCK_DURATION, renewed every half of it while the job runs) and a stalled
   * check saw it unlocked twice (JOB_STALLED_INTERVAL apart): between about max(lock/2, interval)
   * and lock + interval after the crash.
   */
  readonly workers: {
    readonly lockDurationMs: number; // JOB_LOCK_DURATION
    readonly stalledIntervalMs: number; // JOB_STALLED_INTERVAL
  };
  /** DIME (issue #5): the DMTP listener, discovery and the DIME route. */
  readonly dime: {
    /** DIME_ENABLED (default: on when ORG_SIGNET_FILE is set): the DMTP listener, sealing and opening. */
    readonly enabled: boolean;
    /** The org signet made by appliance/hsm-init from the HSM-held POK (ORG_SIGNET_FILE). */
    readonly orgSignetFile: string | undefined;
    /** Implicit-TLS DMTP listener (DMTP_PORT, 26 in production, 2626 locally). */
    readonly dmtpPort: number;
    /** DIME policy of domains without their own (DIME_DEFAULT_POLICY: required, preferred, off). */
    readonly defaultPolicy: DimePolicy;
    /** A local sender without DIME keys (DIME_SENDER_POLICY): provision them on first use, or refuse. */
    readonly senderPolicy: 'provision' | 'refuse';
    /**
     * The optional origin bounce signatures on outbound DIME (DIME_BOUNCE_SIGNATURES: both, meta,
     * display, none; default both). Each is one more HSM signature per message; a declined one is
     * deleted from the message, as the DIME digest (§6.5) allows.
     */
    readonly bounceSignatures: 'both' | 'meta' | 'display' | 'none';
    /** Port of remote DX hosts (REMOTE_DMTP_PORT, 26; tests point it at loopback peers). */
    readonly remotePort: number;
    /** DX hosts that bypass DNS host selection, `domain=host:port` (DMTP_ROUTES); the `_dx` record still comes from DNS. */
    readonly routes: Readonly<Record<string, StaticRoute>>;
    /** Longest time a discovered record/signet is trusted without re-validation (DIME_CACHE_MAX_TTL). */
    readonly cacheMaxTtlMs: number;
    /** How long "no _dx record" is remembered (DIME_NEGATIVE_TTL). */
    readonly negativeTtlMs: number;
  };
  /** Upper bound on any one pipeline step (STEP_TIMEOUT). */
  readonly stepTimeoutMs: number;
  readonly spoolDir: string; // SPOOL_DIR
  /**
   * Messages up to this size are spooled in PostgreSQL with their queue row (one commit) instead
   * of a spool file each; 0: every message in a file (SPOOL_DB_MAX_SIZE, 256K).
   */
  readonly spoolDbMaxBytes: number;
  /** pino level: fatal, error, warn, info, debug, trace, silent (LOG_LEVEL). */
  readonly logLevel: string;
  /** On SIGTERM, how long SMTP sessions inside a mail transaction may take to finish it (SHUTDOWN_GRACE). */
  readonly shutdownGraceMs: number;
  readonly tls: {
    /** PEM certificate files of the HSM-held TLS keys (TLS_CERT_FILE, TLS_RSA_CERT_FILE). */
    readonly certFile: string | undefined;
    readonly rsaCertFile: string | undefined;
  };
  readonly db: DbConfig;
  /** The compliance journal, archive store and retention sweep (JOURNAL_ENABLED, ARCHIVE_*, RETENTION_SWEEP_*; docs/compliance.md). */
  readonly journal: JournalConfig;
  /** Escrow recovery: approvals needed, request lifetime, export directory (ESCROW_*; docs/escrow-recovery.md). */
  readonly escrow: EscrowRecoveryConfig;
  /** Checkpoint policy of the audit trail the gateway appends to (AUDIT_CHECKPOINT_EVERY, AUDIT_CHECKPOINT_SECONDS). */
  readonly audit: AuditConfig;
  readonly jobs: JobsConfig;
  readonly hsm: HsmConfig;
}

export interface StaticRoute {
  readonly host: string;
  readonly port: number;
}

export type GatewayEnv = Readonly<Record<string, string | undefined>>;

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const TLS_POLICIES: readonly TlsPolicy[] = ['opportunistic', 'required', 'required-verified'];

/** `30s`, `15m`, `4h`, `5d` or plain milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return n * unit;
}

/** `25M`, `512k`, `1G` or plain bytes. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgG])?$/.exec(text.trim());
  if (!m) return undefined;
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 1;
  return Number(m[1]) * mult;
}

export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText] = text.trim().split('/');
  const family = address ? isIP(address) : 0;
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { address: address!, prefix, family };
}

export function gatewayConfigFromEnv(env: GatewayEnv, cwd = process.cwd()): GatewayConfig {
  const problems: string[] = [];
  const str = (key: string, dflt: string) => env[key]?.trim() || dflt;
  const int = (key: string, dflt: number, min: number, max: number) => {
    const raw = env[key];
    const v = raw === undefined || raw === '' ? dflt : Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${key} must be an integer in ${min}..${max}`);
    return v;
  };
  const port = (key: string, dflt: number) => int(key, dflt, 0, 65535);
  const duration = (key: string, dflt: string) => {
    const v = parseDuration(str(key, dflt));
    if (v === undefined) problems.push(`${key} must be a duration like 30s, 15m, 4h or 5d`);
    return v ?? 0;
  };
  const size = (key: string, dflt: string) => {
    const v = parseSize(str(key, dflt));
    if (v === undefined || v <= 0) problems.push(`${key} must be a size like 25M`);
    return v ?? 0;
  };
  const sizeOrZero = (key: string, dflt: string) => {
    const v = parseSize(str(key, dflt));
    if (v === undefined || v < 0) problems.push(`${key} must be a size like 256K, or 0`);
    return v ?? 0;
  };
  const bool = (key: string, dflt: boolean) => {
    const raw = env[key]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return dflt;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${key} must be true or false`);
    return dflt;
  };
  const tlsPolicy = (key: string, dflt: TlsPolicy) => {
    const v = str(key, dflt) as TlsPolicy;
    if (!TLS_POLICIES.includes(v)) problems.push(`${key} must be one of ${TLS_POLICIES.join(', ')}`);
    return v;
  };
  const oneOf = (key: string, dflt: string, allowed: readonly string[]) => {
    const v = str(key, dflt).toLowerCase();
    if (!allowed.includes(v)) problems.push(`${key} must be one of ${allowed.join(', ')}`);
    return v;
  };
  const file = (key: string) => (env[key]?.trim() ? resolve(cwd, env[key]!.trim()) : undefined);

  const orgDomain = str('ORG_DOMAIN', 'example.test').toLowerCase();
  if (!DOMAIN.test(orgDomain)) problems.push('ORG_DOMAIN must be a domain name');
  const localDomains = str('LOCAL_DOMAINS', orgDomain)
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((d) => d.toLowerCase());
  for (const d of localDomains) if (!DOMAIN.test(d)) problems.push(`LOCAL_DOMAINS: "${d}" is not a domain name`);

  const networks: Cidr[] = [];
  for (const n of str('SUBMISSION_NETWORKS', '127.0.0.0/8,::1/128').split(/[,\s]+/).filter(Boolean)) {
    const c = parseCidr(n);
    if (c) networks.push(c);
    else problems.push(`SUBMISSION_NETWORKS: "${n}" is not an address or CIDR`);
  }
  const legacyCa = file('LEGACY_CA_FILE');
  const dnsServers = str('DNS_SERVERS', '').split(/[,\s]+/).filter(Boolean);
  const routes = (key: string) => {
    const table: Record<string, StaticRoute> = {};
    for (const entry of str(key, '').split(/[,\s]+/).filter(Boolean)) {
      const m = /^([^=]+)=(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry);
      const domain = m?.[1]?.toLowerCase();
      const hopPort = Number(m?.[3]);
      if (!m || !domain || !DOMAIN.test(domain) || hopPort < 1 || hopPort > 65535) {
        problems.push(`${key}: "${entry}" is not domain=host:port`);
        continue;
      }
      table[domain] = Object.freeze({ host: m[2]!.replace(/^\[|\]$/g, ''), port: hopPort });
    }
    return Object.freeze(table);
  };
  const staticRoutes = routes('STATIC_ROUTES');
  const orgSignetFile = file('ORG_SIGNET_FILE');
  const dimeEnabled = bool('DIME_ENABLED', orgSignetFile !== undefined);
  if (dimeEnabled && !orgSignetFile) problems.push('ORG_SIGNET_FILE must be set when DIME_ENABLED is on (appliance/hsm-init writes org.signet)');

  let db: DbConfig | undefined;
  let audit: AuditConfig | undefined;
  let journal: JournalConfig | undefined;
  let escrow: EscrowRecoveryConfig | undefined;
  let jobs: JobsConfig | undefined;
  let hsm: HsmConfig | undefined;
  for (const [name, load] of [
    ['database', () => (db = dbConfigFromEnv(env))],
    ['audit', () => (audit = auditConfigFromEnv(env))],
    ['journal', () => (journal = journalConfigFromEnv(env))],
    ['escrow', () => (escrow = escrowRecoveryConfigFromEnv(env, resolve(cwd, '.local/escrow-exports')))],
    ['redis', () => (jobs = jobsConfigFromEnv(env))],
    ['hsm', () => (hsm = hsmConfigFromEnv(env))],
  ] as const) {
    try {
      load();
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }

  // BullMQ renews a lock every half of its duration: shorter than 2 s, a busy moment of the event
  // loop would lose locks of running jobs, which another worker would then run a second time
  const lockDurationMs = duration('JOB_LOCK_DURATION', '10s');
  if (lockDurationMs < 2000 && !problems.some((p) => p.startsWith('JOB_LOCK_DURATION'))) problems.push('JOB_LOCK_DURATION must be at least 2s');
  const stalledIntervalMs = duration('JOB_STALLED_INTERVAL', '5s');
  if (stalledIntervalMs < 1000 && !problems.some((p) => p.startsWith('JOB_STALLED_INTERVAL'))) problems.push('JOB_STALLED_INTERVAL must be at least 1s');

  const config: GatewayConfig = {
    hostname: str('GATEWAY_HOSTNAME', `gateway.${orgDomain}`),
    orgDomain,
    localDomains,
    listen: {
      address: str('GATEWAY_BIND', '127.0.0.1'),
      smtpPort: port('SMTP_PORT', 2525),
      submissionPort: port('SUBMISSION_PORT', 2587),
      metricsPort: port('METRICS_PORT', 9465),
    },
    submission: { networks, authFile: file('SUBMISSION_AUTH_FILE'), requireAuth: bool('SUBMISSION_REQUIRE_AUTH', false) },
    legacy: {
      host: str('LEGACY_HOST', '127.0.0.1'),
      port: port('LEGACY_PORT', 25),
      tlsPolicy: tlsPolicy('LEGACY_TLS_POLICY', legacyCa ? 'required-verified' : 'required'),
      caFile: legacyCa,
    },
    limits: {
      maxMessageBytes: size('MAX_MESSAGE_SIZE', '25M'),
      maxLineBytes: int('MAX_LINE_LENGTH', 998, 78, 65536),
      maxRecipients: int('MAX_RECIPIENTS', 100, 1, 10000),
      maxConnections: int('MAX_CONNECTIONS', 500, 1, 100000),
    },
    delivery: {
      defaultTlsPolicy: tlsPolicy('DEFAULT_TLS_POLICY', 'opportunistic'),
      remotePort: port('REMOTE_SMTP_PORT', 25),
      dnsServers,
      caFile: file('TLS_CA_FILE'),
      staticRoutes,
      queueLifetimeMs: duration('QUEUE_LIFETIME', '5d'),
      delayNoticeAfterMs: duration('DELAY_NOTICE_AFTER', '4h'),
      retryBaseMs: duration('RETRY_BASE', '60s'),
      retryMaxMs: duration('RETRY_MAX', '1h'),
      destinationConcurrency: int('DESTINATION_CONCURRENCY', 20, 1, 1000),
      workerConcurrency: int('DELIVERY_CONCURRENCY', 100, 1, 10000),
      connectTimeoutMs: duration('SMTP_CONNECT_TIMEOUT', '30s'),
      commandTimeoutMs: duration('SMTP_COMMAND_TIMEOUT', '5m'),
      recoveryIntervalMs: duration('RECOVERY_INTERVAL', '30s'),
      deliveredPoolSize: int('DELIVERED_POOL_SIZE', 10, 1, 100),
    },
    dime: {
      enabled: dimeEnabled,
      orgSignetFile,
      dmtpPort: port('DMTP_PORT', 2626),
      defaultPolicy: oneOf('DIME_DEFAULT_POLICY', 'preferred', ['required', 'preferred', 'off']) as DimePolicy,
      senderPolicy: oneOf('DIME_SENDER_POLICY', 'provision', ['provision', 'refuse']) as 'provision' | 'refuse',
      bounceSignatures: oneOf('DIME_BOUNCE_SIGNATURES', 'both', ['both', 'meta', 'display', 'none']) as 'both' | 'meta' | 'display' | 'none',
      remotePort: port('REMOTE_DMTP_PORT', 26),
      routes: routes('DMTP_ROUTES'),
      cacheMaxTtlMs: duration('DIME_CACHE_MAX_TTL', '1d'),
      negativeTtlMs: duration('DIME_NEGATIVE_TTL', '5m'),
    },
    workers: { lockDurationMs, stalledIntervalMs },
    stepTimeoutMs: duration('STEP_TIMEOUT', '60s'),
    spoolDir: resolve(cwd, str('SPOOL_DIR', '.local/spool')),
    spoolDbMaxBytes: sizeOrZero('SPOOL_DB_MAX_SIZE', '256K'),
    logLevel: oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    shutdownGraceMs: duration('SHUTDOWN_GRACE', '30s'),
    tls: { certFile: file('TLS_CERT_FILE'), rsaCertFile: file('TLS_RSA_CERT_FILE') },
    db: db!,
    audit: audit!,
    escrow: escrow!,
    journal: journal ? Object.freeze({ ...journal, archiveDir: resolve(cwd, journal.archiveDir) }) : journal!,
    jobs: jobs!,
    hsm: hsm!,
  };
  if (problems.length > 0) throw new Error(`invalid gateway configuration:\n  - ${problems.join('\n  - ')}`);
  return Object.freeze(config);
}
