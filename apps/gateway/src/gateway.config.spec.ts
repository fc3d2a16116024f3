import { gatewayConfigFromEnv, parseCidr, parseDuration, parseSize } from './gateway.config';

const base = { HSM_PIN: '1234' };

describe('gatewayConfigFromEnv', () => {
  it('gives the local quickstart defaults and freezes the result', () => {
    const c = gatewayConfigFromEnv(base, '/srv/gw');
    expect(c.listen).toEqual({ address: '127.0.0.1', smtpPort: 2525, submissionPort: 2587, metricsPort: 9465 });
    expect(c.orgDomain).toBe('example.test');
    expect(c.localDomains).toEqual(['example.test']);
    expect(c.hostname).toBe('gateway.example.test');
    expect(c.legacy).toMatchObject({ host: '127.0.0.1', port: 25, tlsPolicy: 'required' });
    expect(c.limits).toEqual({ maxMessageBytes: 25 * 1024 * 1024, maxLineBytes: 998, maxRecipients: 100, maxConnections: 500 });
    expect(c.spoolDir).toBe('/srv/gw/.local/spool');
    expect(c.logLevel).toBe('info');
    expect(c.shutdownGraceMs).toBe(30_000);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names every bad key at once', () => {
    let message = '';
    try {
      gatewayConfigFromEnv({ ...base, SMTP_PORT: '70000', MAX_MESSAGE_SIZE: '0', LOCAL_DOMAINS: 'ok.test,bad_domain', SUBMISSION_NETWORKS: '10.0.0.0/33', LOG_LEVEL: 'loud', SHUTDOWN_GRACE: 'soon', LEGACY_TLS_POLICY: 'maybe' });
    } catch (error) {
      message = (error as Error).message;
    }
    for (const key of ['SMTP_PORT', 'MAX_MESSAGE_SIZE', 'LOCAL_DOMAINS: "bad_domain"', 'SUBMISSION_NETWORKS: "10.0.0.0/33"', 'LOG_LEVEL', 'SHUTDOWN_GRACE', 'LEGACY_TLS_POLICY']) {
      expect(message).toContain(key);
    }
  });

  it('lower-cases domains, splits lists on commas and spaces, and allows port 0 (pick a free port)', () => {
    const c = gatewayConfigFromEnv({ ...base, ORG_DOMAIN: 'Corp.Example', LOCAL_DOMAINS: 'Corp.Example, other.example  third.example', SMTP_PORT: '0' });
    expect(c.localDomains).toEqual(['corp.example', 'other.example', 'third.example']);
    expect(c.listen.smtpPort).toBe(0);
  });

  it('defaults job locks to a crash recovery within seconds and refuses locks too short to be renewed', () => {
    expect(gatewayConfigFromEnv(base).workers).toEqual({ lockDurationMs: 10_000, stalledIntervalMs: 5000 });
    expect(gatewayConfigFromEnv(base).delivery.deliveredPoolSize).toBe(10);
    expect(gatewayConfigFromEnv({ ...base, JOB_LOCK_DURATION: '30s', JOB_STALLED_INTERVAL: '30s' }).workers).toEqual({ lockDurationMs: 30_000, stalledIntervalMs: 30_000 });
    expect(() => gatewayConfigFromEnv({ ...base, JOB_LOCK_DURATION: '1s', JOB_STALLED_INTERVAL: '500ms', DELIVERED_POOL_SIZE: '0' })).toThrow(
      /JOB_LOCK_DURATION must be at least 2s[^]*JOB_STALLED_INTERVAL must be at least 1s[^]*DELIVERED_POOL_SIZE/,
    );
  });

  it('reports a missing HSM PIN as a configuration problem, not a crash', () => {
    expect(() => gatewayConfigFromEnv({})).toThrow(/hsm: .*HSM_PIN/);
  });
});

describe('value parsers', () => {
  it('spools messages up to 256K in PostgreSQL by default; SPOOL_DB_MAX_SIZE=0 keeps every message in a file', () => {
    expect(gatewayConfigFromEnv(base).spoolDbMaxBytes).toBe(262_144);
    expect(gatewayConfigFromEnv({ ...base, SPOOL_DB_MAX_SIZE: '0' }).spoolDbMaxBytes).toBe(0);
    expect(gatewayConfigFromEnv({ ...base, SPOOL_DB_MAX_SIZE: '1M' }).spoolDbMaxBytes).toBe(1_048_576);
    expect(() => gatewayConfigFromEnv({ ...base, SPOOL_DB_MAX_SIZE: 'lots' })).toThrow(/SPOOL_DB_MAX_SIZE must be a size like 256K, or 0/);
  });

  it('parses durations, sizes and CIDRs and refuses the rest', () => {
    expect([parseDuration('30s'), parseDuration('4h'), parseDuration('5d'), parseDuration('250'), parseDuration('1w')]).toEqual([30_000, 14_400_000, 432_000_000, 250, undefined]);
    expect([parseSize('25M'), parseSize('512k'), parseSize('10'), parseSize('1T')]).toEqual([26_214_400, 524_288, 10, undefined]);
    expect(parseCidr('192.0.2.0/24')).toEqual({ address: '192.0.2.0', prefix: 24, family: 4 });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 6 });
    expect([parseCidr('300.0.0.1/8'), parseCidr('10.0.0.0/-1'), parseCidr('host.example/8')]).toEqual([undefined, undefined, undefined]);
  });
});
