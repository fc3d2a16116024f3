// SigV4 against AWS's published examples (S3 "Signature Calculations for the Authorization Header":
// GET Object with Range, PUT Object, GET with a sub-resource and a query; and the signing-key
// derivation example of the general SigV4 documentation).
import { createHash } from 'node:crypto';
import { EMPTY_SHA256, signingKey, signRequest, uriEncode } from './s3-sigv4';

const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const when = new Date('2013-05-24T00:00:00Z');
const signatureOf = (authorization: string | undefined): string => /Signature=([0-9a-f]{64})$/.exec(authorization ?? '')?.[1] ?? '';

describe('SigV4 signing (AWS example vectors)', () => {
  it('derives the documented signing key', () => {
    const key = signingKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
    expect(key.toString('hex')).toBe('f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
  });

  it('signs the S3 GET Object example (Range header)', () => {
    const headers = signRequest(
      { method: 'GET', url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'), headers: { Range: 'bytes=0-9' }, payloadSha256: EMPTY_SHA256 },
      credentials,
      'us-east-1',
      's3',
      when,
    );
    expect(headers['authorization']).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
  });

  it('signs the S3 PUT Object example (encoded key, storage class)', () => {
    const body = Buffer.from('Welcome to Amazon S3.');
    const payload = createHash('sha256').update(body).digest('hex');
    expect(payload).toBe('44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
    const headers = signRequest(
      {
        method: 'PUT',
        url: new URL('https://examplebucket.s3.amazonaws.com/test%24file.text'),
        headers: { Date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
        payloadSha256: payload,
      },
      credentials,
      'us-east-1',
      's3',
      when,
    );
    expect(headers['authorization']).toContain('SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,');
    expect(signatureOf(headers['authorization'])).toBe('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it('signs the S3 GET Bucket Lifecycle example (sub-resource without value)', () => {
    const headers = signRequest(
      { method: 'GET', url: new URL('https://examplebucket.s3.amazonaws.com/?lifecycle'), headers: {}, payloadSha256: EMPTY_SHA256 },
      credentials,
      'us-east-1',
      's3',
      when,
    );
    expect(signatureOf(headers['authorization'])).toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
  });

  it('signs the S3 List Objects example (query parameters sorted)', () => {
    const headers = signRequest(
      { method: 'GET', url: new URL('https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J'), headers: {}, payloadSha256: EMPTY_SHA256 },
      credentials,
      'us-east-1',
      's3',
      when,
    );
    expect(signatureOf(headers['authorization'])).toBe('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('percent-encodes as SigV4 requires (unreserved kept, slash only in paths)', () => {
    expect(uriEncode('a b/c~d$é', true)).toBe('a%20b/c~d%24%C3%A9');
    expect(uriEncode('a/b', false)).toBe('a%2Fb');
  });
});
