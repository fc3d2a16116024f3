// When a deferred recipient is tried again: RETRY_BASE doubled per failed attempt, capped at
// RETRY_MAX, with ±20 % jitter so that deferred mail to one destination does not retry in lockstep.

/** Delay after the failed attempt number `attempt` (1-based); `random` in [0, 1). */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`"attempt" expected a positive integer, got ${attempt}`);
  const exp = Math.min(baseMs * 2 ** Math.min(attempt - 1, 40), maxMs);
  const jittered = exp * (0.8 + 0.4 * random());
  return Math.max(1, Math.round(Math.min(jittered, maxMs)));
}
