// Pure parts of libs/hsm (no token): error translation by CKR code, ECDSA encodings, key labels,
// the key URI, the OpenSSL engine config and certificate serial numbers.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import * as pkcs11 from 'pkcs11js';
import fc from 'fast-check';
import { HsmError, isSessionLost, toHsmError } from './hsm.error';
import { ecdsaDerToRaw, ecdsaRawToDer } from './ecdsa-signature';
import { ALL_HSM_KEY_ROLES, HSM_KEY_ROLES, keyLabel, parseKeyLabel } from './hsm-key-roles';
import { hsmTlsBaseOptions, opensslHsmConfig, pkcs11KeyUri } from './hsm-tls';
import { certificateSerial } from './hsm-certificate';

describe('toHsmError', () => {
  const p11 = (ckr: number): Error => new pkcs11.Pkcs11Error(`X:${ckr}`, ckr, 'C_Test');

  it.each([
    [pkcs11.CKR_PIN_INCORRECT, 'PIN_INCORRECT'],
    [pkcs11.CKR_PIN_LOCKED, 'PIN_LOCKED'],
    [pkcs11.CKR_TOKEN_NOT_PRESENT, 'TOKEN_NOT_PRESENT'],
    [pkcs11.CKR_DEVICE_REMOVED, 'TOKEN_NOT_PRESENT'],
    [pkcs11.CKR_SESSION_HANDLE_INVALID, 'SESSION_LOST'],
    [pkcs11.CKR_SESSION_CLOSED, 'SESSION_LOST'],
    [pkcs11.CKR_USER_NOT_LOGGED_IN, 'NOT_LOGGED_IN'],
    [pkcs11.CKR_MECHANISM_INVALID, 'MECHANISM_UNSUPPORTED'],
    [pkcs11.CKR_ATTRIBUTE_SENSITIVE, 'ATTRIBUTE_SENSITIVE'],
    [pkcs11.CKR_DEVICE_ERROR, 'DEVICE_ERROR'],
    [0x7fff_0001, 'UNKNOWN'],
  ])('maps CKR 0x%s to %s by code', (ckr, code) => {
    const error = toHsmError(p11(ckr), 'op');
    expect(error).toBeInstanceOf(HsmError);
    expect(error).toMatchObject({ code, ckr });
  });

  it('ignores the message text: a misleading message does not change the code', () => {
    const error = new pkcs11.Pkcs11Error('CKR_PIN_INCORRECT:160', pkcs11.CKR_DEVICE_ERROR, 'C_Login');
    Object.defineProperty(error, 'code', { value: pkcs11.CKR_DEVICE_ERROR });
    expect(toHsmError(error, 'login')).toMatchObject({ code: 'DEVICE_ERROR' });
  });

  it('passes programmer errors through and treats lost sessions as retryable', () => {
    const typeError = new TypeError('x');
    expect(toHsmError(typeError, 'op')).toBe(typeError);
    expect(isSessionLost(toHsmError(p11(pkcs11.CKR_SESSION_HANDLE_INVALID), 'op'))).toBe(true);
    expect(isSessionLost(toHsmError(p11(pkcs11.CKR_PIN_INCORRECT), 'op'))).toBe(false);
  });
});

describe('ECDSA signature encodings', () => {
  it('round-trips node signatures between DER and raw r||s for P-256 and P-384', () => {
    for (const [curve, size] of [['prime256v1', 32], ['secp384r1', 48]] as const) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (let i = 0; i < 50; i++) {
        const der = sign('sha256', Buffer.from([i]), privateKey);
        const raw = ecdsaDerToRaw(der, size);
        expect(raw).toHaveLength(2 * size);
        expect(verify('sha256', Buffer.from([i]), { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw)).toBe(true);
        expect(ecdsaRawToDer(raw, size)).toEqual(der);
      }
    }
  });

  it('keeps raw -> DER -> raw the identity for any 64 bytes with non-zero r and s', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (bytes) => {
        fc.pre(bytes.subarray(0, 32).some((b) => b !== 0) && bytes.subarray(32).some((b) => b !== 0));
        expect(ecdsaDerToRaw(ecdsaRawToDer(bytes, 32), 32)).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('rejects malformed DER with HsmError INVALID_INPUT, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          ecdsaDerToRaw(bytes, 32);
        } catch (error) {
          expect(error).toMatchObject({ name: 'HsmError', code: 'INVALID_INPUT' });
        }
      }),
    );
  });
});

