import fc from 'fast-check';
import { readVectorText, vectorValue } from '../../../../test/vectors';
import { DimeError } from '../dime.error';
import { DMTP_MAX_COMMAND_LINE, formatDmtpCommand, isDmtpVerb, parseDmtpCommand, type DmtpCommand } from './dmtp-command';
import { expectDimeError } from '../../../../test/dime-error';

const FP = vectorValue('user-author.fingerprint.full');
const FP2 = vectorValue('user-author.fingerprint.crypto');
const ORG_FP = vectorValue('org-origin.fingerprint.crypto');

function badCommand(input: string | Uint8Array, reason: RegExp): void {
  expectDimeError(() => parseDmtpCommand(input), 'BAD_COMMAND', reason);
}

describe('libdime formatter vector (dmtp-commands-libdime-formatter.txt)', () => {
  // The generator fed libdime's formatter the placeholders FINGERPRINT_B64 / STOP_FP_B64; on the
  // wire they are real 86-character fingerprints, so the test puts real ones in their place.
  // The file shows each command's LF terminator as the two characters `\n` (vectors/README.md).
  const shown = readVectorText('dmtp-commands-libdime-formatter.txt')
    .split('\n')
    .filter((l) => l.length > 0);
  const lines = shown.map((l) => `${l.replace(/\\n$/, '')}\n`);
  const expected: DmtpCommand[] = [
    { verb: 'STARTTLS', host: 'dx.origin.example', mode: 'DMTPv1' },
    { verb: 'HELO', host: 'dx.origin.example' },
    { verb: 'EHLO', host: 'dx.origin.example' },
    { verb: 'MODE' },
    { verb: 'RSET' },
    { verb: 'NOOP', text: '=arg1 =arg2 =arg3' },
    { verb: 'HELP' },
    { verb: 'QUIT' },
    { verb: 'MAIL', from: 'origin.example', fingerprint: FP },
    { verb: 'RCPT', to: 'origin.example', fingerprint: FP },
    { verb: 'DATA' },
    { verb: 'SGNT', kind: 'user', name: 'alice@origin.example', fingerprint: FP },
    { verb: 'SGNT', kind: 'domain', name: 'origin.example', fingerprint: FP },
    { verb: 'HIST', kind: 'user', name: 'alice@origin.example', start: FP, stop: FP2 },
    { verb: 'VRFY', kind: 'user', name: 'alice@origin.example', fingerprint: FP },
    { verb: 'VRFY', kind: 'domain', name: 'origin.example', fingerprint: FP },
  ];

  it('has one LF-terminated line per command', () => {
    expect(shown).toHaveLength(expected.length);
    expect(shown.every((l) => l.endsWith('\\n'))).toBe(true);
  });

  it.each(expected.map((cmd, i) => [i + 1, cmd.verb, cmd] as const))('parses line %i (%s) to the right command', (i, _verb, cmd) => {
    const line = (lines[i - 1] as string).replace('FINGERPRINT_B64', FP).replace('STOP_FP_B64', FP2);
    expect(parseDmtpCommand(line)).toEqual(cmd);
    expect(parseDmtpCommand(Buffer.from(line, 'latin1'))).toEqual(cmd);
  });

  it('rejects the placeholder text itself as a fingerprint, saying why', () => {
    badCommand(lines[8] as string, /MAIL fingerprint must be 86 base64 characters.*FINGERPRINT_B64/);
  });
});

