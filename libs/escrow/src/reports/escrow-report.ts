// The escrow report (issue #6): for a period, per domain and policy, the records escrowed, the
// requests opened/approved/denied/expired/exported, the exports and who did what, anchored to the
// latest signed audit checkpoint. Rendered as JSON or CSV; the file's bytes are signed with the HSM
// audit key (ECDSA P-256) in a detached signature file that verifyEscrowReport checks offline with
// the audit public key alone:
//   signed input = "dime-gateway-escrow-report/1\n" || hex(sha256(file)) || "\n"   (ECDSA over its SHA-256)
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { EscrowError } from '../journal/escrow.error';

export const ESCROW_REPORT_FORMAT = 'dime-gateway-escrow-report/1';
export const ESCROW_REPORT_SIGNATURE_FORMAT = 'dime-gateway-escrow-report-signature/1';

export type EscrowReportFormat = 'json' | 'csv';

export interface EscrowReportAnchor {
  /** The audit checkpoint (entry seq it covers) and its hash: the trail state the report was made against. */
  readonly checkpointSeq: number;
  readonly checkpointHash: string;
  readonly checkpointTime: string;
}

export interface EscrowReport {
  readonly format: typeof ESCROW_REPORT_FORMAT;
  readonly period: { readonly from: string; readonly to: string };
  readonly generatedAt: string;
  readonly anchor: EscrowReportAnchor | null;
  readonly records: readonly { readonly domain: string | null; readonly policy: string | null; readonly policyId: string | null; readonly direction: string; readonly records: number }[];
  readonly requests: readonly {
    readonly domain: string | null;
    readonly opened: number;
    readonly approved: number;
    readonly denied: number;
    readonly expired: number;
    readonly exported: number;
  }[];
  readonly principals: readonly { readonly principal: string; readonly opened: number; readonly approvals: number; readonly denials: number; readonly exports: number }[];
  readonly exports: readonly {
    readonly requestId: string;
    readonly case: string;
    readonly domain: string | null;
    readonly by: string;
    readonly at: string;
    readonly records: number;
    readonly fileSha256: string;
    readonly approvers: readonly string[];
  }[];
  readonly totals: {
    readonly records: number;
    readonly opened: number;
    readonly approved: number;
    readonly denied: number;
    readonly expired: number;
    readonly exported: number;
  };
}

export interface EscrowReportSignature {
  readonly format: typeof ESCROW_REPORT_SIGNATURE_FORMAT;
  readonly algorithm: 'ECDSA-P256-SHA256';
  readonly keyLabel: string;
  readonly publicKeyFingerprint: string;
  /** Hex SHA-256 of the report file. */
  readonly sha256: string;
  readonly reportFormat: EscrowReportFormat;
  readonly anchor: EscrowReportAnchor | null;
  /** Base64 DER ECDSA signature over reportSigningInput(sha256). */
  readonly signature: string;
}

export function reportSigningInput(fileSha256Hex: string): Buffer {
  return Buffer.from(`${ESCROW_REPORT_FORMAT}\n${fileSha256Hex}\n`, 'ascii');
}

export function renderEscrowReport(report: EscrowReport, format: EscrowReportFormat): Buffer {
  if (format === 'json') return Buffer.from(`${JSON.stringify(report, null, 2)}\n`, 'utf8');
  if (format === 'csv') return Buffer.from(escrowReportCsv(report), 'utf8');
  throw new RangeError(`"format" expected json or csv, got ${String(format)}`);
}

