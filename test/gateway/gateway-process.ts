// Test harness: the whole gateway (apps/gateway/src/main.ts) as a child node process, started the
// way appliance/start.sh starts it (the OpenSSL pkcs11 engine config, so STARTTLS uses the HSM-held
// key), against a SoftHSM token prepared here (tls-ecdsa key + certificate, user-kek), a given
// PostgreSQL database and Redis. Used by the gateway e2e tests and the gateway benchmark; a test may
// SIGKILL the process and start it again on the same token, database, spool and queue prefix.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DbConfig } from '@lib/db';
import { createSelfSignedCertificate, DEFAULT_OPENSSL_PKCS11_ENGINE, hsmTlsNodeFlags, HsmKeystore, keyLabel, writeOpensslHsmConfig } from '@lib/hsm';
import { dbEnv } from '../database';
import { createTestToken, useTokenInThisProcess, type TestToken } from '../hsm/softhsm-token';
import { registerPeer } from '../postfix/process-registry';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'apps/gateway/src/main.ts');

/** A SoftHSM token holding what the gateway needs at boot, and the files pointing at it. */
export interface GatewayToken {
  readonly token: TestToken;
  /** Certificate of the HSM-held tls-ecdsa key (CN localhost, SAN localhost and 127.0.0.1). */
  readonly certPem: string;
  readonly certFile: string;
  /** OpenSSL config declaring the pkcs11 engine for this token (node --openssl-config=...). */
  readonly opensslConfig: string;
  /** HSM_* , SOFTHSM2_CONF and TLS_CERT_FILE for the gateway's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Removes the token dir (only when this harness created the token). */
  cleanup(): void;
}

/**
 * Creates the tls-ecdsa and user-kek keys on a fresh token (or on `token`), a self-signed
 * certificate for the TLS key and the engine config. Points SoftHSM in this process at the
 * token (useTokenInThisProcess) to create the keys.
 */
export async function createGatewayToken(options: { token?: TestToken; commonName?: string } = {}): Promise<GatewayToken> {
  const token = options.token ?? createTestToken();
  await useTokenInThisProcess(token);
  const keystore = HsmKeystore.open(token.config());
  let certPem: string;
  try {
    await keystore.ensureKey('tls-ecdsa');
    await keystore.ensureKey('user-kek');
    const commonName = options.commonName ?? 'localhost';
    certPem = (
      await createSelfSignedCertificate(keystore, keyLabel('tls-ecdsa'), {
        commonName,
        dnsNames: [...new Set([commonName, 'localhost'])],
        ipAddresses: ['127.0.0.1'],
        organization: 'gateway tests',
      })
    ).pem;
  } finally {
    keystore.close();
  }
  const certFile = join(token.dir, 'tls-ecdsa.cert.pem');
  writeFileSync(certFile, certPem);
  const opensslConfig = writeOpensslHsmConfig(join(token.dir, 'openssl-pkcs11.cnf'), {
    enginePath: DEFAULT_OPENSSL_PKCS11_ENGINE,
    modulePath: token.modulePath,
  });
  return {
    token,
    certPem,
    certFile,
    opensslConfig,
    env: Object.freeze({ ...token.env, TLS_CERT_FILE: certFile }),
    cleanup: () => {
      if (!options.token) token.cleanup();
    },
  };
}

export interface GatewayPorts {
  readonly smtp: number;
  readonly submission: number;
  /** 0 unless DIME is on (ORG_SIGNET_FILE set). */
  readonly dmtp: number;
  readonly metrics: number;
}

export interface GatewayExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface GatewayProcessOptions {
  readonly token: GatewayToken;
  /** The database (e.g. TestDatabase.config, or a private cluster's config). */
  readonly db: DbConfig;
  /** Redis; default 127.0.0.1:6379. */
  readonly redis?: { readonly host?: string; readonly port: number };
  /** BullMQ key prefix; default a random one (pass the same one to a restarted gateway). */
  readonly queuePrefix?: string;
  /**
   * Spool dir; default a new temp dir (pass the same one to a restarted gateway), removed by
   * removeSpoolDir, if the start fails, and in any case when the test process exits.
   */
  readonly spoolDir?: string;
  /** More gateway settings (gateway.env.example), applied last. */
  readonly env?: Readonly<Record<string, string>>;
  /** Start node with the HSM engine config (default true; false shows the boot failure). */
  readonly withHsmConfig?: boolean;
  /** How long to wait for "gateway ready" (default 60 s: ts-node on a loaded 2-core machine). */
  readonly readyTimeoutMs?: number;
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Bound ports; all 0 when the process exited before it was ready. */
  readonly ports: GatewayPorts;
  /** True once "gateway ready" was logged. */
  readonly ready: boolean;
  readonly queuePrefix: string;
  readonly spoolDir: string;
  /** Everything written to stdout and stderr so far (pino JSON lines). */
  output(): string;
  /** Settles when the process exited and its stdio closed. */
  readonly exited: Promise<GatewayExit>;
  /** True while the process runs. */
  running(): boolean;
  /** Sends a signal (no-op once exited). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGKILL and wait for the exit: a crash. */
  crash(): Promise<GatewayExit>;
  /** SIGTERM (graceful shutdown), SIGKILL after timeoutMs; resolves with the exit. */
  stop(timeoutMs?: number): Promise<GatewayExit>;
}

