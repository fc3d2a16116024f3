// CPU attribution for the gateway benchmark: samples /proc for the PostgreSQL processes (backends
// of one database, told apart by their process title "postgres: user db host(port) ...", and the
// shared ones: WAL writer, checkpointer, other databases) and for a given set of pids (a Redis
// server), so CPU per message can be split between the gateway and the services it waits on.
// A backend that exits between two samples loses at most one interval of CPU.
import { readdirSync, readFileSync } from 'node:fs';

interface Seen {
  readonly group: string;
  base: number;
  last: number;
}

function statOf(pid: string): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Groups: 'postgres:<database>' for that database's backends, 'postgres:other' for every other
 * postgres process, and 'pid:<name>' for the pids given in `pids`.
 */
export class ServiceCpuSampler {
  private readonly seen = new Map<string, Seen>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    private readonly database: string,
    private readonly pids: Readonly<Record<string, number>> = {},
    private readonly intervalMs = 200,
  ) {}

  private groupOf(pid: string, comm: string): string | undefined {
    for (const [name, p] of Object.entries(this.pids)) if (String(p) === pid) return `pid:${name}`;
    if (comm !== 'postgres') return undefined;
    return cmdlineOf(pid).includes(` ${this.database} `) ? `postgres:${this.database}` : 'postgres:other';
  }

  private sample(): void {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const s = statOf(pid);
      if (!s) continue;
      const known = this.seen.get(pid);
      if (known) {
        known.last = s.ticks;
        continue;
      }
      const group = this.groupOf(pid, s.comm);
      // a process born after start() counts from zero
      if (group) this.seen.set(pid, { group, base: this.started ? 0 : s.ticks, last: s.ticks });
    }
  }

  start(): void {
    this.seen.clear();
    this.started = false;
    this.sample();
    this.started = true;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** CPU seconds per group since start(). */
  stop(): Record<string, number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const out: Record<string, number> = {};
    for (const s of this.seen.values()) out[s.group] = (out[s.group] ?? 0) + (s.last - s.base) / 100;
    return out;
  }
}
