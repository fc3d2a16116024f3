// Who signs checkpoints and export seals: the HSM's `audit-signing` key (ECDSA P-256) in
// production. The interface keeps AuditService testable, and the type-only import keeps
// @lib/audit loadable without pkcs11js (the offline verifier needs node:crypto alone).
import type { HsmKeystore } from '@lib/hsm';

export interface AuditSigner {
  /** The key's label (recorded with each checkpoint). */
  readonly keyLabel: string;
  /** DER SubjectPublicKeyInfo of the verification key. */
  publicKeySpki(): Promise<Buffer>;
  /** ECDSA P-256 over SHA-256 of data, DER-encoded. */
  sign(data: Uint8Array): Promise<Buffer>;
}

export class HsmAuditSigner implements AuditSigner {
  /** keyLabel: `keyLabel('audit-signing')` of @lib/hsm. */
  constructor(
    private readonly keystore: HsmKeystore,
    readonly keyLabel: string,
  ) {}

  async publicKeySpki(): Promise<Buffer> {
    return (await this.keystore.publicKey(this.keyLabel)).spki;
  }

  sign(data: Uint8Array): Promise<Buffer> {
    return this.keystore.signEcdsa(this.keyLabel, data, 'der');
  }
}

/** PEM of a DER SubjectPublicKeyInfo. */
export function spkiToPem(spki: Uint8Array): string {
  const b64 = Buffer.from(spki).toString('base64');
  return `-----BEGIN PUBLIC KEY-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END PUBLIC KEY-----\n`;
}
