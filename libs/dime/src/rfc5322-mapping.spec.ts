import fc from 'fast-check';
import { readVector } from '../../../test/vectors';
import { DimeError } from './dime.error';
import { type DimeContent, joinRfc5322, MAX_CHUNK_DATA, splitRfc5322 } from './rfc5322-mapping';

const COMMON_NAMES = ['date', 'to', 'cc', 'from', 'organization', 'subject'];
// libdime's reader tries the labels in this order (parser.c prsr_headers_get_type).
const LIBDIME_LABELS = ['To: ', 'CC: ', 'From: ', 'Date: ', 'Subject: ', 'Organization: '];

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** libdime's common-headers reader (DIGEST.md §6.4), loop for loop, including its odd end-of-line test. */
function libdimeReadCommon(chunk: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < chunk.length) {
    const label = LIBDIME_LABELS.find((l) => chunk.subarray(at, at + l.length).equals(bytes(l)));
    if (label === undefined) throw new Error(`libdime: invalid header type at ${at}`);
    if (out.has(label)) throw new Error('libdime: duplicate fields');
    at += label.length;
    let size = 0;
    while (at + size + 1 < chunk.length && chunk[at + size] !== 0x0d && chunk[at + size + 1] !== 0x0a) size++;
    if (at + size + 1 >= chunk.length || chunk[at + size] !== 0x0d || chunk[at + size + 1] !== 0x0a) {
      throw new Error('libdime: invalid header syntax');
    }
    out.set(label, chunk.toString('latin1', at, at + size));
    at += size + 2;
  }
  return out;
}

/** Names of the fields (not continuation lines) of a header text. */
function fieldNames(text: Buffer): string[] {
  return text
    .toString('latin1')
    .split('\r\n')
    .filter((line) => line.length > 0 && line[0] !== ' ' && line[0] !== '\t')
    .map((line) => line.slice(0, line.indexOf(':')));
}

/** Every invariant a split must hold, whatever the message. */
function expectWellFormed(content: DimeContent, maxChunkData = 16_000_000): void {
  const common = libdimeReadCommon(content.commonHeaders);
  for (const required of ['Date: ', 'To: ', 'From: ', 'Subject: ']) expect(common.get(required)?.length).toBeGreaterThan(0);
  expect(fieldNames(content.otherHeaders).filter((n) => COMMON_NAMES.includes(n.toLowerCase()))).toEqual([]);
  expect(content.display.length).toBeGreaterThan(0);
  for (const chunk of content.display) {
    expect(chunk.length).toBeGreaterThan(0);
    expect(chunk.length).toBeLessThanOrEqual(maxChunkData);
  }
  expect(content.attachments).toEqual([]);
}

function expectBadMessage(fn: () => unknown, reason: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DimeError);
    expect((err as DimeError).code).toBe('BAD_MESSAGE');
    expect((err as DimeError).message).toMatch(reason);
    return;
  }
  throw new Error('expected DimeError BAD_MESSAGE');
}

