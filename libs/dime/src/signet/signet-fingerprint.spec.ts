import { readVector, readVectorText, vectorValue } from '../../../../test/vectors';
import { DimeError } from '../dime.error';
import { readSignet, serializeSignet } from './signet-codec';
import { signetFingerprint, signetFingerprintBytes, type SignetFingerprintKind } from './signet-fingerprint';
import { splitSignet } from './signet-split';

const SIGNETS = ['org-origin', 'org-destination', 'org-origin-crypto-only', 'org-destination-crypto-only', 'user-author', 'user-recipient'];
const KINDS: readonly SignetFingerprintKind[] = ['crypto', 'full', 'id'];

describe('signet fingerprints', () => {
  it.each(SIGNETS.flatMap((name) => KINDS.map((kind) => [name, kind] as const)))('%s %s fingerprint equals vectors.txt', (name, kind) => {
    const signet = readSignet(readVectorText(`${name}.signet`));
    expect(signetFingerprint(signet, kind)).toBe(vectorValue(`${name}.fingerprint.${kind}`));
  });

  it.each(['author', 'recipient'])('user-%s SSR fingerprint equals vectors.txt, from the SSR and from the user signet', (who) => {
    const expected = vectorValue(`user-${who}.fingerprint.ssr`);
    expect(signetFingerprint(readSignet(readVectorText(`user-${who}.ssr`)), 'ssr')).toBe(expected);
    expect(signetFingerprint(readSignet(readVectorText(`user-${who}.signet`)), 'ssr')).toBe(expected);
  });

  it('is 86 characters of unpadded base64 over a 64-byte SHA-512', () => {
    const signet = readSignet(readVector('org-origin.signet.bin'));
    expect(signetFingerprint(signet, 'id')).toMatch(/^[A-Za-z0-9+/]{86}$/);
    expect(signetFingerprintBytes(signet, 'id')).toHaveLength(64);
  });

  it('rejects kinds a type does not have (WRONG_TYPE)', () => {
    const ssr = readSignet(readVectorText('user-author.ssr'));
    const org = readSignet(readVectorText('org-origin.signet'));
    for (const kind of KINDS) expect(() => signetFingerprint(ssr, kind)).toThrow(DimeError);
    expect(() => signetFingerprint(org, 'ssr')).toThrow(expect.objectContaining({ code: 'WRONG_TYPE' }));
    expect(() => signetFingerprint(org, 'nope' as SignetFingerprintKind)).toThrow(TypeError);
  });
});

describe('signet views (split)', () => {
  it.each(['org-origin', 'org-destination'])('the crypto view of %s is the crypto-only vector byte for byte', (name) => {
    const view = splitSignet(readSignet(readVectorText(`${name}.signet`)), 'crypto');
    expect(serializeSignet(view).equals(readVector(`${name}-crypto-only.signet.bin`))).toBe(true);
  });

  it.each(SIGNETS.filter((n) => !n.includes('crypto-only')))('the views of %s keep the fingerprints and cut at 4/6 and 253', (name) => {
    const signet = readSignet(readVectorText(`${name}.signet`));
    const crypto = splitSignet(signet, 'crypto');
    const full = splitSignet(signet, 'full');
    expect(crypto.fields.at(-1)?.fid).toBe(signet.type === 'org' ? 4 : 6);
    expect(full.fields.at(-1)?.fid).toBe(253);
    expect(signetFingerprint(crypto, 'id')).toBe(vectorValue(`${name}.fingerprint.crypto`));
    expect(signetFingerprint(full, 'id')).toBe(vectorValue(`${name}.fingerprint.full`));
    // The header length is rewritten: the view reparses on its own.
    expect(readSignet(serializeSignet(full)).fields).toEqual(full.fields);
  });

  it('has no views of an SSR', () => {
    expect(() => splitSignet(readSignet(readVectorText('user-author.ssr')), 'full')).toThrow(expect.objectContaining({ code: 'WRONG_TYPE' }));
  });
});
