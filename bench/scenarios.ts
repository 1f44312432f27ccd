/**
 * The benchmark scenarios, with the same definitions as the ipyparallel anchors
 * (../shared/bench/anchors/README.md), run on a local cluster of one engine kind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompositeError, Cluster, type AsyncResult, type Client, type DirectView, type ProcessSpawner } from 'multiengine';
import { rssKB, ussKB } from '../core/util/processes.ts';
import { figure, higherIsBetter, median, noWorse, pairedRatio, timed, type Figure } from './stats.ts';
import type { DbBackend } from '../core/controller/options.ts';

export interface BenchOptions {
  quick: boolean;
  emit(f: Figure): void;
}

/** Code per engine language for the few scenarios that ship code. */
export const CODE = {
  node: { noop: '() => null', identity: '(x) => x', square: '(x) => x * x', fail: 'undefined_name_for_error' },
  python: { noop: 'lambda: None', identity: 'lambda x: x', square: 'lambda x: x*x', fail: '1/0' },
} as const;

/** The engine languages the benchmarks measure (the scenarios ship code for each). */
export type BenchKind = keyof typeof CODE;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-bench-'));
}

/** A fresh local cluster of `n` engines (its controller started by `spawner`, when given) for `fn`; stopped after. */
export async function withCluster<T>(n: number, engine: BenchKind, fn: (cluster: Cluster, rc: Client) => Promise<T>, spawner?: ProcessSpawner, db?: DbBackend): Promise<T> {
  const dir = tmpDir();
  const cluster = await Cluster.start({ n, engine, dir, profile: 'bench', spawner, db });
  const rc = await cluster.connect();
  try {
    return await fn(cluster, rc);
  } finally {
    rc.close();
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const rssMB = (pid: number) => rssKB(pid) / 1024;

export const us = (xs: number[]) => xs.map((s) => s * 1e6);

export async function clusterStart(kind: BenchKind, o: BenchOptions): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < (o.quick ? 1 : 3); i++) {
    const dir = tmpDir();
    const t = process.hrtime.bigint();
    const cluster = await Cluster.start({ n: 4, engine: kind, dir, profile: 'bench' });
    const rc = await cluster.connect();
    await rc.view().applySync(CODE[kind].noop);
    samples.push(Number(process.hrtime.bigint() - t) / 1e9);
    rc.close();
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  o.emit(figure('cluster_start', kind, 4, 's', samples));
}

/**
 * Timed and untimed (warm-up) round trips: the figure is the steady state, since the first ~1,000
 * calls of a new client and cluster run before V8 has optimized the hot paths (node's client and
 * engines); ipp_driver.py warms up the same way.
 */
function rttCounts(o: BenchOptions): { reps: number; warm: number } {
  return { reps: o.quick ? 200 : 1000, warm: o.quick ? 200 : 1500 };
}

/** `apply` round trips of a no-op on one engine, in µs, after the warm-up. */
export async function applyRoundTrips(one: DirectView<true>, kind: BenchKind, o: BenchOptions): Promise<number[]> {
  const { reps, warm } = rttCounts(o);
  return us(await timed(() => one.applySync(CODE[kind].noop), reps, warm));
}

/** Push and pull of a 128 MiB (quick: 16 MiB) float64 array to one engine, in MB/s, after one checked round trip. */
export async function pushPullRates(one: DirectView<true>, o: BenchOptions): Promise<{ push: number[]; pull: number[] }> {
  const bytes = (o.quick ? 16 : 128) * 2 ** 20;
  const arr = new Float64Array(bytes / 8).map(() => Math.random());
  await one.push({ a: arr }, { block: true });
  const back = (await one.pull('a', { block: true })) as Float64Array | { data: Float64Array };
  const backData = back instanceof Float64Array ? back : back.data;
  if (backData.length !== arr.length || backData[12345] !== arr[12345]) throw new Error('push/pull round trip changed the array');
  const pushes = await timed(() => one.push({ a: arr }, { block: true }), o.quick ? 2 : 5);
  const pulls = await timed(() => one.pull('a', { block: true }), o.quick ? 2 : 5);
  return { push: pushes.map((s) => bytes / 1e6 / s), pull: pulls.map((s) => bytes / 1e6 / s) };
}

/** 2,000 `applyAsync` of the identity on one engine, then wait for all (checked): tasks/s. */
async function asyncThroughput(rc: Client, one: DirectView<true>, kind: BenchKind, o: BenchOptions): Promise<Figure> {
  return figure('async_throughput', kind, 4, 'tasks/s', await asyncRates(rc, one, kind, o));
}

/** `bursts` bursts of 2,000 applyAsync calls to one engine, after one untimed, in tasks/s. */
async function asyncRates(rc: Client, one: DirectView<true>, kind: BenchKind, o: BenchOptions, bursts = o.quick ? 1 : 3): Promise<number[]> {
  const count = 2000;
  const burst = async () => {
    const ars: AsyncResult<unknown>[] = [];
    for (let i = 0; i < count; i++) ars.push(one.applyAsync(CODE[kind].identity, i) as AsyncResult<unknown>);
    await rc.wait(ars);
    if ((await ars[1999]) !== 1999) throw new Error('async results out of order');
  };
  return (await timed(burst, bursts, 1)).map((s) => count / s);
}

/** Task-database settings the direct scenarios compare; figures of any but sqlite end in _db<setting>. */
export type DirectDb = 'sqlite' | 'memory' | 'none';

/**
 * Only the direct path's 1-engine round trip and async throughput, as mainScenarios measures them
 * (A/B runs), with the task database on (sqlite, the default: engines report their direct
 * requests) and off (--db none, figures *_dbnone: no reports), or the settings in `dbs` (memory:
 * figures *_dbmemory). `pairs` rounds, each running every setting once on a fresh cluster, in
 * alternating order; each setting's figure (all samples) carries, against --db none, the median
 * of the rounds' on/off ratios with a bootstrap 95 % interval, and a line says whether it is no worse.
 * `bursts` async bursts per round (after one untimed); the throughput figures keep each round's
 * samples in order (`rounds`), to show warm-up and what lands in which burst.
 */
export async function directScenarios(kind: BenchKind, o: BenchOptions, dbs: readonly DirectDb[] = ['sqlite', 'none'], pairs = o.quick ? 2 : 8, bursts = o.quick ? 1 : 3): Promise<void> {
  const blank = () => ({ all: [] as number[], rounds: [] as number[], samples: [] as number[][] });
  const rtt = new Map(dbs.map((db) => [db, blank()]));
  const rate = new Map(dbs.map((db) => [db, blank()]));
  const keep = (into: { all: number[]; rounds: number[]; samples: number[][] }, xs: number[]) => {
    into.all.push(...xs);
    into.samples.push(xs);
    into.rounds.push(median(xs));
  };
  const load: [number, number] = [os.loadavg()[0], 0];
  for (let r = 0; r < pairs; r++) {
    for (const db of r % 2 === 0 ? dbs : [...dbs].reverse()) {
      await withCluster(4, kind, async (_cluster, rc) => {
        const one = rc.view(0);
        keep(rtt.get(db)!, await applyRoundTrips(one, kind, o));
        keep(rate.get(db)!, await asyncRates(rc, one, kind, o, bursts));
      }, undefined, db);
    }
  }
  load[1] = os.loadavg()[0];
  for (const db of dbs) {
    const sfx = db === 'sqlite' ? '' : `_db${db}`;
    for (const [name, unit, runs] of [[`apply_rtt_1${sfx}`, 'us', rtt], [`async_throughput${sfx}`, 'tasks/s', rate]] as const) {
      const f: Figure = { ...figure(name, kind, 4, unit, runs.get(db)!.all), load, rounds: unit === 'us' ? undefined : runs.get(db)!.samples };
      const off = runs.get('none');
      if (db !== 'none' && off !== undefined) {
        f.paired = { vs: 'none', ...pairedRatio(runs.get(db)!.rounds, off.rounds) };
        const p = f.paired;
        console.log(`${kind} ${name}: ${db} / none ${f.median.toFixed(1)} / ${median(off.all).toFixed(1)} ${unit}; median ratio of ${p.pairs} pairs ${p.ratio.toFixed(3)}, 95 % interval ${p.low.toFixed(3)}–${p.high.toFixed(3)}: ${noWorse(p, higherIsBetter(unit)) ? 'no worse' : 'WORSE'} (load ${load[0].toFixed(1)} → ${load[1].toFixed(1)})`);
      }
      o.emit(f);
    }
  }
}

export async function mainScenarios(kind: BenchKind, o: BenchOptions): Promise<void> {
  const c = CODE[kind];
  await withCluster(4, kind, async (cluster, rc) => {
    // Idle memory first, before any traffic, as the anchors measured it.
    await rc.view().applySync(c.noop);
    await new Promise((r) => setTimeout(r, o.quick ? 500 : 2000));
    o.emit(figure('idle_engine_rss', kind, 4, 'MB', rc.engines.map((e) => rssMB(e.pid))));
    // RSS counts the pages engines share (the interpreter's binary and libraries) in each; USS does not.
    o.emit(figure('idle_engine_uss', kind, 4, 'MB', rc.engines.map((e) => ussKB(e.pid) / 1024)));
    o.emit(figure('controller_rss', kind, 4, 'MB', [rssMB(cluster.controllerPid)]));
    o.emit(figure('cluster_processes', kind, 4, 'count', [1 + rc.engines.length]));

    const one = rc.view(0);
    const all = rc.view();
    const { reps, warm } = rttCounts(o);
    o.emit(figure('apply_rtt_1', kind, 4, 'us', await applyRoundTrips(one, kind, o)));
    o.emit(figure('apply_rtt_all', kind, 4, 'us', us(await timed(() => all.applySync(c.noop), reps / 2, warm / 2))));
    o.emit(figure('execute_all', kind, 4, 'us', us(await timed(() => all.execute('a=1', { block: true }), reps / 2, warm / 2))));

    o.emit(await asyncThroughput(rc, one, kind, o));

    const { push, pull } = await pushPullRates(one, o);
    o.emit(figure('push_128MiB', kind, 4, 'MB/s', push));
    o.emit(figure('pull_128MiB', kind, 4, 'MB/s', pull));
    await all.execute(kind === 'python' ? 'del a' : 'a = null', { block: true });

    const big = Float64Array.from({ length: o.quick ? 2 ** 20 : 8 * 2 ** 20 }, (_, i) => i);
    const sg = async () => {
      await all.scatter('x', big, { block: true });
      await all.gather('x', { block: true });
    };
    o.emit(figure('scatter_gather', kind, 4, 's', await timed(sg, o.quick ? 2 : 5, 1)));

    const composite = async () => {
      try {
        await all.execute(c.fail, { block: true });
      } catch (e) {
        if (e instanceof CompositeError) return;
        throw e;
      }
      throw new Error('expected a CompositeError');
    };
    o.emit(figure('composite_error', kind, 4, 'us', us(await timed(composite, o.quick ? 20 : 100, 5))));

    const items = Array.from({ length: 10_000 }, (_, i) => i);
    // Three untimed calls first, here and in ipp_driver.py: the first calls of a new cluster are JIT warm-up.
    o.emit(figure('map_10000', kind, 4, 's', await timed(() => all.mapSync(c.square, items), o.quick ? 2 : 5, 3)));
  });
}

/** Controller overhead as the cluster grows: the 1-engine round trip and execute on all. */
export async function overhead(kind: BenchKind, sizes: number[], o: BenchOptions): Promise<void> {
  const c = CODE[kind];
  for (const n of sizes) {
    await withCluster(n, kind, async (_cluster, rc) => {
      o.emit(figure('overhead_apply_rtt_1', kind, n, 'us', us(await timed(() => rc.view(0).applySync(c.noop), o.quick ? 100 : 500, o.quick ? 100 : 300))));
      o.emit(figure('overhead_execute_all', kind, n, 'us', us(await timed(() => rc.view().execute('a=1', { block: true }), o.quick ? 30 : 200, 10))));
    });
  }
}
