import fc from 'fast-check';
import { DimeError } from '../dime.error';
import { ChunkType, assertRequiredChunks, endOfChunksThrough, parseMessageFrame } from './message-chunk';
import { vectorMessage1, vectorMessage2 } from '../../../../test/dime-message.fixture';

function expectDimeError(fn: () => unknown, code?: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DimeError);
    if (code) expect((err as DimeError).code).toBe(code);
    return;
  }
  throw new Error('expected a DimeError');
}

/** A copy of the message with its header length adjusted to the new body. */
function withBody(msg: Buffer, body: Buffer): Buffer {
  const out = Buffer.concat([msg.subarray(0, 6), body]);
  out.writeUInt32BE(body.length, 2);
  return out;
}

describe('parseMessageFrame', () => {
  it('frames the libdime vector message: chunk types, payload sizes and keyslot counts per DIGEST §6.1', () => {
    const frame = parseMessageFrame(vectorMessage2());
    expect(frame.chunks.map((c) => [c.type, c.payload.length, c.keyslots.length])).toEqual([
      [2, 33, 0],
      [4, 432, 3],
      [5, 528, 3],
      [33, 384, 2],
      [34, 256, 2],
      [67, 320, 2],
      [131, 272, 2],
      [225, 64, 3],
      [226, 64, 3],
      [248, 64, 4],
      [249, 64, 4],
      [255, 64, 4],
    ]);
    const last = frame.chunks[frame.chunks.length - 1]!;
    expect(last.offset + last.length).toBe(4647);
    expect(() => assertRequiredChunks(frame)).not.toThrow();
  });

  it('message-1 and message-2 differ only inside the payloads of the origin signature chunks', () => {
    const m1 = vectorMessage1();
    const m2 = vectorMessage2();
    const frame = parseMessageFrame(m2);
    const payloadRanges = frame.chunks
      .filter((c) => c.type >= 248)
      .map((c) => [c.offset + 4, c.offset + 4 + c.payload.length] as const);
    for (let i = 0; i < m1.length; i++) {
      if (m1[i] !== m2[i]) expect(payloadRanges.some(([a, b]) => i >= a && i < b)).toBe(true);
    }
  });

  it('computes the contiguous signed ranges by chunk type', () => {
    const frame = parseMessageFrame(vectorMessage2());
    expect(endOfChunksThrough(frame, ChunkType.otherHeaders)).toBe(2299);
    expect(endOfChunksThrough(frame, ChunkType.display)).toBe(2751);
    expect(endOfChunksThrough(frame, ChunkType.originDisplayBounceSig)).toBe(4323);
  });

  it('refuses a wrong magic number as WRONG_TYPE and a tracing block as UNSUPPORTED', () => {
    const msg = vectorMessage2();
    const bad = Buffer.from(msg);
    bad.writeUInt16BE(1776, 0);
    expectDimeError(() => parseMessageFrame(bad), 'WRONG_TYPE');
    bad.writeUInt16BE(1837, 0);
    expectDimeError(() => parseMessageFrame(bad), 'UNSUPPORTED');
  });

  it('refuses trailing bytes and a body shorter than declared', () => {
    const msg = vectorMessage2();
    expectDimeError(() => parseMessageFrame(Buffer.concat([msg, Buffer.from([0])])), 'MALFORMED');
    expectDimeError(() => parseMessageFrame(msg.subarray(0, msg.length - 1)), 'TRUNCATED');
    expectDimeError(() => parseMessageFrame(msg.subarray(0, 5)), 'TRUNCATED');
  });

  it('refuses chunks out of ascending order, repeated unique chunks, unknown and alternate types', () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const bytesOf = (i: number): Buffer => {
      const c = frame.chunks[i]!;
      return msg.subarray(c.offset, c.offset + c.length);
    };
    const all = frame.chunks.map((_, i) => bytesOf(i));
    // swap origin (4) and destination (5): same keyslot count, wrong order
    expectDimeError(() => parseMessageFrame(withBody(msg, Buffer.concat([all[0]!, all[2]!, all[1]!, ...all.slice(3)]))), 'FIELD_ORDER');
    // origin chunk twice
    expectDimeError(() => parseMessageFrame(withBody(msg, Buffer.concat([all[0]!, all[1]!, ...all.slice(1)]))), 'DUPLICATE_FIELD');
    const unknown = Buffer.from(msg);
    unknown[frame.chunks[5]!.offset] = 66;
    expectDimeError(() => parseMessageFrame(unknown), 'UNKNOWN_FIELD');
    const alternate = Buffer.from(msg);
    alternate[frame.chunks[1]!.offset] = 3;
    expectDimeError(() => parseMessageFrame(alternate), 'UNSUPPORTED');
  });

  it('accepts repeated display and attachment chunks', () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const display = frame.chunks[5]!;
    const body = Buffer.concat([
      msg.subarray(6, display.offset + display.length),
      msg.subarray(display.offset, display.offset + display.length),
      msg.subarray(display.offset + display.length),
    ]);
    expect(parseMessageFrame(withBody(msg, body)).chunks.filter((c) => c.type === 67)).toHaveLength(2);
  });

  it('refuses signature and ephemeral chunks of the wrong size and standard payloads that are not whole blocks', () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const eph = Buffer.from(msg);
    eph.writeUIntBE(32, frame.chunks[0]!.offset + 1, 3);
    expectDimeError(() => parseMessageFrame(eph), 'MALFORMED');
    const std = Buffer.from(msg);
    std.writeUIntBE(431, frame.chunks[1]!.offset + 1, 3);
    expectDimeError(() => parseMessageFrame(std), 'MALFORMED');
    const sig = Buffer.from(msg);
    sig.writeUIntBE(80, frame.chunks[7]!.offset + 1, 3);
    expectDimeError(() => parseMessageFrame(sig), 'MALFORMED');
  });

  it('reports a missing required chunk as MISSING_FIELD', () => {
    const msg = vectorMessage2();
    const frame = parseMessageFrame(msg);
    const tree = frame.chunks.find((c) => c.type === 225)!;
    const without = withBody(msg, Buffer.concat([msg.subarray(6, tree.offset), msg.subarray(tree.offset + tree.length)]));
    expectDimeError(() => assertRequiredChunks(parseMessageFrame(without)), 'MISSING_FIELD');
  });

  it('throws only DimeError on random bytes and on every truncation', () => {
    const msg = vectorMessage2();
    for (let n = 0; n < msg.length; n++) expectDimeError(() => parseMessageFrame(msg.subarray(0, n)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, asMessage) => {
        const input = Buffer.from(bytes);
        if (asMessage && input.length >= 6) {
          input.writeUInt16BE(1847, 0);
          input.writeUInt32BE(input.length - 6, 2);
        }
        try {
          parseMessageFrame(input);
        } catch (err) {
          expect(err).toBeInstanceOf(DimeError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
