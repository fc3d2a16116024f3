// The default archive store: one file per blob under a root directory. A put writes a temporary
// file, fsyncs it, renames it into place and fsyncs the directory, so after put() resolves the blob
// survives a crash and a reader never sees half a blob. No WORM guarantee: retention is enforced
// by PostgreSQL (docs/compliance.md); use S3ArchiveStore with Object Lock for WORM storage.
import { randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { checkBlobKey, type ArchivedBlob, type ArchiveRetention, type ArchiveStore } from './archive-store';
import { EscrowError } from './escrow.error';

async function fsyncDir(path: string): Promise<void> {
  const fd = await open(path, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

const isNotFound = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === 'ENOENT';

export class FsArchiveStore implements ArchiveStore {
  private readonly madeDirs = new Set<string>();

  constructor(readonly root: string) {
    if (typeof root !== 'string' || root === '') throw new TypeError('"root" expected a directory path');
  }

  private path(key: string): string {
    return join(this.root, checkBlobKey(key));
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // the new directory entries must be durable too
    await fsyncDir(dirname(dir));
    this.madeDirs.add(dir);
  }

  // no store-side retention: PostgreSQL enforces it for this store (docs/compliance.md)
  async put(key: string, bytes: Uint8Array, _options?: { readonly retainUntil: Date }): Promise<void> {
    const target = this.path(key);
    const dir = dirname(target);
    try {
      await this.ensureDir(dir);
      const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      const fd = await open(tmp, 'wx', 0o600).catch(async (e: unknown) => {
        if (!isNotFound(e)) throw e;
        this.madeDirs.delete(dir);
        await this.ensureDir(dir);
        return open(tmp, 'wx', 0o600);
      });
      try {
        await fd.writeFile(bytes);
        await fd.sync();
      } finally {
        await fd.close();
      }
      try {
        await rename(tmp, target);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
      await fsyncDir(dir);
    } catch (cause) {
      throw new EscrowError('ARCHIVE_STORE', `archive put ${key} failed: ${(cause as Error).message}`, { cause });
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (cause) {
      if (isNotFound(cause)) throw new EscrowError('BLOB_NOT_FOUND', `no archived blob ${key}`);
      throw new EscrowError('ARCHIVE_STORE', `archive get ${key} failed: ${(cause as Error).message}`, { cause });
    }
  }

  async delete(key: string): Promise<void> {
    const target = this.path(key);
    try {
      await rm(target, { force: true });
      await fsyncDir(dirname(target)).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    } catch (cause) {
      throw new EscrowError('ARCHIVE_STORE', `archive delete ${key} failed: ${(cause as Error).message}`, { cause });
    }
  }

  async *list(prefix: string): AsyncIterable<ArchivedBlob> {
    // walk the directory holding the prefix (e.g. `journal/`), keep the files under the prefix
    const slash = prefix.lastIndexOf('/');
    const start = join(this.root, slash === -1 ? '' : prefix.slice(0, slash));
    const pending = [start];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      let handle;
      try {
        handle = await opendir(dir);
      } catch (e) {
        if (isNotFound(e)) continue;
        throw new EscrowError('ARCHIVE_STORE', `archive list ${dir} failed: ${(e as Error).message}`, { cause: e });
      }
      for await (const entry of handle) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          pending.push(path);
          continue;
        }
        if (!entry.isFile()) continue;
        const key = relative(this.root, path).split(sep).join('/');
        if (!key.startsWith(prefix)) continue;
        try {
          yield { key, modifiedAt: (await stat(path)).mtime };
        } catch (e) {
          if (!isNotFound(e)) throw new EscrowError('ARCHIVE_STORE', `archive stat ${key} failed: ${(e as Error).message}`, { cause: e });
        }
      }
    }
  }

  async retention(key: string): Promise<ArchiveRetention | null> {
    try {
      await stat(this.path(key));
      return { mode: 'none', retainUntil: null };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw new EscrowError('ARCHIVE_STORE', `archive stat ${key} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}
