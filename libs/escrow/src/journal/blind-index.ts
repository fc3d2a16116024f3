// Blind indexes: HMAC-SHA256 in the HSM (blind-index key) over the normalised address, so the
// database can find a custodian's records without holding any address. The HSM call is kept off
// the hot path by an in-memory LRU of address -> index (addresses repeat: one sender writes many
// mails); the cache lives only in this process's memory, never in Redis or PostgreSQL.
import type { HsmKeystore } from '@lib/hsm';
import { EscrowError } from './escrow.error';

/** Domain separation: the same key could serve other index kinds later. */
const ADDRESS_PREFIX = 'dime-blind-index.address.v1\0';

/** Lower-case, trimmed, without angle brackets; the empty reverse path `<>` stays empty. */
export function normaliseAddress(address: string): string {
  if (typeof address !== 'string') throw new TypeError(`"address" expected string, got ${typeof address}`);
  let a = address.trim();
  if (a.startsWith('<') && a.endsWith('>')) a = a.slice(1, -1).trim();
  a = a.toLowerCase();
  // quoted local parts may hold spaces ("john doe"@x): the journal must take whatever SMTP accepted
  if (a.length > 1024 || a.includes('\0')) throw new EscrowError('INVALID_INPUT', 'not a mail address');
  return a;
}

/** What computes blind indexes (the HSM in production; an HMAC in software in unit tests). */
export interface BlindIndexMac {
  hmacSha256(label: string, data: Uint8Array): Promise<Buffer>;
}

export class BlindIndexer {
  private readonly cache = new Map<string, Buffer>();
  hits = 0;
  misses = 0;

  /** keyLabel: `keyLabel('blind-index')`; cacheSize: addresses kept (0 = no cache). */
  constructor(
    private readonly mac: BlindIndexMac | Pick<HsmKeystore, 'hmacSha256'>,
    readonly keyLabel: string,
    private readonly cacheSize = 10_000,
  ) {
    if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new RangeError('"cacheSize" expected a non-negative integer');
  }

  /** The 32-byte index of one address. */
  async addressIndex(address: string): Promise<Buffer> {
    const normal = normaliseAddress(address);
    const cached = this.cache.get(normal);
    if (cached !== undefined) {
      this.hits++;
      // LRU: re-insert so Map order keeps the most recent last
      this.cache.delete(normal);
      this.cache.set(normal, cached);
      return cached;
    }
    this.misses++;
    const index = await this.mac.hmacSha256(this.keyLabel, Buffer.from(ADDRESS_PREFIX + normal, 'utf8'));
    if (this.cacheSize > 0) {
      this.cache.set(normal, index);
      if (this.cache.size > this.cacheSize) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    return index;
  }

  /** Indexes of several addresses, duplicates (after normalisation) removed, order kept. */
  async addressIndexes(addresses: readonly string[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    const seen = new Set<string>();
    for (const a of addresses) {
      const index = await this.addressIndex(a);
      const hex = index.toString('hex');
      if (!seen.has(hex)) {
        seen.add(hex);
        out.push(index);
      }
    }
    return out;
  }
}
