// Rotation of the org signing key (POK) and the TLS keys. A rotation generates the next version
// (`<base>.v<N+1>`) in the HSM and keeps the previous one usable for verification/decryption for
// an overlap; the state lives in the token itself as a private CKO_DATA object
// `<base>.rotation` (JSON), so every gateway process sharing the HSM sees the same current key.
// For the POK the previous key signs the new public key (custody signature), and both POKs are
// published in the `_dx` record during the overlap (DIGEST.md §5: `pok=` may repeat).
import { HsmError } from './hsm.error';
import { HSM_KEY_ROLES, keyLabel, rotationStateLabel, type HsmKeyRole } from './hsm-key-roles';
import type { HsmKeystore } from './hsm-keystore';

export interface HsmKeyVersion {
  readonly version: number;
  readonly label: string;
  readonly createdAt: string;
  /** When a newer version replaced it. */
  readonly retiredAt?: string;
  /** End of the overlap: after this its private key may be destroyed. */
  readonly usableUntil?: string;
  /** Set once retireExpired() destroyed the private key (the public key stays for verification). */
  readonly destroyedAt?: string;
  /** org-primary only: base64 Ed25519 signature by the previous version over this raw public key. */
  readonly custodySignature?: string;
}

export interface HsmRotationState {
  readonly role: HsmKeyRole;
  readonly current: number;
  readonly versions: readonly HsmKeyVersion[];
}

function assertRotatable(role: HsmKeyRole): void {
  if (!HSM_KEY_ROLES[role].rotatable) throw new RangeError(`"role" ${role} has no rotation procedure`);
}

export class HsmKeyRotation {
  private readonly clock: () => Date;

  constructor(
    private readonly keystore: HsmKeystore,
    clock?: () => Date,
  ) {
    this.clock = clock ?? (() => new Date());
  }

  /** The role's rotation state; a token without one (never rotated) has just version 1. */
  async state(role: HsmKeyRole): Promise<HsmRotationState> {
    assertRotatable(role);
    const stored = await this.keystore.readData(rotationStateLabel(role));
    if (stored !== null) {
      try {
        return JSON.parse(stored.toString('utf8')) as HsmRotationState;
      } catch {
        throw new HsmError('DEVICE_ERROR', `rotation state of ${role} is not JSON`);
      }
    }
    const label = keyLabel(role, 1);
    if (!(await this.keystore.hasObject(label, 'private'))) throw new HsmError('KEY_NOT_FOUND', `no ${label} to rotate from`);
    return { role, current: 1, versions: [{ version: 1, label, createdAt: 'before rotation tracking' }] };
  }

  async currentLabel(role: HsmKeyRole): Promise<string> {
    const state = await this.state(role);
    return keyLabel(role, state.current);
  }

  /** Labels whose private keys may still be used: the current one and those within their overlap. */
  async usableLabels(role: HsmKeyRole): Promise<string[]> {
    const state = await this.state(role);
    const now = this.clock().getTime();
    return state.versions
      .filter((v) => v.version === state.current || (v.destroyedAt === undefined && v.usableUntil !== undefined && Date.parse(v.usableUntil) > now))
      .sort((a, b) => b.version - a.version)
      .map((v) => v.label);
  }

  /** Generate the next version; the current one stays usable for overlapSeconds. */
  async rotate(role: HsmKeyRole, overlapSeconds: number): Promise<HsmRotationState> {
    if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0) {
      throw new RangeError(`"overlapSeconds" expected a non-negative integer, got ${overlapSeconds}`);
    }
    const before = await this.state(role);
    const now = this.clock();
    const next = Math.max(...before.versions.map((v) => v.version)) + 1;
    const label = await this.keystore.generateKey(role, next);
    let custodySignature: string | undefined;
    if (role === 'org-primary') {
      const newPublic = await this.keystore.publicKey(label);
      const signature = await this.keystore.signEd25519(keyLabel(role, before.current), newPublic.raw);
      custodySignature = signature.toString('base64');
    }
    const until = new Date(now.getTime() + overlapSeconds * 1000).toISOString();
    const versions: HsmKeyVersion[] = before.versions.map((v) =>
      v.version === before.current ? { ...v, retiredAt: now.toISOString(), usableUntil: until } : v,
    );
    versions.push({ version: next, label, createdAt: now.toISOString(), ...(custodySignature ? { custodySignature } : {}) });
    const after: HsmRotationState = { role, current: next, versions };
    await this.keystore.writeData(rotationStateLabel(role), Buffer.from(JSON.stringify(after), 'utf8'));
    return after;
  }

  /** Destroy the private keys whose overlap has ended (public keys stay); returns their labels. */
  async retireExpired(role: HsmKeyRole): Promise<string[]> {
    const state = await this.state(role);
    const now = this.clock();
    const destroyed: string[] = [];
    const versions: HsmKeyVersion[] = [];
    for (const v of state.versions) {
      const expired = v.version !== state.current && v.destroyedAt === undefined && v.usableUntil !== undefined && Date.parse(v.usableUntil) <= now.getTime();
      if (expired) {
        await this.keystore.destroyObject(v.label, 'private');
        destroyed.push(v.label);
        versions.push({ ...v, destroyedAt: now.toISOString() });
      } else {
        versions.push(v);
      }
    }
    if (destroyed.length > 0) {
      await this.keystore.writeData(rotationStateLabel(role), Buffer.from(JSON.stringify({ ...state, versions }), 'utf8'));
    }
    return destroyed;
  }
}
