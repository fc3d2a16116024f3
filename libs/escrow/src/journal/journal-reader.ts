// Opening a journal record: the ONLY path from a record to its content. It needs the HSM's escrow
// private key (deriveEcdh), so libs/escrow's recovery calls it only after a completed M-of-N
// approval. The ECDH x-coordinate leaves the token for the KDF (SoftHSM offers no ECDH KDF that
// yields an AES key-unwrap key; docs/compliance.md) and is wiped right after.
import type { JournalRecord } from '@lib/db';
import type { HsmKeystore } from '@lib/hsm';
import type { ArchiveStore } from './archive-store';
import { EscrowError } from './escrow.error';
import { checkEscrowPoint, openJournalBlob, unwrapRecordKey } from './journal-record';

export type JournalRecordKeyFields = Pick<JournalRecord, 'id' | 'escrowKeyLabel' | 'wrappedKey' | 'ephemeralPublicKey' | 'contentSha256' | 'blobKey'>;

/** Unwraps the record key with the HSM escrow key (caller wipes it after use). */
export async function unwrapJournalRecordKey(keystore: Pick<HsmKeystore, 'deriveEcdh' | 'publicKey'>, record: JournalRecordKeyFields): Promise<Buffer> {
  if (record.wrappedKey === null || record.ephemeralPublicKey === null) {
    throw new EscrowError('RECORD_SHREDDED', `journal record ${record.id} was crypto-shredded`);
  }
  const escrowPoint = checkEscrowPoint((await keystore.publicKey(record.escrowKeyLabel)).raw);
  const shared = await keystore.deriveEcdh(record.escrowKeyLabel, record.ephemeralPublicKey);
  try {
    return unwrapRecordKey(record.id, shared, record.ephemeralPublicKey, escrowPoint, record.wrappedKey);
  } finally {
    shared.fill(0);
  }
}

/** The original message bytes of a record, exactly as accepted; EscrowError INTEGRITY if anything was altered. */
export async function openJournalRecord(
  keystore: Pick<HsmKeystore, 'deriveEcdh' | 'publicKey'>,
  store: Pick<ArchiveStore, 'get'>,
  record: JournalRecordKeyFields,
): Promise<Buffer> {
  const key = await unwrapJournalRecordKey(keystore, record);
  try {
    const blob = await store.get(record.blobKey);
    return openJournalBlob(record.id, blob, key, record.contentSha256);
  } finally {
    key.fill(0);
  }
}