/** One CSV field (RFC 4180), with spreadsheet formula prefixes neutralised. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s) && typeof value === 'string') s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_HEADER = ['section', 'domain', 'policy', 'direction', 'principal', 'request_id', 'metric', 'value'];

/** Long format: one row per number, so one header fits every section. */
export function escrowReportCsv(r: EscrowReport): string {
  const rows: (string | number | null)[][] = [CSV_HEADER];
  const meta = (metric: string, value: string | number | null): void => {
    rows.push(['report', null, null, null, null, null, metric, value]);
  };
  meta('format', r.format);
  meta('period_from', r.period.from);
  meta('period_to', r.period.to);
  meta('generated_at', r.generatedAt);
  meta('anchor_checkpoint_seq', r.anchor?.checkpointSeq ?? null);
  meta('anchor_checkpoint_hash', r.anchor?.checkpointHash ?? null);
  meta('anchor_checkpoint_time', r.anchor?.checkpointTime ?? null);
  for (const x of r.records) rows.push(['records', x.domain, x.policy, x.direction, null, null, 'records_escrowed', x.records]);
  for (const x of r.requests) {
    for (const m of ['opened', 'approved', 'denied', 'expired', 'exported'] as const) rows.push(['requests', x.domain, null, null, null, null, m, x[m]]);
  }
  for (const x of r.principals) {
    for (const m of ['opened', 'approvals', 'denials', 'exports'] as const) rows.push(['principals', null, null, null, x.principal, null, m, x[m]]);
  }
  for (const x of r.exports) {
    rows.push(['exports', x.domain, null, null, x.by, x.requestId, 'records', x.records]);
    rows.push(['exports', x.domain, null, null, x.by, x.requestId, 'exported_at', x.at]);
    rows.push(['exports', x.domain, null, null, x.by, x.requestId, 'case', x.case]);
    rows.push(['exports', x.domain, null, null, x.by, x.requestId, 'file_sha256', x.fileSha256]);
    rows.push(['exports', x.domain, null, null, x.by, x.requestId, 'approvers', x.approvers.join(' ')]);
  }
  for (const [k, v] of Object.entries(r.totals)) rows.push(['totals', null, null, null, null, null, k, v]);
  return rows.map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export interface EscrowReportVerification {
  readonly ok: boolean;
  readonly reason: string | null;
  readonly sha256: string;
  readonly anchor: EscrowReportAnchor | null;
}

function parseSignature(text: string): EscrowReportSignature {
  let sig: EscrowReportSignature;
  try {
    sig = JSON.parse(text) as EscrowReportSignature;
  } catch (cause) {
    throw new EscrowError('BAD_REPORT', 'the signature file is not JSON', { cause });
  }
  if (
    typeof sig !== 'object' ||
    sig === null ||
    sig.format !== ESCROW_REPORT_SIGNATURE_FORMAT ||
    sig.algorithm !== 'ECDSA-P256-SHA256' ||
    typeof sig.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(sig.sha256) ||
    typeof sig.signature !== 'string'
  ) {
    throw new EscrowError('BAD_REPORT', `the signature file is not a ${ESCROW_REPORT_SIGNATURE_FORMAT} signature`);
  }
  return sig;
}

/**
 * Offline verification of a report file against its detached signature and the audit public
 * key (PEM): the file's hash must match and the signature verify. Tampering gives ok=false with
 * the reason; a malformed signature file or key throws BAD_REPORT / INVALID_INPUT.
 */
export function verifyEscrowReport(file: Uint8Array, signatureText: string, publicKeyPem: string | KeyObject): EscrowReportVerification {
  const sig = parseSignature(signatureText);
  let key: KeyObject;
  try {
    key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
  } catch (cause) {
    throw new EscrowError('INVALID_INPUT', 'the audit public key is not a PEM public key', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new EscrowError('INVALID_INPUT', 'the audit public key is not an ECDSA P-256 key');
  }
  const sha256 = createHash('sha256').update(file).digest('hex');
  const anchor = sig.anchor ?? null;
  const fingerprint = `sha256:${createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest('hex')}`;
  if (sig.publicKeyFingerprint !== fingerprint) return { ok: false, reason: 'the signature names another key', sha256, anchor };
  if (sha256 !== sig.sha256) return { ok: false, reason: 'the report file does not match the signed hash (changed after signing)', sha256, anchor };
  const good = verify('sha256', reportSigningInput(sha256), { key, dsaEncoding: 'der' }, Buffer.from(sig.signature, 'base64'));
  return good ? { ok: true, reason: null, sha256, anchor } : { ok: false, reason: 'the signature does not verify', sha256, anchor };
}
