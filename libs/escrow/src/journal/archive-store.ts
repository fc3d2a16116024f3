// Where journal blobs live, behind one interface: FsArchiveStore (default, local disk) and
// S3ArchiveStore (S3-compatible, Object Lock in compliance mode for WORM deployments). Blobs are
// ciphertext only (journal-record.ts); keys are opaque names chosen by the journal.

export interface ArchiveRetention {
  /** 'compliance': the store itself refuses deletion until retainUntil (S3 Object Lock). */
  readonly mode: 'none' | 'compliance';
  readonly retainUntil: Date | null;
}

export interface ArchiveStore {
  /** Stores bytes under key, durably before it resolves; storing the same key again is harmless. */
  put(key: string, bytes: Uint8Array, options: { readonly retainUntil: Date }): Promise<void>;
  /** The bytes; EscrowError BLOB_NOT_FOUND when absent. */
  get(key: string): Promise<Buffer>;
  /** Removes the blob; absent is not an error (disposition retries). */
  delete(key: string): Promise<void>;
  /** The store-side retention lock of a blob (null when absent). */
  retention(key: string): Promise<ArchiveRetention | null>;
  /**
   * Every blob whose key starts with `prefix`, with when it was written, in no particular order
   * (the orphan sweep). Also lists what a put left behind when it was interrupted (FsArchiveStore's
   * temporary files), under keys no record names.
   */
  list(prefix: string): AsyncIterable<ArchivedBlob>;
}

export interface ArchivedBlob {
  readonly key: string;
  readonly modifiedAt: Date;
}

/** Blob keys: lower-case letters, digits, '-', '/' and '.', no '..' and no leading '/'. */
export function checkBlobKey(key: string): string {
  if (typeof key !== 'string' || !/^[a-z0-9][a-z0-9./-]{0,254}$/.test(key) || key.includes('..') || key.includes('//')) {
    throw new RangeError(`"key" is not a valid blob key: ${String(key)}`);
  }
  return key;
}

/** The key of a record's blob: spread over 256 directories by the record id's first byte. */
export function journalBlobKey(recordId: string): string {
  return checkBlobKey(`journal/${recordId.slice(0, 2).toLowerCase()}/${recordId.toLowerCase()}.djr`);
}
