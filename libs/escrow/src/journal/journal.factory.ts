// Wiring for a process (the gateway): the journal sink from its JournalConfig, the HSM keystore
// and the runtime database pool. Reads the escrow public key from the HSM once, here.
import type { DataSource } from '@lib/db';
import { JournalRepository, RetentionRepository } from '@lib/db';
import { keyLabel, type HsmKeystore } from '@lib/hsm';
import type { ArchiveStore } from './archive-store';
import { createArchiveStore } from './archive-store.factory';
import { BlindIndexer } from './blind-index';
import { EscrowJournalSink } from './escrow-journal-sink';
import type { JournalConfig } from './journal.config';
import { JournalService, loadEscrowPublicKey } from './journal.service';

export interface ComplianceJournal {
  readonly sink: EscrowJournalSink;
  readonly service: JournalService;
  readonly store: ArchiveStore;
  readonly indexer: BlindIndexer;
}

/** null when JOURNAL_ENABLED is false (the gateway keeps its NOOP sink). */
export async function createComplianceJournal(config: JournalConfig, keystore: HsmKeystore, dataSource: DataSource): Promise<ComplianceJournal | null> {
  if (!config.enabled) return null;
  const store = createArchiveStore(config);
  const indexer = new BlindIndexer(keystore, keyLabel('blind-index'), config.blindIndexCacheSize);
  const service = new JournalService(
    new JournalRepository(dataSource),
    new RetentionRepository(dataSource),
    indexer,
    store,
    await loadEscrowPublicKey(keystore, keyLabel('escrow')),
    { defaultRetentionDays: config.defaultRetentionDays },
  );
  return { sink: new EscrowJournalSink(service), service, store, indexer };
}
