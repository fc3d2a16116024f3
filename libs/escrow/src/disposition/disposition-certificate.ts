// Disposition certificates: the signed proof that records were crypto-shredded. The certificate is
// a JSON text with a fixed key order (signed exactly as stored), listing every record's id and
// content hash, the journal time range and the count. Signature: ECDSA P-256 (the HSM audit key)
// over SHA-256 of DOMAIN || text, DER. The exported file is one JSON object
// {"format","certificate":<text>,"signature":<base64>,"keyLabel"}; verifying it needs node:crypto
// and the audit public key only (offline, as `dime-gateway disposition verify`).
import { createPublicKey, createVerify, type KeyObject } from 'node:crypto';
import { EscrowError } from '../journal/escrow.error';

export const DISPOSITION_CERTIFICATE_FORMAT = 'dime-disposition-certificate.v1';
const DOMAIN = Buffer.from(`${DISPOSITION_CERTIFICATE_FORMAT}\n`, 'ascii');

export interface DispositionCertificate {
  readonly format: typeof DISPOSITION_CERTIFICATE_FORMAT;
  readonly id: string;
  /** ISO 8601 UTC. */
  readonly issuedAt: string;
  readonly keyLabel: string;
  readonly count: number;
  /** Earliest and latest journal time of the listed records (null when count is 0). */
  readonly journaledFrom: string | null;
  readonly journaledTo: string | null;
  /** Latest retention date among the records: all of them had expired at issuedAt. */
  readonly retainUntilMax: string | null;
  /** Sorted by id. */
  readonly records: readonly { readonly id: string; readonly sha256: string }[];
}

export interface SignedDispositionCertificate {
  readonly format: 'dime-disposition-certificate-file.v1';
  /** The signed text. */
  readonly certificate: string;
  /** Base64 DER ECDSA signature. */
  readonly signature: string;
  readonly keyLabel: string;
}

export interface CertificateInputRecord {
  readonly id: string;
  readonly contentSha256: Buffer;
  readonly journaledAt: Date;
  readonly retainUntil: Date;
}

/** The canonical certificate text (fixed key order, no whitespace). */
export function certificateText(c: DispositionCertificate): string {
  return JSON.stringify({
    format: c.format,
    id: c.id,
    issuedAt: c.issuedAt,
    keyLabel: c.keyLabel,
    count: c.count,
    journaledFrom: c.journaledFrom,
    journaledTo: c.journaledTo,
    retainUntilMax: c.retainUntilMax,
    records: c.records.map((r) => ({ id: r.id, sha256: r.sha256 })),
  });
}

export function buildCertificate(id: string, issuedAt: Date, keyLabel: string, records: readonly CertificateInputRecord[]): DispositionCertificate {
  const sorted = [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let from: number | null = null;
  let to: number | null = null;
  let retain: number | null = null;
  for (const r of sorted) {
    const j = r.journaledAt.getTime();
    const u = r.retainUntil.getTime();
    from = from === null ? j : Math.min(from, j);
    to = to === null ? j : Math.max(to, j);
    retain = retain === null ? u : Math.max(retain, u);
  }
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    format: DISPOSITION_CERTIFICATE_FORMAT,
    id,
    issuedAt: issuedAt.toISOString(),
    keyLabel,
    count: sorted.length,
    journaledFrom: iso(from),
    journaledTo: iso(to),
    retainUntilMax: iso(retain),
    records: sorted.map((r) => ({ id: r.id, sha256: r.contentSha256.toString('hex') })),
  };
}

/** What the ECDSA signature covers. */
export function certificateSigningInput(text: string): Buffer {
  return Buffer.concat([DOMAIN, Buffer.from(text, 'utf8')]);
}

export function certificateFile(text: string, signature: Buffer, keyLabel: string): SignedDispositionCertificate {
  return { format: 'dime-disposition-certificate-file.v1', certificate: text, signature: signature.toString('base64'), keyLabel };
}

