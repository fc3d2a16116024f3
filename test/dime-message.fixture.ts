// Test fixture for D/MIME message specs: the four actors of libdime's vector message, as raw values
// from vectors.txt (keys, fingerprints, names) and the plaintext inputs. No lib code imported here.
import { readVector, vectorHex, vectorValue } from './vectors';

export type VectorActor = 'author' | 'origin' | 'destination' | 'recipient';

export const VECTOR_ACTORS: readonly VectorActor[] = ['author', 'origin', 'destination', 'recipient'];

const FILE_PREFIX: Record<VectorActor, string> = {
  author: 'user-author',
  origin: 'org-origin',
  destination: 'org-destination',
  recipient: 'user-recipient',
};

export const VECTOR_NAMES: Record<VectorActor, string> = {
  author: 'alice@origin.example',
  origin: 'origin.example',
  destination: 'destination.example',
  recipient: 'bob@destination.example',
};

export interface VectorActorKeys {
  ed25519Seed: Buffer;
  ed25519Public: Buffer;
  secp256k1Private: Buffer;
  secp256k1Public: Buffer;
  /** The CRYPTO fingerprint, as message envelopes carry it. */
  fingerprint: string;
}

export function vectorActorKeys(actor: VectorActor): VectorActorKeys {
  const p = FILE_PREFIX[actor];
  return {
    ed25519Seed: vectorHex(`${p}.ed25519.seed`),
    ed25519Public: vectorHex(`${p}.ed25519.public`),
    secp256k1Private: vectorHex(`${p}.secp256k1.private`),
    secp256k1Public: vectorHex(`${p}.secp256k1.public_compressed`),
    fingerprint: vectorValue(`${p}.fingerprint.crypto`),
  };
}

/** The per-actor KEK of the vector message: { iv (16), key (32) }. */
export function vectorKek(actor: VectorActor): { iv: Buffer; key: Buffer } {
  const kek = vectorHex(`kek.${actor}(iv16|key32)`);
  return { iv: kek.subarray(0, 16), key: kek.subarray(16) };
}

export const vectorMessage1 = (): Buffer => readVector('message-1-from-author.dmsg');
export const vectorMessage2 = (): Buffer => readVector('message-2-signed-by-origin.dmsg');

export function vectorPlain(): { commonHeaders: Buffer; otherHeaders: Buffer; display: Buffer; attachment: Buffer } {
  return {
    commonHeaders: readVector('plain-common-headers-chunk-data.txt'),
    otherHeaders: readVector('plain-other-headers.txt'),
    display: readVector('plain-display.txt'),
    attachment: readVector('plain-attachment.txt'),
  };
}
