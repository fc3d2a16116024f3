// Property tests over whole D/MIME messages: random contents round-trip through seal, origin
// signing and opening; single-bit tampering is always caught except where no signature reaches.
import fc from 'fast-check';
import { DimeError } from '../dime.error';
import { InMemoryKeyAgreement, InMemorySigner } from '../signer';
import { ChunkType, KEYSLOT_LENGTH, parseMessageFrame } from './message-chunk';
import { openMessage } from './message-open';
import { signOrigin } from './message-origin-sign';
import { sealMessage } from './message-seal';
import type { DimeActor, OpenedMessage, SealInput } from './message.types';
import { VECTOR_ACTORS, VECTOR_NAMES, vectorActorKeys } from '../../../../test/dime-message.fixture';

const keys = Object.fromEntries(VECTOR_ACTORS.map((a) => [a, vectorActorKeys(a)])) as Record<DimeActor, ReturnType<typeof vectorActorKeys>>;
const agreements = Object.fromEntries(VECTOR_ACTORS.map((a) => [a, new InMemoryKeyAgreement(keys[a].secp256k1Private)])) as Record<
  DimeActor,
  InMemoryKeyAgreement
>;
const authorSigner = new InMemorySigner(keys.author.ed25519Seed);
const originSigner = new InMemorySigner(keys.origin.ed25519Seed);

interface Contents {
  commonHeaders: Uint8Array;
  otherHeaders: Uint8Array;
  display: Uint8Array[];
  attachments: Uint8Array[];
}

const nonEmpty = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });
const contentsArb: fc.Arbitrary<Contents> = fc.record({
  commonHeaders: nonEmpty(400),
  otherHeaders: nonEmpty(400),
  display: fc.array(nonEmpty(3000), { minLength: 1, maxLength: 3 }),
  attachments: fc.array(nonEmpty(3000), { maxLength: 2 }),
});

function sealInput(c: Contents): SealInput {
  return {
    author: { address: VECTOR_NAMES.author, signetFingerprint: keys.author.fingerprint, encryptionKey: keys.author.secp256k1Public, signer: authorSigner },
    origin: { domain: VECTOR_NAMES.origin, signetFingerprint: keys.origin.fingerprint, encryptionKey: keys.origin.secp256k1Public },
    destination: {
      domain: VECTOR_NAMES.destination,
      signetFingerprint: keys.destination.fingerprint,
      encryptionKey: keys.destination.secp256k1Public,
    },
    recipient: { address: VECTOR_NAMES.recipient, signetFingerprint: keys.recipient.fingerprint, encryptionKey: keys.recipient.secp256k1Public },
    ...c,
  };
}

async function sealAndSign(c: Contents): Promise<Buffer> {
  return signOrigin(await sealMessage(sealInput(c)), { keys: agreements.origin, signer: originSigner });
}

function openStrict(message: Buffer, actor: DimeActor): Promise<OpenedMessage> {
  return openMessage(message, {
    actor,
    keys: agreements[actor],
    authorSigningKey: keys.author.ed25519Public,
    originSigningKey: keys.origin.ed25519Public,
  });
}

function flipBit(message: Buffer, bit: number): Buffer {
  const out = Buffer.from(message);
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
}

/**
 * Bytes no libdime-format signature covers: the author, origin and destination keyslots of the final
 * chunk 255 (the origin full signature covers only the chunks before it, and the recipient's own
 * slot is checked implicitly because it yields the K/IV that decrypt the signature).
 */
function uncoveredRange(message: Buffer): [number, number] {
  const full = parseMessageFrame(message).chunks.find((c) => c.type === ChunkType.originFullSig)!;
  const slotsStart = full.offset + 4 + full.payload.length;
  return [slotsStart, slotsStart + 3 * KEYSLOT_LENGTH]; // slots A, O, D; R is the fourth
}

async function expectRejected(message: Buffer, what: string): Promise<void> {
  let error: unknown;
  try {
    await openStrict(message, 'recipient');
  } catch (err) {
    error = err;
  }
  if (!(error instanceof DimeError)) throw new Error(`${what}: expected a DimeError, got ${error === undefined ? 'success' : String(error)}`);
}

