// The audit trail's value types: what record() takes, one entry as it is hashed, and the JSON
// Lines records of an export (docs/audit.md describes the file).

/** How an action ended. */
export type AuditOutcome = 'success' | 'failure' | 'denied';
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = Object.freeze(['success', 'failure', 'denied']);

/** JSON that survives PostgreSQL jsonb unchanged: no floats, no NUL, no lone surrogates. */
export type AuditJson = null | boolean | number | string | readonly AuditJson[] | { readonly [key: string]: AuditJson };

/** One security-relevant action: who, from where, what, on which object, outcome. */
export interface AuditRecordInput {
  /** Who: a user, an API client, or a process (`system:gateway`). */
  readonly actor: string;
  /** From where: the client IP address, or null for local processes. */
  readonly actorAddress?: string | null;
  /** What, dotted (`gateway.start`, `escrow.approve`). */
  readonly action: string;
  readonly objectType?: string | null;
  readonly objectId?: string | null;
  readonly outcome: AuditOutcome;
  readonly details?: { readonly [key: string]: AuditJson };
}

/** The hashed content of one entry (the canonical form covers exactly these fields). */
export interface AuditEntry {
  readonly seq: number;
  /** ISO 8601 UTC with milliseconds (`2026-11-27T10:00:00.000Z`). */
  readonly time: string;
  readonly actor: string;
  readonly actorAddress: string | null;
  readonly action: string;
  readonly objectType: string | null;
  readonly objectId: string | null;
  readonly outcome: string;
  readonly details: AuditJson;
}

/** What record() returns. */
export interface RecordedAuditEntry {
  readonly seq: number;
  /** Hex SHA-256. */
  readonly hash: string;
  readonly time: string;
  /** The checkpoint made with this entry, if one was due. */
  readonly checkpointed: boolean;
}

export const AUDIT_EXPORT_FORMAT = 'dime-gateway-audit/1';

export interface AuditExportHeader {
  readonly type: 'header';
  readonly format: typeof AUDIT_EXPORT_FORMAT;
  readonly hashAlgorithm: 'sha256';
  readonly canonicalization: string;
  /** Hex of the prevHash of entry 1. */
  readonly genesis: string;
  readonly keyLabel: string;
  /** `sha256:<hex>` of the audit public key's DER SubjectPublicKeyInfo. */
  readonly publicKeyFingerprint: string;
  readonly exportedAt: string;
}

export interface AuditExportEntry extends AuditEntry {
  readonly type: 'entry';
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditExportCheckpoint {
  readonly type: 'checkpoint';
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly prevCheckpointSeq: number;
  readonly interval: number;
  /** Base64 DER ECDSA P-256 / SHA-256 over checkpointSigningInput. */
  readonly signature: string;
}

export interface AuditExportSeal {
  readonly type: 'seal';
  /** The last exported entry (0 and the genesis hash for an empty trail). */
  readonly seq: number;
  readonly hash: string;
  readonly entries: number;
  readonly lastCheckpointSeq: number;
  readonly exportedAt: string;
  readonly signature: string;
}

export type AuditExportLine = AuditExportHeader | AuditExportEntry | AuditExportCheckpoint | AuditExportSeal;