describe('RFC 5322 <-> DIME chunk contents', () => {
  const chunkData = readVector('plain-common-headers-chunk-data.txt');
  const otherVector = readVector('plain-other-headers.txt');
  const displayVector = readVector('plain-display.txt');
  const value = (name: string): string => readVector(`plain-common-${name}.txt`).toString('latin1');

  describe('libdime vectors', () => {
    it('maps a message in libdime canonical form to exactly the vector chunks, with no recipe', () => {
      const eml = Buffer.concat([chunkData, otherVector, bytes('\r\n'), displayVector]);
      const content = splitRfc5322(eml);
      expect(content.commonHeaders).toEqual(chunkData);
      expect(content.otherHeaders).toEqual(otherVector);
      expect(content.display).toEqual([displayVector]);
      expect(joinRfc5322(content)).toEqual(eml);
    });

    it('builds the vector common-headers chunk byte for byte from the plain-common values in any order and spelling', () => {
      const eml = bytes(
        `From: ${value('from')}\r\nMessage-ID: <vector-1@origin.example>\r\nSubject: ${value('subject')}\r\n` +
          `Cc: ${value('cc')}\r\nX-Test-Header: libdime vector\r\nto: ${value('to')}\r\nORGANIZATION: ${value('organization')}\r\n` +
          `Date: ${value('date')}\r\n\r\n${displayVector.toString('latin1')}`,
      );
      const content = splitRfc5322(eml);
      expect(content.commonHeaders).toEqual(chunkData);
      const other = content.otherHeaders.toString('latin1');
      expect(other).toMatch(/^Message-ID: <vector-1@origin\.example>\r\nX-Test-Header: libdime vector\r\nX-DIME-Layout: 1;[^\r\n]*\r\n$/);
      expect(joinRfc5322(content)).toEqual(eml);
    });

    it('joins libdime-made chunks (no recipe) as common, other, blank line, display, then attachments', () => {
      const attachment = readVector('plain-attachment.txt');
      const joined = joinRfc5322({ commonHeaders: chunkData, otherHeaders: otherVector, display: [displayVector], attachments: [attachment] });
      expect(joined).toEqual(Buffer.concat([chunkData, otherVector, bytes('\r\n'), displayVector, attachment]));
      expect(joined.toString('latin1')).toContain('\r\nCC: Carol <carol@destination.example>\r\n');
    });

    it('joins libdime-made chunks without attachments and supplies missing final line endings', () => {
      const joined = joinRfc5322({ commonHeaders: chunkData, otherHeaders: bytes('X-Free-Text: no newline'), display: [bytes('a'), bytes('b')] });
      expect(joined.toString('latin1')).toBe(`${chunkData.toString('latin1')}X-Free-Text: no newline\r\n\r\nab`);
      expect(joinRfc5322({ commonHeaders: null, otherHeaders: null, display: [bytes('body')] }).toString('latin1')).toBe('\r\nbody');
    });
  });

  describe('tricky messages round-trip byte for byte', () => {
    const base = 'Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nTo: bob@d.example\r\nFrom: alice@o.example\r\n';
    const cases: [string, string][] = [
      ['a folded Subject', `${base}Subject: a long\r\n subject\r\n\tfolded twice\r\nX-A: 1\r\n\r\nbody\r\n`],
      ['Cc spelled Cc', `${base}Cc: carol@d.example\r\nSubject: s\r\n\r\nbody\r\n`],
      ['CC spelled CC', `${base}CC: carol@d.example\r\nSubject: s\r\n\r\nbody\r\n`],
      ['two To lines', `To: a@d.example\r\n${base}To: b@d.example\r\nSubject: s\r\n\r\nbody\r\n`],
      ['missing Subject and Date', 'From: a@o.example\r\nTo: b@d.example\r\nX-Mailer: m\r\n\r\nbody\r\n'],
      ['an empty body', `${base}Subject: s\r\n\r\n`],
      ['no blank line', `${base}Subject: s\r\n`],
      ['LF-only line endings', 'Date: Mon, 01 Jan 2024 00:00:00 +0000\nTo: b@d.example\nFrom: a@o.example\nSubject: s\n folded\nX-A: 1\n\nbody\nmore\n'],
      ['LF-only without body', 'Subject: s\nX-A: 1\n'],
      ['lone "." and ".." body lines', `${base}Subject: dots\r\n\r\n.\r\n..\r\n...leading\r\n.\r\n`],
      ['a header named like the recipe, last', `${base}Subject: s\r\nX-DIME-Layout: 1;x5;nb\r\n\r\nbody\r\n`],
      ['a header named like the recipe, in lower case, last', `${base}Subject: s\r\nx-dime-layout: 1;x5\r\n\r\nbody\r\n`],
      ['a header named like the recipe, first', `X-DIME-Layout: 1;lf\r\n${base}Subject: s\r\nX-B: 2\r\n\r\nbody\r\n`],
      ['an empty Subject and a Subject without space', `${base}Subject:\r\nsubject:x\r\n\r\nbody\r\n`],
      ['whitespace around values', `Date:  Mon, 01 Jan 2024 00:00:00 +0000 \r\nTo:\tb@d.example\r\nFrom: a@o.example\r\nSubject: s \t\r\n\r\nb`],
      ['an 8-bit UTF-8 subject', `${base}Subject: Grüße aus Köln ✉\r\n\r\nbody\r\n`],
      ['a body with NUL, bare CR and bare LF', `${base}Subject: s\r\n\r\na\0b\rc\nd\r\n\r\n\r\n`],
      ['only other headers', 'Message-ID: <m@o>\r\n\r\nbody'],
      ['a whitespace-only continuation line', `${base}Subject: s\r\n \r\n\t\r\nX-A: 1\r\n\r\nbody`],
      [
        'multipart with attachment',
        `${base}Subject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n` +
          '--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n' +
          '--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.bin"\r\n' +
          'Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b1--\r\n',
      ],
    ];
    it.each(cases)('%s', (_name, text) => {
      const eml = Buffer.from(text, 'utf8');
      const content = splitRfc5322(eml);
      expectWellFormed(content);
      expect(joinRfc5322(content)).toEqual(eml);
    });
  });

  describe('chunk forms', () => {
    it('writes Cc in the common chunk as libdime spells it and records the original spelling', () => {
      const content = splitRfc5322(bytes('Date: d\r\nTo: t\r\nCc: c\r\nFrom: f\r\nSubject: s\r\n\r\nb'));
      expect(content.commonHeaders.toString('latin1')).toBe('Date: d\r\nTo: t\r\nCC: c\r\nFrom: f\r\nSubject: s\r\n');
      expect(content.otherHeaders.toString('latin1')).toBe('X-DIME-Layout: 1;d;t;c=Cc;f;s\r\n');
    });

    it('unfolds and trims a folded value for the common chunk', () => {
      const content = splitRfc5322(bytes('Subject:  a\r\n b \r\nDate: d\r\nTo: t\r\nFrom: f\r\n\r\nb'));
      expect(libdimeReadCommon(content.commonHeaders).get('Subject: ')).toBe('a b');
    });

    it('merges repeated To lines so a libdime reader sees every recipient once', () => {
      const content = splitRfc5322(bytes('To: a\r\nTo:\r\nTo: b\r\nFrom: f\r\nDate: d\r\nSubject: s\r\n\r\nb'));
      expect(libdimeReadCommon(content.commonHeaders).get('To: ')).toBe('a, b');
    });

    it('keeps the first non-empty value of a repeated Subject', () => {
      const content = splitRfc5322(bytes('Subject:\r\nSubject: one\r\nSubject: two\r\nTo: t\r\nFrom: f\r\nDate: d\r\n\r\nb'));
      expect(libdimeReadCommon(content.commonHeaders).get('Subject: ')).toBe('one');
    });

    it('fills absent required headers with placeholders that the rebuild drops', () => {
      const eml = bytes('X-Only: 1\r\n\r\nbody');
      const content = splitRfc5322(eml);
      expect(content.commonHeaders.toString('latin1')).toBe(
        'Date: Thu, 01 Jan 1970 00:00:00 +0000\r\nTo: undisclosed-recipients:;\r\nFrom: undisclosed-sender:;\r\nSubject: (no subject)\r\n',
      );
      expect(joinRfc5322(content)).toEqual(eml);
    });

    it('omits empty optional headers from the common chunk', () => {
      const content = splitRfc5322(bytes('Date: d\r\nTo: t\r\nCC:  \r\nFrom: f\r\nOrganization:\r\nSubject: s\r\n\r\nb'));
      expect(content.commonHeaders.toString('latin1')).toBe('Date: d\r\nTo: t\r\nFrom: f\r\nSubject: s\r\n');
    });

    it('gives the other-headers chunk CRLF lines for an LF-only message', () => {
      const content = splitRfc5322(bytes('Subject: s\nX-A: 1\n folded\n\nbody\n'));
      expect(content.otherHeaders.toString('latin1')).toBe('X-A: 1\r\n folded\r\nX-DIME-Layout: 1;lf;s;x1\r\n');
      expect(content.display).toEqual([bytes('body\n')]);
    });

    it('adds a recipe after a last header that is itself named X-DIME-Layout, even in canonical form', () => {
      const eml = Buffer.concat([chunkData, bytes('X-DIME-Layout: 1;x7\r\n\r\nbody')]);
      const content = splitRfc5322(eml);
      expect(content.otherHeaders.toString('latin1')).toBe('X-DIME-Layout: 1;x7\r\nX-DIME-Layout: 1;d;t;c;f;g;s;x1\r\n');
      expect(joinRfc5322(content)).toEqual(eml);
    });

    it('accepts a plain Uint8Array and returns display chunks that view the input without copying', () => {
      const eml = Buffer.concat([chunkData, otherVector, bytes('\r\n'), displayVector]);
      const plain = new Uint8Array(eml);
      const content = splitRfc5322(plain);
      expect(content.display[0]?.buffer).toBe(plain.buffer);
      expect(joinRfc5322(content)).toEqual(eml);
    });

    it('puts a CRLF display chunk in place of an empty or missing body', () => {
      expect(splitRfc5322(bytes('X-A: 1\r\n\r\n')).display).toEqual([bytes('\r\n')]);
      expect(splitRfc5322(bytes('X-A: 1\r\n')).display).toEqual([bytes('\r\n')]);
    });

    it('folds a long recipe into short lines that rebuild exactly', () => {
      const eml = bytes(`Subject: ${'x'.repeat(3000)}  \r\nTo: t\r\n\r\nb`);
      const content = splitRfc5322(eml);
      for (const line of content.otherHeaders.toString('latin1').split('\r\n')) expect(line.length).toBeLessThanOrEqual(80);
      expect(joinRfc5322(content)).toEqual(eml);
    });

    it('spreads a body larger than maxChunkData over several display chunks', () => {
      const body = Buffer.alloc(25_000, 0x61);
      const eml = Buffer.concat([chunkData, otherVector, bytes('\r\n'), body]);
      const content = splitRfc5322(eml, { maxChunkData: 10_000 });
      expect(content.display.map((c) => c.length)).toEqual([10_000, 10_000, 5_000]);
      expect(joinRfc5322(content).equals(eml)).toBe(true);
    });

    it('refuses header chunks larger than maxChunkData with TOO_LARGE', () => {
      expect(() => splitRfc5322(bytes(`Subject: ${'x'.repeat(200)}\r\n\r\nb`), { maxChunkData: 100 })).toThrow(
        expect.objectContaining({ code: 'TOO_LARGE' }),
      );
    });
  });

  describe('invalid input', () => {
    const invalid: [string, string, RegExp][] = [
      ['an empty message', '', /empty message/],
      ['a message without any line ending', 'Subject: s', /no line ending/],
      ['a blank first line (no header section)', '\r\nbody', /no header fields/],
      ['a header line without a colon', 'Subject s\r\n\r\nb', /without a colon/],
      ['an empty field name', ': v\r\n\r\nb', /empty header field name/],
      ['a space before the colon', 'Subject : s\r\n\r\nb', /invalid byte 0x20/],
      ['8-bit bytes in a field name', 'Subjäct: s\r\n\r\nb', /invalid byte 0xe4/],
      ['a NUL in a header value', 'Subject: a\0b\r\n\r\nb', /NUL/],
      ['a bare CR in a header value', 'Subject: a\rb\r\n\r\nb', /bare CR/],
      ['a bare LF in a CRLF header section', 'Subject: a\r\nTo: b\n\r\nb', /bare LF/],
      ['a CR in an LF-only header section', 'Subject: a\nTo: b\r\n\nb', /bare CR/],
      ['a continuation line first', ' Subject: a\r\n\r\nb', /continuation line/],
      ['a last header line without line ending', 'Subject: a\r\nTo: b', /no line ending/],
    ];
    it.each(invalid)('rejects %s with BAD_MESSAGE', (_name, text, reason) => {
      expectBadMessage(() => splitRfc5322(Buffer.from(text, 'latin1')), reason);
    });

    it('throws TypeError/RangeError for programmer errors', () => {
      expect(() => splitRfc5322('Subject: s\r\n\r\n' as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => splitRfc5322(bytes('Subject: s\r\n\r\n'), { maxChunkData: 0 })).toThrow(RangeError);
      expect(() => splitRfc5322(bytes('Subject: s\r\n\r\n'), { maxChunkData: MAX_CHUNK_DATA + 1 })).toThrow(RangeError);
      expect(() => joinRfc5322({ commonHeaders: null, otherHeaders: null, display: 'x' as unknown as Uint8Array[] })).toThrow(TypeError);
      expect(() => joinRfc5322({ commonHeaders: 'x' as unknown as Uint8Array, otherHeaders: null, display: [] })).toThrow(TypeError);
    });

    it('rejects a recipe that does not match the chunks', () => {
      const common = bytes('Subject: s\r\n');
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-DIME-Layout: 1;x2\r\n'), display: [] }), /more other headers/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-A: 1\r\nX-DIME-Layout: 1\r\n'), display: [] }), /lists 0 other headers/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-DIME-Layout: 1;d\r\n'), display: [] }), /needs a Date line/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-DIME-Layout: 1;s;eb\r\n'), display: [bytes('data')] }), /body is empty/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-DIME-Layout: 1;q\r\n'), display: [] }), /unknown token/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-DIME-Layout: 1;s=Sbj\r\n'), display: [] }), /does not spell/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: common, otherHeaders: bytes('X-DIME-Layout: 1;s:A\r\n'), display: [] }), /bad base64/);
      expectBadMessage(() => joinRfc5322({ commonHeaders: bytes('Bogus: s\r\n'), otherHeaders: bytes('X-DIME-Layout: 1;s\r\n'), display: [] }), /unknown line/);
    });

    it('treats a last X-DIME-Layout field that is not a version-1 recipe as an ordinary header', () => {
      const other = bytes('X-DIME-Layout: something else\r\n');
      expect(joinRfc5322({ commonHeaders: chunkData, otherHeaders: other, display: [bytes('b')] })).toEqual(
        Buffer.concat([chunkData, other, bytes('\r\nb')]),
      );
    });
  });

  describe('properties', () => {
    const fieldName = fc.oneof(
      fc.constantFrom('Date', 'DATE', 'To', 'to', 'Cc', 'CC', 'cC', 'From', 'Organization', 'organization', 'Subject', 'SUBJECT'),
      fc.constantFrom('X-DIME-Layout', 'x-dime-layout', 'Message-ID', 'Received', 'MIME-Version'),
      fc.array(fc.integer({ min: 33, max: 126 }).filter((b) => b !== 0x3a), { minLength: 1, maxLength: 12 }).map((a) => String.fromCharCode(...a)),
    );
    const valueBytes = fc.array(fc.integer({ min: 1, max: 255 }).filter((b) => b !== 0x0a && b !== 0x0d), { maxLength: 24 });
    const wsp = fc.array(fc.constantFrom<number>(0x20, 0x09), { minLength: 1, maxLength: 3 });
    const field = fc.record({
      name: fieldName,
      lead: fc.constantFrom<number[]>([], [0x20], [0x20, 0x20], [0x09]),
      first: valueBytes,
      folds: fc.array(fc.tuple(wsp, valueBytes), { maxLength: 3 }),
    });
    const message = fc.record({
      lf: fc.boolean(),
      fields: fc.array(field, { minLength: 1, maxLength: 10 }),
      body: fc.option(fc.uint8Array({ maxLength: 600 }), { nil: undefined }),
      maxChunkData: fc.integer({ min: 1, max: 400 }),
    });
    const build = (m: { lf: boolean; fields: { name: string; lead: number[]; first: number[]; folds: [number[], number[]][] }[]; body: Uint8Array | undefined }): Buffer => {
      const eol = m.lf ? [0x0a] : [0x0d, 0x0a];
      const out: number[] = [];
      for (const f of m.fields) {
        out.push(...Buffer.from(`${f.name}:`, 'latin1'), ...f.lead, ...f.first);
        for (const [space, text] of f.folds) out.push(...eol, ...space, ...text);
        out.push(...eol);
      }
      if (m.body !== undefined) out.push(...eol, ...m.body);
      return Buffer.from(out);
    };

    /** Splits with a small maxChunkData; a TOO_LARGE must mean a header chunk really exceeds it (then splits with the default). */
    function splitOrTooLarge(eml: Buffer, maxChunkData: number): DimeContent {
      try {
        const content = splitRfc5322(eml, { maxChunkData });
        for (const chunk of [content.commonHeaders, content.otherHeaders, ...content.display]) expect(chunk.length).toBeLessThanOrEqual(maxChunkData);
        return content;
      } catch (err) {
        if (!(err instanceof DimeError) || err.code !== 'TOO_LARGE') throw err;
        const content = splitRfc5322(eml);
        expect(Math.max(content.commonHeaders.length, content.otherHeaders.length)).toBeGreaterThan(maxChunkData);
        return content;
      }
    }

    it('round-trips arbitrary generated RFC 5322 messages byte for byte', () => {
      fc.assert(
        fc.property(message, (m) => {
          const eml = build(m);
          const content = splitOrTooLarge(eml, m.maxChunkData);
          expectWellFormed(content);
          expect(joinRfc5322(content)).toEqual(eml);
        }),
        { numRuns: 500 },
      );
    });

    it('maps arbitrary bytes to a DimeContent or a DimeError, and accepted bytes round-trip', () => {
      const fragment = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('To: a\r\n', 'Subject: s\r\n', 'cc:\r\n', 'X-DIME-Layout: 1;x1\r\n', ' fold\r\n', 'X-A: b\n', 'From: f\r\n') },
        { weight: 3, arbitrary: fc.constantFrom('To: ', 'Subject:', ':', ' ', '\t', '\r\n', '\n', '\r', '\0', 'é', '.', '\r\n\r\n') },
        { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a).toString('latin1')) },
      );
      fc.assert(
        fc.property(fc.oneof({ weight: 3, arbitrary: fc.array(fragment, { minLength: 1, maxLength: 30 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }).map((a) => [Buffer.from(a).toString('latin1')]) }), (parts) => {
          const eml = Buffer.from(parts.join(''), 'latin1');
          let content: DimeContent;
          try {
            content = splitOrTooLarge(eml, 256);
          } catch (err) {
            expect(err).toBeInstanceOf(DimeError);
            return;
          }
          expectWellFormed(content);
          expect(joinRfc5322(content)).toEqual(eml);
        }),
        { numRuns: 2000 },
      );
    });

    it('joins arbitrary chunk contents to a Buffer or a DimeError, nothing else', () => {
      const text = fc.array(fc.constantFrom('X-DIME-Layout: 1', ';x1', ';s', ';eb', ';nb', ';lf', ';t:IA', 'Subject: s', 'To: ', '\r\n', ' ', 'X-A: b'), { maxLength: 12 });
      fc.assert(
        fc.property(text, text, fc.array(fc.uint8Array({ maxLength: 4 }), { maxLength: 3 }), (common, other, display) => {
          try {
            expect(joinRfc5322({ commonHeaders: bytes(common.join('')), otherHeaders: bytes(other.join('')), display })).toBeInstanceOf(Buffer);
          } catch (err) {
            expect(err).toBeInstanceOf(DimeError);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});
