// Group commit for the queue's hot statements. Under load, many sessions each send the same small
// statement (one message inserted, one message finished, ...) at about the same time; every one of
// them costs a round trip, a transaction and a WAL flush, which is most of what PostgreSQL and the
// gateway's pg client spend per message (a 1-row INSERT costs ~6x the per-row cost of the same
// INSERT carrying 8 rows). The coalescer lets at most `maxInFlight` statements of a kind run at
// once; what is submitted meanwhile, or in the same turn of the event loop, waits and leaves as ONE
// statement when a slot frees (natural batching: no timer, so an idle system adds no latency, and a
// busy one forms batches exactly as large as the backlog).
//
// A batch is one statement, so it commits or fails as a whole. When a batch of several fails, each
// item is run again as a batch of its own: one bad item (a constraint it breaks) fails alone, and a
// database that is down fails every item, as it would have without the coalescer.
export interface StatementCoalescerOptions {
  /** Statements of this kind running at once (at least 1). */
  readonly maxInFlight: number;
  /** Items per statement at most (at least 1). */
  readonly maxBatch: number;
}

export const DEFAULT_COALESCER_OPTIONS: StatementCoalescerOptions = { maxInFlight: 2, maxBatch: 64 };

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (reason: unknown) => void;
}

export class StatementCoalescer<I, O> {
  private readonly waiting: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;

  constructor(
    /** Runs the items (one or more) as one statement; resolves to one result per item, in order. */
    private readonly runBatch: (items: readonly I[]) => Promise<readonly O[]>,
    options: StatementCoalescerOptions = DEFAULT_COALESCER_OPTIONS,
  ) {
    if (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1) throw new RangeError('"maxInFlight" must be an integer >= 1');
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new RangeError('"maxBatch" must be an integer >= 1');
    this.maxInFlight = options.maxInFlight;
    this.maxBatch = options.maxBatch;
  }

  /** Items waiting for a slot (not yet sent). */
  get backlog(): number {
    return this.waiting.length;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Takes back an item that has not been sent yet (same identity as submitted): its promise rejects
   * with `reason` and the item is never run. False when it was already sent (or never submitted).
   */
  withdraw(item: I, reason: Error): boolean {
    const at = this.waiting.findIndex((w) => w.item === item);
    if (at === -1) return false;
    const [w] = this.waiting.splice(at, 1);
    w!.reject(reason);
    return true;
  }

  /** Sends what waits on the next turn of the event loop, so that what arrives in this turn joins. */
  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.waiting.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async run(batch: readonly Waiting<I, O>[]): Promise<void> {
    let results: readonly O[];
    try {
      results = await this.runBatch(batch.map((w) => w.item));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // each on its own: the error each item gets is then its own
      await Promise.all(batch.map((w) => this.run([w])));
      return;
    }
    if (results.length !== batch.length) {
      const error = new Error(`a batch of ${batch.length} gave ${results.length} results`);
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }
}
