// The keystore: generates the gateway's keys inside the token and runs every private-key operation
// there (EdDSA, ECDSA, RSA, ECDH, AES key wrap, HMAC). Keys are found by CKA_LABEL (see
// hsm-key-roles.ts); private and secret objects are created sensitive, non-extractable token
// objects. Long operations use the pkcs11js async variants so the event loop keeps running.
import { createHash, ECDH } from 'node:crypto';
import * as pkcs11 from 'pkcs11js';
import type { HsmConfig } from './hsm.config';
import { HsmError, hasCkr } from './hsm.error';
import { HSM_KEY_ROLES, keyLabel, parseKeyLabel, type HsmKeyAlgorithm, type HsmKeyRole } from './hsm-key-roles';
import { ecPointFromAttribute, publicKeyObject, type HsmPublicKey } from './hsm-public-key';
import { HsmSessionPool, type HsmConnectionOptions, type Pkcs11Handle } from './hsm-session-pool';
import { ecdsaRawToDer } from './ecdsa-signature';
import { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, CURVE_FIELD_BYTES, CURVE_PARAMS } from './pkcs11.constants';

export type HsmObjectClass = 'private' | 'public' | 'secret' | 'data';

const CLASS_VALUE: Readonly<Record<HsmObjectClass, number>> = {
  private: pkcs11.CKO_PRIVATE_KEY,
  public: pkcs11.CKO_PUBLIC_KEY,
  secret: pkcs11.CKO_SECRET_KEY,
  data: pkcs11.CKO_DATA,
};

/** CKA_APPLICATION of the data objects this project stores (rotation state). */
export const HSM_DATA_APPLICATION = 'dime-gateway';

export interface HsmKeyAttributes {
  readonly token: boolean;
  readonly private: boolean;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
}

export type EcdsaSignatureFormat = 'der' | 'raw';

/** Largest byte string wrap() accepts: user key material is a few hundred bytes. */
export const MAX_WRAP_BYTES = 65536;

