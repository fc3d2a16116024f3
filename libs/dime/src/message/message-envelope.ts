// Text of the two D/MIME envelope chunks (DIGEST.md §6.4), exactly as libdime's
// prsr_envelope_format writes them:
//   origin (4):      Author: <addr>\r\nAuthor-Signet: [fp]\r\nDestination: <domain>\r\nDestination-Signet: [fp]\r\n
//   destination (5): Recipient: <addr>\r\nRecipient-Signet: [fp]\r\nOrigin: <domain>\r\nOrigin-Signet: [fp]\r\n
import { DimeError } from '../dime.error';
import type { DestinationEnvelope, OriginEnvelope } from './message.types';

// Printable ASCII without the closing delimiter, as libdime's parser reads it (isprint up to '>' / ']').
const NAME = /^[\x20-\x3d\x3f-\x7e]+$/; // no '>'
const FINGERPRINT = /^[\x20-\x5c\x5e-\x7e]+$/; // no ']'

function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`"${what}" expected string, got ${typeof value}`);
  if (!NAME.test(value) || value.includes('<')) throw new DimeError('MALFORMED', `${what}: not a printable address or domain without <>`);
  return value;
}

function checkFingerprint(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`"${what}" expected string, got ${typeof value}`);
  if (!FINGERPRINT.test(value) || value.includes('[')) throw new DimeError('MALFORMED', `${what}: not a printable fingerprint without []`);
  return value;
}

export function formatOriginEnvelope(e: OriginEnvelope): Buffer {
  return Buffer.from(
    `Author: <${checkName(e.author, 'author.address')}>\r\n` +
      `Author-Signet: [${checkFingerprint(e.authorSignet, 'author.signetFingerprint')}]\r\n` +
      `Destination: <${checkName(e.destination, 'destination.domain')}>\r\n` +
      `Destination-Signet: [${checkFingerprint(e.destinationSignet, 'destination.signetFingerprint')}]\r\n`,
    'latin1',
  );
}

export function formatDestinationEnvelope(e: DestinationEnvelope): Buffer {
  return Buffer.from(
    `Recipient: <${checkName(e.recipient, 'recipient.address')}>\r\n` +
      `Recipient-Signet: [${checkFingerprint(e.recipientSignet, 'recipient.signetFingerprint')}]\r\n` +
      `Origin: <${checkName(e.origin, 'origin.domain')}>\r\n` +
      `Origin-Signet: [${checkFingerprint(e.originSignet, 'origin.signetFingerprint')}]\r\n`,
    'latin1',
  );
}

const ORIGIN_TEXT =
  /^Author: <([\x20-\x3d\x3f-\x7e]+)>\r\nAuthor-Signet: \[([\x20-\x5c\x5e-\x7e]+)\]\r\nDestination: <([\x20-\x3d\x3f-\x7e]+)>\r\nDestination-Signet: \[([\x20-\x5c\x5e-\x7e]+)\]\r\n$/;
const DESTINATION_TEXT =
  /^Recipient: <([\x20-\x3d\x3f-\x7e]+)>\r\nRecipient-Signet: \[([\x20-\x5c\x5e-\x7e]+)\]\r\nOrigin: <([\x20-\x3d\x3f-\x7e]+)>\r\nOrigin-Signet: \[([\x20-\x5c\x5e-\x7e]+)\]\r\n$/;

export function parseOriginEnvelope(data: Uint8Array): OriginEnvelope {
  const m = ORIGIN_TEXT.exec(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1'));
  if (!m) throw new DimeError('MALFORMED', 'origin envelope chunk is not in libdime format');
  return { author: m[1] as string, authorSignet: m[2] as string, destination: m[3] as string, destinationSignet: m[4] as string };
}

export function parseDestinationEnvelope(data: Uint8Array): DestinationEnvelope {
  const m = DESTINATION_TEXT.exec(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1'));
  if (!m) throw new DimeError('MALFORMED', 'destination envelope chunk is not in libdime format');
  return { recipient: m[1] as string, recipientSignet: m[2] as string, origin: m[3] as string, originSignet: m[4] as string };
}
