// AWS Signature Version 4 for the S3-compatible archive store, with node:crypto only (no SDK
// dependency): canonical request -> string to sign -> HMAC chain over date/region/service.
// Tested against AWS's published example vectors (s3-sigv4.spec.ts).
import { createHash, createHmac } from 'node:crypto';

export interface SigV4Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface SigV4Request {
  readonly method: string;
  readonly url: URL;
  /** Headers to sign (any case); host is taken from url unless given. */
  readonly headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body, or 'UNSIGNED-PAYLOAD'. */
  readonly payloadSha256: string;
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 unreserved characters stay, everything else %XX (upper-case), as SigV4 requires. */
export function uriEncode(value: string, keepSlash: boolean): string {
  let out = '';
  for (const ch of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(ch);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${ch.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `YYYYMMDDTHHMMSSZ`. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

export function signingKey(secretAccessKey: string, day: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secretAccessKey}`, day);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

export function canonicalRequest(req: SigV4Request, headers: ReadonlyMap<string, string>): { canonical: string; signedHeaders: string } {
  // S3 paths are encoded once (the URL object keeps them percent-encoded; decode then encode)
  const path = uriEncode(decodeURIComponent(req.url.pathname || '/'), true);
  const query = [...req.url.searchParams.entries()]
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = [...headers.keys()].sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers.get(n) ?? ''}\n`).join('');
  const signedHeaders = names.join(';');
  return { canonical: [req.method.toUpperCase(), path, query, canonicalHeaders, signedHeaders, req.payloadSha256].join('\n'), signedHeaders };
}

/**
 * The headers to send: the given ones plus x-amz-date, x-amz-content-sha256 and Authorization.
 * `now` is a parameter (tests use the vectors' dates).
 */
export function signRequest(req: SigV4Request, credentials: SigV4Credentials, region: string, service: string, now: Date): Record<string, string> {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(req.headers)) headers.set(name.toLowerCase(), value.trim().replace(/\s+/g, ' '));
  if (!headers.has('host')) headers.set('host', req.url.host);
  headers.set('x-amz-date', date);
  headers.set('x-amz-content-sha256', req.payloadSha256);
  const { canonical, signedHeaders } = canonicalRequest(req, headers);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonical)].join('\n');
  const signature = createHmac('sha256', signingKey(credentials.secretAccessKey, day, region, service)).update(stringToSign, 'utf8').digest('hex');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) out[name] = value;
  out['x-amz-date'] = date;
  out['x-amz-content-sha256'] = req.payloadSha256;
  out['authorization'] = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope},SignedHeaders=${signedHeaders},Signature=${signature}`;
  return out;
}
