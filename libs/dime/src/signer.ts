// Key-holding interfaces (ARCHITECTURE.md §6): libs/dime never needs to see a private key it does
// not hold. libs/hsm implements these over PKCS#11; the in-memory versions here serve tests,
// the CLI and user keys that the gateway unwraps per use.
import type * as crypto from 'node:crypto';
import { sign as nodeSign } from 'node:crypto';
import { ed25519PrivateKeyObject, ed25519PublicOf, secp256k1Ecdh, secp256k1PublicFromPrivate } from './primitives';
import { assertBytes } from './bytes';

/** An Ed25519 signing key: DIME signs signets, chunks and messages with it. */
export interface Signer {
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** A 64-byte Ed25519 signature over data. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A secp256k1 private key used for ECDH: opening keyslots addressed to its public key. */
export interface KeyAgreement {
  /** The 33-byte compressed secp256k1 public key. */
  readonly publicKey: Uint8Array;
  /** The 32-byte x-coordinate of ECDH(own private key, peerPublicKey). */
  deriveSharedSecret(peerPublicKey: Uint8Array): Promise<Uint8Array>;
}

export class InMemorySigner implements Signer {
  readonly publicKey: Uint8Array;
  private readonly key: crypto.KeyObject;

  constructor(seed: Uint8Array) {
    assertBytes(seed, 'seed');
    this.key = ed25519PrivateKeyObject(seed);
    this.publicKey = ed25519PublicOf(this.key);
  }

  signSync(data: Uint8Array): Buffer {
    return nodeSign(null, data, this.key);
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(this.signSync(data));
  }
}

export class InMemoryKeyAgreement implements KeyAgreement {
  readonly publicKey: Uint8Array;
  private readonly privateKey: Uint8Array;

  constructor(privateKey: Uint8Array) {
    assertBytes(privateKey, 'privateKey');
    this.publicKey = secp256k1PublicFromPrivate(privateKey);
    this.privateKey = Uint8Array.from(privateKey);
  }

  deriveSharedSecret(peerPublicKey: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(secp256k1Ecdh(this.privateKey, peerPublicKey));
  }

  /** Overwrite the private scalar (trustful mode: user keys are wiped after use). */
  wipe(): void {
    this.privateKey.fill(0);
  }
}
