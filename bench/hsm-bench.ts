// HSM benchmark (STYLE.md 12): throughput and latency of every keystore operation against a fresh
// SoftHSM2 token with 1 and 4 concurrent sessions, each next to the same operation done in
// software with node:crypto (the raw primitive cost) in the same run; and TLS handshakes/s of a
// server whose key stays in the HSM (libp11's OpenSSL engine) next to the same server with a software key.
// Prints a table and writes JSON to bench/results/ (git-ignored).
// Run: node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/hsm-bench.ts [seconds]
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createECDH, createHmac, diffieHellman, generateKeyPairSync, randomBytes, sign as nodeSign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { createSelfSignedCertificate, DEFAULT_OPENSSL_PKCS11_ENGINE, HsmKeystore, keyLabel, writeOpensslHsmConfig, ALL_HSM_KEY_ROLES } from '@lib/hsm';
import { createTestToken } from '../test/hsm/softhsm-token';
import { spawnTsChild } from '../test/hsm/hsm-child-process';

const SECONDS = Number(process.argv[2] ?? '1.5');

interface Row {
  name: string;
  concurrency: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  baseline: string;
  baselineOpsPerSec: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function measure(fn: () => Promise<unknown>, concurrency: number): Promise<{ opsPerSec: number; p50us: number; p99us: number }> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up: handle cache, sessions
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await fn();
        latencies.push((performance.now() - t) * 1000);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSec: latencies.length / elapsed, p50us: percentile(latencies, 0.5), p99us: percentile(latencies, 0.99) };
}

function measureSync(fn: () => unknown): number {
  for (let i = 0; i < 20; i++) fn();
  let count = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  while (performance.now() < deadline) {
    fn();
    count++;
  }
  return count / ((performance.now() - start) / 1000);
}

