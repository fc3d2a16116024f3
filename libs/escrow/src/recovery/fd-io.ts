// Whole reads and writes on a file descriptor: readSync and writeSync may move fewer bytes than
// asked, which the escrow files (exports, their decryption, the archives inside) must never miss.
import { readSync, writeSync } from 'node:fs';

/** Writes all of `chunk` at the file's current position. */
export function writeFully(fd: number, chunk: Uint8Array): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** `length` bytes from `position`; fewer only where the file ends (the caller says what that means). */
export function readAt(fd: number, position: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) return out.subarray(0, done);
    done += n;
  }
  return out;
}
