// The DIME DNS management record (TXT at `_dx.<domain>`, DIGEST.md §5): strict parser, formatter in
// libdime genrec's order and spelling, TXT string splitting, and the tls= signature that binds the
// DX server's TLS certificate to the organisation's POK.
import { DimeError } from './dime.error';
import { assertBytes, toBuffer } from './bytes';
import { base64NoPad, decodeBase64 } from './base64';
import { ED25519_PUBLIC_LENGTH, ED25519_SIGNATURE_LENGTH, ed25519Verify, sha512 } from './primitives';
import { isDomainName } from './domain-name';
import type { Signer } from './signer';

export const DIME_RECORD_PREFIX = '_dx';
export const DIME_RECORD_VERSION = 1;
/** One DNS TXT character-string holds at most 255 bytes (RFC 1035 §3.3). */
export const TXT_STRING_MAX = 255;

export type DimeMessagePolicy = 'experimental' | 'mixed' | 'strict';
export type DimeSubdomainPolicy = 'strict' | 'relaxed' | 'explicit';

export interface ManagementRecord {
  version: 1;
  /** 32-byte Ed25519 primary organisational keys (at least one; several during key rotation). */
  poks: Buffer[];
  /** 64-byte Ed25519 signatures by a POK over SHA-512 of the DX server's DER certificate. */
  tls: Buffer[];
  policy: DimeMessagePolicy;
  /** Alternate signet lookup sources; libdime parses and ignores them. */
  syndicates: string[];
  /** DX host names (`dx=`), tried in order on port 26; empty means "use MX". */
  deliver: string[];
  /** `exp=`: days a cached record may be kept; null when absent. */
  expiryDays: number | null;
  subdomain: DimeSubdomainPolicy;
}

type Key = 'ver' | 'pok' | 'tls' | 'pol' | 'syn' | 'dx' | 'exp' | 'sub';

const KEYS: Readonly<Record<string, Key>> = {
  ver: 'ver',
  version: 'ver',
  pok: 'pok',
  primary: 'pok',
  tls: 'tls',
  pol: 'pol',
  policy: 'pol',
  syn: 'syn',
  syndicates: 'syn',
  dx: 'dx',
  deliver: 'dx',
  exp: 'exp',
  expiry: 'exp',
  sub: 'sub',
  subdomain: 'sub',
};
const UNIQUE: ReadonlySet<Key> = new Set<Key>(['ver', 'pol', 'exp', 'sub']);
const POLICIES: readonly DimeMessagePolicy[] = ['experimental', 'mixed', 'strict'];
const SUBDOMAIN_POLICIES: readonly DimeSubdomainPolicy[] = ['strict', 'relaxed', 'explicit'];
const POK_B64_LENGTH = 43;
const TLS_B64_LENGTH = 86;
const MAX_EXPIRY_DAYS = 999_999_999;
const EXPIRY = /^[1-9][0-9]{0,8}$/;
const SEPARATORS = /[ \t;]+/;
// genrec appends `syn=` right after the policy value (DIGEST.md §5 "genrec bug"): `pol=mixedsyn=x`.
const GENREC_POLICY_SYN = /^(experimental|mixed|strict)syn=(.+)$/i;

function fail(reason: string): never {
  throw new DimeError('BAD_RECORD', `DIME management record: ${reason}`);
}

/** `_dx.<domain>`: where the record is published. */
export function managementRecordName(domain: string): string {
  if (typeof domain !== 'string') throw new TypeError(`"domain" expected string, got ${typeof domain}`);
  const name = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (!isDomainName(name)) fail(`"${domain}" is not a domain name`);
  return `${DIME_RECORD_PREFIX}.${name}`;
}

function checkPrintable(text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) fail(`character 0x${c.toString(16).padStart(2, '0')} at offset ${i} is not printable ASCII`);
  }
}

/** Zone-file presentation (`"..." "..."`, RFC 1035 §5.1 escapes) -> the concatenated strings. */
function unquoteZoneText(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (c !== '"') fail(`unexpected "${c}" at offset ${i} outside a quoted string`);
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated quoted string');
      const d = text[i] as string;
      if (d === '"') {
        i++;
        break;
      }
      if (d === '\\') {
        const digits = /^[0-9]{3}/.exec(text.slice(i + 1, i + 4));
        if (digits) {
          const code = Number(digits[0]);
          if (code > 255) fail(`escape \\${digits[0]} out of range`);
          out += String.fromCharCode(code);
          i += 4;
        } else {
          if (i + 1 >= text.length) fail('dangling backslash');
          out += text[i + 1];
          i += 2;
        }
        continue;
      }
      out += d;
      i++;
    }
  }
  return out;
}

