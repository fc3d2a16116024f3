// EscrowRecordSource over the compliance journal: scope -> record ids through JournalRepository
// (blind indexes, journal time, ids; shredded records excluded), and the one path to content,
// openJournalRecord (HSM escrow-key ECDH + unwrap + authenticated decrypt + content hash check).
import type { JournalRepository } from '@lib/db';
import type { HsmKeystore } from '@lib/hsm';
import type { ArchiveStore } from '../journal/archive-store';
import type { BlindIndexer } from '../journal/blind-index';
import { EscrowError } from '../journal/escrow.error';
import { openJournalRecord } from '../journal/journal-reader';
import type { EscrowRecordSource, EscrowScope } from './escrow-record-source';

const PAGE = 1000;

export class JournalRecordSource implements EscrowRecordSource {
  constructor(
    private readonly journal: Pick<JournalRepository, 'find' | 'findById'>,
    private readonly indexer: Pick<BlindIndexer, 'addressIndex'>,
    private readonly keystore: Pick<HsmKeystore, 'deriveEcdh' | 'publicKey'>,
    private readonly store: Pick<ArchiveStore, 'get'>,
  ) {}

  custodianIndex(address: string): Promise<Buffer> {
    return this.indexer.addressIndex(address);
  }

  /** Unshredded records in scope, ordered by id. */
  async findRecordIds(scope: EscrowScope): Promise<string[]> {
    const ids: string[] = [];
    let afterId: string | undefined;
    for (;;) {
      const page = await this.journal.find({
        ...(scope.custodianIndex !== null ? { custodianIndexes: [scope.custodianIndex] } : {}),
        ...(scope.from !== null ? { journaledFrom: scope.from } : {}),
        ...(scope.to !== null ? { journaledTo: scope.to } : {}),
        ...(scope.recordIds !== null ? { ids: scope.recordIds } : {}),
        ...(afterId !== undefined ? { afterId } : {}),
        limit: PAGE,
      });
      for (const r of page) ids.push(r.id);
      if (page.length < PAGE) return ids;
      afterId = page[page.length - 1]?.id;
    }
  }

  async openRecord(recordId: string): Promise<Buffer> {
    const record = await this.journal.findById(recordId);
    if (record === null) throw new EscrowError('RECORD_NOT_FOUND', `no journal record ${recordId}`);
    return openJournalRecord(this.keystore, this.store, record);
  }
}
