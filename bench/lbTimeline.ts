/**
 * Where lb_map_skewed's time goes beyond the tasks themselves: each task reports its engine's pid
 * and when it started and ended (wall clock), and per map this prints, per engine, the *overrun*
 * (a spin that ended later than its duration: the engine was descheduled at its end) and the
 * *gaps* between one task's end and the next one's start (the engine replying and starting the next):
 *   node --import tsx bench/lbTimeline.ts [--maps 3] [--engines 4]
 * The controller runs with its default --hwm.
 */
import { parseArgs } from 'node:util';
import { lowerBound, skewedDurations } from './lbScenarios.ts';
import { withCluster } from './scenarios.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { maps: { type: 'string', default: '3' }, engines: { type: 'string', default: '4' } } });
const d = skewedDurations();
const fn = '(ms) => { const t0 = performance.timeOrigin + performance.now(); const end = performance.now() + ms; while (performance.now() < end); return [process.pid, t0, performance.timeOrigin + performance.now()]; }';
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const engines = Number(values.engines);
await withCluster(engines, 'node', async (_cluster, rc) => {
  const lview = rc.loadBalancedView();
  for (let rep = 0; rep < Number(values.maps); rep++) {
    const t = performance.timeOrigin + performance.now();
    const r = (await lview.mapSync(fn, d, { chunksize: 1 })) as [number, number, number][];
    const done = performance.timeOrigin + performance.now();
    const byEngine = new Map<number, { start: number; end: number; ms: number }[]>();
    r.forEach(([pid, start, end], i) => {
      if (!byEngine.has(pid)) byEngine.set(pid, []);
      byEngine.get(pid)!.push({ start, end, ms: d[i] });
    });
    const perEngine = [...byEngine.values()].map((tasks) => {
      tasks.sort((a, b) => a.start - b.start);
      const gaps = tasks.slice(1).map((x, i) => x.start - tasks[i].end);
      return { tasks: tasks.length, overrun: sum(tasks.map((x) => x.end - x.start - x.ms)), gaps: sum(gaps), medianGap: median(gaps) };
    });
    const firstStart = Math.min(...r.map((x) => x[1])) - t;
    const ms = (x: number) => x.toFixed(0);
    console.log(
      `makespan ${((done - t) / 1000).toFixed(3)} s (${((done - t) / 1000 / lowerBound(d, engines)).toFixed(2)}× the bound); first task started after ${ms(firstStart)} ms; ` +
        `per engine: tasks ${perEngine.map((e) => e.tasks).join(', ')}; overrun ${perEngine.map((e) => ms(e.overrun)).join(', ')} ms; ` +
        `gaps ${perEngine.map((e) => ms(e.gaps)).join(', ')} ms (median ${perEngine.map((e) => e.medianGap.toFixed(2)).join(', ')} ms)`,
    );
  }
});
