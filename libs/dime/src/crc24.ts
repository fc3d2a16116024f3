// OpenPGP CRC-24 (RFC 4880 §6.1: init 0xB704CE, polynomial 0x1864CFB), the checksum line of DIME's
// PEM armor (DIGEST.md §2). Table-driven: armoring sits on the signet/key hot path.

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let crc = b << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
    table[b] = crc & 0xffffff;
  }
  return table;
})();

/** The 24-bit CRC of bytes, as an integer 0..0xFFFFFF. */
export function crc24(bytes: Uint8Array): number {
  let crc = CRC24_INIT;
  for (let i = 0; i < bytes.length; i++) {
    crc = ((crc << 8) ^ (TABLE[((crc >>> 16) ^ (bytes[i] as number)) & 0xff] as number)) & 0xffffff;
  }
  return crc;
}
