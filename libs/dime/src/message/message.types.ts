// Public types of D/MIME messages (DIGEST.md §6): who seals, origin-signs and opens a message, and
// what each of the four actors gets back. Keys come in raw (public keys, fingerprints) or through
// the Signer / KeyAgreement interfaces, so nothing here depends on signet parsing.
import type { KeyAgreement, Signer } from '../signer';

/** The four parties of a D/MIME message: author user, origin org, destination org, recipient user. */
export type DimeActor = 'author' | 'origin' | 'destination' | 'recipient';

export const DIME_ACTORS: readonly DimeActor[] = ['author', 'origin', 'destination', 'recipient'];

export interface SealInput {
  /** signetFingerprint: the author's CRYPTO fingerprint (86 base64 chars, no brackets). */
  author: { address: string; signetFingerprint: string; encryptionKey: Uint8Array; signer: Signer };
  origin: { domain: string; signetFingerprint: string; encryptionKey: Uint8Array };
  destination: { domain: string; signetFingerprint: string; encryptionKey: Uint8Array };
  recipient: { address: string; signetFingerprint: string; encryptionKey: Uint8Array };
  /** Exact common-headers chunk text (CRLF lines, libdime order: Date, To, CC, From, Organization, Subject). */
  commonHeaders: Uint8Array;
  /** Other-headers chunk text; libdime cannot build a message without it, so it must not be empty. */
  otherHeaders: Uint8Array;
  /** At least one display chunk, none empty (libdime refuses zero-length chunks). */
  display: Uint8Array[];
  attachments?: Uint8Array[];
  /** Randomness source (tests); default crypto.randomBytes. */
  random?: (n: number) => Buffer;
}

export interface OriginSignOptions {
  /** The origin org's encryption key (opens its keyslots). */
  keys: KeyAgreement;
  /** The origin org's POK (libdime's validator fetches only the POK). */
  signer: Signer;
  /** Produce the meta-bounce signature (248); false deletes that chunk. Default true. */
  metaBounce?: boolean;
  /** Produce the display-bounce signature (249); false deletes that chunk. Default true. */
  displayBounce?: boolean;
  /** The author's raw Ed25519 signing key: when given, the origin refuses a message whose author signatures fail. */
  authorSigningKey?: Uint8Array;
}

export interface OpenOptions {
  actor: DimeActor;
  keys: KeyAgreement;
  /** Raw 32-byte Ed25519 key from the author's signet: verifies 225/226 and the chunk payload signatures. */
  authorSigningKey?: Uint8Array;
  /** The origin org POK: verifies 248/249/255. */
  originSigningKey?: Uint8Array;
  /** Default true: throw DimeError('BAD_SIGNATURE') if any visible signature is invalid. */
  strict?: boolean;
}

/**
 * valid / invalid: checked; absent: optional chunk not in the message; not-visible: this actor has no
 * keyslot for it; unverified: visible but the public key needed to check it was not supplied.
 */
export type SignatureStatus = 'valid' | 'invalid' | 'absent' | 'not-visible' | 'unverified';

export type MessageSignatureName = 'authorTree' | 'authorFull' | 'originMetaBounce' | 'originDisplayBounce' | 'originFull';

/** The origin envelope chunk (4): what the origin org needs to relay. Values bare (no <> or []). */
export interface OriginEnvelope {
  author: string;
  authorSignet: string;
  destination: string;
  destinationSignet: string;
}

/** The destination envelope chunk (5): what the destination org needs to deliver. */
export interface DestinationEnvelope {
  recipient: string;
  recipientSignet: string;
  origin: string;
  originSignet: string;
}

export interface OpenedMessage {
  actor: DimeActor;
  origin: OriginEnvelope | null;
  destination: DestinationEnvelope | null;
  commonHeaders: Buffer | null;
  otherHeaders: Buffer | null;
  display: Buffer[];
  attachments: Buffer[];
  signatures: Record<MessageSignatureName, SignatureStatus>;
  /** The author's per-chunk payload signatures over the standard chunks this actor can open. */
  chunkSignatures: 'valid' | 'invalid' | 'unverified' | 'not-visible';
}

/** One chunk as framed on the wire; payload and keyslots are views into the message bytes. */
export interface MessageChunkFrame {
  type: number;
  /** Offset of the chunk's type byte in the message. */
  offset: number;
  /** Serialized length: 4-byte chunk header + payload + keyslots. */
  length: number;
  payload: Buffer;
  /** One 64-byte encrypted keyslot per actor of this chunk type, in the order of CHUNK_KEYSLOT_ACTORS. */
  keyslots: Buffer[];
}

export interface MessageFrame {
  chunks: MessageChunkFrame[];
}
