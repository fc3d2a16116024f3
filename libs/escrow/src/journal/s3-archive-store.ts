// The WORM archive store: an S3-compatible bucket with Object Lock (the bucket must be created
// with Object Lock enabled, hence versioned). Each blob is PUT with
// `x-amz-object-lock-mode: COMPLIANCE` and `x-amz-object-lock-retain-until-date` = the record's
// retention date, so not even the bucket's root account can delete it earlier. Requests are
// signed with SigV4 (s3-sigv4.ts) over node's fetch; no SDK dependency.
import { createHash } from 'node:crypto';
import { checkBlobKey, type ArchiveRetention, type ArchiveStore } from './archive-store';
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
