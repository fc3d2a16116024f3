// Deterministic UUIDs (version 8, SHA-256 of a name) for things the gateway may create twice after
// a crash or retry (DSNs, replacement bodies): the same name yields the same id, so the second
// creation finds the first.
import { createHash } from 'node:crypto';

export function nameBasedUuid(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
