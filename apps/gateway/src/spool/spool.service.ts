// The on-disk spool: every accepted message is written encrypted (AES-256-GCM under the current
// spool key, the message id as associated data) and fsynced, file and directory, before the
// gateway answers 250. Layout: <dir>/<2 hex>/<message id>.msg, so no directory grows too large.
//   file = "DGS1" ‖ key id (4, BE) ‖ IV (12) ‖ tag (16) ‖ ciphertext
// A write is open (create) and write, both synchronous (page cache only), then fsync of the file
// and, at the same time, of its directory (the new entry), over a directory handle kept open and
// shared by the writers in flight: one trip through the thread pool on the path to the 250 instead
// of eight (temp file, rename, open/fsync/close of the directory). No temp file + rename is
// needed: a file only counts once its queue row exists, and that row is inserted after this write
// resolved; a crash mid-write leaves a file no row names (and the authenticated encryption refuses
// a torn one anyway).
// Recently written messages are also kept in memory for a while (SpoolOptions.recentBytes), so the
// reads right after acceptance (policy check, delivery) cost no file system calls.
// Bodies in PostgreSQL: acceptance may instead seal a message (seal(), no I/O) and store the sealed
// bytes in the spool_bodies table with its queue row, in the same statement (libs/db migration
// SpoolBodies: one commit instead of two fsyncs and a commit before the 250); storedWithRow() then
// remembers it. read() falls back to that table (SpoolOptions.bodies) when no file exists, after
// the aborted mark, so a message whose acceptance was aborted is still recognised as such.
// The table row is deleted when the message becomes done (a trigger) or with its row, so remove()
// skips the file system for bodies this process stored there.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fsync, openSync, promises as fs, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SpoolKeyring } from './spool-keyring';

const MAGIC = Buffer.from('DGS1');
/** Suffix of a spool file whose acceptance was aborted (see markAborted). */
const ABORTED = '.aborted';
const HEADER = MAGIC.length + 4 + 12 + 16;

export class SpoolError extends Error {
  override readonly name = 'SpoolError';
  constructor(
    readonly code: 'NOT_FOUND' | 'ABORTED' | 'CORRUPT' | 'UNKNOWN_KEY' | 'IO',
    message: string,
  ) {
    super(message);
  }
}

export interface SpoolWriteResult {
  readonly keyId: number;
  readonly sha256: Buffer;
}

/** A message sealed for storage elsewhere (seal()): `sealed` is the spool file's bytes. */
export interface SealedMessage extends SpoolWriteResult {
  readonly sealed: Buffer;
}

/** Where sealed bodies stored with their queue rows are found (QueueRepository.findSpoolBody). */
export interface SpoolBodyTable {
  findSpoolBody(messageId: string): Promise<Buffer | undefined>;
}

export interface SpoolOptions {
  /**
   * Bytes of recently written messages kept in memory (plaintext, in this process only) so that
   * processing and delivery, which read a message right after its acceptance, do not read and
   * decrypt the file again (9 of the ~17 file system calls per message). The file stays the
   * durable copy: after a restart, or once an entry is evicted, reads go to the file and are
   * authenticated. Default 32 MiB; 0 turns it off. A message larger than a quarter of it is not kept.
   */
  readonly recentBytes?: number;
  /** The table of bodies stored with their rows (see seal/storedWithRow); undefined: files only. */
  readonly bodies?: SpoolBodyTable;
}

export const DEFAULT_RECENT_BYTES = 32 * 1024 * 1024;

export class SpoolService {
  /** Subdirectories known to exist (made or seen by this process): no mkdir per message. */
  private readonly madeDirs = new Set<string>();
  /** Open handles and grouped fsyncs of the subdirectories (see DirSyncer). */
  private readonly dirSyncers = new Map<string, DirSyncer>();
  /** Recently written messages by id, oldest first (see SpoolOptions.recentBytes). */
  private readonly recent = new Map<string, Buffer>();
  private recentSize = 0;
  private readonly recentBudget: number;
  /** Ids whose body this process stored in the table (storedWithRow) and has not removed: no file to unlink. */
  private readonly inTable = new Set<string>();
  private readonly bodies: SpoolBodyTable | undefined;

  constructor(
    private readonly dir: string,
    private readonly keyring: SpoolKeyring,
    options: SpoolOptions = {},
  ) {
    this.recentBudget = Math.max(0, options.recentBytes ?? DEFAULT_RECENT_BYTES);
    this.bodies = options.bodies;
  }