function joinTxt(txt: string | readonly string[]): string {
  if (Array.isArray(txt)) {
    txt.forEach((s: unknown, i) => {
      if (typeof s !== 'string') throw new TypeError(`"txt[${i}]" expected string, got ${typeof s}`);
    });
    return txt.join('');
  }
  if (typeof txt !== 'string') throw new TypeError(`"txt" expected string or string[], got ${txt === null ? 'null' : typeof txt}`);
  const trimmed = txt.trim();
  return trimmed.startsWith('"') ? unquoteZoneText(trimmed) : trimmed;
}

function decodeFixed(value: string, b64Length: number, byteLength: number, what: string): Buffer {
  if (value.length !== b64Length) fail(`${what} must be ${b64Length} base64 characters, got ${value.length}`);
  const bytes = decodeBase64(value, `DIME management record: ${what}`, 'BAD_RECORD');
  // Reject non-canonical encodings (stray low bits in the last character) so text and bytes map 1:1.
  if (bytes.length !== byteLength || base64NoPad(bytes) !== value) fail(`${what} is not canonical unpadded base64 of ${byteLength} bytes`);
  return bytes;
}

/**
 * Parses a management record: one TXT record given as its character-strings (as a resolver returns
 * them) or as text (bare, or zone-file style `"..." "..."`); the strings are concatenated first.
 */
export function parseManagementRecord(txt: string | readonly string[]): ManagementRecord {
  const text = joinTxt(txt);
  checkPrintable(text);
  const tokens = text.split(SEPARATORS).filter((t) => t.length > 0);
  if (tokens.length === 0) fail('empty record');

  const seen = new Set<Key>();
  const rec: ManagementRecord = {
    version: 1,
    poks: [],
    tls: [],
    policy: 'experimental',
    syndicates: [],
    deliver: [],
    expiryDays: null,
    subdomain: 'strict',
  };
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq <= 0) fail(`token "${token}" is not key=value`);
    const name = token.slice(0, eq);
    let value = token.slice(eq + 1);
    const key = KEYS[name.toLowerCase()];
    if (key === undefined) fail(`unknown key "${name}"`);
    if (value.length === 0) fail(`empty value for ${name}=`);
    if (UNIQUE.has(key) && seen.has(key)) fail(`duplicate ${name}= (only one allowed)`);
    seen.add(key);
    switch (key) {
      case 'ver':
        if (value !== String(DIME_RECORD_VERSION)) fail(`unsupported version "${value}" (must be 1)`);
        break;
      case 'pok':
        rec.poks.push(decodeFixed(value, POK_B64_LENGTH, ED25519_PUBLIC_LENGTH, 'pok'));
        break;
      case 'tls':
        rec.tls.push(decodeFixed(value, TLS_B64_LENGTH, ED25519_SIGNATURE_LENGTH, 'tls'));
        break;
      case 'pol': {
        const glued = GENREC_POLICY_SYN.exec(value);
        if (glued) {
          value = glued[1] as string;
          rec.syndicates.push(glued[2] as string);
        }
        const policy = POLICIES.find((p) => p === value.toLowerCase());
        if (policy === undefined) fail(`invalid policy "${value}" (experimental, mixed or strict)`);
        rec.policy = policy;
        break;
      }
      case 'syn':
        rec.syndicates.push(value);
        break;
      case 'dx':
        if (!isDomainName(value)) fail(`dx "${value}" is not a host name`);
        rec.deliver.push(value);
        break;
      case 'exp':
        if (!EXPIRY.test(value)) fail(`invalid expiry "${value}" (1 to ${MAX_EXPIRY_DAYS} days)`);
        rec.expiryDays = Number(value);
        break;
      case 'sub': {
        const sub = SUBDOMAIN_POLICIES.find((p) => p === value.toLowerCase());
        if (sub === undefined) fail(`invalid subdomain policy "${value}" (strict, relaxed or explicit)`);
        rec.subdomain = sub;
        break;
      }
    }
  }
  if (rec.poks.length === 0) fail('missing mandatory pok=');
  return rec;
}

function checkList<T>(value: unknown, name: string): readonly T[] {
  if (!Array.isArray(value)) throw new TypeError(`"record.${name}" expected an array, got ${typeof value}`);
  return value as readonly T[];
}

function checkSyndicate(s: unknown): string {
  if (typeof s !== 'string') throw new TypeError(`"record.syndicates" entries must be strings, got ${typeof s}`);
  if (s.length === 0 || /[\s;]/.test(s)) fail(`syndicate "${s}" is empty or contains a separator`);
  checkPrintable(s);
  return s;
}

