// Stops a daemon's whole process group (Postfix's master and every daemon it forked) and waits
// until none of them runs. Zombies count as gone: once master exits, its children are reaped by
// PID 1 whenever PID 1 gets to it (seconds on some CI inits), and a zombie holds no port or file.
import { readdirSync, readFileSync } from 'node:fs';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** pids of the non-zombie processes in a process group (Linux /proc). */
export function livingGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid) members.push(Number(entry));
  }
  return members;
}

/** SIGTERM to the leader, then SIGKILL to the group after graceMs; resolves when all are gone. */
export async function stopProcessGroup(pgid: number, graceMs = 5000): Promise<void> {
  try {
    process.kill(pgid, 'SIGTERM');
  } catch {
    // already gone
  }
  const deadline = Date.now() + graceMs;
  while (livingGroupMembers(pgid).length > 0) {
    if (Date.now() > deadline) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // raced with exit
      }
    }
    await sleep(10);
  }
}

/**
 * CPU seconds (user + system) used so far by a process group: its living members plus the
 * children its leader has reaped (cutime/cstime). Linux /proc; clock ticks assumed 100/s.
 */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue;
    }
    // After "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) !== pgid) continue;
    ticks += Number(f[11]) + Number(f[12]);
    if (Number(entry) === pgid) ticks += Number(f[13]) + Number(f[14]);
  }
  return ticks / 100;
}

/** user + system CPU seconds from a /proc stat file (a process's or a thread's), 0 once it is gone. */
function statCpuSeconds(path: string): number {
  try {
    const stat = readFileSync(path, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) of one process, all its threads, 0 once it is gone. */
export function processCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * CPU seconds of a process's main thread only (for node: the event loop; the rest is V8's GC and
 * compiler threads and libuv's pool), 0 once it is gone.
 */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * Seconds a process's main thread has spent runnable but waiting for a CPU (the scheduler's run
 * queue, /proc/.../schedstat), 0 once it is gone or where the kernel does not keep it.
 */
export function mainThreadRunQueueSeconds(pid: number): number {
  try {
    const [, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').trim().split(/\s+/);
    return Number(waitNs ?? 0) / 1e9;
  } catch {
    return 0;
  }
}

/** Starts measuring a process's main thread: the returned function gives its CPU and run-queue seconds since. */
export function mainThreadMeter(pid: number): () => { cpuSeconds: number; runQueueSeconds: number } {
  const cpu = mainThreadCpuSeconds(pid);
  const queued = mainThreadRunQueueSeconds(pid);
  return () => ({ cpuSeconds: mainThreadCpuSeconds(pid) - cpu, runQueueSeconds: mainThreadRunQueueSeconds(pid) - queued });
}

/** Busy CPU seconds of the whole machine so far (all CPUs, /proc/stat; idle and iowait excluded). */
export function machineBusyCpuSeconds(): number {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / 100;
}
