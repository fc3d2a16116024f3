// The offline verifier of an audit export (JSON Lines, docs/audit.md). Pure: node:crypto only, no
// database, no HSM; an auditor runs it with the audit public key alone. It walks the file once and
// reports the first entry whose integrity it cannot establish:
// - an entry that is changed, missing, inserted or out of order breaks the chain at its own
//   sequence number (its content no longer matches its hash, or its number/link is not the next);
// - a checkpoint that is forged, out of place, missing (checkpoints link to their predecessor and
//   come at least every `interval` entries) or disagrees with the chain means the entries since
//   the last good checkpoint are unproven: firstBroken is the first of them;
// - the seal (last line, signed at export time over the last entry, the entry count and the last
//   checkpoint) detects a truncated tail: without it, or when it disagrees, the entries after the
//   last good checkpoint are unproven.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AuditError } from './audit.error';
import { AUDIT_GENESIS_HASH, checkpointSigningInput, entryHash, parseAuditTime, publicKeyFingerprint, sealSigningInput } from './audit-chain';
import { AUDIT_EXPORT_FORMAT, type AuditJson } from './audit.types';

export interface AuditVerification {
  readonly ok: boolean;
  /** Entry lines in the file. */
  readonly entries: number;
  /** Sequence number of the first entry not proven intact; null when ok (or no entry involved). */
  readonly firstBroken: number | null;
  /** Why not ok; null when ok. */
  readonly reason: string | null;
}

/** Parses the audit public key (PEM SPKI, ECDSA P-256); AuditError BAD_PUBLIC_KEY otherwise. */
export function parseAuditPublicKey(publicKeyPem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicKeyPem, format: 'pem' });
  } catch {
    throw new AuditError('BAD_PUBLIC_KEY', 'the audit public key is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AuditError('BAD_PUBLIC_KEY', 'the audit public key is not an ECDSA P-256 key');
  }
  return key;
}

const HEX32 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';
const hex32 = (v: unknown): Buffer | undefined => (typeof v === 'string' && HEX32.test(v) ? Buffer.from(v, 'hex') : undefined);

