// What escrow recovery needs from the journal: the records a request's scope covers and, only
// for an approved export, each record's original bytes (record key unwrapped with the HSM escrow
// key). The journal part of libs/escrow implements it (journal-record-source.ts); recovery never
// touches blobs or wrapped keys itself.

/** A request's scope: every given criterion must match (null = not restricted by it). */
export interface EscrowScope {
  /** Blind index of the custodian address (sender or any recipient). */
  readonly custodianIndex: Buffer | null;
  /** Journal time range [from, to). */
  readonly from: Date | null;
  readonly to: Date | null;
  /** Explicit record ids. */
  readonly recordIds: readonly string[] | null;
}

export interface EscrowRecordSource {
  /** Blind index of an address (HMAC in the HSM), as the journal stores it. */
  custodianIndex(address: string): Promise<Buffer>;
  /** Ids of the unshredded records in scope, in a stable order (journal time, id). */
  findRecordIds(scope: EscrowScope): Promise<string[]>;
  /** The original message bytes of one record (HSM unwrap + decrypt + hash check). */
  openRecord(recordId: string): Promise<Buffer>;
}