export interface CertificateVerification {
  readonly ok: boolean;
  readonly certificate: DispositionCertificate | null;
  readonly reason: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function parseKey(publicKey: string | Buffer | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    key = typeof publicKey === 'object' && !Buffer.isBuffer(publicKey) ? publicKey : createPublicKey({ key: publicKey, format: 'pem' });
  } catch (cause) {
    throw new EscrowError('INVALID_INPUT', 'the public key is not a PEM public key', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new EscrowError('INVALID_INPUT', 'the public key is not an ECDSA P-256 key');
  }
  return key;
}

function checkShape(c: unknown): string | null {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return 'certificate is not an object';
  const o = c as Record<string, unknown>;
  if (o['format'] !== DISPOSITION_CERTIFICATE_FORMAT) return 'unknown certificate format';
  if (typeof o['id'] !== 'string' || !UUID.test(o['id'])) return 'bad certificate id';
  if (typeof o['issuedAt'] !== 'string' || !ISO.test(o['issuedAt'])) return 'bad issuedAt';
  if (typeof o['keyLabel'] !== 'string') return 'bad keyLabel';
  const records = o['records'];
  if (!Array.isArray(records)) return 'records missing';
  if (o['count'] !== records.length) return `count ${String(o['count'])} differs from ${records.length} listed records`;
  let prev = '';
  for (const r of records as unknown[]) {
    const rec = r as Record<string, unknown> | null;
    if (typeof rec !== 'object' || rec === null || typeof rec['id'] !== 'string' || !UUID.test(rec['id']) || typeof rec['sha256'] !== 'string' || !HEX32.test(rec['sha256'])) {
      return 'bad record entry';
    }
    if (rec['id'] <= prev) return 'records not sorted or duplicated';
    prev = rec['id'];
  }
  for (const k of ['journaledFrom', 'journaledTo', 'retainUntilMax']) {
    const v = o[k];
    if (records.length === 0 ? v !== null : typeof v !== 'string' || !ISO.test(v)) return `bad ${k}`;
  }
  if (records.length > 0 && (o['journaledFrom'] as string) > (o['journaledTo'] as string)) return 'journaledFrom after journaledTo';
  if (records.length > 0 && (o['retainUntilMax'] as string) > (o['issuedAt'] as string)) return 'a record was not yet expired at issuedAt';
  return null;
}

/** Offline verification of a certificate file (its JSON text or parsed object) with the audit public key. */
export function verifyDispositionCertificate(file: string | SignedDispositionCertificate, publicKey: string | Buffer | KeyObject): CertificateVerification {
  const key = parseKey(publicKey);
  let parsed: unknown = file;
  if (typeof file === 'string') {
    try {
      parsed = JSON.parse(file);
    } catch {
      return { ok: false, certificate: null, reason: 'file is not JSON' };
    }
  }
  const f = parsed as Partial<SignedDispositionCertificate> | null;
  if (typeof f !== 'object' || f === null || f.format !== 'dime-disposition-certificate-file.v1' || typeof f.certificate !== 'string' || typeof f.signature !== 'string') {
    return { ok: false, certificate: null, reason: 'not a disposition certificate file' };
  }
  const signature = Buffer.from(f.signature, 'base64');
  const verifier = createVerify('sha256');
  verifier.update(certificateSigningInput(f.certificate));
  if (signature.length === 0 || !verifier.verify({ key, dsaEncoding: 'der' }, signature)) {
    return { ok: false, certificate: null, reason: 'signature does not verify' };
  }
  let certificate: unknown;
  try {
    certificate = JSON.parse(f.certificate);
  } catch {
    return { ok: false, certificate: null, reason: 'certificate text is not JSON' };
  }
  const shape = checkShape(certificate);
  if (shape !== null) return { ok: false, certificate: null, reason: shape };
  return { ok: true, certificate: certificate as DispositionCertificate, reason: null };
}
