// What the DMTP door verified, kept in this process for the pipeline's open of the same message a
// moment later: the door check (before the 250) and the inbound opener (before delivery) run the
// same full verification (DimeMessageVerifier: an HSM ECDH and a user-key unwrap, two opens, four
// or more Ed25519 verifications, signet chains), and on one gateway the second found nothing the
// first had not. The memo is keyed by the SHA-256 of the exact D/MIME bytes and taken once: the
// opener uses it only for those bytes (read back from the authenticated spool), the same origin
// domain and recipient, and only for MAX_AGE_MS after the door. After a restart, in another process,
// or once evicted, the opener verifies everything again as before.
import { createHash } from 'node:crypto';
import type { VerifiedDimeMessage } from './dime-message-verifier';

/** How long a door verdict stands in for the pipeline's verification. */
export const DOOR_VERDICT_MAX_AGE_MS = 60_000;
const MAX_ENTRIES = 1024;
/** Plaintext of the opened messages held at most (the spool's recent cache holds as much). */
const MAX_BYTES = 32 * 1024 * 1024;

interface Entry {
  readonly verified: VerifiedDimeMessage;
  readonly originDomain: string;
  readonly at: number;
  readonly size: number;
}

export class DoorVerdictMemo {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly maxAgeMs = DOOR_VERDICT_MAX_AGE_MS,
  ) {}

  static digest(message: Uint8Array): string {
    return createHash('sha256').update(message).digest('base64');
  }

  /** The door verified `message` (sent by `originDomain`) as `verified`. */
  remember(message: Uint8Array, originDomain: string, verified: VerifiedDimeMessage): void {
    const { opened } = verified;
    const size = message.length + opened.display.reduce((n, c) => n + c.length, 0) + opened.attachments.reduce((n, c) => n + c.length, 0);
    if (size > MAX_BYTES / 4) return;
    const key = DoorVerdictMemo.digest(message);
    this.drop(key);
    this.entries.set(key, { verified, originDomain: originDomain.toLowerCase(), at: this.clock(), size });
    this.bytes += size;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= MAX_ENTRIES && this.bytes <= MAX_BYTES) break;
      this.entries.delete(k);
      this.bytes -= e.size;
    }
  }

  /** The door's verdict on exactly these bytes for this origin and recipient, once; else undefined. */
  take(message: Uint8Array, originDomain: string | undefined, recipient: string | undefined): VerifiedDimeMessage | undefined {
    if (this.entries.size === 0) return undefined;
    const key = DoorVerdictMemo.digest(message);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.drop(key);
    if (this.clock() - entry.at > this.maxAgeMs) return undefined;
    if (originDomain !== undefined && originDomain.toLowerCase() !== entry.originDomain) return undefined;
    if (recipient !== undefined && recipient.toLowerCase() !== entry.verified.recipient.toLowerCase()) return undefined;
    return entry.verified;
  }

  get size(): number {
    return this.entries.size;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.size;
  }
}
