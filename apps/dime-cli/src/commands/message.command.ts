// `dime message ...`: seal an RFC 5322 message as its author, add the origin org's signatures,
// and open a D/MIME message as any of the four actors (JSON report; exit 0 only if every signature
// visible to the actor is valid).
import {
  DIME_ACTORS,
  DimeError,
  InMemoryKeyAgreement,
  InMemorySigner,
  ed25519PublicFromSeed,
  joinRfc5322,
  MESSAGE_MAGIC,
  openMessage,
  readKeyFile,
  readSignet,
  sealMessage,
  secp256k1PublicFromPrivate,
  signetEncryptionKey,
  signetFingerprint,
  signetId,
  signetSigningKey,
  signOrigin,
  splitRfc5322,
  validateSignet,
  type DimeActor,
  type DimeKeys,
  type Signet,
  type SignetAnchor,
} from '@lib/dime';
import { noMorePositionals, optionalValue, parseArgs, positional, requiredValue } from '../cli-args';
import { CliInputError, CliUsageError } from '../cli.error';
import { printJson, readInputFile, writeStdout } from '../cli-io';

export async function runMessageCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'seal':
      return seal(rest);
    case 'sign-origin':
      return signOriginCommand(rest);
    case 'open':
      return open(rest);
    default:
      throw new CliUsageError(sub === undefined ? 'message needs a subcommand: seal, sign-origin, open' : `unknown message subcommand "${sub}"`);
  }
}

function readKeys(path: string, type: DimeKeys['type'], what: string): DimeKeys {
  const keys = readKeyFile(readInputFile(path, what));
  if (keys.type !== type) throw new CliUsageError(`${what} "${path}" holds ${keys.type} keys, expected ${type} keys`);
  return keys;
}

function readSignetOf(path: string, type: Signet['type'], what: string): Signet {
  const signet = readSignet(readInputFile(path, what));
  if (signet.type !== type) throw new CliUsageError(`${what} "${path}" is a ${signet.type} signet, expected a ${type} signet`);
  return signet;
}

function requireValid(signet: Signet, anchor: SignetAnchor, what: string): void {
  const state = validateSignet(signet, anchor);
  if (state !== 'CRYPTO' && state !== 'FULL' && state !== 'ID') throw new DimeError('BAD_SIGNATURE', `${what} does not validate (${state})`);
}

/** Message files are binary D/MIME, or the same in base64 (whitespace allowed). */
export function decodeMessageInput(input: Buffer): Buffer {
  if (input.length >= 2 && input.readUInt16BE(0) === MESSAGE_MAGIC) return input;
  const text = input.toString('latin1').replace(/\s+/g, '');
  if (text.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length >= 2 && decoded.readUInt16BE(0) === MESSAGE_MAGIC) return decoded;
  }
  if (input.length >= 2 && input.readUInt16BE(0) === 1837) return input; // tracing block first; the parser decides
  throw new DimeError('WRONG_TYPE', 'not a D/MIME message (neither binary nor base64 with magic 1847)');
}

const ADDRESS_IN_ANGLES = /<\s*([^<>\s@]+@[^<>\s@]+)\s*>/;
const BARE_ADDRESS = /([^\s<>,;:"()[\]@]+@[^\s<>,;:"()[\]@]+)/;

function headerAddress(commonHeaders: Buffer, header: 'From' | 'To'): string | undefined {
  const line = commonHeaders
    .toString('utf8')
    .split('\r\n')
    .find((l) => l.startsWith(`${header}: `));
  if (line === undefined) return undefined;
  return (ADDRESS_IN_ANGLES.exec(line) ?? BARE_ADDRESS.exec(line.slice(header.length + 1)))?.[1];
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

async function seal(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ['eml', 'author-keys', 'author-signet', 'origin-signet', 'destination-signet', 'recipient-signet'],
  });
  noMorePositionals(args, 0);
  const eml = readInputFile(requiredValue(args, 'eml'), 'message');
  const authorKeys = readKeys(requiredValue(args, 'author-keys'), 'user', 'author key file');
  const authorSignet = readSignetOf(requiredValue(args, 'author-signet'), 'user', 'author signet');
  const originSignet = readSignetOf(requiredValue(args, 'origin-signet'), 'org', 'origin signet');
  const destinationSignet = readSignetOf(requiredValue(args, 'destination-signet'), 'org', 'destination signet');
  const recipientSignet = readSignetOf(requiredValue(args, 'recipient-signet'), 'user', 'recipient signet');

  requireValid(originSignet, { none: true }, 'the origin signet');
  requireValid(destinationSignet, { none: true }, 'the destination signet');
  requireValid(authorSignet, { orgSignet: originSignet }, 'the author signet (against the origin signet)');
  requireValid(recipientSignet, { orgSignet: destinationSignet }, 'the recipient signet (against the destination signet)');
  if (!ed25519PublicFromSeed(authorKeys.signingSeed).equals(signetSigningKey(authorSignet))) {
    throw new CliUsageError('the author key file does not hold the signing key of the author signet');
  }
  if (!secp256k1PublicFromPrivate(authorKeys.encryptionPrivateKey).equals(signetEncryptionKey(authorSignet))) {
    throw new CliUsageError('the author key file does not hold the encryption key of the author signet');
  }

  const content = splitRfc5322(eml);
  const author = signetId(authorSignet) ?? headerAddress(content.commonHeaders, 'From');
  const recipient = signetId(recipientSignet) ?? headerAddress(content.commonHeaders, 'To');
  if (author === undefined) throw new CliInputError('no author address: the author signet has no id and the message no From address');
  if (recipient === undefined) throw new CliInputError('no recipient address: the recipient signet has no id and the message no To address');

  const sealed = await sealMessage({
    author: {
      address: author,
      signetFingerprint: signetFingerprint(authorSignet, 'crypto'),
      encryptionKey: signetEncryptionKey(authorSignet),
      signer: new InMemorySigner(authorKeys.signingSeed),
    },
    origin: {
      domain: signetId(originSignet) ?? domainOf(author),
      signetFingerprint: signetFingerprint(originSignet, 'crypto'),
      encryptionKey: signetEncryptionKey(originSignet),
    },
    destination: {
      domain: signetId(destinationSignet) ?? domainOf(recipient),
      signetFingerprint: signetFingerprint(destinationSignet, 'crypto'),
      encryptionKey: signetEncryptionKey(destinationSignet),
    },
    recipient: {
      address: recipient,
      signetFingerprint: signetFingerprint(recipientSignet, 'crypto'),
      encryptionKey: signetEncryptionKey(recipientSignet),
    },
    commonHeaders: content.commonHeaders,
    otherHeaders: content.otherHeaders,
    display: content.display,
    attachments: content.attachments,
  });
  writeStdout(sealed);
  return 0;
}

