import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import fc from 'fast-check';
import { readVectorText, vectorHex } from '../../../test/vectors';
import { DimeError } from './dime.error';
import { InMemorySigner } from './signer';
import {
  createTlsSignature,
  formatManagementRecord,
  managementRecordName,
  parseManagementRecord,
  toTxtStrings,
  toZoneFileText,
  verifyTlsSignature,
  type ManagementRecord,
} from './management-record';
import { expectDimeError } from '../../../test/dime-error';

const FULL = readVectorText('dime-management-record.txt').trim();
const MINIMAL = readVectorText('dime-management-record-minimal.txt').trim();
const CERT_DER = new X509Certificate(readVectorText('dx-tls.cert.pem')).raw;
const ORIGIN_SEED = vectorHex('org-origin.ed25519.seed');
const ORIGIN_POK = vectorHex('org-origin.ed25519.public');
const POK_B64 = ORIGIN_POK.toString('base64').replace(/=+$/, '');

function badRecord(fn: () => unknown, reason: RegExp): void {
  expectDimeError(fn, 'BAD_RECORD', reason);
}

describe('parseManagementRecord on the genrec vectors', () => {
  it('reads every field of the full genrec record', () => {
    const rec = parseManagementRecord(FULL);
    expect(rec.version).toBe(1);
    expect(rec.poks).toEqual([ORIGIN_POK]);
    expect(rec.tls).toHaveLength(1);
    expect(rec.tls[0]).toHaveLength(64);
    expect(rec.policy).toBe('mixed');
    expect(rec.deliver).toEqual(['dx.origin.example']);
    expect(rec.expiryDays).toBe(30);
    expect(rec.subdomain).toBe('strict');
    expect(rec.syndicates).toEqual([]);
  });

  it('reads the minimal genrec record with its defaults', () => {
    expect(parseManagementRecord(MINIMAL)).toEqual({
      version: 1,
      poks: [ORIGIN_POK],
      tls: [],
      policy: 'experimental',
      syndicates: [],
      deliver: [],
      expiryDays: null,
      subdomain: 'strict',
    });
  });

  it('reproduces both vector records byte for byte from their parsed values', () => {
    expect(formatManagementRecord(parseManagementRecord(FULL))).toBe(FULL);
    expect(formatManagementRecord(parseManagementRecord(MINIMAL))).toBe(MINIMAL);
  });
});

