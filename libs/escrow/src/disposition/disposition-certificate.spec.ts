// Disposition certificates: canonical text, signature over the domain-separated text, and the
// offline verifier's refusals (tampered text, wrong key, inconsistent count, unexpired record).
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { buildCertificate, certificateFile, certificateSigningInput, certificateText, verifyDispositionCertificate } from './disposition-certificate';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = publicKey.export({ type: 'spki', format: 'pem' });

function sign(text: string): Buffer {
  return createSign('sha256').update(certificateSigningInput(text)).sign({ key: privateKey, dsaEncoding: 'der' });
}

const records = [0, 1, 2].map((i) => ({
  id: randomUUID(),
  contentSha256: Buffer.alloc(32, i + 1),
  journaledAt: new Date(Date.UTC(2020, 0, 1 + i)),
  retainUntil: new Date(Date.UTC(2021, 0, 1 + i)),
}));

describe('disposition certificates', () => {
  const cert = buildCertificate(randomUUID(), new Date('2026-11-27T12:00:00Z'), 'dime-audit-signing.v1', records);
  const text = certificateText(cert);

  it('lists every record sorted by id with its hash, the range and the count, and verifies offline', () => {
    expect(cert.count).toBe(3);
    expect(cert.records.map((r) => r.id)).toEqual(records.map((r) => r.id).sort());
    expect(cert.journaledFrom).toBe('2020-01-01T00:00:00.000Z');
    expect(cert.journaledTo).toBe('2020-01-03T00:00:00.000Z');
    const v = verifyDispositionCertificate(JSON.stringify(certificateFile(text, sign(text), cert.keyLabel)), pem);
    expect(v).toEqual({ ok: true, certificate: cert, reason: null });
  });

  it('refuses a tampered certificate, another key and an unsigned inconsistency', () => {
    const file = certificateFile(text, sign(text), cert.keyLabel);
    expect(verifyDispositionCertificate({ ...file, certificate: text.replace('"count":3', '"count":2') }, pem).ok).toBe(false);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    expect(verifyDispositionCertificate(file, other)).toMatchObject({ ok: false, reason: 'signature does not verify' });
    // correctly signed but inconsistent: the verifier checks the content too
    const bad = JSON.stringify({ ...JSON.parse(text), count: 2 });
    expect(verifyDispositionCertificate(certificateFile(bad, sign(bad), cert.keyLabel), pem)).toMatchObject({ ok: false, reason: expect.stringMatching(/count/) });
    const early = JSON.stringify({ ...JSON.parse(text), issuedAt: '2020-06-01T00:00:00.000Z' });
    expect(verifyDispositionCertificate(certificateFile(early, sign(early), cert.keyLabel), pem)).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) });
    expect(verifyDispositionCertificate('not json', pem).ok).toBe(false);
  });

  it('needs an ECDSA P-256 public key', () => {
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
    expect(() => verifyDispositionCertificate('{}', ed)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});