async function signOriginCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['keys', 'author-signet'] });
  const message = decodeMessageInput(readInputFile(positional(args, 0, 'message file'), 'message'));
  noMorePositionals(args, 1);
  const keys = readKeys(requiredValue(args, 'keys'), 'org', 'org key file');
  const authorSignetFile = optionalValue(args, 'author-signet');
  const authorSigningKey = authorSignetFile === undefined ? undefined : signetSigningKey(readSignetOf(authorSignetFile, 'user', 'author signet'));
  const signed = await signOrigin(message, {
    keys: new InMemoryKeyAgreement(keys.encryptionPrivateKey),
    signer: new InMemorySigner(keys.signingSeed),
    ...(authorSigningKey === undefined ? {} : { authorSigningKey }),
  });
  writeStdout(signed);
  return 0;
}

const ORG_ACTORS: readonly DimeActor[] = ['origin', 'destination'];

async function open(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['as', 'keys', 'author-signet', 'origin-signet'] });
  const message = decodeMessageInput(readInputFile(positional(args, 0, 'message file'), 'message'));
  noMorePositionals(args, 1);
  const actor = requiredValue(args, 'as') as DimeActor;
  if (!DIME_ACTORS.includes(actor)) throw new CliUsageError(`--as must be one of ${DIME_ACTORS.join(', ')}`);
  const keys = readKeys(requiredValue(args, 'keys'), ORG_ACTORS.includes(actor) ? 'org' : 'user', `${actor} key file`);

  const authorSignetFile = optionalValue(args, 'author-signet');
  const originSignetFile = optionalValue(args, 'origin-signet');
  const authorSignet = authorSignetFile === undefined ? undefined : readSignetOf(authorSignetFile, 'user', 'author signet');
  const originSignet = originSignetFile === undefined ? undefined : readSignetOf(originSignetFile, 'org', 'origin signet');

  const keyAgreement = new InMemoryKeyAgreement(keys.encryptionPrivateKey);
  const opened = await openMessage(message, {
    actor,
    keys: keyAgreement,
    strict: false,
    ...(authorSignet === undefined ? {} : { authorSigningKey: signetSigningKey(authorSignet) }),
    ...(originSignet === undefined ? {} : { originSigningKey: signetSigningKey(originSignet) }),
  });
  keyAgreement.wipe();

  const problems: string[] = [];
  for (const [name, status] of Object.entries(opened.signatures)) {
    if (status === 'invalid') problems.push(`signature ${name} is invalid`);
    if (status === 'unverified') problems.push(`signature ${name} is unverified (supply --${name.startsWith('author') ? 'author' : 'origin'}-signet)`);
  }
  if (opened.chunkSignatures === 'invalid') problems.push('a chunk signature by the author is invalid');
  if (opened.chunkSignatures === 'unverified') problems.push('the chunk signatures are unverified (supply --author-signet)');
  // The signets supplied must be the ones the envelope names (crypto fingerprints).
  if (authorSignet && opened.origin && opened.origin.authorSignet !== signetFingerprint(authorSignet, 'crypto')) {
    problems.push('the author signet given is not the one the origin envelope names');
  }
  if (originSignet && opened.destination && opened.destination.originSignet !== signetFingerprint(originSignet, 'crypto')) {
    problems.push('the origin signet given is not the one the destination envelope names');
  }

  const hasContent = opened.commonHeaders !== null;
  printJson({
    origin: opened.origin,
    destination: opened.destination,
    commonHeaders: opened.commonHeaders?.toString('utf8') ?? null,
    otherHeaders: opened.otherHeaders?.toString('utf8') ?? null,
    display: opened.display.map((d) => d.toString('base64')),
    attachments: opened.attachments.map((a) => a.toString('base64')),
    eml: hasContent
      ? joinRfc5322({ commonHeaders: opened.commonHeaders, otherHeaders: opened.otherHeaders, display: opened.display, attachments: opened.attachments }).toString('utf8')
      : null,
    signatures: opened.signatures,
  });
  if (problems.length === 0) return 0;
  process.stderr.write(`dime: ${problems.join('; ')}\n`);
  return 1;
}
