import { createECDH } from 'node:crypto';
import { ed25519PublicFromSeed, kekFromSharedSecret, secp256k1Ecdh, secp256k1PublicFromPrivate } from './primitives';
import { InMemorySigner } from './signer';
import { ed25519Verify } from './primitives';
import { vectorHex, vectorValue } from '../../../test/vectors';


describe('primitives', () => {
  it.each(['org-origin', 'org-destination', 'user-author', 'user-recipient'])('derives %s public keys from its private keys', (who) => {
    expect(ed25519PublicFromSeed(vectorHex(`${who}.ed25519.seed`)).toString('hex')).toBe(vectorValue(`${who}.ed25519.public`));
    expect(secp256k1PublicFromPrivate(vectorHex(`${who}.secp256k1.private`)).toString('hex')).toBe(
      vectorValue(`${who}.secp256k1.public_compressed`));
  });

  it('computes the same ECDH x-coordinate as OpenSSL', () => {
    // many pairs, so that scalars with leading zero bytes come up (about 1 in 256 keys)
    for (let i = 0; i < 400; i++) {
      const a = createECDH('secp256k1');
      a.generateKeys();
      const b = createECDH('secp256k1');
      b.generateKeys();
      // OpenSSL drops a scalar's leading zero bytes; DIME stores it left-padded to 32 (DIGEST.md §1)
      const scalar = a.getPrivateKey();
      const privateKey = Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
      expect(secp256k1Ecdh(privateKey, b.getPublicKey(null, 'compressed'))).toEqual(a.computeSecret(b.getPublicKey()));
    }
  });

  it('refuses a private scalar that is not 32 bytes rather than guessing its padding', () => {
    const b = createECDH('secp256k1');
    b.generateKeys();
    expect(() => secp256k1Ecdh(Buffer.alloc(31, 1), b.getPublicKey(null, 'compressed'))).toThrow('a secp256k1 private key is 32 bytes (left-padded), got 31');
  });

  it('derives the libdime KEK layout (iv = h[0..15] ^ h[16..31], key = h[32..63])', () => {
    const kek = kekFromSharedSecret(Buffer.alloc(32, 7));
    expect(kek.iv).toHaveLength(16);
    expect(kek.key).toHaveLength(32);
  });

  it('signs with an in-memory signer and verifies with the raw public key', async () => {
    const signer = new InMemorySigner(vectorHex('user-author.ed25519.seed'));
    const sig = await signer.sign(Buffer.from('hello'));
    expect(ed25519Verify(signer.publicKey, Buffer.from('hello'), sig)).toBe(true);
    expect(ed25519Verify(signer.publicKey, Buffer.from('hellO'), sig)).toBe(false);
  });
});
