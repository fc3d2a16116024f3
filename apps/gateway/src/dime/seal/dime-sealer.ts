// The outbound DIME step for one recipient, called at delivery time (a signet that cannot be fetched
// must defer through the delivery retries): RFC 5322 bytes -> a D/MIME message sealed by the sender's
// user keys (author; unwrapped for this call only) to the recipient's org and user signets from the
// DimeDirectory, then origin-signed by the org POK in the HSM (DIGEST.md §6). A D/MIME message has one
// destination and one recipient keyslot, so every recipient gets its own message. Any failure throws
// (DimeSealError with a reply and a transient flag): plaintext is never returned instead.
import {
  isDimeError,
  parseSignet,
  sealMessage,
  signetEncryptionKey,
  signetFingerprint,
  signetId,
  signOrigin,
  splitRfc5322,
  validateSignet,
  type DimeContent,
  type KeyAgreement,
  type Signer,
  type Signet,
} from '@lib/dime';
import type { DimeDirectory, DimeDomain } from '../dime-directory';
import { DimeUserError, normalizeAddress, type DimeUser, type DimeUserService } from '@lib/dime-users';
import { DimeSealError } from './dime-seal.error';
import { directoryFailure } from './directory-failure';

/** What to do with a sender that has no DIME keys yet (DIME_SENDER_POLICY). */
export type DimeSenderPolicy = 'provision' | 'refuse';

export interface DimeSealInput {
  /** The message as accepted from the legacy server. */
  readonly rfc5322: Uint8Array;
  /** The envelope sender (MAIL FROM): must be a local user. */
  readonly sender: string;
  /** One recipient in a DIME domain. */
  readonly recipient: string;
  readonly signal?: AbortSignal;
}

export interface DimeSealerOptions {
  readonly senderPolicy: DimeSenderPolicy;
  /** Which optional origin bounce signatures (248 meta, 249 display) to make; default both. */
  readonly bounceSignatures?: 'both' | 'meta' | 'display' | 'none';
}

/** The org's HSM keys as the origin actor: POK (origin signatures) and encryption key (its keyslots). */
export interface OriginKeys {
  readonly signer: Signer;
  readonly keys: KeyAgreement;
}

export class DimeSealer {
  private readonly orgSignet: Signet;
  private readonly orgFingerprint: string;
  private readonly orgEncryptionKey: Buffer;

  constructor(
    private readonly users: DimeUserService,
    private readonly directory: DimeDirectory,
    private readonly origin: OriginKeys,
    private readonly options: DimeSealerOptions,
  ) {
    if (options.senderPolicy !== 'provision' && options.senderPolicy !== 'refuse') {
      throw new RangeError(`"options.senderPolicy" expected 'provision' or 'refuse', got ${String(options.senderPolicy)}`);
    }
    if (options.bounceSignatures !== undefined && !['both', 'meta', 'display', 'none'].includes(options.bounceSignatures)) {
      throw new RangeError(`"options.bounceSignatures" expected 'both', 'meta', 'display' or 'none', got ${String(options.bounceSignatures)}`);
    }
    this.orgSignet = users.localOrgSignet;
    this.orgFingerprint = signetFingerprint(this.orgSignet, 'crypto');
    this.orgEncryptionKey = signetEncryptionKey(this.orgSignet);
    if (!this.orgEncryptionKey.equals(Buffer.from(origin.keys.publicKey))) {
      throw new DimeUserError('ORG_SIGNET', 'the org signet does not carry the HSM org encryption key');
    }
  }

  async seal(input: DimeSealInput): Promise<Uint8Array> {
    if (!(input?.rfc5322 instanceof Uint8Array)) throw new TypeError('"input.rfc5322" expected Uint8Array');
    const sender = await this.sender(input.sender);
    const recipient = this.recipientAddress(input.recipient);
    throwIfAborted(input.signal);

    const domain = await this.lookupDomain(recipient.domain, input.signal);
    const recipientSignet = await this.recipientSignet(recipient.address, domain, input.signal);
    throwIfAborted(input.signal);

    let content: DimeContent;
    try {
      content = splitRfc5322(input.rfc5322);
    } catch (err) {
      if (isDimeError(err)) throw new DimeSealError('BAD_MESSAGE', `message cannot be mapped to DIME: ${err.message}`, { cause: err });
      throw err;
    }

    try {
      return await this.users.withUserKeys(sender.address, async ({ signet, signer }) => {
        const sealed = await sealMessage({
          author: { address: sender.address, signetFingerprint: signetFingerprint(signet, 'crypto'), encryptionKey: signetEncryptionKey(signet), signer },
          origin: { domain: sender.domain, signetFingerprint: this.orgFingerprint, encryptionKey: this.orgEncryptionKey },
          destination: { domain: recipient.domain, signetFingerprint: signetFingerprint(domain.signet, 'crypto'), encryptionKey: signetEncryptionKey(domain.signet) },
          recipient: { address: recipient.address, signetFingerprint: signetFingerprint(recipientSignet, 'crypto'), encryptionKey: signetEncryptionKey(recipientSignet) },
          commonHeaders: content.commonHeaders,
          otherHeaders: content.otherHeaders,
          display: content.display,
          attachments: content.attachments,
        });
        // A wrong key never leaves: withUserKeys refuses to sign with an unwrapped key whose public
        // key is not the signet's, so the author signatures just made verify under the signet.
        // Verifying them again inside signOrigin (authorSigningKey) cost three Ed25519
        // verifications over the message per recipient and could find nothing that check does not.
        const bounce = this.options.bounceSignatures ?? 'both';
        return signOrigin(sealed, {
          keys: this.origin.keys,
          signer: this.origin.signer,
          metaBounce: bounce === 'both' || bounce === 'meta',
          displayBounce: bounce === 'both' || bounce === 'display',
        });
      });
    } catch (err) {
      throw this.sealFailure(err);
    }
  }

