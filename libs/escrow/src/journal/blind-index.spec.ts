// Blind indexes: normalisation (one index per mailbox however it is written) and the LRU that
// keeps repeated addresses off the HSM. The MAC is a software HMAC here; the HSM one in medium tests.
import { createHmac } from 'node:crypto';
import { BlindIndexer, normaliseAddress } from './blind-index';

function softwareMac(): { calls: number; hmacSha256(label: string, data: Uint8Array): Promise<Buffer> } {
  const mac = {
    calls: 0,
    async hmacSha256(label: string, data: Uint8Array): Promise<Buffer> {
      mac.calls++;
      return createHmac('sha256', label).update(data).digest();
    },
  };
  return mac;
}

describe('blind indexes', () => {
  it('normalises case, whitespace and angle brackets', () => {
    expect(normaliseAddress('  <Alice@Example.COM> ')).toBe('alice@example.com');
    expect(normaliseAddress('<>')).toBe('');
    expect(normaliseAddress('"John Doe"@Example.com')).toBe('"john doe"@example.com');
    expect(() => normaliseAddress('a\0b@example.com')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('gives one index per mailbox and caches it (LRU)', async () => {
    const mac = softwareMac();
    const indexer = new BlindIndexer(mac, 'k', 2);
    const a = await indexer.addressIndex('Alice@Example.com');
    expect((await indexer.addressIndex('<alice@example.com>')).equals(a)).toBe(true);
    expect(mac.calls).toBe(1);
    await indexer.addressIndex('b@example.com');
    await indexer.addressIndex('alice@example.com'); // refreshes alice
    await indexer.addressIndex('c@example.com'); // evicts b
    expect(mac.calls).toBe(3);
    await indexer.addressIndex('alice@example.com');
    expect(mac.calls).toBe(3);
    await indexer.addressIndex('b@example.com');
    expect(mac.calls).toBe(4);
    expect(await indexer.addressIndexes(['x@y.example', 'X@Y.example', 'z@y.example'])).toHaveLength(2);
  });
});