/** The child's environment: quick-start defaults for tests, then the options. */
function gatewayEnv(options: GatewayProcessOptions, queuePrefix: string, spoolDir: string): Record<string, string> {
  const { db } = options;
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
    ...options.token.env,
    ...dbEnv(db),
    REDIS_HOST: options.redis?.host ?? '127.0.0.1',
    REDIS_PORT: String(options.redis?.port ?? 6379),
    QUEUE_PREFIX: queuePrefix,
    SPOOL_DIR: spoolDir,
    ORG_DOMAIN: 'example.test',
    GATEWAY_HOSTNAME: 'gw.example.test',
    SMTP_PORT: '0',
    SUBMISSION_PORT: '0',
    DMTP_PORT: '0',
    // the 2xx-recording pool is warmed at boot: keep it small so that several gateways and the
    // tests' own clients fit in PostgreSQL's default 100 connections (options.env may raise it)
    DELIVERED_POOL_SIZE: '4',
    METRICS_PORT: '0',
    ...options.env,
  };
}

/**
 * Starts the gateway and resolves once it logged "gateway ready" (with its ports), or once it
 * exited before that (ready false: read output()). Rejects, killing it, if neither happens in time.
 */
export function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const queuePrefix = options.queuePrefix ?? `t-gw-${randomBytes(4).toString('hex')}`;
  const ownSpool = options.spoolDir === undefined;
  const spoolDir = options.spoolDir ?? mkdtempSync(join(tmpdir(), 'gw-spool-'));
  // a caller that fails before its cleanup (or a run cut short) must not leave it in /tmp
  if (ownSpool) registerPeer({ dir: spoolDir });
  const flags = options.withHsmConfig === false ? [] : hsmTlsNodeFlags(options.token.opensslConfig);
  const child = spawn(process.execPath, [...flags, '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', MAIN], {
    cwd: ROOT,
    env: gatewayEnv(options, queuePrefix, spoolDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('the gateway process did not start');
  const pid = child.pid;
  // if the test process dies first, the gateway must not outlive it
  const unregister = registerPeer({ pid });

  let out = '';
  let scanned = 0;
  let ports: GatewayPorts = { smtp: 0, submission: 0, dmtp: 0, metrics: 0 };
  let ready = false;
  let exitedFlag = false;
  const exited = new Promise<GatewayExit>((resolve) =>
    child.once('close', (code, signal) => {
      exitedFlag = true;
      unregister();
      resolve({ code, signal });
    }),
  );

  const proc: GatewayProcess = {
    child,
    pid,
    get ports() {
      return ports;
    },
    get ready() {
      return ready;
    },
    queuePrefix,
    spoolDir,
    output: () => out,
    exited,
    running: () => !exitedFlag,
    kill(signal = 'SIGTERM') {
      if (!exitedFlag) child.kill(signal);
    },
    async crash() {
      proc.kill('SIGKILL');
      return exited;
    },
    async stop(timeoutMs = 30_000) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // the caller never gets the dir: remove it once the process is gone
      if (ownSpool) void exited.then(() => removeSpoolDir(spoolDir));
      reject(new Error(`gateway not ready after ${options.readyTimeoutMs ?? 60_000} ms:\n${out.slice(-4000)}`));
    }, options.readyTimeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (ready) return;
      // look only at complete lines not seen yet
      const end = out.lastIndexOf('\n');
      if (end < scanned) return;
      const lines = out.slice(scanned, end).split('\n');
      scanned = end + 1;
      const line = lines.find((l) => l.includes('"msg":"gateway ready"'));
      if (!line) return;
      const r = JSON.parse(line) as GatewayPorts;
      ports = { smtp: r.smtp, submission: r.submission, dmtp: r.dmtp ?? 0, metrics: r.metrics };
      ready = true;
      clearTimeout(timer);
      resolve(proc);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(proc);
    });
  });
}

/** Removes a spool dir made by startGatewayProcess (after the last gateway using it stopped). */
export function removeSpoolDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
