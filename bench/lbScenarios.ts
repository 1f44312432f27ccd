/**
 * The load-balanced scenarios (issue 14; definitions in ../shared/bench/anchors/README.md,
 * "Load-balanced tasks"), run on a local cluster of 4 engines whose controller has a given
 * --hwm. ipp_driver.py and dask_driver.py run the same ones with the same task durations.
 */
import os from 'node:os';
import { NodeSpawner, type AsyncResult, type ProcessSpawner } from 'multiengine';
import { withCluster, type BenchKind, type BenchOptions } from './scenarios.ts';
import { figure, timed } from './stats.ts';

/** Tasks of lb_async_throughput (the anchors' count; quick runs fewer). */
const ASYNC_TASKS = 10_000;
const SKEWED_TASKS = 400;
const SKEW_SEED = 7;

/**
 * The skewed tasks' durations in ms, drawn once: min(60, 1 + Pareto(alpha 1.2)) from a fixed
 * seed (mulberry32), as the anchors drew theirs; every contender gets this list.
 */
export function skewedDurations(count = SKEWED_TASKS, seed = SKEW_SEED): number[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => Math.min(60, 1 + (1 - rand()) ** (-1 / 1.2)));
}

/** The best makespan any schedule on `engines` can have: max(total / engines, longest), in s. */
export function lowerBound(durationsMs: readonly number[], engines = 4): number {
  const total = durationsMs.reduce((a, b) => a + b, 0);
  return Math.max(total / engines, Math.max(...durationsMs)) / 1000;
}

/** Busy work for `ms` of wall time (spinning on the clock, so engines sharing a core still take it): returns ms. */
export const SPIN = {
  node: '(ms) => { const end = performance.now() + ms; while (performance.now() < end); return ms; }',
  python: "lambda ms, t=__import__('time'): (lambda end: next(ms for x in iter(t.perf_counter, None) if x >= end))(t.perf_counter() + ms / 1000)",
} as const;

/** Starts the controller with `--hwm` (the Cluster has no option for it; the spawner adds the flag). */
export function hwmSpawner(hwm: number | undefined): ProcessSpawner | undefined {
  if (hwm === undefined) return undefined;
  const inner = new NodeSpawner();
  return { start: (spec) => inner.start(spec.entry === 'core/controller/main' ? { ...spec, args: [...spec.args, '--hwm', String(hwm)] } : spec) };
}

/**
 * lb_async_throughput and lb_map_skewed (lview.mapSync, chunksize 1) on 4 engines with the
 * controller's --hwm (undefined: its default); `suffix` tells the figures of an hwm sweep apart.
 * With `direct`, also the DirectView's static map of the same skewed list (direct_map_skewed).
 */
export async function lbScenarios(kind: BenchKind, o: BenchOptions, opts: { hwm?: number; suffix?: string; direct?: boolean } = {}): Promise<void> {
  const sfx = opts.suffix ?? '';
  const durations = skewedDurations();
  const bound = lowerBound(durations);
  await withCluster(4, kind, async (_cluster, rc) => {
    const lview = rc.loadBalancedView();
    const count = o.quick ? 2000 : ASYNC_TASKS;
    const identity = kind === 'python' ? 'lambda x: x' : '(x) => x';
    const burst = async () => {
      const ars: AsyncResult<unknown>[] = [];
      for (let i = 0; i < count; i++) ars.push(lview.applyAsync(identity, i) as AsyncResult<unknown>);
      await rc.wait(ars);
      for (const i of [0, count >> 1, count - 1]) if ((await ars[i]) !== i) throw new Error(`lb_async_throughput: task ${i} answered ${String(await ars[i])}`);
    };
    o.emit(figure(`lb_async_throughput${sfx}`, kind, 4, 'tasks/s', (await timed(burst, o.quick ? 1 : 3, 1)).map((s) => count / s)));

    const check = (got: unknown[]) => {
      if (got.length !== durations.length || got.some((v, i) => v !== durations[i])) throw new Error('lb_map_skewed: the results are not the durations in input order');
    };
    const skewed = async () => check(await lview.mapSync(SPIN[kind], durations, { chunksize: 1 }));
    emitMakespan(o, `lb_map_skewed${sfx}`, kind, await timed(skewed, o.quick ? 1 : 3, 1), bound);
    if (opts.direct) {
      const all = rc.view();
      const direct = async () => check(await all.mapSync(SPIN[kind], durations));
      emitMakespan(o, `direct_map_skewed${sfx}`, kind, await timed(direct, o.quick ? 1 : 3, 1), bound);
    }
  }, hwmSpawner(opts.hwm));
}

/**
 * lb_map_skewed_per_core: the same skewed map on one engine per core (2 here), against that
 * cluster's own bound max(total / engines, longest). With 4 clock-spinning engines on 2 cores a
 * spin that ends while its engine is descheduled is noticed late; with one engine per core what
 * is left over the bound is the scheduler's, the client's and the engines' own time per task.
 */
export async function skewedPerCore(kind: BenchKind, o: BenchOptions): Promise<void> {
  const durations = skewedDurations();
  const n = os.availableParallelism();
  const bound = lowerBound(durations, n);
  await withCluster(n, kind, async (_cluster, rc) => {
    const lview = rc.loadBalancedView();
    const skewed = async () => {
      const got = await lview.mapSync(SPIN[kind], durations, { chunksize: 1 });
      if (got.length !== durations.length || got.some((v, i) => v !== durations[i])) throw new Error('lb_map_skewed_per_core: the results are not the durations in input order');
    };
    emitMakespan(o, 'lb_map_skewed_per_core', kind, await timed(skewed, o.quick ? 1 : 3, 1), bound, n);
  });
}

/** A makespan figure with its lower bound and the median's ratio to it (the drivers add the same fields). */
function emitMakespan(o: BenchOptions, name: string, kind: BenchKind, samples: number[], bound: number, engines = 4): void {
  const f = figure(name, kind, engines, 's', samples);
  o.emit({ ...f, lower_bound: bound, ratio_to_bound: f.median / bound });
}
