// Test and bench fixture: audit exports built in memory with a software P-256 key, exactly as
// AuditService + writeAuditExport lay them out (checkpoint every `every` entries, seal last), so
// the verifier can be tried on crafted and tampered files without a database or an HSM.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  AUDIT_CANONICALIZATION,
  AUDIT_EXPORT_FORMAT,
  AUDIT_GENESIS_HASH,
  checkpointSigningInput,
  entryHash,
  publicKeyFingerprint,
  sealSigningInput,
  type AuditEntry,
  type AuditSigner,
} from '@lib/audit';

export interface SoftwareAuditKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  readonly signer: AuditSigner;
}

export function softwareAuditKey(): SoftwareAuditKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    signer: {
      keyLabel: 'software-audit.v1',
      publicKeySpki: async () => spki,
      sign: async (data) => sign('sha256', data, privateKey),
    },
  };
}

export interface BuildOptions {
  readonly entries: number;
  readonly every: number;
  readonly start?: Date;
}

/** The lines of an export (no trailing newline), entry i at seq i, every one a minute apart. */
export function buildAuditExport(key: SoftwareAuditKey, options: BuildOptions): string[] {
  const start = (options.start ?? new Date('2026-11-27T09:00:00.000Z')).getTime();
  const exportedAt = new Date(start + (options.entries + 1) * 60_000).toISOString();
  const lines: string[] = [
    JSON.stringify({
      type: 'header',
      format: AUDIT_EXPORT_FORMAT,
      hashAlgorithm: 'sha256',
      canonicalization: AUDIT_CANONICALIZATION,
      genesis: AUDIT_GENESIS_HASH.toString('hex'),
      keyLabel: 'software-audit.v1',
      publicKeyFingerprint: publicKeyFingerprint(key.publicKey.export({ format: 'der', type: 'spki' })),
      exportedAt,
    }),
  ];
  let prev: Buffer = AUDIT_GENESIS_HASH;
  let lastCp = 0;
  for (let seq = 1; seq <= options.entries; seq++) {
    const entry: AuditEntry = {
      seq,
      time: new Date(start + seq * 60_000).toISOString(),
      actor: seq % 3 === 0 ? 'system:gateway' : `admin${seq % 7}@example.test`,
      actorAddress: seq % 3 === 0 ? null : `192.0.2.${seq % 250}`,
      action: seq % 2 === 0 ? 'policy.update' : 'escrow.approve',
      objectType: 'retention-policy',
      objectId: `p-${seq}`,
      outcome: seq % 11 === 0 ? 'denied' : 'success',
      details: { reason: `change ${seq}`, count: seq, tags: ['a', 'b'], nested: { z: true, a: null } },
    };
    const hash = entryHash(prev, entry);
    lines.push(JSON.stringify({ type: 'entry', ...entry, prevHash: prev.toString('hex'), hash: hash.toString('hex') }));
    prev = hash;
    if (seq - lastCp >= options.every) {
      const time = entry.time;
      const input = checkpointSigningInput({ seq, hash, timeMs: Date.parse(time), prevCheckpointSeq: lastCp, interval: options.every });
      lines.push(
        JSON.stringify({
          type: 'checkpoint',
          seq,
          hash: hash.toString('hex'),
          time,
          prevCheckpointSeq: lastCp,
          interval: options.every,
          signature: sign('sha256', input, key.privateKey).toString('base64'),
        }),
      );
      lastCp = seq;
    }
  }
  const sealInput = sealSigningInput({ seq: options.entries, hash: prev, entries: options.entries, lastCheckpointSeq: lastCp, exportedAtMs: Date.parse(exportedAt) });
  lines.push(
    JSON.stringify({
      type: 'seal',
      seq: options.entries,
      hash: prev.toString('hex'),
      entries: options.entries,
      lastCheckpointSeq: lastCp,
      exportedAt,
      signature: sign('sha256', sealInput, key.privateKey).toString('base64'),
    }),
  );
  return lines;
}

/** Recomputes prevHash/hash of every entry from index `fromLine` on (an attacker with the algorithm but no key). */
export function rehashFrom(lines: string[], fromLine: number): string[] {
  const out = [...lines];
  let prev: Buffer | undefined;
  for (let i = 1; i < out.length; i++) {
    const rec = JSON.parse(out[i]!) as Record<string, unknown>;
    if (rec['type'] !== 'entry') continue;
    if (i < fromLine) {
      prev = Buffer.from(rec['hash'] as string, 'hex');
      continue;
    }
    const { type: _type, prevHash: _p, hash: _h, ...entry } = rec;
    const p = prev ?? AUDIT_GENESIS_HASH;
    const hash = entryHash(p, entry as unknown as AuditEntry);
    out[i] = JSON.stringify({ ...rec, prevHash: p.toString('hex'), hash: hash.toString('hex') });
    prev = hash;
  }
  return out;
}

/** Index of the line of entry `seq` (or of the checkpoint at seq with kind 'checkpoint'). */
export function lineOf(lines: readonly string[], seq: number, kind: 'entry' | 'checkpoint' | 'seal' = 'entry'): number {
  const i = lines.findIndex((l) => {
    const r = JSON.parse(l) as Record<string, unknown>;
    return r['type'] === kind && (kind === 'seal' || r['seq'] === seq);
  });
  if (i < 0) throw new Error(`no ${kind} ${seq}`);
  return i;
}

export function editLine(lines: readonly string[], index: number, edit: (rec: Record<string, unknown>) => void): string[] {
  const out = [...lines];
  const rec = JSON.parse(out[index]!) as Record<string, unknown>;
  edit(rec);
  out[index] = JSON.stringify(rec);
  return out;
}
