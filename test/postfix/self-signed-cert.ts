// A throw-away self-signed P-256 certificate (openssl CLI) for STARTTLS on test Postfix instances.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface SelfSignedCert {
  dir: string;
  certFile: string;
  keyFile: string;
  /** The certificate PEM, e.g. as a client's trusted CA. */
  certPem: string;
  remove(): Promise<void>;
}

export async function createSelfSignedCert(commonName: string): Promise<SelfSignedCert> {
  const dir = await mkdtemp(join(tmpdir(), 'postfix-cert-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2',
    '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=DNS:${commonName},IP:127.0.0.1`,
  ]);
  return { dir, certFile, keyFile, certPem: await readFile(certFile, 'utf8'), remove: () => rm(dir, { recursive: true, force: true }) };
}
