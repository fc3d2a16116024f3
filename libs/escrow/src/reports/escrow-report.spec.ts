// Escrow report rendering and offline verification with a software P-256 key standing in for the
// HSM audit key (the medium test signs with the HSM): CSV escaping, tamper and wrong-key detection.
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { isEscrowError } from '../journal/escrow.error';
import { csvField, ESCROW_REPORT_FORMAT, ESCROW_REPORT_SIGNATURE_FORMAT, renderEscrowReport, reportSigningInput, verifyEscrowReport, type EscrowReport } from './escrow-report';

const report: EscrowReport = {
  format: ESCROW_REPORT_FORMAT,
  period: { from: '2027-01-01T00:00:00.000Z', to: '2027-02-01T00:00:00.000Z' },
  generatedAt: '2027-02-01T08:00:00.000Z',
  anchor: { checkpointSeq: 70, checkpointHash: 'ab'.repeat(32), checkpointTime: '2027-02-01T07:59:00.000Z' },
  records: [{ domain: 'acme.example', policy: 'acme, "legal"', policyId: null, direction: 'outbound', records: 1_000_000 }],
  requests: [{ domain: 'acme.example', opened: 3, approved: 1, denied: 1, expired: 1, exported: 1 }],
  principals: [{ principal: 'ann', opened: 3, approvals: 0, denials: 0, exports: 1 }],
  exports: [{ requestId: 'r1', case: '=HYPERLINK("x")', domain: 'acme.example', by: 'ann', at: '2027-01-10T09:00:00.000Z', records: 1, fileSha256: 'cd'.repeat(32), approvers: ['bob', 'cat'] }],
  totals: { records: 1_000_000, opened: 3, approved: 1, denied: 1, expired: 1, exported: 1 },
};

function signed(file: Buffer, key: KeyObject): string {
  const sha256 = createHash('sha256').update(file).digest('hex');
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return JSON.stringify({
    format: ESCROW_REPORT_SIGNATURE_FORMAT,
    algorithm: 'ECDSA-P256-SHA256',
    keyLabel: 'dime-audit-signing.v1',
    publicKeyFingerprint: `sha256:${createHash('sha256').update(spki).digest('hex')}`,
    sha256,
    reportFormat: 'json',
    anchor: report.anchor,
    signature: sign('sha256', reportSigningInput(sha256), { key, dsaEncoding: 'der' }).toString('base64'),
  });
}

describe('escrow report', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;

  it('renders CSV with quoting and spreadsheet formulas neutralised', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('=1+2')).toBe("'=1+2");
    expect(csvField(-5)).toBe('-5');
    expect(csvField(null)).toBe('');
    const csv = renderEscrowReport(report, 'csv').toString('utf8');
    expect(csv.split('\r\n')[0]).toBe('section,domain,policy,direction,principal,request_id,metric,value');
    expect(csv).toContain('records,acme.example,"acme, ""legal""",outbound,,,records_escrowed,1000000\r\n');
    expect(csv).toContain(`exports,acme.example,,,ann,r1,case,"'=HYPERLINK(""x"")"`);
    expect(csv).toContain('report,,,,,,anchor_checkpoint_seq,70\r\n');
  });

  it('verifies a signed report and rejects a changed byte, another key or a malformed signature file', () => {
    const file = renderEscrowReport(report, 'json');
    const sig = signed(file, privateKey);
    expect(verifyEscrowReport(file, sig, pem)).toMatchObject({ ok: true, reason: null, anchor: report.anchor });
    const tampered = Buffer.from(file.toString('utf8').replace('"opened": 3', '"opened": 2'));
    expect(verifyEscrowReport(tampered, sig, pem)).toMatchObject({ ok: false, reason: expect.stringMatching(/changed after signing/) });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(verifyEscrowReport(file, signed(file, other.privateKey), pem)).toMatchObject({ ok: false, reason: 'the signature names another key' });
    const forged = JSON.parse(signed(file, other.privateKey)) as Record<string, string>;
    forged['publicKeyFingerprint'] = (JSON.parse(sig) as Record<string, string>)['publicKeyFingerprint'] as string;
    expect(verifyEscrowReport(file, JSON.stringify(forged), pem)).toMatchObject({ ok: false, reason: 'the signature does not verify' });
    for (const bad of ['not json', '{}', JSON.stringify({ ...JSON.parse(sig), algorithm: 'none' })]) {
      let code = '';
      try {
        verifyEscrowReport(file, bad, pem);
      } catch (err) {
        code = isEscrowError(err) ? err.code : String(err);
      }
      expect(code).toBe('BAD_REPORT');
    }
  });
});
