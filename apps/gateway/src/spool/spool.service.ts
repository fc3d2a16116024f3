// The on-disk spool: every accepted message is written encrypted (AES-256-GCM under the current
// spool key, the message id as associated data) and fsynced, file and directory, before the
// gateway answers 250. Layout: <dir>/<2 hex>/<message id>.msg, so no directory grows too large.
//   file = "DGS1" ‖ key id (4, BE) ‖ IV (12) ‖ tag (16) ‖ ciphertext
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
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

export class SpoolService {
  /** Subdirectories known to exist (made or seen by this process): no mkdir per message. */
  private readonly madeDirs = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly keyring: SpoolKeyring,
  ) {}

  private pathOf(messageId: string): { dir: string; file: string } {
    if (!/^[0-9a-f-]{36}$/.test(messageId)) throw new TypeError(`"messageId" expected a UUID, got ${messageId}`);
    const dir = join(this.dir, messageId.slice(0, 2));
    return { dir, file: join(dir, `${messageId}.msg`) };
  }

  /** Encrypts and durably stores the message; resolves only once file and directory are fsynced. */
  async write(messageId: string, message: Uint8Array): Promise<SpoolWriteResult> {
    const { dir, file } = this.pathOf(messageId);
    const { id, key } = this.keyring.current;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(messageId));
    const ciphertext = Buffer.concat([cipher.update(message), cipher.final()]);
    const keyId = Buffer.alloc(4);
    keyId.writeUInt32BE(id);
    const body = Buffer.concat([MAGIC, keyId, iv, cipher.getAuthTag(), ciphertext]);

    const tmp = `${file}.tmp-${process.pid}`;
    const handle = await this.createFile(dir, tmp);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    await syncDir(dir);
    return { keyId: id, sha256: createHash('sha256').update(message).digest() };
  }

  /** Opens a new file in `dir`, making `dir` only the first time (or if it vanished since). */
  private async createFile(dir: string, path: string): Promise<fs.FileHandle> {
    const open = () => fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    if (this.madeDirs.has(dir)) {
      try {
        return await open();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.madeDirs.delete(dir);
      }
    }
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // the new directory's entry in the spool root must be durable too, or the rename below could be lost with it
    await syncDir(this.dir);
    this.madeDirs.add(dir);
    return open();
  }

  /** Reads and authenticates a spooled message. */
  async read(messageId: string): Promise<Buffer> {
    const { file } = this.pathOf(messageId);
    let body: Buffer;
    try {
      body = await fs.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (await exists(`${file}${ABORTED}`)) throw new SpoolError('ABORTED', `acceptance of ${messageId} was aborted (the client got 451)`);
        throw new SpoolError('NOT_FOUND', `spool file of ${messageId} is missing`);
      }
      throw new SpoolError('IO', `cannot read the spool file of ${messageId}: ${(err as Error).message}`);
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

  async remove(messageId: string): Promise<void> {
    const { file } = this.pathOf(messageId);
    await fs.rm(file, { force: true });
    await fs.rm(`${file}${ABORTED}`, { force: true });
  }

  /**
   * For an acceptance that failed after its database insert may have committed (the client got
   * 451): the file is renamed, durably, so that a queue row that did commit is recognised and
   * dropped without delivery or DSN instead of bouncing as a lost message.
   */
  async markAborted(messageId: string): Promise<void> {
    const { dir, file } = this.pathOf(messageId);
    try {
      await fs.rename(file, `${file}${ABORTED}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await syncDir(dir);
  }

  async exists(messageId: string): Promise<boolean> {
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

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
