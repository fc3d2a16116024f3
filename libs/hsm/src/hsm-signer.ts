// DIME's key-holding interfaces (libs/dime signer.ts: Signer, KeyAgreement) implemented over the
// HSM: the org POK signs and the org encryption key derives without leaving the token.
import { ECDH } from 'node:crypto';
import type { KeyAgreement, Signer } from '@lib/dime';
import type { HsmKeystore } from './hsm-keystore';
import { algorithmOfLabel } from './hsm-keystore';

/** Ed25519 signer whose private key is a token object. */
export class HsmSigner implements Signer {
  private constructor(
    private readonly keystore: HsmKeystore,
    readonly label: string,
    /** The raw 32-byte Ed25519 public key. */
    readonly publicKey: Uint8Array,
  ) {}

  static async create(keystore: HsmKeystore, label: string): Promise<HsmSigner> {
    if (algorithmOfLabel(label).type !== 'ed25519') throw new RangeError(`"label" ${label} is not an Ed25519 key`);
    const pub = await keystore.publicKey(label);
    return new HsmSigner(keystore, label, new Uint8Array(pub.raw));
  }

  /** 64-byte Ed25519 signature made in the HSM. */
  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.keystore.signEd25519(this.label, data);
  }
}

/** ECDH key agreement in the HSM (a DIME KeyAgreement when the key is the secp256k1 org key). */
export class HsmKeyAgreement implements KeyAgreement {
  private constructor(
    private readonly keystore: HsmKeystore,
    readonly label: string,
    /** The compressed public point (33 bytes for secp256k1, 49 for P-384). */
    readonly publicKey: Uint8Array,
  ) {}

  static async create(keystore: HsmKeystore, label: string): Promise<HsmKeyAgreement> {
    const algorithm = algorithmOfLabel(label);
    if (algorithm.type !== 'ec') throw new RangeError(`"label" ${label} is not an EC key`);
    const pub = await keystore.publicKey(label);
    const curve = algorithm.curve === 'P-256' ? 'prime256v1' : algorithm.curve === 'P-384' ? 'secp384r1' : 'secp256k1';
    const compressed = ECDH.convertKey(pub.raw, curve, undefined, undefined, 'compressed') as Buffer;
    return new HsmKeyAgreement(keystore, label, new Uint8Array(compressed));
  }

  /** The x-coordinate of ECDH(token key, peer), computed in the HSM. */
  deriveSharedSecret(peerPublicKey: Uint8Array): Promise<Uint8Array> {
    return this.keystore.deriveEcdh(this.label, peerPublicKey);
  }
}
