// The archive store a process uses, from its JournalConfig (ARCHIVE_STORE=fs|s3).
import type { ArchiveStore } from './archive-store';
import { FsArchiveStore } from './fs-archive-store';
import type { JournalConfig } from './journal.config';
import { S3ArchiveStore } from './s3-archive-store';

export function createArchiveStore(config: JournalConfig): ArchiveStore {
  if (config.store === 's3' && config.s3 !== null) {
    return new S3ArchiveStore({
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      bucket: config.s3.bucket,
      credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey.reveal() },
      pathStyle: config.s3.pathStyle,
    });
  }
  return new FsArchiveStore(config.archiveDir);
}
