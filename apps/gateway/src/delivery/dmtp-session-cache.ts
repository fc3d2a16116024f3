// Idle DMTP sessions kept for the next transaction to the same DX host (as the SMTP connection
// cache in smtp-transaction.ts, and Postfix's on-demand cache): after an attempt whose last
// transaction ended in a 2xx, its session waits here for IDLE_MS, at most MAX_USES transactions in
// all. A session is only ever reused under the same authentication: the key holds the host, port,
// server name, mode, the EHLO name and what the peer was checked against (the record's tls=
// signatures and POKs, or the X.509 trust anchors), so a record re-fetched with other signatures
// never rides on a session checked against the old one. What it saves per message: a TCP connect,
// a TLS handshake (the peer signs with its HSM key, we verify its tls= signature), the banner,
// EHLO and QUIT: a third of an attempt's wall time on loopback, and most of the TLS CPU.
import type { DmtpClient, DmtpPeerCheck } from '../dime/dmtp/dmtp-client';

/** How long a session waits for the next transaction (Postfix: smtp_connection_cache_time_limit 2s). */
export const DMTP_IDLE_MS = 2000;
/** Transactions per session (Postfix: smtp_connection_reuse_count_limit). */
export const DMTP_MAX_USES = 100;
const MAX_IDLE_PER_KEY = 32;

export interface DmtpSessionTarget {
  readonly host: string;
  readonly port: number;
  readonly serverName: string;
  readonly dualMode?: boolean | undefined;
}

interface Idle {
  readonly client: DmtpClient;
  readonly uses: number;
  readonly timer: NodeJS.Timeout;
  readonly detach: () => void;
}

export interface CachedSession {
  readonly client: DmtpClient;
  /** Transactions this session carried before. */
  readonly uses: number;
}

export class DmtpSessionCache {
  private readonly idle = new Map<string, Idle[]>();
  private readonly anchorIds = new WeakMap<object, number>();
  private nextAnchorId = 1;
  private closed = false;

  constructor(
    private readonly idleMs = DMTP_IDLE_MS,
    readonly maxUses = DMTP_MAX_USES,
  ) {}

  /** Which sessions may carry a transaction to `target` authenticated by `check`. */
  keyOf(target: DmtpSessionTarget, check: DmtpPeerCheck, ehloName: string): string {
    let auth: string;
    if (check.kind === 'tls-signature') {
      auth = `tls:${check.record.tls.map((t) => Buffer.from(t).toString('hex')).join(',')};pok:${check.record.poks.map((p) => Buffer.from(p).toString('hex')).join(',')}`;
    } else {
      const anchors = check.ca;
      if (anchors === undefined) auth = 'x509:system';
      else if (typeof anchors === 'string' || Buffer.isBuffer(anchors)) auth = `x509:${Buffer.from(anchors).toString('base64')}`;
      else {
        let id = this.anchorIds.get(anchors);
        if (id === undefined) this.anchorIds.set(anchors, (id = this.nextAnchorId++));
        auth = `x509:#${id}`;
      }
    }
    return JSON.stringify([target.host, target.port, target.serverName.toLowerCase(), target.dualMode === true, ehloName, auth]);
  }

  /** An idle session for `key` that is still usable, or undefined. */
  take(key: string): CachedSession | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const entry = list.pop()!;
      clearTimeout(entry.timer);
      entry.detach();
      if (list.length === 0) this.idle.delete(key);
      if (entry.client.usable) return { client: entry.client, uses: entry.uses };
      entry.client.close();
    }
    return undefined;
  }

  /** Keeps `client` (its last transaction ended in a 2xx) for the next one, or says goodbye to it. */
  put(key: string, client: DmtpClient, uses: number): void {
    if (this.closed || uses >= this.maxUses || !client.usable) return void client.quit();
    const list = this.idle.get(key) ?? [];
    if (list.length >= MAX_IDLE_PER_KEY) return void client.quit();
    const drop = () => {
      const at = list.indexOf(entry);
      if (at !== -1) list.splice(at, 1);
      if (list.length === 0 && this.idle.get(key) === list) this.idle.delete(key);
      clearTimeout(entry.timer);
    };
    const timer = setTimeout(() => {
      drop();
      entry.detach();
      void client.quit();
    }, this.idleMs);
    timer.unref();
    // the peer closed it (or said something unasked for) while it waited: gone
    const detach = client.onEnd(() => {
      drop();
      client.close();
    });
    const entry: Idle = { client, uses, timer, detach };
    list.push(entry);
    this.idle.set(key, list);
  }

  /** Sessions waiting now (all keys). */
  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** QUITs every idle session; later put()s say goodbye at once (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const quits: Promise<void>[] = [];
    for (const key of [...this.idle.keys()]) {
      for (let s = this.take(key); s; s = this.take(key)) quits.push(s.client.quit());
    }
    await Promise.all(quits);
  }
}
