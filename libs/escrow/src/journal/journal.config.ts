// Journal, archive store and retention settings, read once from the environment (STYLE.md 4);
// every bad key is named at boot. Documented in docs/compliance.md.
import { RedactedSecret } from '@lib/config';

export interface S3ArchiveConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: RedactedSecret;
  /** Path-style URLs (MinIO, Ceph) instead of virtual-hosted buckets. */
  readonly pathStyle: boolean;
}

export interface JournalConfig {
  readonly enabled: boolean;
  readonly store: 'fs' | 's3';
  /** FsArchiveStore root (ARCHIVE_DIR). */
  readonly archiveDir: string;
  readonly s3: S3ArchiveConfig | null;
  /** Retention (days, action review) for mail no policy matches; 0 = such mail is not journaled. */
  readonly defaultRetentionDays: number;
  readonly blindIndexCacheSize: number;
  /** The disposition sweep's period (ms, BullMQ repeatable job); 0 = not scheduled. */
  readonly sweepEveryMs: number;
  /** Records per disposition certificate. */
  readonly sweepBatchSize: number;
}

type Env = Readonly<Record<string, string | undefined>>;

export function journalConfigFromEnv(env: Env): JournalConfig {
  const errors: string[] = [];
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = env[key];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      errors.push(`${key} must be an integer in ${min}..${max}`);
      return fallback;
    }
    return n;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const raw = env[key];
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    errors.push(`${key} must be true or false`);
    return fallback;
  };
  const enabled = bool('JOURNAL_ENABLED', false);
  const storeRaw = env['ARCHIVE_STORE'] || 'fs';
  if (storeRaw !== 'fs' && storeRaw !== 's3') errors.push('ARCHIVE_STORE must be fs or s3');
  const store = storeRaw === 's3' ? 's3' : 'fs';
  const archiveDir = env['ARCHIVE_DIR'] || '.local/archive';
  let s3: S3ArchiveConfig | null = null;
  if (store === 's3') {
    const need = (key: string): string => {
      const v = env[key];
      if (!v) errors.push(`${key} is required with ARCHIVE_STORE=s3`);
      return v ?? '';
    };
    const endpoint = need('S3_ENDPOINT');
    if (endpoint !== '' && !/^https?:\/\//.test(endpoint)) errors.push('S3_ENDPOINT must be an http(s) URL');
    s3 = Object.freeze({
      endpoint,
      region: env['S3_REGION'] || 'us-east-1',
      bucket: need('S3_BUCKET'),
      accessKeyId: need('S3_ACCESS_KEY_ID'),
      secretAccessKey: new RedactedSecret(need('S3_SECRET_ACCESS_KEY')),
      pathStyle: bool('S3_PATH_STYLE', true),
    });
  }
  const config: JournalConfig = Object.freeze({
    enabled,
    store,
    archiveDir,
    s3,
    defaultRetentionDays: int('JOURNAL_DEFAULT_RETENTION_DAYS', 0, 0, 36500),
    blindIndexCacheSize: int('BLIND_INDEX_CACHE_SIZE', 10000, 0, 10_000_000),
    sweepEveryMs: int('RETENTION_SWEEP_EVERY_MS', 3_600_000, 0, 7 * 86_400_000),
    sweepBatchSize: int('RETENTION_SWEEP_BATCH', 10000, 1, 100000),
  });
  if (errors.length > 0) throw new Error(`invalid journal configuration: ${errors.join('; ')}`);
  return config;
}
