/**
 * The makespan of lb_map_skewed's durations with no overhead at all, as a multiple of the lower
 * bound: for the static map (4 contiguous quarters) and for the scheduler's leastload choices
 * at each hwm (a task goes to the engine with the shortest queue among those with room):
 *   node --import tsx bench/lbSimulate.ts
 * What the measured figure loses beyond these is overhead, not the choice of engines.
 */
import { lowerBound, skewedDurations } from './lbScenarios.ts';

const ENGINES = 4;

function staticMakespan(d: readonly number[]): number {
  let worst = 0;
  for (let i = 0; i < ENGINES; i++) {
    const part = d.slice(Math.floor((i * d.length) / ENGINES), Math.floor(((i + 1) * d.length) / ENGINES));
    worst = Math.max(worst, part.reduce((a, b) => a + b, 0));
  }
  return worst / 1000;
}

/** Event by event: each engine runs its queue in order; a finished task frees room for the next queued one. */
function leastloadMakespan(d: readonly number[], hwm: number): number {
  const cap = hwm === 0 ? Infinity : hwm;
  const waiting = [...d.keys()];
  const queues: number[][] = Array.from({ length: ENGINES }, () => []);
  const ends = new Array<number>(ENGINES).fill(Infinity);
  let now = 0;
  const pump = () => {
    while (waiting.length > 0) {
      let best = -1;
      for (let e = 0; e < ENGINES; e++) if (queues[e].length < cap && (best < 0 || queues[e].length < queues[best].length)) best = e;
      if (best < 0) return;
      queues[best].push(waiting.shift()!);
      if (ends[best] === Infinity) ends[best] = now + d[queues[best][0]];
    }
  };
  pump();
  for (;;) {
    let e = -1;
    for (let i = 0; i < ENGINES; i++) if (ends[i] !== Infinity && (e < 0 || ends[i] < ends[e])) e = i;
    if (e < 0) return now / 1000;
    now = ends[e];
    queues[e].shift();
    ends[e] = queues[e].length > 0 ? now + d[queues[e][0]] : Infinity;
    pump();
  }
}

const d = skewedDurations();
const bound = lowerBound(d, ENGINES);
console.log(`${d.length} tasks, total ${(d.reduce((a, b) => a + b, 0) / 1000).toFixed(3)} s, longest ${Math.max(...d).toFixed(1)} ms, bound ${bound.toFixed(3)} s`);
console.log(`static quarters: ${(staticMakespan(d) / bound).toFixed(3)}× the bound`);
for (const hwm of [1, 2, 4, 8, 0]) console.log(`leastload, hwm ${hwm}: ${(leastloadMakespan(d, hwm) / bound).toFixed(3)}× the bound`);
