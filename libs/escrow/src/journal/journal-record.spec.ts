// The journal record format without the HSM: the escrow side is played by a software P-384 key
// (the HSM's deriveEcdh returns the same x-coordinate), so the KDF, key wrap and AEAD bindings
// can be checked exhaustively here; the HSM path is in journal.medium-spec.ts.
import { createECDH, createHash } from 'node:crypto';
import { JOURNAL_BLOB_MAGIC, openJournalBlob, sealJournalRecord, unwrapRecordKey } from './journal-record';

const escrow = createECDH('secp384r1');
const escrowPub = escrow.generateKeys();
const content = Buffer.from('From: a@b\r\n\r\nhello journal\r\n');

function open(recordId: string, sealed: ReturnType<typeof sealJournalRecord>, id = recordId): Buffer {
  const shared = escrow.computeSecret(sealed.ephemeralPublicKey);
  const key = unwrapRecordKey(id, shared, sealed.ephemeralPublicKey, escrowPub, sealed.wrappedKey);
  return openJournalBlob(id, sealed.blob, key, sealed.contentSha256);
}

describe('journal record format', () => {
  it('round-trips through the escrow private key and binds the content hash', () => {
    const sealed = sealJournalRecord('rec-1', content, escrowPub);
    expect(sealed.blob.subarray(0, 4).equals(JOURNAL_BLOB_MAGIC)).toBe(true);
    expect(sealed.wrappedKey).toHaveLength(40);
    expect(sealed.ephemeralPublicKey).toHaveLength(97);
    expect(sealed.contentSha256.equals(createHash('sha256').update(content).digest())).toBe(true);
    expect(sealed.blob.includes(Buffer.from('hello journal'))).toBe(false);
    expect(open('rec-1', sealed).equals(content)).toBe(true);
  });

  it('uses a fresh key and ephemeral key per record', () => {
    const a = sealJournalRecord('rec-1', content, escrowPub);
    const b = sealJournalRecord('rec-1', content, escrowPub);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.ephemeralPublicKey.equals(b.ephemeralPublicKey)).toBe(false);
    expect(a.blob.equals(b.blob)).toBe(false);
  });

  it('refuses the record under another record id (key wrap and AAD bind the id)', () => {
    const sealed = sealJournalRecord('rec-1', content, escrowPub);
    expect(() => open('rec-1', sealed, 'rec-2')).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
  });

  it('refuses a flipped ciphertext bit, a wrong hash and a wrong escrow key', () => {
    const sealed = sealJournalRecord('rec-1', content, escrowPub);
    const blob = Buffer.from(sealed.blob);
    blob.writeUInt8((blob.at(20) ?? 0) ^ 1, 20);
    expect(() => open('rec-1', { ...sealed, blob })).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
    expect(() => open('rec-1', { ...sealed, contentSha256: Buffer.alloc(32) })).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
    const other = createECDH('secp384r1');
    other.generateKeys();
    const shared = other.computeSecret(sealed.ephemeralPublicKey);
    expect(() => unwrapRecordKey('rec-1', shared, sealed.ephemeralPublicKey, escrowPub, sealed.wrappedKey)).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
  });

  it('rejects an escrow key that is not an uncompressed P-384 point', () => {
    expect(() => sealJournalRecord('r', content, escrowPub.subarray(1))).toThrow(RangeError);
    expect(() => sealJournalRecord('r', 'text' as unknown as Uint8Array, escrowPub)).toThrow(TypeError);
  });
});
