// At most `limit` concurrent holders per key (DESTINATION_CONCURRENCY connections per destination
// in this process); waiters are served first come, first served. Keys without holders are dropped.
export class KeyedSemaphore {
  private readonly slots = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`"limit" expected a positive integer, got ${limit}`);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    await this.acquire(key);
    try {
      return await fn();
    } finally {
      this.release(key);
    }
  }

  /** Holders of a key right now (for tests and metrics). */
  active(key: string): number {
    return this.slots.get(key)?.active ?? 0;
  }

  private acquire(key: string): Promise<void> {
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { active: 0, waiting: [] }));
    if (slot.active < this.limit) {
      slot.active++;
      return Promise.resolve();
    }
    const s = slot;
    return new Promise((resolve) => s.waiting.push(resolve));
  }

  private release(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    const next = slot.waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else if (--slot.active === 0) this.slots.delete(key);
  }
}
