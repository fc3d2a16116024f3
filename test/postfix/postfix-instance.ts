// Starts and stops real, private Postfix instances for e2e tests and benchmarks: each one in its
// own temp dir (config, queue, data, Maildirs, maillog), on 127.0.0.1:<free port>, as root, with
// no systemd, no syslog and no change to the machine's own Postfix. Several may run at once.
// Needs Debian's postfix package (scripts/setup/postfix.sh).
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port';
import { listMaildirFiles, readDelivered, type DeliveredMessage } from './maildir';
import { MAILBOX_GID, MAILBOX_UID, postfixLayout, renderPostfixConfig, type PostfixLayout, type PostfixOptions } from './postfix-config';
import { groupCpuSeconds, stopProcessGroup } from './process-group';
import { registerPeer } from './process-registry';

const execFileAsync = promisify(execFile);

export const POSTFIX = '/usr/sbin/postfix';
export const POSTQUEUE = '/usr/sbin/postqueue';

export interface PostfixInstance {
  readonly name: string;
  /** SMTP port on 127.0.0.1. */
  readonly port: number;
  /** The instance's temp dir (removed by stop()). */
  readonly dir: string;
  readonly layout: PostfixLayout;
  /** pid of the master daemon. */
  readonly pid: number;
  /** Stops the master and all its children, then removes the dir. Idempotent. */
  stop(): Promise<void>;
  /** `postqueue -f`: attempt delivery of everything queued now. */
  flush(): Promise<void>;
  /** True when no message is in incoming, active, deferred, hold or maildrop. */
  queueIsEmpty(): Promise<boolean>;
  /** Resolves once the queue is empty; throws (with the log tail) after timeoutMs. */
  waitForEmptyQueue(timeoutMs?: number): Promise<void>;
  /**
   * Resolves with the delivered messages (oldest first) once there are at least `until` of them,
   * or once `until(messages)` is true; throws (with the log tail) after timeoutMs.
   */
  waitForDelivery(until: number | ((messages: DeliveredMessage[]) => boolean), timeoutMs?: number, recipient?: string): Promise<DeliveredMessage[]>;
  /** Messages delivered so far into the Maildirs of mailboxDomains (one recipient, or all), oldest first. */
  deliveredMessages(recipient?: string): Promise<DeliveredMessage[]>;
  /** The instance's maillog so far. */
  log(): Promise<string>;
  /** CPU seconds all of this instance's processes have used so far (benchmarks). */
  cpuSeconds(): number;
}

const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];
const POLL_MS = 25;

async function countFiles(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let n = 0;
  for (const e of entries) n += e.isDirectory() ? await countFiles(join(dir, e.name)) : 1;
  return n;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readLog(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

function logTail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines - 1).join('\n');
}

function idFrom(file: string, name: string): number {
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const id = Number(line?.split(':')[2]);
  if (!Number.isInteger(id)) throw new Error(`${name} not found in ${file}: install Postfix (scripts/setup/postfix.sh)`);
  return id;
}

/**
 * The queue and data dirs with the owners and modes of Debian's /etc/postfix/postfix-files (what
 * `post-install create-missing` would make), so start needs no integrity pass.
 */
async function createQueueDirs(layout: PostfixLayout): Promise<void> {
  const postfix = idFrom('/etc/passwd', 'postfix');
  const postdrop = idFrom('/etc/group', 'postdrop');
  const dirs: [string, number, number, number][] = [
    [layout.queueDir, 0, 0, 0o755],
    [layout.dataDir, postfix, -1, 0o700],
    ...['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace'].map(
      (d): [string, number, number, number] => [join(layout.queueDir, d), postfix, -1, 0o700],
    ),
    [join(layout.queueDir, 'maildrop'), postfix, postdrop, 0o730],
    [join(layout.queueDir, 'public'), postfix, postdrop, 0o710],
    [join(layout.queueDir, 'pid'), 0, 0, 0o755],
  ];
  for (const [dir, uid, gid, mode] of dirs) {
    await mkdir(dir);
    await chown(dir, uid, gid);
    await chmod(dir, mode); // after mkdir: the umask must not narrow it
  }
}