function asBuffer(data: Uint8Array, name: string): Buffer {
  if (!(data instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array, got ${typeof data}`);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function attrBool(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}

/** The algorithm of a key made by this project, from its label. */
export function algorithmOfLabel(label: string): HsmKeyAlgorithm {
  const parsed = parseKeyLabel(label);
  if (parsed === undefined) throw new RangeError(`"label" is not a key label of this project: ${label}`);
  return HSM_KEY_ROLES[parsed.role].algorithm;
}

/**
 * Frame user key material to a multiple of 8 bytes before RFC 5649 wrapping: uint32BE length ||
 * data || zeros. SoftHSM 2.6.1 does not strip the RFC 5649 padding on unwrap; with an aligned
 * frame no padding is ever added, so every HSM returns the same bytes (docs/hsm.md).
 */
function frameForWrap(data: Buffer): Buffer {
  const length = Math.max(16, Math.ceil((4 + data.length) / 8) * 8);
  const frame = Buffer.alloc(length);
  frame.writeUInt32BE(data.length, 0);
  data.copy(frame, 4);
  return frame;
}

function unframe(frame: Buffer): Buffer {
  // built only when thrown: capturing a stack on every unwrap showed up in CPU profiles
  const bad = () => new HsmError('INVALID_INPUT', 'unwrapped data is not a wrap() frame');
  if (frame.length < 16 || frame.length % 8 !== 0) throw bad();
  const length = frame.readUInt32BE(0);
  if (length > frame.length - 4) throw bad();
  for (let i = 4 + length; i < frame.length; i++) if (frame[i] !== 0) throw bad();
  return Buffer.from(frame.subarray(4, 4 + length));
}

export class HsmKeystore {
  private readonly handles = new Map<string, { handle: Pkcs11Handle; generation: number }>();
  private readonly publicKeys = new Map<string, HsmPublicKey>();

  constructor(readonly pool: HsmSessionPool) {}

  /** Connect to the token described by config (login included). Throws HsmError. */
  static open(config: HsmConfig | HsmConnectionOptions): HsmKeystore {
    return new HsmKeystore(
      HsmSessionPool.connect({
        modulePath: config.modulePath,
        tokenLabel: config.tokenLabel,
        pin: config.pin,
        sessions: config.sessions,
        reinitializeOnLoss: config.reinitializeOnLoss,
      }),
    );
  }

  private get p11(): pkcs11.PKCS11 {
    return this.pool.module;
  }

  close(): void {
    this.handles.clear();
    this.pool.close();
  }

  // ---- lookup ---------------------------------------------------------------------------------

  /** Handle of the one object with this label and class, or null. Throws if the label is ambiguous. */
  findObject(session: Pkcs11Handle, label: string, cls: HsmObjectClass): Pkcs11Handle | null {
    const template: pkcs11.Template = [
      { type: pkcs11.CKA_CLASS, value: CLASS_VALUE[cls] },
      { type: pkcs11.CKA_LABEL, value: label },
    ];
    this.p11.C_FindObjectsInit(session, template);
    try {
      const found = this.p11.C_FindObjects(session, 2);
      if (found.length > 1) throw new HsmError('KEY_EXISTS', `more than one ${cls} object labelled "${label}"`);
      return found[0] ?? null;
    } finally {
      this.p11.C_FindObjectsFinal(session);
    }
  }

  private keyHandle(session: Pkcs11Handle, label: string, cls: HsmObjectClass): Pkcs11Handle {
    const cacheKey = `${cls}:${label}`;
    const cached = this.handles.get(cacheKey);
    if (cached !== undefined && cached.generation === this.pool.generation) return cached.handle;
    const handle = this.findObject(session, label, cls);
    if (handle === null) {
      // private objects are invisible after a lost login: report that (with its CKR, so the pool
      // re-logs in and retries) rather than a missing key
      if (cls !== 'public' && !this.pool.isLoggedIn(session)) {
        throw new HsmError('NOT_LOGGED_IN', `session lost its login looking for "${label}"`, pkcs11.CKR_USER_NOT_LOGGED_IN);
      }
      throw new HsmError('KEY_NOT_FOUND', `no ${cls} key labelled "${label}"`);
    }
    this.handles.set(cacheKey, { handle, generation: this.pool.generation });
    return handle;
  }

  /** Run fn with the key's handle; a stale cached handle is looked up again once. */
  private async withKey<T>(
    operation: string,
    label: string,
    cls: HsmObjectClass,
    fn: (session: Pkcs11Handle, key: Pkcs11Handle) => T | Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.withSession(operation, (session) => fn(session, this.keyHandle(session, label, cls)));
      } catch (error) {
        const stale = error instanceof HsmError && error.code === 'KEY_NOT_FOUND' && error.ckr !== undefined;
        if (!stale || attempt > 0) throw error;
        this.handles.delete(`${cls}:${label}`);
      }
    }
  }

  async hasObject(label: string, cls: HsmObjectClass): Promise<boolean> {
    return this.pool.withSession('find', (session) => this.findObject(session, label, cls) !== null);
  }

  /** Labels of this project's private/secret keys present in the token. */
  async listKeyLabels(): Promise<string[]> {
    return this.pool.withSession('list', (session) => {
      const labels: string[] = [];
      for (const cls of ['private', 'secret'] as const) {
        this.p11.C_FindObjectsInit(session, [{ type: pkcs11.CKA_CLASS, value: CLASS_VALUE[cls] }]);
        let found: Pkcs11Handle[];
        try {
          found = this.p11.C_FindObjects(session, 1024);
        } finally {
          this.p11.C_FindObjectsFinal(session);
        }
        for (const handle of found) {
          const value = this.p11.C_GetAttributeValue(session, handle, [{ type: pkcs11.CKA_LABEL }])[0]?.value;
          const label = value?.toString('utf8') ?? '';
          if (parseKeyLabel(label) !== undefined) labels.push(label);
        }
      }
      return labels.sort();
    });
  }

  async keyAttributes(label: string, cls: 'private' | 'secret'): Promise<HsmKeyAttributes> {
    return this.withKey('attributes', label, cls, (session, key) => {
      const attrs = this.p11.C_GetAttributeValue(session, key, [
        { type: pkcs11.CKA_TOKEN },
        { type: pkcs11.CKA_PRIVATE },
        { type: pkcs11.CKA_SENSITIVE },
        { type: pkcs11.CKA_EXTRACTABLE },
        { type: pkcs11.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11.CKA_NEVER_EXTRACTABLE },
      ]);
      return {
        token: attrBool(attrs[0]?.value),
        private: attrBool(attrs[1]?.value),
        sensitive: attrBool(attrs[2]?.value),
        extractable: attrBool(attrs[3]?.value),
        alwaysSensitive: attrBool(attrs[4]?.value),
        neverExtractable: attrBool(attrs[5]?.value),
      };
    });
  }

  /** The public half of an asymmetric key (cached: public keys never change). */
  async publicKey(label: string): Promise<HsmPublicKey> {
    const cached = this.publicKeys.get(label);
    if (cached !== undefined) return cached;
    const algorithm = algorithmOfLabel(label);
    const result = await this.withKey('public key', label, 'public', (session, key): HsmPublicKey => {
      if (algorithm.type === 'rsa') {
        const [n, e] = this.p11.C_GetAttributeValue(session, key, [{ type: pkcs11.CKA_MODULUS }, { type: pkcs11.CKA_PUBLIC_EXPONENT }]);
        if (n?.value === undefined || e?.value === undefined) throw new HsmError('DEVICE_ERROR', 'RSA public key without modulus');
        const keyObject = publicKeyObject(algorithm, n.value, e.value);
        return { label, algorithm, raw: n.value, keyObject, spki: keyObject.export({ format: 'der', type: 'spki' }) };
      }
      const point = this.p11.C_GetAttributeValue(session, key, [{ type: pkcs11.CKA_EC_POINT }])[0]?.value;
      if (point === undefined) throw new HsmError('DEVICE_ERROR', 'EC public key without CKA_EC_POINT');
      const raw = Buffer.from(ecPointFromAttribute(point, algorithm.type === 'ed25519' ? 'ed25519' : (algorithm as { curve: string }).curve));
      const keyObject = publicKeyObject(algorithm, raw);
      return { label, algorithm, raw, keyObject, spki: keyObject.export({ format: 'der', type: 'spki' }) };
    });
    this.publicKeys.set(label, result);
    return result;
  }

  // ---- generation -----------------------------------------------------------------------------

  /** Generate version `version` of a role's key inside the token. Throws KEY_EXISTS if present. */
  async generateKey(role: HsmKeyRole, version = 1): Promise<string> {
    const spec = HSM_KEY_ROLES[role];
    const label = keyLabel(role, version);
    const id = Buffer.from(label, 'utf8');
    const base: pkcs11.Template = [
      { type: pkcs11.CKA_TOKEN, value: true },
      { type: pkcs11.CKA_LABEL, value: label },
      { type: pkcs11.CKA_ID, value: id },
    ];
    const secret: pkcs11.Template = [
      ...base,
      { type: pkcs11.CKA_PRIVATE, value: true },
      { type: pkcs11.CKA_SENSITIVE, value: true },
      { type: pkcs11.CKA_EXTRACTABLE, value: false },
    ];
    const publicBase: pkcs11.Template = [...base, { type: pkcs11.CKA_PRIVATE, value: false }];
    const usage = spec.usage;
    const algorithm = spec.algorithm;

    return this.pool.withSession(
      `generate ${label}`,
      async (session) => {
        for (const cls of ['private', 'secret'] as const) {
          if (this.findObject(session, label, cls) !== null) throw new HsmError('KEY_EXISTS', `key "${label}" already exists`);
        }
        switch (algorithm.type) {
          case 'ed25519':
          case 'ec': {
            const curve = algorithm.type === 'ed25519' ? 'ed25519' : algorithm.curve;
            const mechanism = algorithm.type === 'ed25519' ? CKM_EC_EDWARDS_KEY_PAIR_GEN : pkcs11.CKM_EC_KEY_PAIR_GEN;
            const keyType = algorithm.type === 'ed25519' ? CKK_EC_EDWARDS : pkcs11.CKK_EC;
            await this.p11.C_GenerateKeyPairAsync(
              session,
              { mechanism },
              [
                ...publicBase,
                { type: pkcs11.CKA_KEY_TYPE, value: keyType },
                { type: pkcs11.CKA_EC_PARAMS, value: CURVE_PARAMS[curve] },
                { type: pkcs11.CKA_VERIFY, value: usage === 'sign' },
                { type: pkcs11.CKA_DERIVE, value: usage === 'derive' },
              ],
              [
                ...secret,
                { type: pkcs11.CKA_KEY_TYPE, value: keyType },
                { type: pkcs11.CKA_SIGN, value: usage === 'sign' },
                { type: pkcs11.CKA_DERIVE, value: usage === 'derive' },
                { type: pkcs11.CKA_DECRYPT, value: false },
                { type: pkcs11.CKA_UNWRAP, value: false },
              ],
            );
            return label;
          }
          case 'rsa':
            await this.p11.C_GenerateKeyPairAsync(
              session,
              { mechanism: pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN },
              [
                ...publicBase,
                { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_RSA },
                { type: pkcs11.CKA_MODULUS_BITS, value: algorithm.bits },
                { type: pkcs11.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
                { type: pkcs11.CKA_VERIFY, value: true },
                { type: pkcs11.CKA_ENCRYPT, value: false },
              ],
              [
                ...secret,
                { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_RSA },
                { type: pkcs11.CKA_SIGN, value: true },
                { type: pkcs11.CKA_DECRYPT, value: false },
                { type: pkcs11.CKA_UNWRAP, value: false },
              ],
            );
            return label;
          case 'aes':
            await this.p11.C_GenerateKeyAsync(session, { mechanism: pkcs11.CKM_AES_KEY_GEN }, [
              ...secret,
              { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
              { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_AES },
              { type: pkcs11.CKA_VALUE_LEN, value: algorithm.bits / 8 },
              { type: pkcs11.CKA_WRAP, value: true },
              { type: pkcs11.CKA_UNWRAP, value: true },
              { type: pkcs11.CKA_ENCRYPT, value: false },
              { type: pkcs11.CKA_DECRYPT, value: false },
            ]);
            return label;
          case 'hmac-sha256':
            await this.p11.C_GenerateKeyAsync(session, { mechanism: pkcs11.CKM_GENERIC_SECRET_KEY_GEN }, [
              ...secret,
              { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
              { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_GENERIC_SECRET },
              { type: pkcs11.CKA_VALUE_LEN, value: algorithm.bytes },
              { type: pkcs11.CKA_SIGN, value: true },
              { type: pkcs11.CKA_VERIFY, value: true },
            ]);
            return label;
        }
      },
      false,
    );
  }

  /** Generate the key unless that version already exists (token initialisation is re-runnable). */
  async ensureKey(role: HsmKeyRole, version = 1): Promise<{ label: string; created: boolean }> {
    const label = keyLabel(role, version);
    const cls = HSM_KEY_ROLES[role].algorithm.type === 'aes' || HSM_KEY_ROLES[role].algorithm.type === 'hmac-sha256' ? 'secret' : 'private';
    if (await this.hasObject(label, cls)) return { label, created: false };
    await this.generateKey(role, version);
    return { label, created: true };
  }

  /** Destroy one object (rotation retires expired private keys this way). */
  async destroyObject(label: string, cls: HsmObjectClass): Promise<boolean> {
    const removed = await this.pool.withSession(`destroy ${label}`, (session) => {
      const handle = this.findObject(session, label, cls);
      if (handle === null) return false;
      this.p11.C_DestroyObject(session, handle);
      return true;
    });
    this.handles.delete(`${cls}:${label}`);
    if (cls === 'public') this.publicKeys.delete(label);
    return removed;
  }

  // ---- operations -----------------------------------------------------------------------------

  /** Pure Ed25519 (CKM_EDDSA) signature, 64 bytes. */
  async signEd25519(label: string, data: Uint8Array): Promise<Buffer> {
    const input = asBuffer(data, 'data');
    return this.withKey('sign Ed25519', label, 'private', (session, key) => {
      this.p11.C_SignInit(session, { mechanism: CKM_EDDSA }, key);
      return this.p11.C_SignAsync(session, input, Buffer.alloc(64));
    });
  }

  /**
   * ECDSA over SHA-256 (P-256, secp256k1) or SHA-384 (P-384) of data; the digest is computed here
   * and the token signs it with CKM_ECDSA (supported by every EC-capable module).
   */
  async signEcdsa(label: string, data: Uint8Array, format: EcdsaSignatureFormat = 'der'): Promise<Buffer> {
    const algorithm = algorithmOfLabel(label);
    if (algorithm.type !== 'ec') throw new RangeError(`"label" ${label} is not an ECDSA key`);
    const fieldBytes = CURVE_FIELD_BYTES[algorithm.curve];
    const digest = createHash(algorithm.curve === 'P-384' ? 'sha384' : 'sha256')
      .update(asBuffer(data, 'data'))
      .digest();
    const raw = await this.withKey('sign ECDSA', label, 'private', (session, key) => {
      this.p11.C_SignInit(session, { mechanism: pkcs11.CKM_ECDSA }, key);
      return this.p11.C_SignAsync(session, digest, Buffer.alloc(2 * fieldBytes));
    });
    return format === 'raw' ? raw : ecdsaRawToDer(raw, fieldBytes);
  }

  /** RSASSA-PKCS1-v1_5 with SHA-256 (X.509 certificate and CSR signatures). */
  async signRsaSha256(label: string, data: Uint8Array): Promise<Buffer> {
    const algorithm = algorithmOfLabel(label);
    if (algorithm.type !== 'rsa') throw new RangeError(`"label" ${label} is not an RSA key`);
    const input = asBuffer(data, 'data');
    return this.withKey('sign RSA', label, 'private', (session, key) => {
      this.p11.C_SignInit(session, { mechanism: pkcs11.CKM_SHA256_RSA_PKCS }, key);
      return this.p11.C_SignAsync(session, input, Buffer.alloc(algorithm.bits / 8));
    });
  }

  /**
   * ECDH with the token's private key: returns the shared x-coordinate. The derived secret is a
   * session object (CKD_NULL, generic secret of field size) read once and destroyed: no KDF,
   * because SoftHSM has none for ECDH and DIME/escrow apply their own.
   */
  async deriveEcdh(label: string, peerPublicKey: Uint8Array): Promise<Buffer> {
    const algorithm = algorithmOfLabel(label);
    if (algorithm.type !== 'ec') throw new RangeError(`"label" ${label} is not an ECDH key`);
    const curveName = algorithm.curve === 'P-256' ? 'prime256v1' : algorithm.curve === 'P-384' ? 'secp384r1' : 'secp256k1';
    const peer = asBuffer(peerPublicKey, 'peerPublicKey');
    let publicData: Buffer;
    try {
      // uncompressed: the one form every module accepts for CKM_ECDH1_DERIVE
      publicData = ECDH.convertKey(peer, curveName, undefined, undefined, 'uncompressed') as Buffer;
    } catch {
      throw new HsmError('INVALID_INPUT', 'peer public key is not a point on the curve');
    }
    const fieldBytes = CURVE_FIELD_BYTES[algorithm.curve];
    return this.withKey('ECDH', label, 'private', async (session, key) => {
      const derived = await this.p11.C_DeriveKeyAsync(
        session,
        {
          mechanism: pkcs11.CKM_ECDH1_DERIVE,
          parameter: { type: pkcs11.CK_PARAMS_EC_DH, kdf: pkcs11.CKD_NULL, publicData } as pkcs11.ECDH1,
        },
        key,
        [
          { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_GENERIC_SECRET },
          { type: pkcs11.CKA_VALUE_LEN, value: fieldBytes },
          { type: pkcs11.CKA_TOKEN, value: false },
          { type: pkcs11.CKA_SENSITIVE, value: false },
          { type: pkcs11.CKA_EXTRACTABLE, value: true },
        ],
      );
      try {
        const value = this.p11.C_GetAttributeValue(session, derived, [{ type: pkcs11.CKA_VALUE }])[0]?.value;
        if (value === undefined || value.length !== fieldBytes) throw new HsmError('DEVICE_ERROR', 'ECDH returned no secret');
        return value;
      } finally {
        this.p11.C_DestroyObject(session, derived);
      }
    });
  }

  /** Wrap a byte string (user key material) under an AES KEK with CKM_AES_KEY_WRAP_PAD (RFC 5649). */
  async wrap(label: string, plaintext: Uint8Array): Promise<Buffer> {
    const data = asBuffer(plaintext, 'plaintext');
    if (data.length === 0 || data.length > MAX_WRAP_BYTES) throw new RangeError(`"plaintext" must be 1..${MAX_WRAP_BYTES} bytes`);
    const frame = frameForWrap(data);
    return this.withKey('wrap', label, 'secret', async (session, kek) => {
      // C_Encrypt with CKM_AES_KEY_WRAP_PAD is not offered by SoftHSM: import the bytes as a
      // short-lived session secret and C_WrapKey it.
      const carrier = this.p11.C_CreateObject(session, [
        { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
        { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_GENERIC_SECRET },
        { type: pkcs11.CKA_TOKEN, value: false },
        { type: pkcs11.CKA_PRIVATE, value: true },
        { type: pkcs11.CKA_SENSITIVE, value: false },
        { type: pkcs11.CKA_EXTRACTABLE, value: true },
        { type: pkcs11.CKA_VALUE, value: frame },
      ]);
      try {
        return await this.p11.C_WrapKeyAsync(session, { mechanism: pkcs11.CKM_AES_KEY_WRAP_PAD }, kek, carrier, Buffer.alloc(frame.length + 16));
      } finally {
        frame.fill(0);
        this.p11.C_DestroyObject(session, carrier);
      }
    });
  }

  /** Reverse of wrap(): the plaintext bytes (the caller wipes them after use). */
  async unwrap(label: string, wrapped: Uint8Array): Promise<Buffer> {
    const input = asBuffer(wrapped, 'wrapped');
    if (input.length < 24 || input.length % 8 !== 0 || input.length > MAX_WRAP_BYTES + 32) {
      throw new HsmError('INVALID_INPUT', 'wrapped data has an impossible length');
    }
    return this.withKey('unwrap', label, 'secret', async (session, kek) => {
      let carrier: Pkcs11Handle;
      try {
        carrier = await this.p11.C_UnwrapKeyAsync(session, { mechanism: pkcs11.CKM_AES_KEY_WRAP_PAD }, kek, input, [
          { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_GENERIC_SECRET },
          { type: pkcs11.CKA_TOKEN, value: false },
          { type: pkcs11.CKA_PRIVATE, value: true },
          { type: pkcs11.CKA_SENSITIVE, value: false },
          { type: pkcs11.CKA_EXTRACTABLE, value: true },
        ]);
      } catch (error) {
        // SoftHSM reports a failed RFC 5649 integrity check as CKR_GENERAL_ERROR (others say
        // CKR_WRAPPED_KEY_INVALID, which hsm.error.ts maps to INVALID_INPUT already).
        if (hasCkr(error, pkcs11.CKR_GENERAL_ERROR) || hasCkr(error, pkcs11.CKR_FUNCTION_FAILED)) {
          throw new HsmError('INVALID_INPUT', 'wrapped data failed the key-wrap integrity check', (error as pkcs11.Pkcs11Error).code);
        }
        throw error;
      }
      try {
        const frame = this.p11.C_GetAttributeValue(session, carrier, [{ type: pkcs11.CKA_VALUE }])[0]?.value;
        if (frame === undefined) throw new HsmError('DEVICE_ERROR', 'unwrap returned no value');
        try {
          return unframe(frame);
        } finally {
          frame.fill(0);
        }
      } finally {
        this.p11.C_DestroyObject(session, carrier);
      }
    });
  }

  /** HMAC-SHA256 with a token secret (blind indexes). */
  async hmacSha256(label: string, data: Uint8Array): Promise<Buffer> {
    const input = asBuffer(data, 'data');
    return this.withKey('HMAC', label, 'secret', (session, key) => {
      this.p11.C_SignInit(session, { mechanism: pkcs11.CKM_SHA256_HMAC }, key);
      return this.p11.C_SignAsync(session, input, Buffer.alloc(32));
    });
  }

  // ---- data objects ---------------------------------------------------------------------------

  /** Read a CKO_DATA object's value (null when absent). */
  async readData(label: string): Promise<Buffer | null> {
    return this.pool.withSession('read data', (session) => {
      const handle = this.findObject(session, label, 'data');
      if (handle === null) return null;
      return this.p11.C_GetAttributeValue(session, handle, [{ type: pkcs11.CKA_VALUE }])[0]?.value ?? Buffer.alloc(0);
    });
  }

  /** Create or replace a private token CKO_DATA object. */
  async writeData(label: string, value: Uint8Array): Promise<void> {
    const data = asBuffer(value, 'value');
    await this.pool.withSession('write data', (session) => {
      const handle = this.findObject(session, label, 'data');
      if (handle !== null) this.p11.C_DestroyObject(session, handle);
      this.p11.C_CreateObject(session, [
        { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_DATA },
        { type: pkcs11.CKA_TOKEN, value: true },
        { type: pkcs11.CKA_PRIVATE, value: true },
        { type: pkcs11.CKA_MODIFIABLE, value: true },
        { type: pkcs11.CKA_LABEL, value: label },
        { type: pkcs11.CKA_APPLICATION, value: HSM_DATA_APPLICATION },
        { type: pkcs11.CKA_VALUE, value: data },
      ]);
    });
  }
}
