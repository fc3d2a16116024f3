// Full verification of a received D/MIME message, shared by the DMTP door (before the 250) and the
// inbound opener (again on the stored bytes, before delivery). Nothing unverified passes:
//  1. open as destination with the HSM org key: recipient and origin domain (another destination's
//     message does not open: NOT_FOR_US);
//  2. envelope domains against MAIL FROM / RCPT TO; the recipient an active local user, sealed to
//     its current signet;
//  3. the origin org signet from the DimeDirectory; origin signatures (255, and 248/249 when present)
//     with its POK;
//  4. open as recipient with the user's keys (unwrapped once, wiped after): the author; the author's
//     signet from the DimeDirectory, chained to the origin org signet; author tree/full and chunk
//     signatures with it.
// Both opens use a MemoKeyAgreement: the message is opened a second time with the signer's key once
// known, without a second HSM call or unwrap. Failures are DimeOpenError with a precise reply.
import {
  isDimeError,
  openMessage,
  parseMessageFrame,
  parseSignet,
  signetFingerprint,
  signetId,
  signetSigningKey,
  validateSignet,
  type DimeError,
  type KeyAgreement,
  type OpenedMessage,
  type OpenOptions,
  type Signet,
} from '@lib/dime';
import type { DimeDirectory, DimeDomain } from '../dime-directory';
import { directoryFailure } from '../seal/directory-failure';
import { DimeUserError, normalizeAddress, type DimeUserService } from '@lib/dime-users';
import { DimeOpenError, type DimeOpenErrorCode } from './dime-open.error';
import { MemoKeyAgreement } from './memo-key-agreement';

export interface DimeVerifyInput {
  readonly message: Uint8Array;
  /** MAIL FROM of the DMTP session, when known: the envelope's origin must be it. */
  readonly originDomain?: string;
  /** RCPT TO of the DMTP session, when known: must be local and the recipient's domain. */
  readonly destinationDomain?: string;
  /** The recipient recorded at acceptance, when known: the envelope must name it. */
  readonly recipient?: string;
  readonly signal?: AbortSignal;
}

export interface VerifiedDimeMessage {
  readonly originDomain: string;
  /** The local user, as stored. */
  readonly recipient: string;
  readonly author: string;
  /** Crypto fingerprints of the signets that verified the message. */
  readonly originSignetFingerprint: string;
  readonly authorSignetFingerprint: string;
  /** The recipient's view: headers, display and attachment chunks. */
  readonly opened: OpenedMessage;
}

const VALID_SIGNET_STATES = new Set(['CRYPTO', 'FULL', 'ID']);

export class DimeMessageVerifier {
  constructor(
    private readonly users: DimeUserService,
    private readonly directory: DimeDirectory,
    /** The org encryption key in the HSM (HsmKeyAgreement for org-encryption). */
    private readonly orgKeys: KeyAgreement,
  ) {}

  /**
   * What a verdict taken from the door (door-verdict-memo.ts) checks again: the recipient is still
   * an active user (a suspension between the door and the pipeline stops the message as before).
   */
  async recheckRecipient(address: string): Promise<void> {
    const user = await this.users.find(address);
    if (!user) throw new DimeOpenError('NO_SUCH_RECIPIENT', address);
    if (user.status !== 'active') throw new DimeOpenError('RECIPIENT_SUSPENDED', user.address);
  }