export async function startPostfix(options: PostfixOptions = {}): Promise<PostfixInstance> {
  const name = options.name ?? 'postfix';
  if (!/^[a-z0-9-]+$/.test(name)) throw new RangeError(`"name" expected [a-z0-9-]+, got ${JSON.stringify(name)}`);
  const port = options.port ?? (await freePort());
  // Postfix daemons run as `postfix` and must traverse the dir: 0755, not mkdtemp's 0700.
  const dir = await mkdtemp(join(tmpdir(), `postfix-${name}-`));
  const unregister = registerPeer({ dir });
  const layout = postfixLayout(dir);
  await chmod(dir, 0o755);
  await mkdir(layout.configDir, { mode: 0o755 });
  await createQueueDirs(layout);
  await mkdir(layout.mailDir, { mode: 0o700 });
  await chown(layout.mailDir, MAILBOX_UID, MAILBOX_GID);
  const config = renderPostfixConfig(layout, port, { ...options, name });
  // Postfix re-reads a config file until its mtime is over a second old (a guard against
  // half-written files), which costs ~2 s per command on fresh files: backdate them.
  const past = new Date(Date.now() - 60_000);
  for (const [file, text] of Object.entries({ 'main.cf': config.mainCf, 'master.cf': config.masterCf, ...config.tables })) {
    const path = join(layout.configDir, file);
    await writeFile(path, text);
    await utimes(path, past, past);
  }

  let pid: number;
  try {
    // With the queue dirs in place, `quick-start` skips postfix-script's integrity checks
    // (post-install create-missing and friends fork ~100 processes: seconds per start); `start`
    // returns once master is up (master -w), listening socket included.
    await writeFile(join(layout.queueDir, 'quick-start'), '');
    await execFileAsync(POSTFIX, ['-c', layout.configDir, 'start'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
    pid = Number((await readFile(join(layout.queueDir, 'pid', 'master.pid'), 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error('no master.pid');
  } catch (err) {
    const log = await readLog(layout.logFile);
    unregister();
    await rm(dir, { recursive: true, force: true });
    const e = err as { message: string; stderr?: string };
    throw new Error(`Postfix ${name} did not start: ${e.stderr || e.message}\n${logTail(log)}`);
  }
  unregister();
  // master is a session leader: its pid is the group of all daemons it forked.
  const unregisterMaster = registerPeer({ pgid: pid, dir });

  const cache = new Map<string, DeliveredMessage>();
  const delivered = async (recipient?: string): Promise<DeliveredMessage[]> => {
    const all = await readDelivered(await listMaildirFiles(layout.mailDir), cache);
    if (recipient === undefined) return all;
    const wanted = recipient.toLowerCase();
    return all.filter((m) => m.recipient === wanted);
  };
  let stopping: Promise<void> | undefined;

  const instance: PostfixInstance = {
    name,
    port,
    dir,
    layout,
    pid,
    stop() {
      stopping ??= (async () => {
        // master terminates its children on SIGTERM; the group check catches stragglers.
        await stopProcessGroup(pid);
        unregisterMaster();
        if (!options.keepDir) await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
    async flush() {
      await execFileAsync(POSTQUEUE, ['-c', layout.configDir, '-f']);
    },
    async queueIsEmpty() {
      for (const q of QUEUES) if ((await countFiles(join(layout.queueDir, q))) > 0) return false;
      return true;
    },
    async waitForEmptyQueue(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await instance.queueIsEmpty())) {
        if (Date.now() > deadline) throw new Error(`Postfix ${name}: queue not empty after ${timeoutMs} ms\n${logTail(await instance.log())}`);
        await sleep(POLL_MS);
      }
    },
    deliveredMessages(recipient?: string) {
      return delivered(recipient);
    },
    async waitForDelivery(until, timeoutMs = 10_000, recipient?: string) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // A count without a recipient needs no file contents until it is reached.
        const messages = typeof until === 'number' && recipient === undefined ? undefined : await delivered(recipient);
        const count = messages?.length ?? (await listMaildirFiles(layout.mailDir)).length;
        if (typeof until === 'number' ? count >= until : until(messages ?? [])) return messages ?? delivered();
        if (Date.now() > deadline) {
          throw new Error(`Postfix ${name}: delivery condition not met after ${timeoutMs} ms (${count} delivered)\n${logTail(await instance.log())}`);
        }
        await sleep(POLL_MS);
      }
    },
    log() {
      return readLog(layout.logFile);
    },
    cpuSeconds() {
      return groupCpuSeconds(pid);
    },
  };
  return instance;
}
