// The journal configuration: defaults, every bad key named at once, S3 keys required with s3.
import { journalConfigFromEnv } from './journal.config';

describe('journal configuration', () => {
  it('defaults to a disabled journal on the filesystem store', () => {
    expect(journalConfigFromEnv({})).toMatchObject({ enabled: false, store: 'fs', archiveDir: '.local/archive', s3: null, defaultRetentionDays: 0, sweepBatchSize: 10000 });
  });

  it('names every bad key', () => {
    expect(() => journalConfigFromEnv({ JOURNAL_ENABLED: 'yes', ARCHIVE_STORE: 'tape', RETENTION_SWEEP_BATCH: '0' })).toThrow(
      /JOURNAL_ENABLED must be true or false; ARCHIVE_STORE must be fs or s3; RETENTION_SWEEP_BATCH must be an integer/,
    );
    expect(() => journalConfigFromEnv({ ARCHIVE_STORE: 's3', S3_ENDPOINT: 'ftp://x' })).toThrow(/S3_ENDPOINT must be an http\(s\) URL; S3_BUCKET is required.*S3_SECRET_ACCESS_KEY is required/);
  });

  it('keeps the S3 secret redacted', () => {
    const c = journalConfigFromEnv({ ARCHIVE_STORE: 's3', S3_ENDPOINT: 'https://s3.example', S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'id', S3_SECRET_ACCESS_KEY: 'topsecret' });
    expect(JSON.stringify(c)).not.toContain('topsecret');
    expect(c.s3?.secretAccessKey.reveal()).toBe('topsecret');
  });
});
