// The spool's data keys: AES-256 keys stored in PostgreSQL only wrapped under the HSM's
// key-encryption key, unwrapped once per process (one HSM call per key at boot, none per message).
import { randomBytes } from 'node:crypto';
import type { SpoolKeyRepository } from '@lib/db';

/** What the keyring needs from the HSM: AES key wrap with padding under a token-resident KEK. */
export interface KeyWrapper {
  wrap(label: string, plaintext: Uint8Array): Promise<Buffer>;
  unwrap(label: string, wrapped: Uint8Array): Promise<Buffer>;
}

export interface SpoolKey {
  readonly id: number;
  readonly key: Buffer;
}

export class SpoolKeyring {
  private constructor(
    private readonly keys: ReadonlyMap<number, Buffer>,
    readonly current: SpoolKey,
  ) {}

  /** Loads (and on first start creates) the spool keys; the newest is used for new messages. */
  static async load(repo: SpoolKeyRepository, hsm: KeyWrapper, kekLabel: string): Promise<SpoolKeyring> {
    let stored = await repo.findAll();
    if (stored.length === 0) {
      const fresh = randomBytes(32);
      await repo.insert(await hsm.wrap(kekLabel, fresh), kekLabel);
      fresh.fill(0);
      stored = await repo.findAll();
    }
    const keys = new Map<number, Buffer>();
    for (const s of stored) keys.set(s.id, await hsm.unwrap(s.kekLabel, s.wrappedKey));
    const newest = stored[stored.length - 1]!;
    return new SpoolKeyring(keys, { id: newest.id, key: keys.get(newest.id)! });
  }

  /** For tests and tools: a keyring from raw keys. */
  static fromKeys(keys: ReadonlyMap<number, Buffer>, currentId: number): SpoolKeyring {
    const key = keys.get(currentId);
    if (!key) throw new RangeError(`"currentId" ${currentId} is not among the keys`);
    return new SpoolKeyring(keys, { id: currentId, key });
  }

  key(id: number): Buffer | undefined {
    return this.keys.get(id);
  }

  wipe(): void {
    for (const k of this.keys.values()) k.fill(0);
  }
}
