// The hash chain and the byte strings the audit key signs. entry hash = SHA-256(prev hash ||
// UTF-8 canonical entry); entry 1 links to the genesis hash (32 zero bytes). Checkpoints and the
// export seal sign fixed-layout binary inputs with a domain-separation prefix, so a signature of
// one kind can never be replayed as the other.
import { createHash } from 'node:crypto';
import { canonicalEntry } from './audit-canonical';
import type { AuditEntry } from './audit.types';

export const AUDIT_GENESIS_HASH: Buffer = Buffer.alloc(32);
export const AUDIT_CANONICALIZATION = 'jcs-integers/sha256(prevHash||utf8)';

const CHECKPOINT_DOMAIN = Buffer.from('dime-gateway audit checkpoint v1\0', 'latin1');
const SEAL_DOMAIN = Buffer.from('dime-gateway audit export seal v1\0', 'latin1');

export function entryHash(prevHash: Uint8Array, entry: AuditEntry): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalEntry(entry), 'utf8').digest();
}

function u64(value: number, name: string): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`"${name}" expected a non-negative safe integer, got ${value}`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(value));
  return b;
}

function hash32(value: Uint8Array, name: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== 32) throw new TypeError(`"${name}" expected 32 bytes`);
  return value;
}

export interface CheckpointFields {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly timeMs: number;
  readonly prevCheckpointSeq: number;
  readonly interval: number;
}

/** domain || u64 seq || hash || u64 time (ms since epoch) || u64 prevCheckpointSeq || u64 interval. */
export function checkpointSigningInput(c: CheckpointFields): Buffer {
  return Buffer.concat([
    CHECKPOINT_DOMAIN,
    u64(c.seq, 'seq'),
    hash32(c.hash, 'hash'),
    u64(c.timeMs, 'timeMs'),
    u64(c.prevCheckpointSeq, 'prevCheckpointSeq'),
    u64(c.interval, 'interval'),
  ]);
}

export interface SealFields {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly entries: number;
  readonly lastCheckpointSeq: number;
  readonly exportedAtMs: number;
}

/** domain || u64 seq || hash || u64 entries || u64 lastCheckpointSeq || u64 exportedAt (ms). */
export function sealSigningInput(s: SealFields): Buffer {
  return Buffer.concat([
    SEAL_DOMAIN,
    u64(s.seq, 'seq'),
    hash32(s.hash, 'hash'),
    u64(s.entries, 'entries'),
    u64(s.lastCheckpointSeq, 'lastCheckpointSeq'),
    u64(s.exportedAtMs, 'exportedAtMs'),
  ]);
}

/** `sha256:<hex>` of a DER SubjectPublicKeyInfo. */
export function publicKeyFingerprint(spki: Uint8Array): string {
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Milliseconds of a canonical timestamp (toISOString form), or undefined if it is not one. */
export function parseAuditTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !ISO_MS.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && new Date(ms).toISOString() === value ? ms : undefined;
}