describe('key roles', () => {
  it('labels every role <base>.v<N> and parses them back', () => {
    for (const role of ALL_HSM_KEY_ROLES) {
      expect(parseKeyLabel(keyLabel(role, 3))).toEqual({ role, version: 3 });
    }
    expect(parseKeyLabel('something-else.v1')).toBeUndefined();
    expect(() => keyLabel('org-primary', 0)).toThrow(RangeError);
  });

  it('declares the algorithms of ARCHITECTURE.md §3', () => {
    expect(HSM_KEY_ROLES['org-primary'].algorithm).toEqual({ type: 'ed25519' });
    expect(HSM_KEY_ROLES['org-encryption'].algorithm).toEqual({ type: 'ec', curve: 'secp256k1' });
    expect(HSM_KEY_ROLES.escrow.algorithm).toEqual({ type: 'ec', curve: 'P-384' });
    expect(HSM_KEY_ROLES['user-kek'].algorithm).toEqual({ type: 'aes', bits: 256 });
    expect(HSM_KEY_ROLES['tls-rsa'].algorithm).toEqual({ type: 'rsa', bits: 2048 });
  });
});

describe('TLS engine helpers', () => {
  it('percent-encodes labels in the RFC 7512 URI the engine loads the key by', () => {
    expect(pkcs11KeyUri('my token', 'a;b/c')).toBe('pkcs11:token=my%20token;object=a%3Bb%2Fc;type=private');
    expect(pkcs11KeyUri('gw', 'dime-tls-ecdsa.v1')).toBe('pkcs11:token=gw;object=dime-tls-ecdsa.v1;type=private');
  });

  it('allows TLS 1.2+ and forward-secret suites only', () => {
    const options = hsmTlsBaseOptions();
    expect(options.minVersion).toBe('TLSv1.2');
    const suites = String(options.ciphers).split(':');
    expect(suites.every((s) => s.startsWith('TLS_') || s.startsWith('ECDHE-'))).toBe(true);
  });

  it('declares the pkcs11 engine, uninitialised, for no default algorithm and without a PIN, for node (nodejs_conf) and OpenSSL tools (openssl_conf)', () => {
    const text = opensslHsmConfig({ enginePath: '/e.so', modulePath: '/m.so' });
    expect(text).toMatch(/^nodejs_conf = hsm_openssl_init$/m);
    expect(text).toMatch(/^openssl_conf = hsm_openssl_init$/m);
    expect(text).toMatch(/^engines = hsm_engine_sect$/m);
    expect(text).toMatch(/^engine_id = pkcs11$/m);
    expect(text).toMatch(/^dynamic_path = \/e\.so$/m);
    expect(text).toMatch(/^MODULE_PATH = \/m\.so$/m);
    expect(text).toMatch(/^init = 0$/m);
    expect(text).not.toMatch(/PIN|default_algorithms|provider/);
  });

  it('refuses paths OpenSSL would read as something else', () => {
    for (const enginePath of ['/e.so\n[x]', '/e#.so', '/$HOME/e.so', '/"e".so']) {
      expect(() => opensslHsmConfig({ enginePath, modulePath: '/m' })).toThrow(RangeError);
    }
  });
});

describe('certificateSerial', () => {
  it('is a positive, minimal DER INTEGER of 16 bytes whatever the random bytes', () => {
    // the draws that broke it: 0x00 or 0x80 first, then a byte under 0x80 -> a non-minimal INTEGER
    // ("illegal padding" when OpenSSL loads the certificate)
    for (const first of [0x00, 0x80]) {
      const serial = certificateSerial(Buffer.from([first, 0x12, ...Array<number>(14).fill(0)]));
      expect(serial[0]).toBe(0x40);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (random) => {
        const serial = certificateSerial(random);
        expect(serial).toHaveLength(16);
        // not 0x00 (non-minimal), not >= 0x80 (negative)
        expect(serial[0]! >= 0x40 && serial[0]! <= 0x7f).toBe(true);
        expect(serial.subarray(1)).toEqual(Buffer.from(random.subarray(1)));
      }),
    );
    expect(() => certificateSerial(new Uint8Array(8))).toThrow(RangeError);
  });
});