async function handshakesPerSec(port: number, ca: Buffer, concurrency: number): Promise<number> {
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', minVersion: 'TLSv1.3' }, () => socket.destroy());
      socket.once('close', () => resolve());
      socket.once('error', reject);
    });
  for (let i = 0; i < 5; i++) await once();
  let count = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await once();
        count++;
      }
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const token = createTestToken();
  process.env['SOFTHSM2_CONF'] = token.softhsmConf; // SoftHSM reads it at C_Initialize
  const keystore = HsmKeystore.open(token.config({ sessions: 4 }));
  for (const role of ALL_HSM_KEY_ROLES) await keystore.ensureKey(role);
  const data = randomBytes(256);
  const material = randomBytes(64);

  // software baselines (same inputs)
  const ed = generateKeyPairSync('ed25519');
  const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const k1 = createECDH('secp256k1');
  k1.generateKeys();
  const k1PeerEcdh = createECDH('secp256k1');
  k1PeerEcdh.generateKeys();
  const k1Peer = k1PeerEcdh.getPublicKey(null, 'compressed');
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const p384Peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const p384PeerPoint = Buffer.from(p384Peer.publicKey.export({ format: 'der', type: 'spki' })).subarray(-97);
  const aesKey = randomBytes(32);
  const hmacKey = randomBytes(32);
  const wrapped = await keystore.wrap(keyLabel('user-kek'), material);
  const wrapIv = Buffer.from('a65959a6', 'hex'); // RFC 5649 alternative IV prefix
  const softWrapped = createCipheriv('id-aes256-wrap-pad', aesKey, wrapIv).update(material);

  const ops: Array<{ name: string; hsm: () => Promise<unknown>; baseline: string; soft: () => unknown }> = [
    { name: 'sign Ed25519', hsm: () => keystore.signEd25519(keyLabel('org-primary'), data), baseline: 'node sign ed25519', soft: () => nodeSign(null, data, ed.privateKey) },
    { name: 'sign ECDSA P-256', hsm: () => keystore.signEcdsa(keyLabel('audit-signing'), data), baseline: 'node sign P-256', soft: () => nodeSign('sha256', data, p256.privateKey) },
    { name: 'ECDH secp256k1', hsm: () => keystore.deriveEcdh(keyLabel('org-encryption'), k1Peer), baseline: 'node ECDH secp256k1', soft: () => k1.computeSecret(k1Peer) },
    { name: 'ECDH P-384', hsm: () => keystore.deriveEcdh(keyLabel('escrow'), p384PeerPoint), baseline: 'node diffieHellman P-384', soft: () => diffieHellman({ privateKey: p384.privateKey, publicKey: p384Peer.publicKey }) },
    { name: 'wrap 64 B', hsm: () => keystore.wrap(keyLabel('user-kek'), material), baseline: 'node AES-256 wrap-pad', soft: () => createCipheriv('id-aes256-wrap-pad', aesKey, wrapIv).update(material) },
    { name: 'unwrap 64 B', hsm: () => keystore.unwrap(keyLabel('user-kek'), wrapped), baseline: 'node AES-256 unwrap-pad', soft: () => createDecipheriv('id-aes256-wrap-pad', aesKey, wrapIv).update(softWrapped) },
    { name: 'HMAC-SHA256', hsm: () => keystore.hmacSha256(keyLabel('blind-index'), data), baseline: 'node HMAC-SHA256', soft: () => createHmac('sha256', hmacKey).update(data).digest() },
  ];

  const rows: Row[] = [];
  for (const op of ops) {
    const baselineOpsPerSec = measureSync(op.soft);
    for (const concurrency of [1, 4]) {
      const r = await measure(op.hsm, concurrency);
      rows.push({ name: op.name, concurrency, ...r, baseline: op.baseline, baselineOpsPerSec });
    }
  }

  // TLS handshakes: HSM key (provider) vs software key, same server code, spawned processes
  const options = { commonName: 'localhost', ipAddresses: ['127.0.0.1'] };
  const hsmCert = (await createSelfSignedCertificate(keystore, keyLabel('tls-ecdsa'), options)).pem;
  const hsmCertFile = join(token.dir, 'hsm-cert.pem');
  writeFileSync(hsmCertFile, hsmCert);
  const softKey = join(token.dir, 'soft-key.pem');
  const softCert = join(token.dir, 'soft-cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', softKey, '-out', softCert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '2'], { stdio: 'ignore' });
  const opensslConfig = writeOpensslHsmConfig(join(token.dir, 'openssl.cnf'), { enginePath: DEFAULT_OPENSSL_PKCS11_ENGINE, modulePath: token.modulePath });
  const hsmServer = await spawnTsChild<{ port: number }>('test/hsm/tls-server-child.ts', { ...token.env, HSM_TLS_KEYS: `${keyLabel('tls-ecdsa')}=${hsmCertFile}` }, opensslConfig);
  const softServer = await spawnTsChild<{ port: number }>('test/hsm/tls-server-child.ts', { SOFT_TLS_KEY: softKey, SOFT_TLS_CERT: softCert });
  const tlsRows: Array<{ name: string; concurrency: number; hsm: number; software: number }> = [];
  try {
    for (const concurrency of [1, 4]) {
      const hsm = await handshakesPerSec(hsmServer.ready.port, Buffer.from(hsmCert), concurrency);
      const software = await handshakesPerSec(softServer.ready.port, readFileSync(softCert), concurrency);
      tlsRows.push({ name: 'TLS 1.3 handshake (ECDSA P-256)', concurrency, hsm, software });
    }
  } finally {
    await hsmServer.stop();
    await softServer.stop();
  }

  const fmt = (n: number): string => n.toFixed(0).padStart(9);
  console.log(`HSM benchmark: SoftHSM ${token.modulePath}, ${SECONDS}s per cell, node ${process.version}`);
  console.log('operation            conc     ops/s   p50 µs   p99 µs | software baseline              ops/s  hsm/sw');
  for (const r of rows) {
    console.log(`${r.name.padEnd(20)} ${String(r.concurrency).padStart(4)} ${fmt(r.opsPerSec)} ${fmt(r.p50us)} ${fmt(r.p99us)} | ${r.baseline.padEnd(26)} ${fmt(r.baselineOpsPerSec)}  ${(r.opsPerSec / r.baselineOpsPerSec).toFixed(3)}`);
  }
  for (const t of tlsRows) {
    console.log(`${t.name} conc ${t.concurrency}: HSM key ${t.hsm.toFixed(0)}/s, software key ${t.software.toFixed(0)}/s (${(t.hsm / t.software).toFixed(2)}x)`);
  }
  const memory = process.memoryUsage();
  console.log(`rss ${(memory.rss / 1048576).toFixed(1)} MiB`);
  const resultsDir = join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `hsm-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ seconds: SECONDS, node: process.version, operations: rows, tls: tlsRows, rssBytes: memory.rss }, null, 2)}\n`);
  console.log(`wrote ${file}`);
  keystore.close();
  token.cleanup();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
