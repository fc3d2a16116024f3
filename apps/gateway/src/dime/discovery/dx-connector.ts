// Opens an authenticated DMTP session to one of a DIME domain's delivery hosts, in preference order
// (docs/dmtp.md §1: `dx=` hosts, then MX, then the bare domain): the first host whose TLS peer passes
// the record's check (`tls=` signatures, else X.509) and greets with DMTPv1 wins. Used by discovery
// (SGNT) and by outbound delivery (one message per transaction), so both apply the same rules.
import type { ManagementRecord } from '@lib/dime';
import type { DmtpEndpoint } from '../dime-directory';
import { DmtpClient, type DmtpConnectOptions, type DmtpPeerCheck, type DmtpTimeouts } from '../dmtp/dmtp-client';
import { isDmtpError, type DmtpError } from '../dmtp/dmtp.error';
import { DiscoveryError } from './discovery.error';

export type DmtpConnect = (options: DmtpConnectOptions) => Promise<DmtpClient>;

export interface DxConnectOptions {
  /** Extra CA bundle for X.509 validation of DX hosts whose record has no `tls=` (TLS_CA_FILE). */
  readonly ca?: string | Buffer;
  readonly timeouts?: Partial<DmtpTimeouts>;
  readonly signal?: AbortSignal;
  /** Injected for tests; default DmtpClient.connect. */
  readonly connect?: DmtpConnect;
}

/** The rule of docs/dmtp.md §1: with `tls=` the record authenticates the certificate, else X.509. */
export function peerCheckFor(record: ManagementRecord, ca?: string | Buffer): DmtpPeerCheck {
  if (record.tls.length > 0) return { kind: 'tls-signature', record };
  return { kind: 'x509', ...(ca !== undefined ? { ca } : {}) };
}

export interface DxConnection {
  readonly client: DmtpClient;
  readonly endpoint: DmtpEndpoint;
}

/**
 * Connects to the first usable endpoint. Throws DiscoveryError TLS_MISMATCH when some host was
 * refused for its certificate and none was usable, DX_UNREACHABLE otherwise, ABORTED on abort.
 */
export async function connectDx(record: ManagementRecord, endpoints: readonly DmtpEndpoint[], options: DxConnectOptions = {}): Promise<DxConnection> {
  const connect = options.connect ?? ((o: DmtpConnectOptions) => DmtpClient.connect(o));
  const peerCheck = peerCheckFor(record, options.ca);
  const failures: string[] = [];
  let mismatch = false;
  for (const endpoint of endpoints) {
    if (options.signal?.aborted) throw new DiscoveryError('ABORTED', 'DIME delivery host connection aborted');
    try {
      const client = await connect({
        host: endpoint.host,
        port: endpoint.port,
        serverName: endpoint.serverName,
        ...(endpoint.dualMode ? { dualMode: true } : {}),
        peerCheck,
        ...(options.timeouts ? { timeouts: options.timeouts } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return { client, endpoint };
    } catch (err) {
      if (!isDmtpError(err)) throw err;
      if (err.code === 'ABORTED') throw new DiscoveryError('ABORTED', err.message, { cause: err });
      if (err.code === 'TLS_MISMATCH') mismatch = true;
      failures.push(describe(endpoint, err));
    }
  }
  if (endpoints.length === 0) throw new DiscoveryError('DX_UNREACHABLE', 'no DIME delivery host address found');
  throw new DiscoveryError(mismatch ? 'TLS_MISMATCH' : 'DX_UNREACHABLE', `no usable DIME delivery host: ${failures.join('; ')}`);
}

function describe(endpoint: DmtpEndpoint, err: DmtpError): string {
  return `${endpoint.serverName} ${endpoint.host}:${endpoint.port} ${err.code}: ${err.message}`;
}
