// Canonical form and hash chain: sorted keys at every depth, no whitespace, only values jsonb
// returns unchanged, and a fixed vector for anyone reimplementing the verifier (docs/audit.md).
import fc from 'fast-check';
import { AuditError } from './audit.error';
import { AUDIT_GENESIS_HASH, checkpointSigningInput, entryHash, parseAuditTime, sealSigningInput } from './audit-chain';
import { canonicalEntry, canonicalJson } from './audit-canonical';
import type { AuditEntry, AuditJson } from './audit.types';

const ENTRY: AuditEntry = {
  seq: 1,
  time: '2026-11-27T10:00:00.000Z',
  actor: 'admin@example.test',
  actorAddress: '192.0.2.10',
  action: 'retention.policy.update',
  objectType: 'retention-policy',
  objectId: 'p-7',
  outcome: 'success',
  details: { to: { days: 3650 }, from: { days: 365 }, 'é': 'ü', list: [3, 'x', null, true] },
};

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order, without whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null }, A: 'x' })).toBe('{"A":"x","a":{"c":null,"d":[2,1]},"b":1}');
  });

  it('sorts keys by UTF-16 code units (JCS), not by locale', () => {
    expect(canonicalJson({ 'é': 1, z: 2, '\u{1F600}': 3, '\uFB01': 4 })).toBe('{"z":2,"é":1,"\u{1F600}":3,"\uFB01":4}');
  });

  it('writes -0 as 0 and escapes as JSON.stringify does', () => {
    expect(canonicalJson({ n: -0, s: 'a"b\\c\n\u0001' })).toBe('{"n":0,"s":"a\\"b\\\\c\\n\\u0001"}');
  });

  it.each<[string, unknown]>([
    ['a float', { x: 1.5 }],
    ['an unsafe integer', { x: 2 ** 53 }],
    ['NaN', { x: NaN }],
    ['a NUL in a string', { x: 'a\u0000b' }],
    ['a NUL in a key', { 'a\u0000': 1 }],
    ['a lone surrogate', { x: '\uD800x' }],
    ['undefined', { x: undefined }],
    ['a Date', { x: new Date(0) }],
    ['a bigint', { x: 1n }],
  ])('refuses %s with INVALID_ENTRY', (_name, value) => {
    expect(() => canonicalJson(value as AuditJson)).toThrow(AuditError);
    try {
      canonicalJson(value as AuditJson);
    } catch (err) {
      expect((err as AuditError).code).toBe('INVALID_ENTRY');
    }
  });

  it('refuses nesting deeper than 32 levels', () => {
    let deep: AuditJson = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/deeper/);
  });

  it('is what JSON.parse of its own output gives back (stable under a jsonb-like round trip)', () => {
    const json = fc.letrec<{ v: AuditJson }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.maxSafeInteger(),
        fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\u0000')),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\u0000') && s !== '__proto__'), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(json, (v) => {
        const c = canonicalJson(v);
        expect(canonicalJson(JSON.parse(c) as AuditJson)).toBe(c);
      }),
    );
  });
});

describe('canonicalEntry', () => {
  it('equals canonicalJson of the nine fields', () => {
    const { seq, time, actor, actorAddress, action, objectType, objectId, outcome, details } = ENTRY;
    expect(canonicalEntry(ENTRY)).toBe(canonicalJson({ seq, time, actor, actorAddress, action, objectType, objectId, outcome, details }));
    const nulls = { ...ENTRY, actorAddress: null, objectType: null, objectId: null, details: {} };
    expect(canonicalEntry(nulls)).toBe(canonicalJson({ ...nulls }));
  });

  it('refuses a seq that is not a positive safe integer', () => {
    expect(() => canonicalEntry({ ...ENTRY, seq: 0 })).toThrow(AuditError);
    expect(() => canonicalEntry({ ...ENTRY, seq: 1.5 })).toThrow(AuditError);
  });
});

describe('hash chain', () => {
  it('hashes SHA-256(prev hash || canonical entry): fixed vector of docs/audit.md', () => {
    expect(canonicalEntry(ENTRY)).toBe(
      '{"action":"retention.policy.update","actor":"admin@example.test","actorAddress":"192.0.2.10","details":{"from":{"days":365},"list":[3,"x",null,true],"to":{"days":3650},"é":"ü"},"objectId":"p-7","objectType":"retention-policy","outcome":"success","seq":1,"time":"2026-11-27T10:00:00.000Z"}',
    );
    const h1 = entryHash(AUDIT_GENESIS_HASH, ENTRY);
    expect(h1.toString('hex')).toBe(EXPECTED_HASH_1);
    // any change of content, position or predecessor changes the hash
    expect(entryHash(AUDIT_GENESIS_HASH, { ...ENTRY, outcome: 'denied' })).not.toEqual(h1);
    expect(entryHash(AUDIT_GENESIS_HASH, { ...ENTRY, seq: 2 })).not.toEqual(h1);
    expect(entryHash(Buffer.alloc(32, 1), ENTRY)).not.toEqual(h1);
  });

  it('lays out the checkpoint and seal inputs with distinct domain prefixes and fixed widths', () => {
    const hash = Buffer.alloc(32, 0xab);
    const cp = checkpointSigningInput({ seq: 1000, hash, timeMs: 1_800_000_000_000, prevCheckpointSeq: 0, interval: 1000 });
    expect(cp.subarray(0, 33).toString('latin1')).toBe('dime-gateway audit checkpoint v1\0');
    expect(cp).toHaveLength(33 + 8 + 32 + 8 + 8 + 8);
    expect(cp.readBigUInt64BE(33)).toBe(1000n);
    const seal = sealSigningInput({ seq: 1000, hash, entries: 1000, lastCheckpointSeq: 1000, exportedAtMs: 1_800_000_000_000 });
    expect(seal.subarray(0, 34).toString('latin1')).toBe('dime-gateway audit export seal v1\0');
    expect(seal.equals(cp)).toBe(false);
    expect(() => checkpointSigningInput({ seq: -1, hash, timeMs: 0, prevCheckpointSeq: 0, interval: 1 })).toThrow(RangeError);
    expect(() => checkpointSigningInput({ seq: 1, hash: Buffer.alloc(31), timeMs: 0, prevCheckpointSeq: 0, interval: 1 })).toThrow(TypeError);
  });

  it('accepts only toISOString timestamps', () => {
    expect(parseAuditTime('2026-11-27T10:00:00.000Z')).toBe(Date.parse('2026-11-27T10:00:00.000Z'));
    expect(parseAuditTime('2026-11-27T10:00:00Z')).toBeUndefined();
    expect(parseAuditTime('2026-02-30T10:00:00.000Z')).toBeUndefined();
    expect(parseAuditTime(1)).toBeUndefined();
  });
});

// computed independently: python3 hashlib.sha256(bytes(32) + canonical.encode()).hexdigest()
const EXPECTED_HASH_1 = '9515f01bd25eceea498f6528b469c4949d1c876c0e26cd019225d2fb187b91fc';
