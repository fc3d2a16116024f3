// Property tests: whatever bytes or text arrive, the parsers only ever fail with DimeError.
import fc from 'fast-check';
import { readVector, readVectorText, vectorHex } from '../../../test/vectors';
import { dearmor, decodeObjectInput } from './armor';
import { DimeError } from './dime.error';
import { parseKeyFile, readKeyFile } from './key-file';
import { parseSignet, readSignet, serializeSignet } from './signet/signet-codec';
import { validateSignet, validateSignetBytes, type SignetState } from './signet/signet-validate';

const VALID_STATES: readonly SignetState[] = ['MALFORMED', 'OVERFLOW', 'INCOMPLETE', 'BROKEN_COC', 'INVALID', 'SSR', 'CRYPTO', 'FULL', 'ID'];
const orgOrigin = readSignet(readVectorText('org-origin.signet'));
const originPoks = { poks: [vectorHex('org-origin.ed25519.public')] };

function onlyDimeErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof DimeError)) throw err;
  }
}

/** Random bytes, and random bytes behind a plausible signet/key header so the field parser is reached. */
const objects = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(fc.constantFrom(1776, 1789, 1215, 1952, 2013), fc.uint8Array({ maxLength: 300 }), fc.boolean())
    .map(([magic, body, exact]) => {
      const out = Buffer.alloc(5 + body.length);
      out.writeUInt16BE(magic, 0);
      out.writeUIntBE(exact ? body.length : body.length ^ 1, 2, 3);
      out.set(body, 5);
      return out;
    }),
);

/** A vector signet with a few bytes changed, inserted or removed. */
const mutatedSignets = fc
  .tuple(
    fc.constantFrom('org-origin.signet.bin', 'user-author.signet.bin', 'user-author.ssr.bin', 'org-destination-crypto-only.signet.bin'),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }),
  )
  .map(([file, edits]) => {
    const bytes = [...readVector(file)];
    for (const [pos, value, op] of edits) {
      const i = pos % (bytes.length + 1);
      if (op === 'set' && i < bytes.length) bytes[i] = value;
      else if (op === 'insert') bytes.splice(i, 0, value);
      else bytes.splice(i, 1);
    }
    return Buffer.from(bytes);
  });

describe('parsers only throw DimeError', () => {
  it('parseSignet, parseKeyFile and validateSignetBytes on random objects', () => {
    fc.assert(
      fc.property(objects, (bytes) => {
        onlyDimeErrors(() => parseSignet(bytes));
        onlyDimeErrors(() => parseKeyFile(bytes));
        expect(VALID_STATES).toContain(validateSignetBytes(bytes, originPoks));
      }),
      { numRuns: 2000 },
    );
  });

  it('parseSignet and validation on mutated vector signets', () => {
    fc.assert(
      fc.property(mutatedSignets, (bytes) => {
        expect(VALID_STATES).toContain(validateSignetBytes(bytes, { orgSignet: orgOrigin }));
        onlyDimeErrors(() => {
          const signet = parseSignet(bytes);
          // Whatever parses serializes back to the same bytes.
          expect(serializeSignet(signet).equals(bytes)).toBe(true);
          expect(VALID_STATES).toContain(validateSignet(signet, originPoks));
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('dearmor, readSignet and readKeyFile on random text and mutated armor', () => {
    const armored = fc
      .tuple(fc.constantFrom(readVectorText('org-origin.signet'), readVectorText('user-author.keys')), fc.nat(), fc.string({ maxLength: 3 }))
      .map(([text, pos, insert]) => {
        const i = pos % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + 1);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), armored), (text) => {
        onlyDimeErrors(() => dearmor(text));
        onlyDimeErrors(() => readSignet(text));
        onlyDimeErrors(() => readKeyFile(text));
        onlyDimeErrors(() => decodeObjectInput(Buffer.from(text)));
      }),
      { numRuns: 2000 },
    );
  });
});
