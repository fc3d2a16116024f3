// The offline verifier on crafted exports: an intact file verifies; each kind of tampering is
// detected and names the right first broken entry (docs/audit.md, "What the verifier reports").
import { generateKeyPairSync } from 'node:crypto';
import { buildAuditExport, editLine, lineOf, rehashFrom, softwareAuditKey, type SoftwareAuditKey } from '../../../test/audit/audit-export.fixture';
import { AuditError } from './audit.error';
import { verifyAuditExport } from './audit-verifier';

let key: SoftwareAuditKey;
let intact: string[];
// 25 entries, checkpoints at 10 and 20, seal over 25
const EVERY = 10;

beforeAll(() => {
  key = softwareAuditKey();
  intact = buildAuditExport(key, { entries: 25, every: EVERY });
});

const verify = (lines: readonly string[]) => verifyAuditExport(lines, key.publicKeyPem);

describe('verifyAuditExport', () => {
  it('accepts an intact export and counts its entries', () => {
    expect(verify(intact)).toEqual({ ok: true, entries: 25, firstBroken: null, reason: null });
    expect(verifyAuditExport(`${intact.join('\n')}\n`.split('\n'), Buffer.from(key.publicKeyPem))).toMatchObject({ ok: true });
  });

  it('accepts an empty trail (header and seal only)', () => {
    expect(verify(buildAuditExport(key, { entries: 0, every: EVERY }))).toEqual({ ok: true, entries: 0, firstBroken: null, reason: null });
  });

  it('names a changed entry', () => {
    const tampered = editLine(intact, lineOf(intact, 13), (r) => {
      (r['details'] as Record<string, unknown>)['reason'] = 'nothing happened';
    });
    expect(verify(tampered)).toMatchObject({ ok: false, entries: 25, firstBroken: 13, reason: expect.stringMatching(/entry 13 was changed/) });
  });

  it('names a changed outcome even when the field order is shuffled', () => {
    const tampered = editLine(intact, lineOf(intact, 4), (r) => {
      r['outcome'] = 'failure';
    });
    expect(verify(tampered).firstBroken).toBe(4);
  });

  it('names a deleted entry by its sequence number', () => {
    const tampered = intact.filter((_, i) => i !== lineOf(intact, 7));
    expect(verify(tampered)).toMatchObject({ ok: false, entries: 24, firstBroken: 7, reason: expect.stringMatching(/entry 7 is missing/) });
  });

  it('names an inserted entry, even one that links correctly to its predecessor', () => {
    const forged = rehashFrom([...intact.slice(0, lineOf(intact, 5)), intact[lineOf(intact, 4)]!.replace('"seq":4', '"seq":5')], 1).at(-1)!;
    const tampered = [...intact.slice(0, lineOf(intact, 5)), forged, ...intact.slice(lineOf(intact, 5))];
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 5 });
  });

  it('names the first position of two swapped entries (reordering)', () => {
    const tampered = [...intact];
    const [a, b] = [lineOf(intact, 3), lineOf(intact, 7)];
    [tampered[a], tampered[b]] = [tampered[b]!, tampered[a]!];
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 3 });
  });

  it('names an entry whose seq was renumbered to hide a deletion', () => {
    const tampered = editLine(
      intact.filter((_, i) => i !== lineOf(intact, 7)),
      lineOf(intact, 8) - 1,
      (r) => {
        r['seq'] = 7;
      },
    );
    expect(verify(tampered).firstBroken).toBe(7);
  });

  it('falls back to the checkpoint interval when the attacker recomputed the hashes', () => {
    const changed = editLine(intact, lineOf(intact, 14), (r) => {
      r['actor'] = 'someone-else';
    });
    const tampered = rehashFrom(changed, lineOf(intact, 14));
    // the chain links again, but the checkpoint at 20 signed the old hash of entry 20
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 11, reason: expect.stringMatching(/checkpoint at 20 signs another hash/) });
  });

  it('detects a forged checkpoint signature', () => {
    const other = softwareAuditKey();
    const forged = buildAuditExport(other, { entries: 25, every: EVERY })[lineOf(intact, 20, 'checkpoint')]!;
    const tampered = [...intact];
    tampered[lineOf(intact, 20, 'checkpoint')] = forged;
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 11, reason: expect.stringMatching(/checkpoint at 20 has no valid signature/) });
  });

  it('detects a checkpoint whose signature was removed', () => {
    const tampered = editLine(intact, lineOf(intact, 10, 'checkpoint'), (r) => {
      delete r['signature'];
    });
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 1 });
  });

  it('detects a missing checkpoint in the middle (the next one links to it)', () => {
    const tampered = intact.filter((_, i) => i !== lineOf(intact, 10, 'checkpoint'));
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 1, reason: expect.stringMatching(/follows checkpoint 10, which is missing/) });
  });

  it('detects a missing last checkpoint through the seal', () => {
    const tampered = intact.filter((_, i) => i !== lineOf(intact, 20, 'checkpoint'));
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 11, reason: expect.stringMatching(/seal names checkpoint 20/) });
  });

  it('detects a truncated tail after the last checkpoint (seal gone)', () => {
    const tampered = intact.slice(0, lineOf(intact, 23));
    expect(verify(tampered)).toMatchObject({ ok: false, entries: 22, firstBroken: 21, reason: expect.stringMatching(/no export seal/) });
  });

  it('detects a truncated tail even when the seal is kept', () => {
    const tampered = [...intact.slice(0, lineOf(intact, 24)), intact.at(-1)!];
    expect(verify(tampered)).toMatchObject({ ok: false, entries: 23, firstBroken: 21, reason: expect.stringMatching(/truncated or extended/) });
  });

  it('detects entries appended after the export was sealed', () => {
    expect(verify([...intact, intact[lineOf(intact, 25)]!])).toMatchObject({ ok: false, firstBroken: 21 });
  });

  it('detects a forged seal', () => {
    const tampered = editLine(intact, intact.length - 1, (r) => {
      r['exportedAt'] = '2030-01-01T00:00:00.000Z';
    });
    expect(verify(tampered)).toMatchObject({ ok: false, firstBroken: 21, reason: expect.stringMatching(/seal has no valid signature/) });
  });

  it('proves nothing with another public key and says which key the export names', () => {
    const other = softwareAuditKey();
    expect(verifyAuditExport(intact, other.publicKeyPem)).toMatchObject({ ok: false, firstBroken: 1, reason: expect.stringMatching(/the export names key sha256:/) });
  });

  it('reports a file that is not an export, and garbage lines, without throwing', () => {
    expect(verify([])).toMatchObject({ ok: false, firstBroken: 1 });
    expect(verify(['not json'])).toMatchObject({ ok: false, firstBroken: 1 });
    expect(verify([intact[0]!, '{"type":"entry","seq":"1"}', ...intact.slice(1)])).toMatchObject({ ok: false, firstBroken: 1 });
    const midGarbage = [...intact];
    midGarbage.splice(lineOf(intact, 6), 0, '[1,2');
    expect(verify(midGarbage)).toMatchObject({ ok: false, firstBroken: 6 });
    expect(verify(editLine(intact, lineOf(intact, 2), (r) => (r['details'] = { f: 1.5 })))).toMatchObject({ ok: false, firstBroken: 2 });
    expect(verify(editLine(intact, lineOf(intact, 2), (r) => (r['time'] = 'yesterday')))).toMatchObject({ ok: false, firstBroken: 2 });
  });

  it('refuses a public key that is not ECDSA P-256 with BAD_PUBLIC_KEY', () => {
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => verifyAuditExport(intact, ed)).toThrow(AuditError);
    expect(() => verifyAuditExport(intact, 'not a key')).toThrow(expect.objectContaining({ code: 'BAD_PUBLIC_KEY' }));
  });
});
