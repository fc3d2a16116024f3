// The /proc readings the benchmarks attribute CPU with: a process's, its main thread's, and its
// main thread's wait for a CPU.
import { Worker } from 'node:worker_threads';
import { mainThreadCpuSeconds, mainThreadMeter, mainThreadRunQueueSeconds, processCpuSeconds } from './process-group';

// Spins until this thread has used `seconds` of CPU (by its own /proc entry), however busy the
// machine is; a worker runs the same code as text.
const SPIN = `(seconds) => {
  const fs = require('node:fs');
  const used = () => { const s = fs.readFileSync('/proc/thread-self/stat', 'latin1'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
  const start = used();
  while (used() - start < seconds) for (let i = 0; i < 1e5; i++);
}`;
// the same text runs in the worker below
const spin = new Function('require', `return ${SPIN}`)(require) as (seconds: number) => void;

it('counts main-thread work in both the process and the main thread', () => {
  const [proc, main] = [processCpuSeconds(process.pid), mainThreadCpuSeconds(process.pid)];
  spin(0.3);
  expect(processCpuSeconds(process.pid) - proc).toBeGreaterThanOrEqual(0.29);
  expect(mainThreadCpuSeconds(process.pid) - main).toBeGreaterThanOrEqual(0.29);
});

it('counts another thread in the process only', async () => {
  const [proc, main] = [processCpuSeconds(process.pid), mainThreadCpuSeconds(process.pid)];
  const worker = new Worker(`(${SPIN})(0.4)`, { eval: true });
  await new Promise((resolve) => worker.once('exit', resolve));
  expect(processCpuSeconds(process.pid) - proc).toBeGreaterThanOrEqual(0.39);
  // the main thread only started the worker and waited for its exit
  expect(mainThreadCpuSeconds(process.pid) - main).toBeLessThan(0.2);
});

it('reads a run-queue wait that never goes back, and 0 for a process that is gone', () => {
  const before = mainThreadRunQueueSeconds(process.pid);
  spin(0.05);
  expect(mainThreadRunQueueSeconds(process.pid)).toBeGreaterThanOrEqual(before);
  expect(processCpuSeconds(2 ** 22 + 1)).toBe(0);
  expect(mainThreadCpuSeconds(2 ** 22 + 1)).toBe(0);
  expect(mainThreadRunQueueSeconds(2 ** 22 + 1)).toBe(0);
});

it('meters the main thread from the moment the meter starts', () => {
  const meter = mainThreadMeter(process.pid);
  spin(0.2);
  const used = meter();
  expect(used.cpuSeconds).toBeGreaterThanOrEqual(0.19);
  expect(used.runQueueSeconds).toBeGreaterThanOrEqual(0);
});
