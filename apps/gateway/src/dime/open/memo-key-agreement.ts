// A KeyAgreement that remembers the shared secrets it derived, so one message can be opened twice
// (first to learn who signed it, then with that party's key) with one HSM call / one unwrap of the
// user key. A secret with a message's ephemeral key opens only that message; wipe() drops them all.
import type { KeyAgreement } from '@lib/dime';

export class MemoKeyAgreement implements KeyAgreement {
  readonly publicKey: Uint8Array;
  private readonly secrets = new Map<string, Uint8Array>();
  private inner: KeyAgreement | undefined;

  constructor(inner: KeyAgreement) {
    this.inner = inner;
    this.publicKey = inner.publicKey;
  }

  async deriveSharedSecret(peerPublicKey: Uint8Array): Promise<Uint8Array> {
    const key = Buffer.from(peerPublicKey).toString('hex');
    const known = this.secrets.get(key);
    if (known) return Uint8Array.from(known);
    if (!this.inner) throw new Error('the key behind this MemoKeyAgreement was released');
    const secret = await this.inner.deriveSharedSecret(peerPublicKey);
    this.secrets.set(key, Uint8Array.from(secret));
    return secret;
  }

  /** From now on only the remembered secrets answer (the private key may be wiped). */
  release(): void {
    this.inner = undefined;
  }

  wipe(): void {
    for (const s of this.secrets.values()) s.fill(0);
    this.secrets.clear();
    this.inner = undefined;
  }
}
