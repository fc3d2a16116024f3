// Last-resort cleanup of the peer processes this test process started (Postfix masters,
// smtp-sinks): if a test run dies before its afterAll, they are killed (whole process group) and
// their temp dirs removed when Node exits, so nothing keeps listening after the tests.
import { rmSync } from 'node:fs';

interface Entry {
  /** Process group id (the leader's pid): Postfix's master is a session leader. */
  pgid?: number;
  pid?: number;
  dir?: string;
}

const entries = new Set<Entry>();
let hooked = false;

function cleanupAll(): void {
  for (const e of entries) {
    try {
      if (e.pgid !== undefined) process.kill(-e.pgid, 'SIGKILL');
      else if (e.pid !== undefined) process.kill(e.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (e.dir !== undefined) rmSync(e.dir, { recursive: true, force: true });
  }
  entries.clear();
}

export function registerPeer(entry: Entry): () => void {
  if (!hooked) {
    hooked = true;
    process.once('exit', cleanupAll);
  }
  entries.add(entry);
  return () => entries.delete(entry);
}
