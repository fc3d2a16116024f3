// Byte helpers shared inside libs/dime (not exported from the lib): big-endian integers,
// concatenation, and a bounds-checked reader that fails with DimeError('TRUNCATED').
import { DimeError } from './dime.error';

export function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`"${name}" expected Uint8Array, got ${value === null ? 'null' : typeof value}`);
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function uintBE(value: number, width: 1 | 2 | 3 | 4): Buffer {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * width)) {
    throw new DimeError('TOO_LARGE', `value ${value} does not fit in ${width} byte(s)`);
  }
  const out = Buffer.alloc(width);
  out.writeUIntBE(value, 0, width);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(toBuffer(a), toBuffer(b)) === 0;
}

/** Sequential reader over a byte array; every overrun is a DimeError('TRUNCATED'). */
export class ByteReader {
  private pos = 0;
  private readonly buf: Buffer;

  constructor(
    bytes: Uint8Array,
    private readonly what = 'input',
  ) {
    this.buf = toBuffer(bytes);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private need(n: number): void {
    if (n > this.remaining) {
      throw new DimeError('TRUNCATED', `${this.what}: needs ${n} byte(s) at offset ${this.pos}, ${this.remaining} left`);
    }
  }

  uint(width: 1 | 2 | 3 | 4): number {
    this.need(width);
    const v = this.buf.readUIntBE(this.pos, width);
    this.pos += width;
    return v;
  }

  peekUint8(): number {
    this.need(1);
    return this.buf[this.pos] as number;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}
