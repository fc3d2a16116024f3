// STATIC_ROUTES in the gateway config: `domain=host:port` entries, lower-cased domains, IPv6 in
// brackets, every malformed entry named.
import { gatewayConfigFromEnv } from '../gateway.config';

const base = { HSM_PIN: '1234', HSM_MODULE: process.execPath };

describe('STATIC_ROUTES', () => {
  it('parses domain=host:port entries', () => {
    const c = gatewayConfigFromEnv({ ...base, STATIC_ROUTES: 'Remote.test=127.0.0.1:2526, v6.test=[::1]:25,named.test=mx.named.test:587' });
    expect(c.delivery.staticRoutes).toEqual({
      'remote.test': { host: '127.0.0.1', port: 2526 },
      'v6.test': { host: '::1', port: 25 },
      'named.test': { host: 'mx.named.test', port: 587 },
    });
    expect(Object.isFrozen(c.delivery.staticRoutes)).toBe(true);
  });

  it('is empty by default', () => {
    expect(gatewayConfigFromEnv(base).delivery.staticRoutes).toEqual({});
  });

  it('names every malformed entry', () => {
    expect(() => gatewayConfigFromEnv({ ...base, STATIC_ROUTES: 'remote.test=127.0.0.1,bad=1.2.3.4:25,x.test=h:99999' })).toThrow(
      /STATIC_ROUTES: "remote.test=127.0.0.1"[\s\S]*STATIC_ROUTES: "bad=1.2.3.4:25"[\s\S]*STATIC_ROUTES: "x.test=h:99999"/,
    );
  });
});