describe("libdime resolver client syntax (what libdime's DMTP client sends)", () => {
  it.each<[string, DmtpCommand]>([
    ['EHLO <origin.example>\r\n', { verb: 'EHLO', host: 'origin.example' }],
    ['STARTTLS <dx.destination.example> MODE=DMTPv1\r\n', { verb: 'STARTTLS', host: 'dx.destination.example', mode: 'DMTPv1' }],
    ['MODE\r\n', { verb: 'MODE' }],
    [
      'MAIL FROM: <origin.example> [fingerprint] SIZE=4647 RETURN=FULL\r\n',
      { verb: 'MAIL', from: 'origin.example', size: 4647, returnType: 'FULL' },
    ],
    [
      'MAIL FROM: <origin.example> [fingerprint] SIZE=9 RETURN=HEADER DATA=8BIT\r\n',
      { verb: 'MAIL', from: 'origin.example', size: 9, returnType: 'HEADER', dataType: '8BIT' },
    ],
    ['RCPT TO: <destination.example> [fingerprint]\r\n', { verb: 'RCPT', to: 'destination.example' }],
    ['DATA [fingerprint]\r\n', { verb: 'DATA' }],
    ['SGNT <origin.example>\r\n', { verb: 'SGNT', kind: 'domain', name: 'origin.example' }],
    [`SGNT <alice@origin.example> [${FP}]\r\n`, { verb: 'SGNT', kind: 'user', name: 'alice@origin.example', fingerprint: FP }],
    [`VRFY <origin.example> [${ORG_FP}]\r\n`, { verb: 'VRFY', kind: 'domain', name: 'origin.example', fingerprint: ORG_FP }],
    [`HIST <alice@origin.example> [${FP}]\r\n`, { verb: 'HIST', kind: 'user', name: 'alice@origin.example', start: FP }],
    [`HIST <alice@origin.example> [${FP}] [${FP2}]\r\n`, { verb: 'HIST', kind: 'user', name: 'alice@origin.example', start: FP, stop: FP2 }],
    ['NOOP\r\n', { verb: 'NOOP' }],
    ['RSET\r\n', { verb: 'RSET' }],
    ['HELP\r\n', { verb: 'HELP' }],
    ['QUIT\r\n', { verb: 'QUIT' }],
  ])('parses %j', (line, cmd) => {
    expect(parseDmtpCommand(line)).toEqual(cmd);
  });
});

describe('canonical dialect', () => {
  const canonical: [string, DmtpCommand][] = [
    ['EHLO origin.example', { verb: 'EHLO', host: 'origin.example' }],
    ['HELO origin.example', { verb: 'HELO', host: 'origin.example' }],
    ['EHLO [192.0.2.1]', { verb: 'EHLO', host: '[192.0.2.1]' }],
    ['EHLO [IPv6:2001:db8::1]', { verb: 'EHLO', host: '[IPv6:2001:db8::1]' }],
    ['STARTTLS', { verb: 'STARTTLS' }],
    ['STARTTLS <dx.destination.example> MODE=DMTPv1', { verb: 'STARTTLS', host: 'dx.destination.example', mode: 'DMTPv1' }],
    ['MODE', { verb: 'MODE' }],
    ['MAIL FROM:<origin.example>', { verb: 'MAIL', from: 'origin.example' }],
    [
      `MAIL FROM:<origin.example> FINGERPRINT=${ORG_FP} SIZE=4647 RETURN=DISPLAY`,
      { verb: 'MAIL', from: 'origin.example', fingerprint: ORG_FP, size: 4647, returnType: 'DISPLAY' },
    ],
    ['RCPT TO:<destination.example>', { verb: 'RCPT', to: 'destination.example' }],
    [`RCPT TO:<destination.example> FINGERPRINT=${FP}`, { verb: 'RCPT', to: 'destination.example', fingerprint: FP }],
    ['DATA', { verb: 'DATA' }],
    [`DATA FINGERPRINT=${FP}`, { verb: 'DATA', fingerprint: FP }],
    ['SGNT <origin.example>', { verb: 'SGNT', kind: 'domain', name: 'origin.example' }],
    [`SGNT <alice@origin.example> FINGERPRINT=${FP}`, { verb: 'SGNT', kind: 'user', name: 'alice@origin.example', fingerprint: FP }],
    [`VRFY <alice@origin.example> FINGERPRINT=${FP}`, { verb: 'VRFY', kind: 'user', name: 'alice@origin.example', fingerprint: FP }],
    [`HIST <origin.example> START=${ORG_FP}`, { verb: 'HIST', kind: 'domain', name: 'origin.example', start: ORG_FP }],
    [
      `HIST <alice@origin.example> START=${FP} STOP=${FP2}`,
      { verb: 'HIST', kind: 'user', name: 'alice@origin.example', start: FP, stop: FP2 },
    ],
    ['NOOP', { verb: 'NOOP' }],
    ['NOOP any text at all', { verb: 'NOOP', text: 'any text at all' }],
    ['RSET', { verb: 'RSET' }],
    ['HELP', { verb: 'HELP' }],
    ['HELP SGNT', { verb: 'HELP', text: 'SGNT' }],
    ['QUIT', { verb: 'QUIT' }],
  ];

  it.each(canonical)('round-trips %s', (line, cmd) => {
    expect(parseDmtpCommand(`${line}\r\n`)).toEqual(cmd);
    expect(formatDmtpCommand(cmd)).toBe(`${line}\r\n`);
  });

  it('covers every verb', () => {
    expect(new Set(canonical.map(([, c]) => c.verb)).size).toBe(14);
  });

  it('reads verbs and keywords case-insensitively and lower-cases domain names', () => {
    expect(parseDmtpCommand('mail from:<Origin.EXAMPLE> size=10 return=full')).toEqual({
      verb: 'MAIL',
      from: 'origin.example',
      size: 10,
      returnType: 'FULL',
    });
    expect(parseDmtpCommand('sgnt <Alice@Origin.Example>')).toEqual({ verb: 'SGNT', kind: 'user', name: 'Alice@origin.example' });
    expect(formatDmtpCommand({ verb: 'RCPT', to: 'Destination.Example' })).toBe('RCPT TO:<destination.example>\r\n');
  });

  it('accepts an unterminated line, tabs and extra spaces between arguments', () => {
    expect(parseDmtpCommand(`SGNT\t<origin.example>   FINGERPRINT=[${ORG_FP}]  `)).toEqual({
      verb: 'SGNT',
      kind: 'domain',
      name: 'origin.example',
      fingerprint: ORG_FP,
    });
  });

  it('isDmtpVerb tells a known verb with bad arguments (501) from an unknown verb (500)', () => {
    expect(isDmtpVerb('SGNT')).toBe(true);
    expect(isDmtpVerb('STATS')).toBe(false);
    expect(isDmtpVerb('sgnt')).toBe(false);
  });
});

