import { StatementCoalescer } from './statement-coalescer';

/**
 * A statement runner whose calls stay open until released, recording what each call carried: a
 * call with one item as a single, with several as a batch.
 */
function gatedRunner() {
  const batches: number[][] = [];
  const singles: number[] = [];
  const gates: (() => void)[] = [];
  const wait = () => new Promise<void>((resolve) => gates.push(resolve));
  return {
    batches,
    singles,
    releaseAll: () => gates.splice(0).forEach((g) => g()),
    runBatch: async (items: readonly number[]) => {
      if (items.length === 1) singles.push(items[0]!);
      else batches.push([...items]);
      await wait();
      if (items.includes(13)) throw new Error(items.length === 1 ? '13 is refused' : '13 breaks the statement');
      return items.map((i) => i * 10);
    },
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Several turns: a finished statement frees its slot, and the next is sent, in a turn of its own. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await turn();
};

describe('StatementCoalescer', () => {
  it('sends what arrives in one turn as one statement, and what arrives while the slots are busy as the next', async () => {
    const r = gatedRunner();
    const c = new StatementCoalescer(r.runBatch, { maxInFlight: 1, maxBatch: 100 });
    const first = [1, 2, 3].map((i) => c.submit(i));
    await turn();
    expect(r.batches).toEqual([[1, 2, 3]]);
    const second = [4, 5].map((i) => c.submit(i));
    await turn();
    // the only slot is busy: 4 and 5 wait
    expect(r.batches).toHaveLength(1);
    expect(c.backlog).toBe(2);
    r.releaseAll();
    await expect(Promise.all(first)).resolves.toEqual([10, 20, 30]);
    await turn();
    expect(r.batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    r.releaseAll();
    await expect(Promise.all(second)).resolves.toEqual([40, 50]);
  });

  it('runs a lone item on its own, and splits a backlog into batches of at most maxBatch over the free slots', async () => {
    const r = gatedRunner();
    const c = new StatementCoalescer(r.runBatch, { maxInFlight: 2, maxBatch: 2 });
    const lone = c.submit(7);
    await turn();
    expect(r.singles).toEqual([7]);
    const more = [1, 2, 3, 4, 5].map((i) => c.submit(i));
    await turn();
    // one slot left: one batch of 2 goes, 3 items wait
    expect(r.batches).toEqual([[1, 2]]);
    for (let i = 0; i < 5; i++) {
      r.releaseAll();
      await settle();
    }
    await lone;
    await expect(Promise.all(more)).resolves.toEqual([10, 20, 30, 40, 50]);
    expect(r.batches.flat().concat(r.singles.filter((i) => i !== 7)).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(Math.max(...r.batches.map((b) => b.length))).toBeLessThanOrEqual(2);
  });

  it('runs each item of a failed batch again on its own: only the bad one fails, with its own error', async () => {
    const r = gatedRunner();
    const c = new StatementCoalescer(r.runBatch, { maxInFlight: 1, maxBatch: 10 });
    const results = [12, 13, 14].map((i) => c.submit(i).then((v) => ({ v }), (e: Error) => ({ e: e.message })));
    await turn();
    r.releaseAll(); // the batch fails
    await turn();
    await turn();
    expect(r.singles.sort()).toEqual([12, 13, 14]);
    r.releaseAll();
    await expect(Promise.all(results)).resolves.toEqual([{ v: 120 }, { e: '13 is refused' }, { v: 140 }]);
  });

  it('withdraws an item that is still waiting, never sending it; not one already sent', async () => {
    const r = gatedRunner();
    const c = new StatementCoalescer(r.runBatch, { maxInFlight: 1, maxBatch: 10 });
    const sent = c.submit(1);
    await turn();
    const waiting = c.submit(2);
    const kept = c.submit(3);
    expect(c.withdraw(2, new Error('gave up'))).toBe(true);
    expect(c.withdraw(1, new Error('too late'))).toBe(false);
    await expect(waiting).rejects.toThrow('gave up');
    r.releaseAll();
    await expect(sent).resolves.toBe(10);
    await settle();
    r.releaseAll();
    await expect(kept).resolves.toBe(30);
    expect([...r.singles, ...r.batches.flat()]).not.toContain(2);
  });

  it('refuses settings that could never send anything', () => {
    const r = gatedRunner();
    expect(() => new StatementCoalescer(r.runBatch, { maxInFlight: 0, maxBatch: 1 })).toThrow(RangeError);
    expect(() => new StatementCoalescer(r.runBatch, { maxInFlight: 1, maxBatch: 0.5 })).toThrow(RangeError);
  });
});
