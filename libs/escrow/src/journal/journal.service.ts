// Journaling one accepted message: decide retention (policy fixed on the record now), encrypt the
// bytes under a fresh record key wrapped to the escrow PUBLIC key (journal-record.ts: no HSM call),
// blind-index the addresses (HSM HMAC, cached), store the blob, then the row. Idempotent per
// message id: a retried job finds the record and stores nothing new.
import { randomUUID } from 'node:crypto';
import type { JournalRepository, MessageDirection, RetentionPolicyRecord } from '@lib/db';
import type { HsmKeystore } from '@lib/hsm';
import { decideRetention } from '../retention/retention-policy-match';
import { journalBlobKey, type ArchiveStore } from './archive-store';
import { normaliseAddress, type BlindIndexer } from './blind-index';
import { checkEscrowPoint, sealJournalRecord } from './journal-record';

export interface JournalMessage {
  readonly messageId: string;
  readonly direction: MessageDirection;
  /** Envelope sender ('' for the null reverse path). */
  readonly sender: string;
  /** Envelope recipients (all of them: delivered and refused). */
  readonly recipients: readonly string[];
  readonly content: Uint8Array;
}

export interface JournalOutcome {
  /** null: no policy matched and there is no default retention, nothing journaled. */
  readonly recordId: string | null;
  /** false when the message had been journaled before (retry). */
  readonly inserted: boolean;
}

export interface EscrowPublicKey {
  /** `keyLabel('escrow')` of @lib/hsm. */
  readonly label: string;
  /** Uncompressed P-384 point (97 bytes). */
  readonly point: Buffer;
}

export interface JournalServiceOptions {
  /** Retention for messages no policy matches (days, action review); 0 = do not journal them. */
  readonly defaultRetentionDays: number;
  /** How long the enabled policies are cached (ms). */
  readonly policyCacheMs?: number;
  readonly clock?: () => Date;
}

/** The escrow public key from the HSM: once at boot (public keys are cached by the keystore too). */
export async function loadEscrowPublicKey(keystore: Pick<HsmKeystore, 'publicKey'>, label: string): Promise<EscrowPublicKey> {
  const key = await keystore.publicKey(label);
  return { label, point: checkEscrowPoint(key.raw) };
}

/** The organisation's own side of a message: outbound the sender's domain, inbound the first recipient's. */
export function localDomainOf(direction: MessageDirection, sender: string, recipients: readonly string[]): string | null {
  const address = direction === 'outbound' ? sender : recipients[0];
  if (address === undefined || !address.includes('@')) return null;
  return address.slice(address.lastIndexOf('@') + 1) || null;
}

export class JournalService {
  private readonly clock: () => Date;
  private policies: { at: number; list: RetentionPolicyRecord[] } | null = null;

  constructor(
    private readonly records: JournalRepository,
    private readonly policySource: { listPolicies(enabledOnly: boolean): Promise<RetentionPolicyRecord[]> },
    private readonly indexer: BlindIndexer,
    private readonly store: ArchiveStore,
    private readonly escrow: EscrowPublicKey,
    private readonly options: JournalServiceOptions,
  ) {
    checkEscrowPoint(escrow.point);
    if (!Number.isInteger(options.defaultRetentionDays) || options.defaultRetentionDays < 0) {
      throw new RangeError('"defaultRetentionDays" expected a non-negative integer');
    }
    this.clock = options.clock ?? (() => new Date());
  }

  private async enabledPolicies(now: number): Promise<RetentionPolicyRecord[]> {
    const ttl = this.options.policyCacheMs ?? 5000;
    if (this.policies === null || now - this.policies.at >= ttl || now < this.policies.at) {
      this.policies = { at: now, list: await this.policySource.listPolicies(true) };
    }
    return this.policies.list;
  }

  /** Drops the policy cache (after a policy change in this process). */
  invalidatePolicies(): void {
    this.policies = null;
  }

  async journal(message: JournalMessage): Promise<JournalOutcome> {
    const existing = await this.records.findByMessageId(message.messageId);
    if (existing !== null) return { recordId: existing.id, inserted: false };

    const journaledAt = this.clock();
    const sender = message.sender === '' ? '' : normaliseAddress(message.sender);
    const recipients = message.recipients.map(normaliseAddress);
    const decision = decideRetention(
      await this.enabledPolicies(journaledAt.getTime()),
      { direction: message.direction, sender, recipients },
      journaledAt,
      this.options.defaultRetentionDays,
    );
    if (decision === null) return { recordId: null, inserted: false };

    const id = randomUUID();
    const sealed = sealJournalRecord(id, message.content, this.escrow.point);
    // the null reverse path gets the index of '' (bounces from the system are findable as such)
    const senderIndex = await this.indexer.addressIndex(sender);
    const recipientIndexes = await this.indexer.addressIndexes(recipients);
    const blobKey = journalBlobKey(id);
    await this.store.put(blobKey, sealed.blob, { retainUntil: decision.retainUntil });
    const result = await this.records.insertRecord({
      id,
      messageId: message.messageId,
      direction: message.direction,
      journaledAt,
      retainUntil: decision.retainUntil,
      policyId: decision.policyId,
      dispositionAction: decision.action,
      contentSha256: sealed.contentSha256,
      size: message.content.length,
      blobKey,
      escrowKeyLabel: this.escrow.label,
      wrappedKey: sealed.wrappedKey,
      ephemeralPublicKey: sealed.ephemeralPublicKey,
      senderIndex,
      recipientIndexes,
      localDomain: localDomainOf(message.direction, sender, recipients),
    });
    if (!result.inserted) {
      // a concurrent attempt won: our blob is unreferenced ciphertext whose key nobody holds
      await this.store.delete(blobKey).catch(() => undefined);
    }
    return { recordId: result.id, inserted: result.inserted };
  }
}