/**
 * The record text in genrec's order and spelling: `ver pok.. tls.. pol syn.. dx.. exp sub`
 * (pol and sub always written). Unlike genrec, `syn=` gets its leading space.
 */
export function formatManagementRecord(rec: ManagementRecord): string {
  if (typeof rec !== 'object' || rec === null) throw new TypeError(`"record" expected object, got ${rec === null ? 'null' : typeof rec}`);
  if (rec.version !== DIME_RECORD_VERSION) fail(`unsupported version ${String(rec.version)} (must be 1)`);
  const poks = checkList<Uint8Array>(rec.poks, 'poks');
  if (poks.length === 0) fail('at least one pok is required');
  const parts = [`ver=${DIME_RECORD_VERSION}`];
  for (const pok of poks) {
    assertBytes(pok, 'record.poks[]');
    if (pok.length !== ED25519_PUBLIC_LENGTH) fail(`pok must be ${ED25519_PUBLIC_LENGTH} bytes, got ${pok.length}`);
    parts.push(`pok=${base64NoPad(pok)}`);
  }
  for (const sig of checkList<Uint8Array>(rec.tls, 'tls')) {
    assertBytes(sig, 'record.tls[]');
    if (sig.length !== ED25519_SIGNATURE_LENGTH) fail(`tls must be ${ED25519_SIGNATURE_LENGTH} bytes, got ${sig.length}`);
    parts.push(`tls=${base64NoPad(sig)}`);
  }
  if (!POLICIES.includes(rec.policy)) fail(`invalid policy "${String(rec.policy)}"`);
  parts.push(`pol=${rec.policy}`);
  for (const s of checkList<unknown>(rec.syndicates, 'syndicates')) parts.push(`syn=${checkSyndicate(s)}`);
  for (const host of checkList<unknown>(rec.deliver, 'deliver')) {
    if (typeof host !== 'string' || !isDomainName(host)) fail(`dx "${String(host)}" is not a host name`);
    parts.push(`dx=${host}`);
  }
  if (rec.expiryDays !== null) {
    if (!Number.isInteger(rec.expiryDays) || rec.expiryDays < 1 || rec.expiryDays > MAX_EXPIRY_DAYS) {
      fail(`invalid expiryDays ${String(rec.expiryDays)} (1 to ${MAX_EXPIRY_DAYS} or null)`);
    }
    parts.push(`exp=${rec.expiryDays}`);
  }
  if (!SUBDOMAIN_POLICIES.includes(rec.subdomain)) fail(`invalid subdomain policy "${String(rec.subdomain)}"`);
  parts.push(`sub=${rec.subdomain}`);
  return parts.join(' ');
}

/** Splits record text into <= 255-byte TXT character-strings (resolvers concatenate them back). */
export function toTxtStrings(text: string): string[] {
  if (typeof text !== 'string') throw new TypeError(`"text" expected string, got ${typeof text}`);
  checkPrintable(text);
  if (text.length === 0) fail('empty record');
  const out: string[] = [];
  for (let i = 0; i < text.length; i += TXT_STRING_MAX) out.push(text.slice(i, i + TXT_STRING_MAX));
  return out;
}

/** Zone-file presentation of the TXT strings: `"..." "..."` with `"` and `\` escaped. */
export function toZoneFileText(text: string): string {
  return toTxtStrings(text)
    .map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`)
    .join(' ');
}

/** The `tls=` value: Ed25519 by a POK over SHA-512 of the DX certificate's DER bytes (what genrec signs). */
export async function createTlsSignature(signer: Signer, certificateDer: Uint8Array): Promise<Buffer> {
  assertBytes(certificateDer, 'certificateDer');
  if (certificateDer.length === 0) throw new DimeError('MALFORMED', 'certificate DER is empty');
  const signature = toBuffer(await signer.sign(sha512(certificateDer)));
  if (signature.length !== ED25519_SIGNATURE_LENGTH) {
    throw new DimeError('BAD_SIGNATURE', `signer returned ${signature.length} bytes, expected an Ed25519 signature`);
  }
  return signature;
}

/** True when some tls= signature of the record verifies under some of its POKs for this certificate. */
export function verifyTlsSignature(rec: ManagementRecord, certificateDer: Uint8Array): boolean {
  assertBytes(certificateDer, 'certificateDer');
  if (rec.tls.length === 0) return false;
  const digest = sha512(certificateDer);
  for (const pok of rec.poks) {
    for (const sig of rec.tls) {
      try {
        if (ed25519Verify(pok, digest, sig)) return true;
      } catch (err) {
        // A POK that is not a usable Ed25519 point verifies nothing; the other POKs may still match.
        if (!(err instanceof DimeError)) throw err;
      }
    }
  }
  return false;
}
