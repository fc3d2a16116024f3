// The WORM archive store: an S3-compatible bucket with Object Lock (the bucket must be created
// with Object Lock enabled, hence versioned). Each blob is PUT with
// `x-amz-object-lock-mode: COMPLIANCE` and `x-amz-object-lock-retain-until-date` = the record's
// retention date, so not even the bucket's root account can delete it earlier. Requests are
// signed with SigV4 (s3-sigv4.ts) over node's fetch; no SDK dependency.
import { createHash } from 'node:crypto';
import { checkBlobKey, type ArchivedBlob, type ArchiveRetention, type ArchiveStore } from './archive-store';
import { EscrowError } from './escrow.error';
import { EMPTY_SHA256, signRequest, uriEncode, type SigV4Credentials } from './s3-sigv4';

export interface S3ArchiveStoreOptions {
  /** e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000 (MinIO). */
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly credentials: SigV4Credentials;
  /** Path-style (`endpoint/bucket/key`) instead of virtual-hosted (`bucket.endpoint/key`). */
  readonly pathStyle: boolean;
  readonly timeoutMs?: number;
  readonly clock?: () => Date;
  readonly fetch?: typeof fetch;
}

export class S3ArchiveStore implements ArchiveStore {
  private readonly clock: () => Date;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: S3ArchiveStoreOptions) {
    if (!/^https?:\/\//.test(options.endpoint)) throw new RangeError('"endpoint" expected an http(s) URL');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) throw new RangeError('"bucket" is not a valid bucket name');
    this.clock = options.clock ?? (() => new Date());
    this.doFetch = options.fetch ?? fetch;
  }

  /** The object URL of a key (exported for tests). */
  objectUrl(key: string, query = ''): URL {
    const base = new URL(this.options.endpoint);
    const path = uriEncode(checkBlobKey(key), true);
    if (this.options.pathStyle) return new URL(`${base.protocol}//${base.host}/${this.options.bucket}/${path}${query}`);
    return new URL(`${base.protocol}//${this.options.bucket}.${base.host}/${path}${query}`);
  }

  private async send(method: string, url: URL, headers: Record<string, string>, body?: Uint8Array): Promise<Response> {
    const payload = body === undefined ? EMPTY_SHA256 : createHash('sha256').update(body).digest('hex');
    const signed = signRequest({ method, url, headers, payloadSha256: payload }, this.options.credentials, this.options.region, 's3', this.clock());
    try {
      return await this.doFetch(url, {
        method,
        headers: signed,
        body: body === undefined ? undefined : Buffer.from(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (cause) {
      throw new EscrowError('ARCHIVE_STORE', `S3 ${method} ${url.pathname} failed: ${(cause as Error).message}`, { cause });
    }
  }

  private static async fail(method: string, key: string, res: Response): Promise<never> {
    const text = (await res.text().catch(() => '')).slice(0, 300).replace(/\s+/g, ' ');
    throw new EscrowError('ARCHIVE_STORE', `S3 ${method} ${key}: HTTP ${res.status} ${text}`);
  }

  async put(key: string, bytes: Uint8Array, options: { readonly retainUntil: Date }): Promise<void> {
    const res = await this.send(
      'PUT',
      this.objectUrl(key),
      {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.length),
        // Object Lock PUTs need an integrity checksum (Content-MD5 or a x-amz-checksum-*)
        'x-amz-checksum-sha256': createHash('sha256').update(bytes).digest('base64'),
        'x-amz-object-lock-mode': 'COMPLIANCE',
        'x-amz-object-lock-retain-until-date': options.retainUntil.toISOString(),
      },
      bytes,
    );
    if (!res.ok) await S3ArchiveStore.fail('PUT', key, res);
    await res.arrayBuffer();
  }

  async get(key: string): Promise<Buffer> {
    const res = await this.send('GET', this.objectUrl(key), {});
    if (res.status === 404) {
      await res.arrayBuffer();
      throw new EscrowError('BLOB_NOT_FOUND', `no archived blob ${key}`);
    }
    if (!res.ok) await S3ArchiveStore.fail('GET', key, res);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Deletes the current version itself (a plain DELETE on a versioned bucket only adds a delete marker). */
  async delete(key: string): Promise<void> {
    const head = await this.send('HEAD', this.objectUrl(key), {});
    await head.arrayBuffer();
    if (head.status === 404) return;
    if (!head.ok) await S3ArchiveStore.fail('HEAD', key, head);
    const version = head.headers.get('x-amz-version-id');
    const query = version && version !== 'null' ? `?versionId=${encodeURIComponent(version)}` : '';
    const res = await this.send('DELETE', this.objectUrl(key, query), {});
    if (!res.ok && res.status !== 404) await S3ArchiveStore.fail('DELETE', key, res);
    await res.arrayBuffer();
  }

  /** ListObjectsV2 over the prefix, page by page (1,000 keys each). */
  async *list(prefix: string): AsyncIterable<ArchivedBlob> {
    let token: string | undefined;
    do {
      const query = `?list-type=2&prefix=${encodeURIComponent(prefix)}${token !== undefined ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
      const res = await this.send('GET', this.bucketUrl(query), {});
      if (!res.ok) await S3ArchiveStore.fail('LIST', prefix, res);
      const page = parseListObjectsV2(await res.text());
      yield* page.blobs;
      token = page.nextToken;
    } while (token !== undefined);
  }

  private bucketUrl(query: string): URL {
    const base = new URL(this.options.endpoint);
    if (this.options.pathStyle) return new URL(`${base.protocol}//${base.host}/${this.options.bucket}${query}`);
    return new URL(`${base.protocol}//${this.options.bucket}.${base.host}/${query}`);
  }

  async retention(key: string): Promise<ArchiveRetention | null> {
    const head = await this.send('HEAD', this.objectUrl(key), {});
    await head.arrayBuffer();
    if (head.status === 404) return null;
    if (!head.ok) await S3ArchiveStore.fail('HEAD', key, head);
    const mode = head.headers.get('x-amz-object-lock-mode');
    const until = head.headers.get('x-amz-object-lock-retain-until-date');
    return { mode: mode === 'COMPLIANCE' ? 'compliance' : 'none', retainUntil: until ? new Date(until) : null };
  }
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (text: string): string => text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => XML_ENTITIES[name]!);

/** The keys and times of one ListObjectsV2 result page, and the token of the next (exported for tests). */
export function parseListObjectsV2(xml: string): { blobs: ArchivedBlob[]; nextToken: string | undefined } {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new EscrowError('ARCHIVE_STORE', 'S3 LIST: the answer is not a ListBucketResult');
  const blobs: ArchivedBlob[] = [];
  for (const [, body] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(body!)?.[1];
    const modified = /<LastModified>([^<]*)<\/LastModified>/.exec(body!)?.[1];
    if (key === undefined || modified === undefined || Number.isNaN(Date.parse(modified))) throw new EscrowError('ARCHIVE_STORE', 'S3 LIST: an entry without Key or LastModified');
    blobs.push({ key: unescapeXml(key), modifiedAt: new Date(modified) });
  }
  const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
  const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
  if (truncated && next === undefined) throw new EscrowError('ARCHIVE_STORE', 'S3 LIST: truncated without a continuation token');
  return { blobs, nextToken: truncated ? unescapeXml(next!) : undefined };
}
