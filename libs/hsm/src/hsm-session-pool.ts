// The PKCS#11 connection: loads the module, initialises it with OS locking, finds the token by
// label (never by slot number), logs in once and lends sessions to one operation at a time.
// A session that the module reports lost (handle invalid/closed, device removed, not logged in)
// is discarded and the connection re-established (re-open + re-login) before one retry.
import * as pkcs11 from 'pkcs11js';
import type { RedactedSecret } from './hsm.config';
import { HsmError, hasCkr, isSessionLost, toHsmError } from './hsm.error';
import { CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS } from './pkcs11.constants';

export interface HsmConnectionOptions {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: RedactedSecret;
  /** Maximum concurrent sessions (each runs one operation at a time). */
  readonly sessions: number;
  /** See HsmConfig.reinitializeOnLoss. */
  readonly reinitializeOnLoss: boolean;
}

export type Pkcs11Handle = Buffer;

/** What a health probe found. */
export interface HsmTokenStatus {
  readonly tokenLabel: string;
  readonly serialNumber: string;
  readonly loggedIn: boolean;
  readonly sessionsOpen: number;
}

const SESSION_FLAGS = pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION;

export class HsmSessionPool {
  private readonly p11: pkcs11.PKCS11;
  private slot: Pkcs11Handle | undefined;
  private readonly idle: Pkcs11Handle[] = [];
  private readonly waiters: Array<{ resolve: (session: Pkcs11Handle) => void; reject: (error: Error) => void }> = [];
  /** The generation each session was opened in: sessions from before a reconnect are not reused. */
  private readonly born = new WeakMap<Pkcs11Handle, number>();
  private open = 0;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  /** Bumped on every reconnect: object handles cached before it may be stale. */
  generation = 0;

  private constructor(private readonly options: HsmConnectionOptions) {
    if (!Number.isInteger(options.sessions) || options.sessions < 1) {
      throw new RangeError(`"sessions" expected a positive integer, got ${options.sessions}`);
    }
    this.p11 = new pkcs11.PKCS11();
    try {
      this.p11.load(options.modulePath);
    } catch {
      throw new HsmError('MODULE_LOAD_FAILED', `cannot load PKCS#11 module ${options.modulePath}`);
    }
  }

  /** Load, initialise, find the token and log in; throws HsmError (TOKEN_NOT_FOUND, PIN_INCORRECT...). */
  static connect(options: HsmConnectionOptions): HsmSessionPool {
    const pool = new HsmSessionPool(options);
    pool.initializeModule();
    try {
      pool.establish();
    } catch (error) {
      pool.closeQuietly();
      throw error;
    }
    return pool;
  }

  get module(): pkcs11.PKCS11 {
    return this.p11;
  }

  get tokenLabel(): string {
    return this.options.tokenLabel;
  }

  /** The slot currently holding the token (it may change across reconnects). */
  get slotId(): Pkcs11Handle {
    if (this.slot === undefined) throw new HsmError('TOKEN_NOT_PRESENT', `token "${this.options.tokenLabel}" is not connected`);
    return this.slot;
  }

