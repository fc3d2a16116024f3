// S3ArchiveStore's requests (no I/O: fetch is a parameter): Object Lock compliance headers with
// the record's retention date, a SHA-256 checksum, SigV4 over the exact body, version-aware
// delete, status mapping. The signature format itself is checked against AWS vectors in s3-sigv4.spec.ts.
import { createHash } from 'node:crypto';
import { S3ArchiveStore } from './s3-archive-store';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

function store(responses: Response[], seen: Seen[], pathStyle = true): S3ArchiveStore {
  return new S3ArchiveStore({
    endpoint: pathStyle ? 'http://127.0.0.1:9000' : 'https://s3.eu-central-1.example.test',
    region: 'eu-central-1',
    bucket: 'dime-journal',
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
    pathStyle,
    clock: () => new Date('2026-11-27T12:00:00Z'),
    fetch: (async (input: URL, init: RequestInit) => {
      seen.push({ method: String(init.method), url: String(input), headers: init.headers as Record<string, string>, body: init.body as Buffer | undefined });
      const r = responses.shift();
      if (r === undefined) throw new Error('no response left');
      return r;
    }) as unknown as typeof fetch,
  });
}

describe('S3ArchiveStore', () => {
  it('PUTs with Object Lock in compliance mode until the retention date, a checksum and a SigV4 signature', async () => {
    const seen: Seen[] = [];
    const body = Buffer.from('DJR1 ciphertext');
    await store([new Response('', { status: 200 })], seen).put('journal/ab/abcd.djr', body, { retainUntil: new Date('2033-11-27T00:00:00Z') });
    const req = seen[0];
    expect(req?.method).toBe('PUT');
    expect(req?.url).toBe('http://127.0.0.1:9000/dime-journal/journal/ab/abcd.djr');
    expect(req?.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
    expect(req?.headers['x-amz-object-lock-retain-until-date']).toBe('2033-11-27T00:00:00.000Z');
    expect(req?.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(body).digest('base64'));
    expect(req?.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(req?.headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKID\/20261127\/eu-central-1\/s3\/aws4_request,SignedHeaders=content-length;content-type;host;x-amz-checksum-sha256;x-amz-content-sha256;x-amz-date;x-amz-object-lock-mode;x-amz-object-lock-retain-until-date,Signature=[0-9a-f]{64}$/,
    );
    expect(req?.body?.equals(body)).toBe(true);
  });

  it('fails closed on an S3 error and maps 404 to BLOB_NOT_FOUND', async () => {
    const seen: Seen[] = [];
    const s = store([new Response('<Error><Code>InvalidRequest</Code></Error>', { status: 400 }), new Response('', { status: 404 })], seen);
    await expect(s.put('journal/ab/x.djr', Buffer.from('x'), { retainUntil: new Date() })).rejects.toMatchObject({ code: 'ARCHIVE_STORE' });
    await expect(s.get('journal/ab/x.djr')).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
  });

  it('deletes the object version itself (not just a delete marker), and treats absent as done', async () => {
    const seen: Seen[] = [];
    const s = store(
      [new Response(null, { status: 200, headers: { 'x-amz-version-id': 'v1/abc' } }), new Response(null, { status: 204 }), new Response(null, { status: 404 })],
      seen,
      false,
    );
    await s.delete('journal/ab/x.djr');
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'HEAD https://dime-journal.s3.eu-central-1.example.test/journal/ab/x.djr',
      'DELETE https://dime-journal.s3.eu-central-1.example.test/journal/ab/x.djr?versionId=v1%2Fabc',
    ]);
    await s.delete('journal/ab/x.djr');
    expect(seen).toHaveLength(3);
  });

  it('reports the store-side retention lock', async () => {
    const seen: Seen[] = [];
    const s = store([new Response(null, { status: 200, headers: { 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-object-lock-retain-until-date': '2033-11-27T00:00:00.000Z' } })], seen);
    expect(await s.retention('journal/ab/x.djr')).toEqual({ mode: 'compliance', retainUntil: new Date('2033-11-27T00:00:00.000Z') });
  });
});