  private remember(messageId: string, message: Uint8Array): void {
    this.forget(messageId);
    if (message.length > this.recentBudget / 4) return;
    // a copy: the caller's buffer may be reused
    this.recent.set(messageId, Buffer.from(message));
    this.recentSize += message.length;
    for (const [id, bytes] of this.recent) {
      if (this.recentSize <= this.recentBudget) break;
      this.recent.delete(id);
      this.recentSize -= bytes.length;
    }
  }

  private forget(messageId: string): void {
    const bytes = this.recent.get(messageId);
    if (!bytes) return;
    this.recent.delete(messageId);
    this.recentSize -= bytes.length;
  }

  private pathOf(messageId: string): { dir: string; file: string } {
    if (!/^[0-9a-f-]{36}$/.test(messageId)) throw new TypeError(`"messageId" expected a UUID, got ${messageId}`);
    const dir = join(this.dir, messageId.slice(0, 2));
    return { dir, file: join(dir, `${messageId}.msg`) };
  }

  /**
   * Encrypts the message as a spool file would hold it, without storing it: the caller stores
   * `sealed` (spool_bodies, with the queue row) and calls storedWithRow once that committed.
   */
  seal(messageId: string, message: Uint8Array): SealedMessage {
    this.pathOf(messageId); // the id check
    const { id, key } = this.keyring.current;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(messageId));
    const ciphertext = Buffer.concat([cipher.update(message), cipher.final()]);
    const keyId = Buffer.alloc(4);
    keyId.writeUInt32BE(id);
    const sealed = Buffer.concat([MAGIC, keyId, iv, cipher.getAuthTag(), ciphertext]);
    const sha256 = createHash('sha256').update(message).digest();
    return { keyId: id, sha256, sealed };
  }

  /** After the sealed body of seal() committed with its row: later reads are served from memory, and remove() has no file to unlink. */
  storedWithRow(messageId: string, message: Uint8Array): void {
    this.inTable.add(messageId);
    this.remember(messageId, message);
  }

  /** Encrypts and durably stores the message; resolves only once file and directory are fsynced. */
  async write(messageId: string, message: Uint8Array): Promise<SpoolWriteResult> {
    const { dir, file } = this.pathOf(messageId);
    const { keyId: id, sha256, sealed: body } = this.seal(messageId, message);

    const fd = await this.createFile(dir, file);
    try {
      writeAll(fd, body);
      // the entry exists since the open: both fsyncs can run at once
      await Promise.all([fsyncFd(fd), this.syncDir(dir)]);
    } finally {
      closeSync(fd);
    }
    // only once durable: a failed write is never read back from memory
    this.remember(messageId, message);
    return { keyId: id, sha256 };
  }

  /**
   * Opens (creates or truncates) a file in `dir`, making `dir` only the first time (or if it
   * vanished since). The open is synchronous, as the write after it: both only touch the page
   * cache and take microseconds, while each trip through libuv's thread pool costs a turn of the
   * event loop, which under load is several milliseconds of the 250's wait (measured: the spool
   * stage went from 9 to 3 ms of mean accept latency with 10 senders). Only the fsyncs,
   * which wait for the disk, go to the thread pool.
   */
  private async createFile(dir: string, path: string): Promise<number> {
    const open = () => openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    if (this.madeDirs.has(dir)) {
      try {
        return open();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.madeDirs.delete(dir);
        this.dirSyncers.get(dir)?.close();
        this.dirSyncers.delete(dir);
      }
    }
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // the new directory's entry in the spool root must be durable too, or the file below could be lost with it
    await syncDirOnce(this.dir);
    this.madeDirs.add(dir);
    return open();
  }

  private syncDir(dir: string): Promise<void> {
    let syncer = this.dirSyncers.get(dir);
    if (!syncer) this.dirSyncers.set(dir, (syncer = new DirSyncer(dir)));
    return syncer.sync();
  }

  /** Reads and authenticates a spooled message. */
  async read(messageId: string): Promise<Buffer> {
    const { file } = this.pathOf(messageId);
    const recent = this.recent.get(messageId);
    if (recent) return Buffer.from(recent);
    let body: Buffer;
    try {
      body = await fs.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SpoolError('IO', `cannot read the spool file of ${messageId}: ${(err as Error).message}`);
      if (await exists(`${file}${ABORTED}`)) throw new SpoolError('ABORTED', `acceptance of ${messageId} was aborted (the client got 451)`);
      const stored = await this.fromTable(messageId);
      if (!stored) throw new SpoolError('NOT_FOUND', `spool file of ${messageId} is missing${this.bodies ? ', and no body is stored with its row' : ''}`);
      body = stored;
    }
    if (body.length < HEADER || !body.subarray(0, 4).equals(MAGIC)) throw new SpoolError('CORRUPT', `spool file of ${messageId} is not a spool file`);
    const key = this.keyring.key(body.readUInt32BE(4));
    if (!key) throw new SpoolError('UNKNOWN_KEY', `spool file of ${messageId} uses unknown key ${body.readUInt32BE(4)}`);
    const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(8, 20));
    decipher.setAAD(Buffer.from(messageId));
    decipher.setAuthTag(body.subarray(20, 36));
    try {
      return Buffer.concat([decipher.update(body.subarray(HEADER)), decipher.final()]);
    } catch {
      throw new SpoolError('CORRUPT', `spool file of ${messageId} fails authentication`);
    }
  }

  /**
   * Removes the message's file, or its aborted file (markAborted renamed the one into the other, so
   * at most one exists: the second unlink only runs when the first found nothing). `mayBeAborted`
   * false (replacement bytes, never marked aborted) skips that second look.
   */
  async remove(messageId: string, mayBeAborted = true): Promise<void> {
    const { file } = this.pathOf(messageId);
    this.forget(messageId);
    // its table row goes when the message becomes done (a trigger), or with the message row
    if (this.inTable.delete(messageId)) return;
    // unlink, not rm: rm costs an lstat more per file
    if (!(await unlinkIfExists(file)) && mayBeAborted) await unlinkIfExists(`${file}${ABORTED}`);
  }

  /**
   * For an acceptance that failed after its database insert may have committed (the client got
   * 451): the file is renamed, durably, so that a queue row that did commit is recognised and
   * dropped without delivery or DSN instead of bouncing as a lost message.
   */
  async markAborted(messageId: string): Promise<void> {
    const { dir, file } = this.pathOf(messageId);
    this.forget(messageId);
    this.inTable.delete(messageId);
    try {
      await fs.rename(file, `${file}${ABORTED}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // no file: the body went to the table with the row (seal), or nowhere; an empty mark says
      // "aborted" all the same, and read() looks for it before the table
      const fd = await this.createFile(dir, `${file}${ABORTED}`);
      try {
        await fsyncFd(fd);
      } finally {
        closeSync(fd);
      }
    }
    await this.syncDir(dir);
  }

  private async fromTable(messageId: string): Promise<Buffer | undefined> {
    if (!this.bodies) return undefined;
    try {
      return await this.bodies.findSpoolBody(messageId);
    } catch (err) {
      throw new SpoolError('IO', `cannot read the spooled body of ${messageId} from the database: ${(err as Error).message}`);
    }
  }

  /** Closes the directory handles kept for fsync (the service stays usable: they reopen on demand). */
  close(): void {
    for (const syncer of this.dirSyncers.values()) syncer.close();
    this.dirSyncers.clear();
  }

  /** A spool file of this id exists (or its copy is in memory); bodies stored with a row are not looked up (only replacements, always files, are asked about). */
  async exists(messageId: string): Promise<boolean> {
    if (this.recent.has(messageId)) return true;
    try {
      await fs.access(this.pathOf(messageId).file);
      return true;
    } catch {
      return false;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when the file was there. Most calls find nothing (the replacement of a group that had
 * none, the file of a body stored in the table by another process): a synchronous look, which only
 * reads the directory cache, answers those without a trip through the thread pool.
 */
async function unlinkIfExists(path: string): Promise<boolean> {
  if (!existsSync(path)) return false;
  try {
    await fs.unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return false;
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

async function syncDirOnce(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Group commit of one directory's fsync: the handle stays open, and a caller whose entry was made
 * while an fsync is already running waits for the next one (started after that fsync ends, so it
 * covers the entry), shared by everyone who asked meanwhile. Under load most writers thus share a
 * directory fsync instead of each running open/fsync/close of its own.
 */
class DirSyncer {
  private handle: Promise<fs.FileHandle> | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.running) return (this.running = this.start());
    // an fsync that started before this caller's entry was made may not cover it: take the next one
    this.next ??= this.running.then(
      () => this.promote(),
      () => this.promote(),
    );
    return this.next;
  }

  private promote(): Promise<void> {
    this.next = undefined;
    return (this.running = this.start());
  }

  private async start(): Promise<void> {
    try {
      this.handle ??= fs.open(this.dir, constants.O_RDONLY | constants.O_DIRECTORY);
      const handle = await this.handle.catch((err: unknown) => {
        this.handle = undefined;
        throw err;
      });
      await handle.sync();
    } finally {
      // only if no later fsync took over meanwhile
      if (!this.next) this.running = undefined;
    }
  }

  close(): void {
    const handle = this.handle;
    this.handle = undefined;
    void handle?.then((h) => h.close()).catch(() => undefined);
  }
}