  /**
   * Run fn with an exclusive session. On a lost session/login the connection is re-established
   * and fn runs once more (pass retry=false for operations that must not run twice).
   */
  async withSession<T>(operation: string, fn: (session: Pkcs11Handle) => T | Promise<T>, retry = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const generation = this.generation;
      const session = await this.acquire();
      try {
        const result = await fn(session);
        this.release(session);
        return result;
      } catch (error) {
        if (!isSessionLost(error)) {
          this.release(session);
          throw toHsmError(error, operation);
        }
        this.discard(session);
        if (!retry || attempt > 0) throw toHsmError(error, operation);
        await this.reconnect(generation);
      }
    }
  }

  /**
   * Re-establish sessions and login. Called after a lost session, and by the readiness check.
   * Concurrent callers share one attempt; a caller whose failure predates the last reconnect
   * (older generation) just retries on the fresh connection.
   */
  async reconnect(seenGeneration = this.generation): Promise<void> {
    if (this.closed) throw new HsmError('CLOSED', 'HSM connection is closed');
    if (seenGeneration !== this.generation) return;
    this.reconnecting ??= Promise.resolve()
      .then(() => {
        this.generation++;
        this.dropAllSessions();
        this.slot = undefined; // until the token is found again, operations fail with TOKEN_NOT_PRESENT
        if (this.options.reinitializeOnLoss) {
          // SoftHSM2 re-reads its token directory only in C_Initialize (docs/hsm.md).
          try {
            this.p11.C_Finalize();
          } catch {
            // already finalised or the module is wedged: initialising again tells which
          }
          this.initializeModule();
        }
        this.establish();
      })
      .finally(() => {
        this.reconnecting = undefined;
      });
    return this.reconnecting;
  }

  /** Token present, label matches, and our sessions are in a logged-in state. Throws HsmError. */
  async status(): Promise<HsmTokenStatus> {
    return this.withSession(
      'status',
      (session) => {
        let token: pkcs11.TokenInfo;
        try {
          token = this.p11.C_GetTokenInfo(this.slotId);
        } catch (error) {
          // whatever the module says (SoftHSM: CKR_GENERAL_ERROR once its token directory is
          // gone), a slot that cannot describe its token has no usable token
          const ckr = error instanceof pkcs11.Pkcs11Error ? error.code : undefined;
          throw new HsmError('TOKEN_NOT_PRESENT', `token "${this.options.tokenLabel}" is not present`, ckr);
        }
        if (token.label.trimEnd() !== this.options.tokenLabel) {
          throw new HsmError('TOKEN_NOT_PRESENT', `slot no longer holds token "${this.options.tokenLabel}"`);
        }
        const loggedIn = this.isLoggedIn(session);
        if (!loggedIn) throw new HsmError('NOT_LOGGED_IN', `token "${this.options.tokenLabel}" is not logged in`);
        return { tokenLabel: this.options.tokenLabel, serialNumber: token.serialNumber.trimEnd(), loggedIn, sessionsOpen: this.open };
      },
      false,
    );
  }

  /** Whether this session is in a logged-in (user functions) state. */
  isLoggedIn(session: Pkcs11Handle): boolean {
    const state = this.p11.C_GetSessionInfo(session).state;
    return state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS;
  }

  /**
   * Close sessions and finalise the module. Do not call while OpenSSL's pkcs11 engine uses the
   * same module in this process: the PKCS#11 login and library state are per process.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeQuietly();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new HsmError('CLOSED', 'HSM connection is closed'));
  }

  private initializeModule(): void {
    try {
      // OS locking is required: without it SoftHSM corrupts its heap under concurrent async calls.
      this.p11.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK });
    } catch (error) {
      // Another user of the module in this process (OpenSSL's provider) initialised it first.
      if (!hasCkr(error, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw toHsmError(error, 'C_Initialize');
    }
  }

  /** Find the slot by token label, open the first session and log in. */
  private establish(): void {
    this.slot = this.findSlot();
    const session = this.openSession();
    try {
      this.p11.C_Login(session, pkcs11.CKU_USER, this.options.pin.reveal());
    } catch (error) {
      if (!hasCkr(error, pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
        this.closeSession(session);
        throw toHsmError(error, 'C_Login');
      }
    }
    this.release(session);
  }

  private findSlot(): Pkcs11Handle {
    let slots: Pkcs11Handle[];
    try {
      slots = this.p11.C_GetSlotList(true);
    } catch (error) {
      throw toHsmError(error, 'C_GetSlotList');
    }
    for (const slot of slots) {
      try {
        const info = this.p11.C_GetTokenInfo(slot);
        if (info.label.trimEnd() !== this.options.tokenLabel) continue;
        if ((info.flags & pkcs11.CKF_USER_PIN_INITIALIZED) === 0) {
          throw new HsmError('TOKEN_NOT_INITIALIZED', `token "${this.options.tokenLabel}" has no user PIN`);
        }
        return slot;
      } catch (error) {
        if (error instanceof HsmError) throw error;
        // a slot whose token vanished or fails: not ours to judge, keep looking
      }
    }
    throw new HsmError('TOKEN_NOT_FOUND', `no token labelled "${this.options.tokenLabel}"`);
  }

  private openSession(): Pkcs11Handle {
    try {
      const session = this.p11.C_OpenSession(this.slotId, SESSION_FLAGS);
      this.open++;
      this.born.set(session, this.generation);
      return session;
    } catch (error) {
      throw toHsmError(error, 'C_OpenSession');
    }
  }

  private async acquire(): Promise<Pkcs11Handle> {
    if (this.closed) throw new HsmError('CLOSED', 'HSM connection is closed');
    if (this.reconnecting !== undefined) await this.reconnecting.catch(() => undefined);
    const idle = this.idle.pop();
    if (idle !== undefined) return idle;
    if (this.open < this.options.sessions) return this.openSession();
    return new Promise<Pkcs11Handle>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(session: Pkcs11Handle): void {
    if (this.born.get(session) !== this.generation) {
      this.discard(session);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(session);
    else this.idle.push(session);
  }

  /** Forget a broken or stale session; a waiter gets a fresh one. */
  private discard(session: Pkcs11Handle): void {
    this.closeSession(session);
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter === undefined) return;
    try {
      waiter.resolve(this.openSession());
    } catch (error) {
      waiter.reject(error as Error);
    }
  }

  private closeSession(session: Pkcs11Handle): void {
    this.open = Math.max(0, this.open - 1);
    try {
      this.p11.C_CloseSession(session);
    } catch {
      // the session is already gone: nothing to free
    }
  }

  private dropAllSessions(): void {
    for (const session of this.idle.splice(0)) this.closeSession(session);
    // sessions lent out right now are closed by their borrowers when they fail
  }

  private closeQuietly(): void {
    this.dropAllSessions();
    if (this.slot !== undefined) {
      try {
        this.p11.C_CloseAllSessions(this.slot);
      } catch {
        // token gone: its sessions went with it
      }
    }
    try {
      this.p11.C_Finalize();
    } catch {
      // not initialised by us or already finalised
    }
    this.open = 0;
  }
}