  async verify(input: DimeVerifyInput): Promise<VerifiedDimeMessage> {
    if (!(input?.message instanceof Uint8Array)) throw new TypeError('"input.message" expected Uint8Array');
    const { message, signal } = input;
    try {
      parseMessageFrame(message);
    } catch (err) {
      throw asOpenError(err, 'MALFORMED');
    }
    const destination = input.destinationDomain?.toLowerCase();
    if (destination !== undefined && !this.users.isLocalDomain(destination)) throw new DimeOpenError('DESTINATION_NOT_LOCAL', destination);

    const destinationKeys = new MemoKeyAgreement(this.orgKeys);
    try {
      // 1. destination view: who it is for, where it comes from
      const asDestination = await open(message, { actor: 'destination', keys: destinationKeys, strict: false }, 'NOT_FOR_US');
      const envelope = asDestination.destination;
      if (!envelope) throw new DimeOpenError('MALFORMED', 'no destination envelope');
      const originDomain = envelope.origin.toLowerCase();
      let recipient: { address: string; domain: string };
      try {
        recipient = normalizeAddress(envelope.recipient);
      } catch (err) {
        throw new DimeOpenError('MALFORMED', 'recipient in the destination envelope', { cause: err });
      }

      // 2. envelope against the session and our users
      if (input.originDomain !== undefined && input.originDomain.toLowerCase() !== originDomain) {
        throw new DimeOpenError('ENVELOPE_MISMATCH', `origin ${originDomain}, MAIL FROM ${input.originDomain}`);
      }
      if (destination !== undefined && destination !== recipient.domain) {
        throw new DimeOpenError('ENVELOPE_MISMATCH', `recipient domain ${recipient.domain}, RCPT TO ${destination}`);
      }
      if (input.recipient !== undefined && input.recipient.toLowerCase() !== recipient.address.toLowerCase()) {
        throw new DimeOpenError('ENVELOPE_MISMATCH', `recipient ${recipient.address}, expected ${input.recipient}`);
      }
      if (!this.users.isLocalDomain(recipient.domain)) throw new DimeOpenError('DESTINATION_NOT_LOCAL', recipient.domain);
      const user = await this.users.find(recipient.address);
      if (!user) throw new DimeOpenError('NO_SUCH_RECIPIENT', recipient.address);
      if (user.status !== 'active') throw new DimeOpenError('RECIPIENT_SUSPENDED', user.address);
      if (envelope.recipientSignet !== user.fingerprints.crypto) throw new DimeOpenError('RECIPIENT_SIGNET_MISMATCH', user.address);

      // 3. the origin organisation
      const origin = await this.originSignet(originDomain, signal);
      const pok = signetSigningKey(origin);
      const originView = await open(message, { actor: 'destination', keys: destinationKeys, originSigningKey: pok, strict: false }, 'TAMPERED');
      const originValid =
        originView.signatures.originFull === 'valid' &&
        originView.signatures.originMetaBounce !== 'invalid' &&
        originView.signatures.originDisplayBounce !== 'invalid';

      // 4. recipient view with the user's keys: the author, then the author's signatures
      const recipientKeys = await this.users
        .withUserKeys(user.address, async ({ keyAgreement }) => {
          const memo = new MemoKeyAgreement(keyAgreement);
          try {
            const first = await open(message, { actor: 'recipient', keys: memo, strict: false }, 'TAMPERED');
            memo.release();
            return { memo, first };
          } catch (err) {
            memo.wipe();
            throw err;
          }
        })
        .catch((err: unknown) => {
          if (err instanceof DimeUserError && err.code === 'SUSPENDED') throw new DimeOpenError('RECIPIENT_SUSPENDED', user.address);
          if (err instanceof DimeUserError && err.code === 'UNKNOWN_USER') throw new DimeOpenError('NO_SUCH_RECIPIENT', user.address);
          throw err;
        });
      try {
        const originEnvelope = recipientKeys.first.origin;
        if (!originEnvelope) throw new DimeOpenError('MALFORMED', 'no origin envelope');
        let author: { address: string; domain: string };
        try {
          author = normalizeAddress(originEnvelope.author);
        } catch (err) {
          throw new DimeOpenError('MALFORMED', 'author in the origin envelope', { cause: err });
        }
        if (originEnvelope.destination.toLowerCase() !== recipient.domain) {
          throw new DimeOpenError('ENVELOPE_MISMATCH', `origin envelope destination ${originEnvelope.destination}, recipient ${recipient.address}`);
        }
        if (author.domain !== originDomain) throw new DimeOpenError('AUTHOR_DOMAIN_MISMATCH', `${author.address} from ${originDomain}`);
        const authorSignet = await this.authorSignet(author.address, originEnvelope.authorSignet, origin, signal);
        // the origin signatures were checked in the destination view (step 3): checking them again
        // here (three Ed25519 verifications over the whole message) would decide nothing
        const full = await open(message, { actor: 'recipient', keys: recipientKeys.memo, authorSigningKey: signetSigningKey(authorSignet), strict: false }, 'TAMPERED');
        const authorValid = full.signatures.authorTree === 'valid' && full.signatures.authorFull === 'valid' && full.chunkSignatures === 'valid';

        if (!originValid && !authorValid) throw new DimeOpenError('TAMPERED', `from ${originDomain}`);
        if (!originValid) throw new DimeOpenError('ORIGIN_SIGNATURE_INVALID', originDomain);
        if (!authorValid) throw new DimeOpenError('AUTHOR_SIGNATURE_INVALID', author.address);
        const originFingerprint = signetFingerprint(origin, 'crypto');
        if (envelope.originSignet !== originFingerprint) throw new DimeOpenError('ORIGIN_SIGNET_MISMATCH', originDomain);
        const authorFingerprint = signetFingerprint(authorSignet, 'crypto');
        if (originEnvelope.authorSignet !== authorFingerprint) throw new DimeOpenError('AUTHOR_SIGNET_INVALID', `${author.address}: envelope names another signet`);
        return {
          originDomain,
          recipient: user.address,
          author: author.address,
          originSignetFingerprint: originFingerprint,
          authorSignetFingerprint: authorFingerprint,
          opened: full,
        };
      } finally {
        recipientKeys.memo.wipe();
      }
    } catch (err) {
      if (err instanceof DimeOpenError) throw err;
      throw new DimeOpenError('TEMPORARY', undefined, { cause: err });
    } finally {
      destinationKeys.wipe();
    }
  }