  private async sender(address: string): Promise<DimeUser> {
    try {
      const { domain } = normalizeAddress(address);
      if (!this.users.isLocalDomain(domain)) throw new DimeSealError('SENDER_REFUSED', `sender ${address} is not in a local domain`);
      const user = this.options.senderPolicy === 'provision' ? await this.users.ensure(address) : await this.users.find(address);
      if (!user) throw new DimeSealError('SENDER_REFUSED', `sender ${address} has no DIME keys and DIME_SENDER_POLICY=refuse`);
      if (user.status !== 'active') throw new DimeSealError('SENDER_SUSPENDED', `sender ${user.address} is suspended`);
      return user;
    } catch (err) {
      if (err instanceof DimeUserError && err.code === 'BAD_ADDRESS') throw new DimeSealError('SENDER_REFUSED', err.message, { cause: err });
      if (err instanceof DimeUserError && err.code === 'NOT_LOCAL') throw new DimeSealError('SENDER_REFUSED', err.message, { cause: err });
      throw err instanceof DimeSealError ? err : this.sealFailure(err);
    }
  }

  private recipientAddress(address: string): { address: string; domain: string } {
    try {
      return normalizeAddress(address);
    } catch (err) {
      if (err instanceof DimeUserError) throw new DimeSealError('RECIPIENT_SIGNET_INVALID', `recipient ${address}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  private async lookupDomain(domain: string, signal: AbortSignal | undefined): Promise<DimeDomain & { signet: Signet }> {
    let found: DimeDomain | undefined;
    try {
      found = await this.directory.lookupDomain(domain, signal);
    } catch (err) {
      throw this.directoryError(`DIME lookup of ${domain}`, err);
    }
    if (!found) throw new DimeSealError('NOT_DIME_DOMAIN', `${domain} publishes no DIME management record`);
    try {
      return { ...found, signet: parseSignet(found.orgSignet, 'org') };
    } catch (err) {
      throw new DimeSealError('DIRECTORY_REFUSED', `org signet of ${domain} unreadable`, { cause: err });
    }
  }

  private async recipientSignet(address: string, domain: { signet: Signet; domain: string }, signal: AbortSignal | undefined): Promise<Signet> {
    let bytes: Uint8Array;
    try {
      bytes = await this.directory.userSignet(address, signal);
    } catch (err) {
      throw this.directoryError(`signet of ${address}`, err);
    }
    // the directory validated it; checked again because a wrong key here would seal to someone else
    let signet: Signet;
    try {
      signet = parseSignet(bytes, 'user');
    } catch (err) {
      throw new DimeSealError('RECIPIENT_SIGNET_INVALID', `signet of ${address} unreadable`, { cause: err });
    }
    const state = validateSignet(signet, { orgSignet: domain.signet });
    if (state !== 'CRYPTO' && state !== 'FULL' && state !== 'ID') {
      throw new DimeSealError('RECIPIENT_SIGNET_INVALID', `signet of ${address} does not chain to the org signet of ${domain.domain} (${state})`);
    }
    const id = signetId(signet);
    if (id !== null && id.toLowerCase() !== address.toLowerCase()) {
      throw new DimeSealError('RECIPIENT_SIGNET_INVALID', `signet fetched for ${address} names ${id}`);
    }
    return signet;
  }

  private directoryError(what: string, err: unknown): DimeSealError {
    const failure = directoryFailure(err);
    return new DimeSealError(failure.transient ? 'DIRECTORY_UNAVAILABLE' : 'DIRECTORY_REFUSED', `${what}: ${failure.code}: ${failure.message}`, {
      cause: err,
      ...(failure.reply !== undefined ? { reply: failure.reply } : {}),
    });
  }

  private sealFailure(err: unknown): Error {
    if (err instanceof DimeSealError) return err;
    if (err instanceof DimeUserError) {
      if (err.code === 'SUSPENDED') return new DimeSealError('SENDER_SUSPENDED', err.message, { cause: err });
      if (err.code === 'UNKNOWN_USER') return new DimeSealError('SENDER_REFUSED', err.message, { cause: err });
    }
    // the message itself cannot become DIME (no retry changes that); any other libs/dime error is ours: retry
    if (isDimeError(err) && (err.code === 'BAD_MESSAGE' || err.code === 'TOO_LARGE')) return new DimeSealError('BAD_MESSAGE', err.message, { cause: err });
    return new DimeSealError('SEAL_FAILED', `sealing failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DimeSealError('SEAL_FAILED', 'sealing aborted (timeout)');
}
