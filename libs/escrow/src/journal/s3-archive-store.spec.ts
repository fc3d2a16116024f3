// S3ArchiveStore's requests (no I/O: fetch is a parameter): Object Lock compliance headers with
// the record's retention date, a SHA-256 checksum, SigV4 over the exact body, version-aware
// delete, status mapping. The signature format itself is checked against AWS vectors in s3-sigv4.spec.ts.
import { createHash } from 'node:crypto';
import { parseListObjectsV2, S3ArchiveStore } from './s3-archive-store';

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

describe('S3ArchiveStore.list (ListObjectsV2)', () => {
  const page = (keys: [string, string][], next?: string): Response =>
    new Response(
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>dime-journal</Name><Prefix>journal/</Prefix>` +
        keys.map(([k, t]) => `<Contents><Key>${k}</Key><LastModified>${t}</LastModified><ETag>&quot;x&quot;</ETag><Size>10</Size></Contents>`).join('') +
        `<IsTruncated>${next !== undefined}</IsTruncated>${next !== undefined ? `<NextContinuationToken>${next}</NextContinuationToken>` : ''}</ListBucketResult>`,
      { status: 200 },
    );

  it('follows continuation tokens and signs each page request', async () => {
    const seen: Seen[] = [];
    const s = store([page([['journal/ab/1.djr', '2026-11-27T10:00:00.000Z']], 'tok&1/='), page([['journal/cd/2.djr', '2026-11-27T11:00:00.000Z']])], seen);
    const listed = [];
    for await (const blob of s.list('journal/')) listed.push(blob);
    expect(listed).toEqual([
      { key: 'journal/ab/1.djr', modifiedAt: new Date('2026-11-27T10:00:00Z') },
      { key: 'journal/cd/2.djr', modifiedAt: new Date('2026-11-27T11:00:00Z') },
    ]);
    expect(seen.map((r) => r.method)).toEqual(['GET', 'GET']);
    expect(seen[0]!.url).toBe('http://127.0.0.1:9000/dime-journal?list-type=2&prefix=journal%2F');
    // the token is passed back as given (XML-unescaped, URL-encoded)
    expect(seen[1]!.url).toBe('http://127.0.0.1:9000/dime-journal?list-type=2&prefix=journal%2F&continuation-token=tok%261%2F%3D');
    expect(seen[1]!.headers['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\//);
  });

  it('refuses an answer that is not a listing, or an entry without its time, and reports HTTP errors', async () => {
    expect(() => parseListObjectsV2('<Error><Code>AccessDenied</Code></Error>')).toThrow(/not a ListBucketResult/);
    expect(() => parseListObjectsV2('<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>')).toThrow(/without Key or LastModified/);
    expect(() => parseListObjectsV2('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>')).toThrow(/continuation token/);
    expect(parseListObjectsV2('<ListBucketResult><Contents><Key>journal/a&amp;b.djr</Key><LastModified>2026-01-01T00:00:00Z</LastModified></Contents></ListBucketResult>').blobs[0]!.key).toBe('journal/a&b.djr');
    const s = store([new Response('<Error><Code>AccessDenied</Code></Error>', { status: 403 })], []);
    await expect(
      (async () => {
        for await (const _ of s.list('journal/')) void _;
      })(),
    ).rejects.toThrow(/HTTP 403/);
  });
});