function signatureOk(key: KeyObject, data: Buffer, signature: unknown): boolean {
  if (typeof signature !== 'string' || !BASE64.test(signature)) return false;
  try {
    return verify('sha256', data, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Verifies an export given as its lines (a trailing empty line is fine) against the audit public
 * key. Throws AuditError BAD_PUBLIC_KEY for an unusable key; every problem of the file itself is
 * reported in the result.
 */
export function verifyAuditExport(lines: Iterable<string>, publicKeyPem: string | Buffer): AuditVerification {
  const key = parseAuditPublicKey(publicKeyPem);
  const fingerprint = publicKeyFingerprint(key.export({ format: 'der', type: 'spki' }));

  let entries = 0;
  let broken: { seq: number; reason: string } | undefined;
  let expectedSeq = 1;
  let prevHash: Buffer = AUDIT_GENESIS_HASH;
  let lastCheckpointSeq = 0;
  let headerSeen = false;
  let sealSeen = false;
  let keyNote = '';
  let lineNo = 0;

  const breakAt = (seq: number, reason: string) => {
    broken ??= { seq, reason };
  };
  // entries after the last good checkpoint are what a bad checkpoint or seal leaves unproven
  const unproven = (reason: string) => breakAt(lastCheckpointSeq + 1, reason + keyNote);

  for (const raw of lines) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      rec = undefined;
    }
    const type = isObj(rec) ? rec['type'] : undefined;
    if (type === 'entry') entries++;
    if (broken !== undefined) continue;
    if (!isObj(rec)) {
      breakAt(expectedSeq, `line ${lineNo} is not a JSON object`);
      continue;
    }
    if (!headerSeen) {
      if (type !== 'header' || rec['format'] !== AUDIT_EXPORT_FORMAT) {
        breakAt(1, `line ${lineNo}: not an audit export (expected a ${AUDIT_EXPORT_FORMAT} header)`);
        continue;
      }
      headerSeen = true;
      if (rec['publicKeyFingerprint'] !== fingerprint) {
        keyNote = ` (the export names key ${String(rec['publicKeyFingerprint'])}, the given key is ${fingerprint})`;
      }
      continue;
    }
    if (sealSeen) {
      unproven(`line ${lineNo}: data after the export seal`);
      continue;
    }
    switch (type) {
      case 'entry': {
        const seq = rec['seq'];
        if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
          breakAt(expectedSeq, `line ${lineNo}: entry without a valid seq`);
          break;
        }
        if (seq !== expectedSeq) {
          breakAt(Math.min(seq, expectedSeq), seq > expectedSeq ? `entry ${expectedSeq} is missing (found entry ${seq})` : `entry ${seq} appears again after entry ${expectedSeq - 1} (inserted or reordered)`);
          break;
        }
        const time = rec['time'];
        const { actor, actorAddress, action, objectType, objectId, outcome, details } = rec;
        if (
          parseAuditTime(time) === undefined ||
          typeof actor !== 'string' ||
          !isNullableString(actorAddress) ||
          typeof action !== 'string' ||
          !isNullableString(objectType) ||
          !isNullableString(objectId) ||
          typeof outcome !== 'string' ||
          details === undefined
        ) {
          breakAt(seq, `entry ${seq} has missing or malformed fields`);
          break;
        }
        const claimedPrev = hex32(rec['prevHash']);
        const claimed = hex32(rec['hash']);
        if (claimedPrev === undefined || !claimedPrev.equals(prevHash)) {
          breakAt(seq, `entry ${seq} does not link to entry ${seq - 1} (prevHash differs)`);
          break;
        }
        let computed: Buffer;
        try {
          computed = entryHash(prevHash, { seq, time: time as string, actor, actorAddress, action, objectType, objectId, outcome, details: details as AuditJson });
        } catch {
          breakAt(seq, `entry ${seq} holds values outside the canonical form`);
          break;
        }
        if (claimed === undefined || !claimed.equals(computed)) {
          breakAt(seq, `entry ${seq} was changed (its content does not match its hash)`);
          break;
        }
        prevHash = computed;
        expectedSeq = seq + 1;
        break;
      }
      case 'checkpoint': {
        const { seq, prevCheckpointSeq, interval, signature } = rec;
        const timeMs = parseAuditTime(rec['time']);
        const hash = hex32(rec['hash']);
        if (!isCount(seq) || !isCount(prevCheckpointSeq) || !isCount(interval) || interval < 1 || timeMs === undefined || hash === undefined) {
          unproven(`line ${lineNo}: malformed checkpoint`);
          break;
        }
        if (seq !== expectedSeq - 1 || seq === 0) {
          unproven(`checkpoint at ${seq} is out of place (after entry ${expectedSeq - 1})`);
          break;
        }
        if (!signatureOk(key, checkpointSigningInput({ seq, hash, timeMs, prevCheckpointSeq, interval }), signature)) {
          unproven(`checkpoint at ${seq} has no valid signature`);
          break;
        }
        if (!hash.equals(prevHash)) {
          unproven(`checkpoint at ${seq} signs another hash than entry ${seq} has: entries after checkpoint ${lastCheckpointSeq} were rewritten`);
          break;
        }
        if (prevCheckpointSeq !== lastCheckpointSeq) {
          unproven(`checkpoint at ${seq} follows checkpoint ${prevCheckpointSeq}, which is missing`);
          break;
        }
        if (seq - lastCheckpointSeq > interval) {
          unproven(`no checkpoint within ${interval} entries after ${lastCheckpointSeq}: checkpoints are missing`);
          break;
        }
        lastCheckpointSeq = seq;
        break;
      }
      case 'seal': {
        sealSeen = true;
        const { seq, entries: count, lastCheckpointSeq: sealedCheckpoint, signature } = rec;
        const exportedAtMs = parseAuditTime(rec['exportedAt']);
        const hash = hex32(rec['hash']);
        if (!isCount(seq) || !isCount(count) || !isCount(sealedCheckpoint) || exportedAtMs === undefined || hash === undefined) {
          unproven('malformed export seal');
          break;
        }
        if (!signatureOk(key, sealSigningInput({ seq, hash, entries: count, lastCheckpointSeq: sealedCheckpoint, exportedAtMs }), signature)) {
          unproven('the export seal has no valid signature');
          break;
        }
        if (seq !== expectedSeq - 1 || count !== entries || !hash.equals(prevHash)) {
          // the seal names the last entry: a shorter file lost its tail, a longer one gained entries
          unproven(`the export seal covers ${count} entries up to ${seq}, the file has ${entries} up to ${expectedSeq - 1}: the tail was truncated or extended`);
          break;
        }
        if (sealedCheckpoint !== lastCheckpointSeq) {
          unproven(`the export seal names checkpoint ${sealedCheckpoint} as the last, the file's last is ${lastCheckpointSeq}`);
        }
        break;
      }
      default:
        breakAt(expectedSeq, `line ${lineNo}: unexpected record type ${JSON.stringify(type)}`);
    }
  }

  if (broken === undefined && !headerSeen) breakAt(1, 'empty file: not an audit export');
  if (broken === undefined && !sealSeen) unproven('no export seal: the file was truncated');
  if (broken === undefined && keyNote !== '') unproven('the export was made with another key');
  return broken === undefined ? { ok: true, entries, firstBroken: null, reason: null } : { ok: false, entries, firstBroken: broken.seq, reason: broken.reason };
}