describe('parseDmtpCommand rejects', () => {
  it.each<[string, RegExp]>([
    ['', /empty line/],
    ['\r\n', /empty line/],
    ['STATS\r\n', /unknown verb "STATS"/],
    ['EXPN list\r\n', /unknown verb/],
    ['EHLO\r\n', /exactly one host/],
    ['EHLO a.example b.example\r\n', /exactly one host/],
    ['EHLO -bad.example\r\n', /not a domain name/],
    ['EHLO [999.1.1.1]\r\n', /not an address literal/],
    ['MODE DMTPv1\r\n', /MODE takes no arguments/],
    ['QUIT now\r\n', /QUIT takes no arguments/],
    ['MAIL <origin.example>\r\n', /must start with FROM:<domain>/],
    ['MAIL FROM:origin.example\r\n', /must be written <domain>/],
    ['MAIL FROM:<alice@origin.example>\r\n', /not the mailbox "alice@origin.example"/],
    ['MAIL FROM:<>\r\n', /not a domain name/],
    ['MAIL FROM:<origin.example> SIZE=0\r\n', /SIZE must be a positive decimal/],
    ['MAIL FROM:<origin.example> SIZE=12x\r\n', /SIZE must be a positive decimal/],
    ['MAIL FROM:<origin.example> RETURN=ALL\r\n', /RETURN must be FULL, DISPLAY or HEADER/],
    ['MAIL FROM:<origin.example> DATA=BINARY\r\n', /DATA must be 7BIT or 8BIT/],
    ['MAIL FROM:<origin.example> SIZE=1 SIZE=2\r\n', /duplicate SIZE=/],
    ['MAIL FROM:<origin.example> BODY=8BITMIME\r\n', /does not take BODY=/],
    ['MAIL FROM:<origin.example> extra\r\n', /unexpected argument "extra"/],
    ['MAIL FROM:<origin.example\r\n', /unbalanced </],
    ['RCPT TO:<bob@destination.example>\r\n', /not the mailbox/],
    ['RCPT TO:<destination.example> SIZE=1\r\n', /RCPT does not take SIZE=/],
    ['DATA now\r\n', /DATA takes no arguments/],
    ['SGNT\r\n', /needs a <user@domain> or <domain>/],
    ['SGNT <a.example> <b.example>\r\n', /takes one name/],
    ['SGNT <not a name>\r\n', /unbalanced|not a domain/],
    ['SGNT <@origin.example>\r\n', /not a valid user@domain/],
    ['SGNT USER=<origin.example>\r\n', /USER= "origin.example" is not a user@domain/],
    ['SGNT DOMAIN=<alice@origin.example>\r\n', /DOMAIN= "alice@origin.example" is a mailbox/],
    [`SGNT <origin.example> [${FP}] FINGERPRINT=${FP}\r\n`, /takes one fingerprint/],
    ['SGNT <origin.example> [fingerprint]\r\n', /must be 86 base64/],
    ['VRFY <origin.example>\r\n', /VRFY needs the fingerprint/],
    ['HIST <origin.example>\r\n', /HIST needs a start fingerprint/],
    [`HIST <origin.example> [${FP}] [${FP}] [${FP}]\r\n`, /at most a start and a stop/],
    ['STARTTLS <dx.example> MODE=SMTP\r\n', /unsupported STARTTLS MODE "SMTP"/],
    ['STARTTLS <a.example> <b.example>\r\n', /one host/],
    ['SGNT <origin.example> FINGERPRINT=[]\r\n', /empty value/],
    ['SGNT <origin.example> FINGERPRINT=<x\r\n', /unbalanced/],
    ['SGNT <<origin.example>>\r\n', /nested brackets/],
  ])('%j', (line, reason) => badCommand(line, reason));

  it('rejects a fingerprint with non-zero spare bits (non-canonical base64)', () => {
    const last = FP[85] as string;
    const twin = FP.slice(0, 85) + String.fromCharCode(last.charCodeAt(0) + 1);
    badCommand(`SGNT <origin.example> FINGERPRINT=${twin}`, /not canonical base64/);
  });

  it('rejects lines longer than 512 octets including CRLF', () => {
    const text = `NOOP ${'x'.repeat(DMTP_MAX_COMMAND_LINE - 2 - 5)}`;
    expect(parseDmtpCommand(`${text}\r\n`)).toEqual({ verb: 'NOOP', text: text.slice(5) });
    badCommand(`${text}x\r\n`, /line too long \(513 > 512/);
  });

  it('rejects NUL, bare CR, embedded LF and non-ASCII bytes', () => {
    badCommand('NOOP a\u0000b\r\n', /NUL byte at offset 6/);
    badCommand('NOOP a\rb\r\n', /bare CR at offset 6/);
    badCommand('NOOP a\nb\r\n', /LF inside the line at offset 6/);
    badCommand('NOOP \r\r\n', /bare CR/);
    badCommand(Buffer.from('SGNT <b\xfccher.example>\r\n', 'latin1'), /byte 0xfc at offset 7/);
    badCommand('SGNT <bücher.example>\r\n', /not printable ASCII/);
    badCommand('NOOP \u001b[31m\r\n', /byte 0x1b/);
  });

  it('throws TypeError for a non-string, non-bytes line', () => {
    expect(() => parseDmtpCommand(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('formatDmtpCommand refuses values that would change meaning on the wire', () => {
  it.each<[DmtpCommand, RegExp]>([
    [{ verb: 'MAIL', from: 'alice@origin.example' }, /not the mailbox/],
    [{ verb: 'NOOP', text: 'x\r\nRSET' }, /bare CR/],
    [{ verb: 'SGNT', kind: 'domain', name: 'alice@origin.example' }, /does not match kind "domain"/],
    [{ verb: 'SGNT', kind: 'user', name: 'origin.example' }, /does not match kind "user"/],
    [{ verb: 'VRFY', kind: 'domain', name: 'origin.example', fingerprint: 'abc' }, /86 base64/],
    [{ verb: 'MAIL', from: 'origin.example', size: 1.5 }, /SIZE must be a positive decimal/],
    [{ verb: 'NOOP', text: ' leading space' }, /do not survive formatting/],
    [{ verb: 'EHLO', host: 'x'.repeat(600) }, /line too long/],
  ])('%j', (cmd, reason) => {
    let caught: unknown;
    try {
      formatDmtpCommand(cmd);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DimeError);
    expect((caught as DimeError).message).toMatch(reason);
  });

  it('throws TypeError for a non-object or an unknown verb', () => {
    expect(() => formatDmtpCommand(null as unknown as DmtpCommand)).toThrow(TypeError);
    expect(() => formatDmtpCommand({ verb: 'STATS' } as unknown as DmtpCommand)).toThrow(TypeError);
  });
});

describe('properties', () => {
  const pieces = [
    'EHLO', 'HELO', 'STARTTLS', 'MODE', 'MAIL', 'RCPT', 'DATA', 'SGNT', 'VRFY', 'HIST', 'NOOP', 'RSET', 'HELP', 'QUIT',
    ' ', '\t', '\r\n', '\n', '\r', '\u0000', 'FROM:', 'TO:', 'FROM=', '<', '>', '[', ']', '=', 'origin.example',
    'alice@origin.example', '@', '.', '-', 'FINGERPRINT=', 'SIZE=', '12', 'RETURN=FULL', 'MODE=DMTPv1', 'USER=', 'DOMAIN=',
    'START=', 'STOP=', FP, ORG_FP, 'fingerprint', 'é', 'x',
  ];
  const commandish = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => p.join(''));

  function checkStable(input: string | Uint8Array): void {
    let cmd: DmtpCommand;
    try {
      cmd = parseDmtpCommand(input);
    } catch (err) {
      expect(err).toBeInstanceOf(DimeError);
      return;
    }
    const line = formatDmtpCommand(cmd);
    expect(parseDmtpCommand(line)).toEqual(cmd);
    expect(formatDmtpCommand(parseDmtpCommand(line))).toBe(line);
  }

  it('random strings never throw anything but DimeError, and format(parse(x)) is stable', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 600 }), fc.string({ unit: 'binary' }), commandish), checkStable), { numRuns: 5000 });
  });

  it('random bytes never throw anything but DimeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), checkStable), { numRuns: 2000 });
  });

  it('parse(format(cmd)) returns any valid command', () => {
    const domain = fc.constantFrom('origin.example', 'destination.example', 'a-b.c.example', 'xn--bcher-kva.example');
    const name = fc.oneof(
      domain.map((d) => ({ kind: 'domain' as const, name: d })),
      fc.tuple(fc.constantFrom('alice', 'bob.smith', "o'hara", 'x+tag'), domain).map(([l, d]) => ({ kind: 'user' as const, name: `${l}@${d}` })),
    );
    const fp = fc.constantFrom(FP, FP2, ORG_FP);
    const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const strip = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
    const command: fc.Arbitrary<DmtpCommand> = fc.oneof(
      fc.record({ verb: fc.constantFrom('EHLO' as const, 'HELO' as const), host: domain }),
      fc.record({ verb: fc.constant('STARTTLS' as const), host: opt(domain), mode: opt(fc.constant('DMTPv1' as const)) }).map(strip),
      fc.record({ verb: fc.constantFrom('MODE' as const, 'RSET' as const, 'QUIT' as const) }),
      fc
        .record({
          verb: fc.constant('MAIL' as const),
          from: domain,
          fingerprint: opt(fp),
          size: opt(fc.integer({ min: 1, max: 2 ** 40 })),
          returnType: opt(fc.constantFrom('FULL' as const, 'DISPLAY' as const, 'HEADER' as const)),
          dataType: opt(fc.constantFrom('7BIT' as const, '8BIT' as const)),
        })
        .map(strip),
      fc.record({ verb: fc.constant('RCPT' as const), to: domain, fingerprint: opt(fp) }).map(strip),
      fc.record({ verb: fc.constant('DATA' as const), fingerprint: opt(fp) }).map(strip),
      fc.tuple(name, opt(fp)).map(([n, f]) => strip({ verb: 'SGNT' as const, ...n, fingerprint: f })),
      fc.tuple(name, fp).map(([n, f]) => ({ verb: 'VRFY' as const, ...n, fingerprint: f })),
      fc.tuple(name, fp, opt(fp)).map(([n, a, b]) => strip({ verb: 'HIST' as const, ...n, start: a, stop: b })),
      fc.record({ verb: fc.constantFrom('NOOP' as const, 'HELP' as const), text: opt(fc.constantFrom('x', 'a b', '=arg1 =arg2')) }).map(strip),
    );
    fc.assert(
      fc.property(command, (cmd) => {
        expect(parseDmtpCommand(formatDmtpCommand(cmd))).toEqual(cmd);
      }),
      { numRuns: 2000 },
    );
  });
});
