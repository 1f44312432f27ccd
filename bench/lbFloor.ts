/**
 * The floor of lb_map_skewed on this machine: N plain processes spin (on the clock, as the
 * scenario's tasks do) through shares of the skewed durations fixed in advance (greedy: each
 * task to the least loaded share), with no cluster, no messages and no choices at run time:
 *   node --import tsx bench/lbFloor.ts [N=4]
 * What the measured map loses beyond this is the cluster's; this much is lost to N spinners
 * sharing the cores (a spin that ends while its process waits for a core is noticed late).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lowerBound, skewedDurations } from './lbScenarios.ts';

const n = Number(process.argv[2] ?? 4);

if (process.argv[3] === 'child') {
  process.on('message', (ms: number[]) => {
    for (const d of ms) {
      const end = performance.now() + d;
      while (performance.now() < end);
    }
    process.send!('done');
  });
} else {
  const durations = skewedDurations();
  const bound = lowerBound(durations, n);
  const shares = Array.from({ length: n }, () => ({ sum: 0, ms: [] as number[] }));
  for (const d of durations) {
    const s = shares.reduce((a, b) => (b.sum < a.sum ? b : a));
    s.sum += d;
    s.ms.push(d);
  }
  const planned = Math.max(...shares.map((s) => s.sum)) / 1000 / bound;
  const kids: ChildProcess[] = shares.map(() => fork(fileURLToPath(import.meta.url), [String(n), 'child'], { execArgv: ['--import', 'tsx'] }));
  try {
    await Promise.all(kids.map((k) => new Promise((r) => k.once('spawn', r))));
    for (let rep = 0; rep < 4; rep++) {
      const t0 = performance.now();
      await Promise.all(kids.map((k, i) => new Promise((r) => { k.once('message', r); k.send(shares[i].ms); })));
      const s = (performance.now() - t0) / 1000;
      if (rep > 0) console.log(`${n} spinners: ${s.toFixed(3)} s, ${(s / bound).toFixed(2)}× the bound ${bound.toFixed(3)} s (the shares alone: ${planned.toFixed(2)}×)`);
    }
  } finally {
    for (const k of kids) k.kill();
  }
}