describe('parseManagementRecord syntax', () => {
  it('joins multi-string TXT records given as an array, even when split inside a token', () => {
    const strings = [FULL.slice(0, 100), FULL.slice(100, 101), FULL.slice(101)];
    expect(parseManagementRecord(strings)).toEqual(parseManagementRecord(FULL));
  });

  it('joins zone-file style quoted strings, with escapes', () => {
    const zone = `"${FULL.slice(0, 60)}" "${FULL.slice(60, 200)}"\t"${FULL.slice(200)}" `;
    expect(parseManagementRecord(zone)).toEqual(parseManagementRecord(FULL));
    expect(parseManagementRecord(`"ver=\\049 pok=${POK_B64}" "\\ sub=relaxed"`).subdomain).toBe('relaxed');
  });

  it('accepts long key names, mixed case keys and values, and ; separators', () => {
    const rec = parseManagementRecord(
      `VERSION=1;Primary=${POK_B64} ;; policy=STRICT;syndicates=lookup.example deliver=a.example Deliver=b.example expiry=7 SubDomain=Explicit`,
    );
    expect(rec).toMatchObject({
      policy: 'strict',
      syndicates: ['lookup.example'],
      deliver: ['a.example', 'b.example'],
      expiryDays: 7,
      subdomain: 'explicit',
    });
  });

  it('accepts repeated pok= (key rotation) and tls= and keeps their order', () => {
    const other = Buffer.alloc(32, 7);
    const rec = parseManagementRecord(`ver=1 pok=${POK_B64} pok=${other.toString('base64').slice(0, 43)}`);
    expect(rec.poks).toEqual([ORIGIN_POK, other]);
  });

  it('treats ver= as optional (libdime defaults it to 1)', () => {
    expect(parseManagementRecord(`pok=${POK_B64}`).version).toBe(1);
  });

  it("splits genrec's glued policy+syndicates token (pol=mixedsyn=...) unambiguously", () => {
    const rec = parseManagementRecord(`ver=1 pok=${POK_B64} pol=mixedsyn=lookup.example dx=dx.origin.example sub=strict`);
    expect(rec.policy).toBe('mixed');
    expect(rec.syndicates).toEqual(['lookup.example']);
    expect(rec.deliver).toEqual(['dx.origin.example']);
  });

  it('rejects records without a pok', () => badRecord(() => parseManagementRecord('ver=1 pol=mixed'), /missing mandatory pok/));
  it('rejects other versions', () => badRecord(() => parseManagementRecord(`ver=2 pok=${POK_B64}`), /version "2"/));
  it('rejects unknown keys', () => badRecord(() => parseManagementRecord(`ver=1 pok=${POK_B64} foo=bar`), /unknown key "foo"/));
  it('rejects a token without =', () => badRecord(() => parseManagementRecord(`ver=1 pok=${POK_B64} strict`), /not key=value/));
  it('rejects an empty value', () => badRecord(() => parseManagementRecord(`ver=1 pok=${POK_B64} dx=`), /empty value/));
  it('rejects duplicates of unique keys', () => {
    badRecord(() => parseManagementRecord(`ver=1 ver=1 pok=${POK_B64}`), /duplicate ver=/);
    badRecord(() => parseManagementRecord(`pol=mixed pok=${POK_B64} policy=strict`), /duplicate policy=/);
    badRecord(() => parseManagementRecord(`exp=1 pok=${POK_B64} exp=2`), /duplicate exp=/);
    badRecord(() => parseManagementRecord(`sub=strict pok=${POK_B64} sub=strict`), /duplicate sub=/);
  });
  it('rejects a pok of the wrong length, alphabet or with padding', () => {
    badRecord(() => parseManagementRecord(`pok=${POK_B64.slice(1)}`), /pok must be 43 base64 characters, got 42/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64}=`), /got 44/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64.slice(1)}_`), /not valid base64/);
  });
  it('rejects non-canonical base64 (stray bits in the last character)', () => {
    const last = POK_B64[42] as string;
    const alt = String.fromCharCode(last.charCodeAt(0) + 1);
    badRecord(() => parseManagementRecord(`pok=${POK_B64.slice(0, 42)}${alt}`), /canonical/);
  });
  it('rejects a tls of the wrong length', () => {
    badRecord(() => parseManagementRecord(`pok=${POK_B64} tls=${POK_B64}`), /tls must be 86/);
  });
  it('rejects bad policy, subdomain, expiry and dx values', () => {
    badRecord(() => parseManagementRecord(`pok=${POK_B64} pol=lenient`), /invalid policy "lenient"/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64} sub=loose`), /invalid subdomain policy/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64} exp=0`), /invalid expiry/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64} exp=ten`), /invalid expiry/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64} dx=-bad-.example`), /not a host name/);
  });
  it('rejects control characters and non-ASCII text', () => {
    badRecord(() => parseManagementRecord(`pok=${POK_B64}\u0000`), /0x00 at offset 47/);
    badRecord(() => parseManagementRecord(`pok=${POK_B64} dx=é.example`), /not printable ASCII/);
  });
  it('rejects broken zone-file quoting', () => {
    badRecord(() => parseManagementRecord(`"pok=${POK_B64}`), /unterminated/);
    badRecord(() => parseManagementRecord(`"pok=${POK_B64}" x`), /outside a quoted string/);
    badRecord(() => parseManagementRecord('"a\\999"'), /out of range/);
  });
  it('rejects empty records', () => {
    badRecord(() => parseManagementRecord(''), /empty record/);
    badRecord(() => parseManagementRecord([' ', ';']), /empty record/);
  });
  it('throws TypeError for a non-string argument', () => {
    expect(() => parseManagementRecord(42 as unknown as string)).toThrow(TypeError);
    expect(() => parseManagementRecord([1] as unknown as string[])).toThrow(TypeError);
  });

  it('never throws anything but DimeError on arbitrary input', () => {
    const alphabet = fc.constantFrom(...'=; \t"\\pokverpoltlsdxexpsubsyn01ABab+/-.é\u0000'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet }), fc.array(fc.string({ unit: alphabet }))), (input) => {
        try {
          parseManagementRecord(input);
        } catch (err) {
          expect(err).toBeInstanceOf(DimeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatManagementRecord', () => {
  const base: ManagementRecord = parseManagementRecord(MINIMAL);

  it('writes syndicates with a leading space (fixing genrec) and all repeatable fields in order', () => {
    const text = formatManagementRecord({ ...base, syndicates: ['s1.example'], deliver: ['a.example', 'b.example'], expiryDays: 1 });
    expect(text).toBe(`ver=1 pok=${POK_B64} pol=experimental syn=s1.example dx=a.example dx=b.example exp=1 sub=strict`);
  });

  it('round-trips arbitrary valid records', () => {
    const host = fc.constantFrom('a.example', 'dx.origin.example', 'xn--bcher-kva.example');
    const rec = fc.record({
      version: fc.constant(1 as const),
      poks: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)), { minLength: 1, maxLength: 3 }),
      tls: fc.array(fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b)), { maxLength: 3 }),
      policy: fc.constantFrom('experimental' as const, 'mixed' as const, 'strict' as const),
      syndicates: fc.array(host, { maxLength: 2 }),
      deliver: fc.array(host, { maxLength: 3 }),
      expiryDays: fc.option(fc.integer({ min: 1, max: 999_999_999 })),
      subdomain: fc.constantFrom('strict' as const, 'relaxed' as const, 'explicit' as const),
    });
    fc.assert(
      fc.property(rec, (r) => {
        const text = formatManagementRecord(r);
        expect(parseManagementRecord(text)).toEqual(r);
        expect(parseManagementRecord(toTxtStrings(text))).toEqual(r);
        expect(parseManagementRecord(toZoneFileText(text))).toEqual(r);
      }),
    );
  });

  it('refuses records that could not be parsed back', () => {
    badRecord(() => formatManagementRecord({ ...base, poks: [] }), /at least one pok/);
    badRecord(() => formatManagementRecord({ ...base, poks: [Buffer.alloc(31)] }), /pok must be 32 bytes/);
    badRecord(() => formatManagementRecord({ ...base, tls: [Buffer.alloc(63)] }), /tls must be 64 bytes/);
    badRecord(() => formatManagementRecord({ ...base, deliver: ['bad host'] }), /not a host name/);
    badRecord(() => formatManagementRecord({ ...base, syndicates: ['a;b'] }), /separator/);
    badRecord(() => formatManagementRecord({ ...base, expiryDays: 0 }), /invalid expiryDays/);
    badRecord(() => formatManagementRecord({ ...base, policy: 'open' as never }), /invalid policy/);
    badRecord(() => formatManagementRecord({ ...base, version: 2 as never }), /unsupported version/);
  });
});

