// Is a client address inside one of the configured networks (SUBMISSION_NETWORKS)? IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers) match IPv4 networks.
import { isIPv4, isIPv6 } from 'node:net';
import type { Cidr } from '../gateway.config';

function v4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

function v6Bytes(address: string): number[] | undefined {
  let text = address;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = v4Bytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const missing = 8 - h.length - r.length;
  if (rest === undefined ? missing !== 0 : missing < 0) return undefined;
  const groups = [...h, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...r].map((g) => parseInt(g, 16));
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Bytes of an address, IPv4-mapped IPv6 reduced to IPv4; undefined when not an IP address. */
export function addressBytes(address: string): number[] | undefined {
  if (isIPv4(address)) return v4Bytes(address);
  if (!isIPv6(address)) return undefined;
  const bytes = v6Bytes(address.split('%')[0]!);
  if (bytes && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12);
  return bytes;
}

export function inNetwork(address: string, cidr: Cidr): boolean {
  const a = addressBytes(address);
  const n = addressBytes(cidr.address);
  if (!a || !n || a.length !== n.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (n[i]! & mask)) return false;
  }
  return true;
}

export function inNetworks(address: string, networks: readonly Cidr[]): boolean {
  return networks.some((c) => inNetwork(address, c));
}