describe('D/MIME message properties', () => {
  it('round-trips random contents for author and recipient and hides them from the orgs', async () => {
    await fc.assert(
      fc.asyncProperty(contentsArb, async (c) => {
        const message = await sealAndSign(c);
        for (const actor of ['author', 'recipient'] as const) {
          const opened = await openStrict(message, actor);
          expect(opened.commonHeaders).toEqual(Buffer.from(c.commonHeaders));
          expect(opened.otherHeaders).toEqual(Buffer.from(c.otherHeaders));
          expect(opened.display).toEqual(c.display.map((d) => Buffer.from(d)));
          expect(opened.attachments).toEqual(c.attachments.map((d) => Buffer.from(d)));
        }
        for (const actor of ['origin', 'destination'] as const) {
          const opened = await openStrict(message, actor);
          expect(opened.commonHeaders).toBeNull();
          expect(opened.display).toEqual([]);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('rejects any single flipped bit when opened strictly as the recipient, except other actors keyslots of chunk 255, which no signature covers', async () => {
    await fc.assert(
      fc.asyncProperty(contentsArb, fc.array(fc.nat(), { minLength: 40, maxLength: 40 }), async (c, samples) => {
        const message = await sealAndSign(c);
        const [skipFrom, skipTo] = uncoveredRange(message);
        const bits = new Set<number>();
        // every bit of the message header and of every chunk header ...
        for (let b = 0; b < 6 * 8; b++) bits.add(b);
        for (const chunk of parseMessageFrame(message).chunks) for (let b = 0; b < 4 * 8; b++) bits.add(chunk.offset * 8 + b);
        // ... plus a random sample of all other bits outside the uncovered range
        const coveredBits = message.length * 8 - (skipTo - skipFrom) * 8;
        for (const s of samples) {
          let bit = s % coveredBits;
          if (bit >= skipFrom * 8) bit += (skipTo - skipFrom) * 8;
          bits.add(bit);
        }
        for (const bit of bits) {
          expect(bit < skipFrom * 8 || bit >= skipTo * 8).toBe(true);
          await expectRejected(flipBit(message, bit), `bit ${bit}`);
        }
      }),
      { numRuns: 5 },
    );
  });

  it('still opens after flips in the author, origin and destination keyslots of chunk 255 (the uncovered range)', async () => {
    const message = await sealAndSign({ commonHeaders: Buffer.from('Subject: x\r\n'), otherHeaders: Buffer.from('X: y\r\n'), display: [Buffer.from('body')], attachments: [] });
    const [from, to] = uncoveredRange(message);
    expect(to - from).toBe(192);
    expect(to).toBe(message.length - KEYSLOT_LENGTH);
    for (let byte = from; byte < to; byte++) {
      const opened = await openStrict(flipBit(message, byte * 8 + (byte % 8)), 'recipient');
      expect(opened.signatures.originFull).toBe('valid');
    }
  });

  it('throws only DimeError for truncations, random bytes and random overwrites', async () => {
    const message = await sealAndSign({ commonHeaders: Buffer.from('Subject: x\r\n'), otherHeaders: Buffer.from('X: y\r\n'), display: [Buffer.from('body')], attachments: [Buffer.from('a')] });
    const onlyDimeError = async (input: Buffer): Promise<void> => {
      for (const actor of VECTOR_ACTORS) {
        try {
          await openStrict(input, actor);
        } catch (err) {
          if (!(err instanceof DimeError)) throw err;
        }
        try {
          parseMessageFrame(input);
        } catch (err) {
          if (!(err instanceof DimeError)) throw err;
        }
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: message.length - 1 }), async (n) => {
        await expectRejected(message.subarray(0, n), `truncated to ${n}`);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        const input = Buffer.from(bytes);
        if (input.length >= 6) {
          input.writeUInt16BE(1847, 0);
          input.writeUInt32BE(input.length - 6, 2);
        }
        await onlyDimeError(input);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: message.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), async (at, bytes) => {
        const input = Buffer.from(message);
        input.set(bytes.subarray(0, input.length - at), at);
        await onlyDimeError(input);
      }),
      { numRuns: 60 },
    );
  });
});
