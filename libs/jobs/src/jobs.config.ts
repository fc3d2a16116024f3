// Redis connection for BullMQ, read once from the environment (STYLE.md 4).
export interface JobsConfig {
  readonly host: string;
  readonly port: number;
  /** Key prefix for every queue, so several installations can share one Redis. */
  readonly prefix: string;
}

export function jobsConfigFromEnv(env: Readonly<Record<string, string | undefined>>): JobsConfig {
  let host = env['REDIS_HOST'] || '127.0.0.1';
  let port = Number(env['REDIS_PORT'] || 6379);
  const url = env['REDIS_URL'];
  if (url) {
    const u = new URL(url);
    if (u.protocol !== 'redis:') throw new Error('invalid Redis configuration: REDIS_URL must be a redis:// URL');
    host = u.hostname;
    port = u.port ? Number(u.port) : 6379;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('invalid Redis configuration: REDIS_PORT must be a port number');
  return Object.freeze({ host, port, prefix: env['QUEUE_PREFIX'] || 'dime' });
}
