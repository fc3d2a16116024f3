import { parseCidr, type Cidr } from '../gateway.config';
import { addressBytes, inNetwork, inNetworks } from './client-networks';

const cidr = (t: string): Cidr => parseCidr(t)!;

describe('inNetwork', () => {
  it('matches IPv4 prefixes at and off byte boundaries', () => {
    expect(inNetwork('10.1.2.3', cidr('10.0.0.0/8'))).toBe(true);
    expect(inNetwork('11.1.2.3', cidr('10.0.0.0/8'))).toBe(false);
    expect(inNetwork('192.168.1.130', cidr('192.168.1.128/25'))).toBe(true);
    expect(inNetwork('192.168.1.127', cidr('192.168.1.128/25'))).toBe(false);
    expect(inNetwork('192.0.2.1', cidr('192.0.2.1'))).toBe(true);
    expect(inNetwork('192.0.2.2', cidr('192.0.2.1'))).toBe(false);
    expect(inNetwork('203.0.113.9', cidr('0.0.0.0/0'))).toBe(true);
  });

  it('matches IPv6 prefixes and treats IPv4-mapped IPv6 peers as IPv4', () => {
    expect(inNetwork('::1', cidr('::1/128'))).toBe(true);
    expect(inNetwork('2001:db8::5', cidr('2001:db8::/32'))).toBe(true);
    expect(inNetwork('2001:db9::5', cidr('2001:db8::/32'))).toBe(false);
    expect(inNetwork('::ffff:127.0.0.1', cidr('127.0.0.0/8'))).toBe(true);
    expect(inNetwork('::ffff:10.0.0.1', cidr('127.0.0.0/8'))).toBe(false);
    expect(inNetwork('127.0.0.1', cidr('::1/128'))).toBe(false);
  });

  it('never matches what is not an address', () => {
    expect(addressBytes('localhost')).toBeUndefined();
    expect(inNetworks('', [cidr('0.0.0.0/0')])).toBe(false);
  });

  it('expands compressed IPv6 forms', () => {
    expect(addressBytes('2001:db8::1')).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(addressBytes('::')).toEqual(Array(16).fill(0));
  });
});
