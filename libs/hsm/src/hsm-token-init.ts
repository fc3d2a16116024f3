// Token initialisation over PKCS#11: claims a free (uninitialised) slot, initialises it with a
// random SO PIN that is used once and never stored or shown ("set blindly": nobody can reset the
// user PIN or change key policy afterwards), and sets the user PIN. An existing token with the
// same label is reused untouched. SoftHSM2 always offers a free slot; on network HSMs (Luna,
// nShield, CloudHSM) partitions are created with vendor tools and this step is skipped.
import { randomBytes } from 'node:crypto';
import * as pkcs11 from 'pkcs11js';
import { HsmError, hasCkr, toHsmError } from './hsm.error';

export interface TokenInitOptions {
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** The user PIN to set (only used when the token is created). */
  readonly userPin: string;
}

export interface TokenInitResult {
  /** False when a token with this label already existed and was left as it was. */
  readonly created: boolean;
  readonly serialNumber: string;
}

/** A random PIN of printable characters (PKCS#11 PINs are UTF-8 text). */
export function randomPin(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

export function initializeToken(options: TokenInitOptions): TokenInitResult {
  if (Buffer.byteLength(options.tokenLabel) > 32) throw new RangeError('"tokenLabel" is longer than 32 bytes');
  const p11 = new pkcs11.PKCS11();
  try {
    p11.load(options.modulePath);
  } catch {
    throw new HsmError('MODULE_LOAD_FAILED', `cannot load PKCS#11 module ${options.modulePath}`);
  }
  try {
    try {
      p11.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK });
    } catch (error) {
      if (!hasCkr(error, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw error;
    }
    let free: Buffer | undefined;
    for (const slot of p11.C_GetSlotList(true)) {
      const info = p11.C_GetTokenInfo(slot);
      const initialized = (info.flags & pkcs11.CKF_TOKEN_INITIALIZED) !== 0;
      if (initialized && info.label.trimEnd() === options.tokenLabel) {
        return { created: false, serialNumber: info.serialNumber.trimEnd() };
      }
      if (!initialized && free === undefined) free = slot;
    }
    if (free === undefined) throw new HsmError('TOKEN_NOT_FOUND', 'no free slot to initialise a token in');

    let soPin = randomPin();
    p11.C_InitToken(free, soPin, options.tokenLabel.padEnd(32, ' '));
    // SoftHSM moves a freshly initialised token to a new slot: look it up again by label.
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trimEnd() === options.tokenLabel);
    if (slot === undefined) throw new HsmError('TOKEN_NOT_FOUND', `token "${options.tokenLabel}" vanished after initialisation`);
    const session = p11.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
    try {
      p11.C_Login(session, pkcs11.CKU_SO, soPin);
      p11.C_InitPIN(session, options.userPin);
      p11.C_Logout(session);
    } finally {
      soPin = '';
      p11.C_CloseSession(session);
    }
    return { created: true, serialNumber: p11.C_GetTokenInfo(slot).serialNumber.trimEnd() };
  } catch (error) {
    throw toHsmError(error, 'token initialisation');
  } finally {
    try {
      p11.C_Finalize();
    } catch {
      // nothing initialised
    }
  }
}