describe('TXT strings', () => {
  it('keeps a short record as one string', () => {
    expect(toTxtStrings(FULL)).toEqual([FULL]);
  });

  it('splits a long record into 255-byte strings that concatenate back', () => {
    const long = formatManagementRecord({ ...parseManagementRecord(FULL), tls: [Buffer.alloc(64, 1), Buffer.alloc(64, 2), Buffer.alloc(64, 3)] });
    const parts = toTxtStrings(long);
    expect(parts.length).toBe(Math.ceil(long.length / 255));
    expect(parts.every((p) => p.length <= 255)).toBe(true);
    expect(parts.slice(0, -1).every((p) => p.length === 255)).toBe(true);
    expect(parts.join('')).toBe(long);
    expect(toZoneFileText(long)).toBe(parts.map((p) => `"${p}"`).join(' '));
  });

  it('names the record _dx.<domain>', () => {
    expect(managementRecordName('origin.example')).toBe('_dx.origin.example');
    expect(managementRecordName('origin.example.')).toBe('_dx.origin.example');
    badRecord(() => managementRecordName('bad domain'), /not a domain name/);
  });
});

describe('tls= certificate signature', () => {
  const rec = parseManagementRecord(FULL);

  it("verifies the vector record's tls= against dx-tls.cert.pem", () => {
    expect(verifyTlsSignature(rec, CERT_DER)).toBe(true);
  });

  it('fails for another certificate', () => {
    const other = new X509Certificate(rootCertificates[0] as string).raw;
    expect(verifyTlsSignature(rec, other)).toBe(false);
  });

  it('fails for a certificate with one flipped bit', () => {
    const tampered = Buffer.from(CERT_DER);
    const at = tampered.length - 10;
    tampered.writeUInt8((tampered.readUInt8(at) ^ 0x01) & 0xff, at);
    expect(verifyTlsSignature(rec, tampered)).toBe(false);
  });

  it('fails when the record has no tls= or only a POK that did not sign', () => {
    expect(verifyTlsSignature({ ...rec, tls: [] }, CERT_DER)).toBe(false);
    expect(verifyTlsSignature({ ...rec, poks: [vectorHex('org-destination.ed25519.public')] }, CERT_DER)).toBe(false);
  });

  it('verifies when the signing POK is any of several (rotation)', () => {
    expect(verifyTlsSignature({ ...rec, poks: [vectorHex('org-destination.ed25519.public'), ORIGIN_POK] }, CERT_DER)).toBe(true);
  });

  it("reproduces the vector's tls= value exactly when signing with the origin seed", async () => {
    const sig = await createTlsSignature(new InMemorySigner(ORIGIN_SEED), CERT_DER);
    expect(sig).toEqual(rec.tls[0]);
  });

  it('rejects an empty certificate and a non-bytes argument', async () => {
    await expect(createTlsSignature(new InMemorySigner(ORIGIN_SEED), new Uint8Array(0))).rejects.toBeInstanceOf(DimeError);
    await expect(createTlsSignature(new InMemorySigner(ORIGIN_SEED), 'x' as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
  });
});