  private async originSignet(domain: string, signal: AbortSignal | undefined): Promise<Signet> {
    let found: DimeDomain | undefined;
    try {
      found = await this.directory.lookupDomain(domain, signal);
    } catch (err) {
      throw directoryError(domain, err);
    }
    if (!found) throw new DimeOpenError('ORIGIN_UNKNOWN', domain);
    try {
      return parseSignet(found.orgSignet, 'org');
    } catch (err) {
      throw new DimeOpenError('DIRECTORY_REFUSED', `org signet of ${domain} unreadable`, { cause: err });
    }
  }

  /** The author's signet the envelope names (by its crypto fingerprint: SGNT FINGERPRINT=), chained to the origin org signet. */
  private async authorSignet(address: string, fingerprint: string, origin: Signet, signal: AbortSignal | undefined): Promise<Signet> {
    let signet: Signet;
    try {
      signet = parseSignet(await this.directory.userSignet(address, signal, fingerprint), 'user');
    } catch (err) {
      if (isDimeError(err)) throw new DimeOpenError('AUTHOR_SIGNET_INVALID', address, { cause: err });
      const failure = directoryFailure(err);
      // discovery's permanent replies speak of a recipient; for the author, say what it means here
      if (!failure.transient) throw new DimeOpenError('AUTHOR_SIGNET_UNKNOWN', `${address}: ${failure.code}`, { cause: err });
      throw directoryError(address, err);
    }
    // the directory validated it; checked again here because the verdict rests on it
    const state = validateSignet(signet, { orgSignet: origin });
    if (!VALID_SIGNET_STATES.has(state)) throw new DimeOpenError('AUTHOR_SIGNET_INVALID', `${address}: ${state}`);
    const id = signetId(signet);
    if (id !== null && id.toLowerCase() !== address.toLowerCase()) throw new DimeOpenError('AUTHOR_SIGNET_INVALID', `${address}: signet names ${id}`);
    return signet;
  }
}

async function open(message: Uint8Array, options: OpenOptions, decryptCode: DimeOpenErrorCode): Promise<OpenedMessage> {
  try {
    return await openMessage(message, options);
  } catch (err) {
    throw asOpenError(err, decryptCode);
  }
}

/** libs/dime failures: keyslots that do not open -> decryptCode; framing -> MALFORMED; padding/signature -> TAMPERED. */
function asOpenError(err: unknown, decryptCode: DimeOpenErrorCode): Error {
  if (!isDimeError(err)) return err as Error;
  const e: DimeError = err;
  switch (e.code) {
    case 'DECRYPT_FAILED':
    case 'NOT_VISIBLE':
      return decryptCode === 'NOT_FOR_US' ? new DimeOpenError('NOT_FOR_US', 'the destination keyslots do not open with our org key', { cause: e }) : DimeOpenError.fromDimeError('TAMPERED', e);
    case 'BAD_PADDING':
    case 'BAD_SIGNATURE':
      return DimeOpenError.fromDimeError('TAMPERED', e);
    default:
      return DimeOpenError.fromDimeError('MALFORMED', e);
  }
}

function directoryError(what: string, err: unknown): DimeOpenError {
  const failure = directoryFailure(err);
  const code = failure.transient ? 'DIRECTORY_UNAVAILABLE' : 'DIRECTORY_REFUSED';
  // discovery's own reply says precisely what failed (e.g. a signet that does not chain to the record's POK)
  return new DimeOpenError(code, `${what}: ${failure.code}`, { cause: err, ...(failure.reply !== undefined ? { reply: failure.reply } : {}) });
}
