/**
 * A single scenario on a small local cluster, for profiling (not part of `npm run bench`):
 *   node --import tsx bench/profile.ts rtt|async|lb|push|pull|execute [--kind node|python] [--n 1] [--reps N]
 * [--db sqlite|memory|none]
 * (lb: load-balanced applyAsync bursts of 2,000, as lb_async_throughput; use --n 4, and --hwm N for the controller's)
 * Start it with NODE_OPTIONS="--import=$PWD/bench/cpuprof-hook.mjs" CPUPROF_DIR=DIR to profile the
 * client, controller and node engines at once (the cluster inherits the environment; Node 20
 * refuses --cpu-prof in NODE_OPTIONS), or attach perf/strace by pid (they are printed first). PROF_KEEP=1 keeps the cluster's folder (its logs) and prints where.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, type AsyncResult, type KernelKind } from 'multiengine';
import { cpuSeconds } from '../core/util/processes.ts';
import { hwmSpawner } from './lbScenarios.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { kind: { type: 'string', default: 'node' }, n: { type: 'string', default: '1' }, reps: { type: 'string', default: '2000' }, mb: { type: 'string', default: '128' }, hwm: { type: 'string' }, db: { type: 'string', default: 'sqlite' } },
});
const kind = values.kind as KernelKind;
const scenario = positionals[0] ?? 'rtt';
const reps = Number(values.reps);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-prof-'));
const cluster = await Cluster.start({ n: Number(values.n), engine: kind, dir, profile: 'prof', spawner: hwmSpawner(values.hwm === undefined ? undefined : Number(values.hwm)), db: values.db as 'sqlite' | 'memory' | 'none' });
const rc = await cluster.connect();
console.error(JSON.stringify({ client: process.pid, controller: cluster.controllerPid, engines: rc.engines.map((e) => e.pid) }));
const noop = kind === 'node' ? '() => null' : 'lambda: None';
const ident = kind === 'node' ? '(x) => x' : 'lambda x: x';
const one = rc.view(0);
// The steady state: direct connections open, the JIT warm (bench/scenarios.ts does the same).
for (let i = 0; i < 500; i++) await one.applySync(noop);
if (process.env.PROF_PAUSE) await new Promise((r) => setTimeout(r, Number(process.env.PROF_PAUSE)));
const pids = { client: process.pid, controller: cluster.controllerPid, ...Object.fromEntries(rc.engines.map((e) => [`engine${e.id}`, e.pid])) };
const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
function switches(pid: number): number {
  let n = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    const st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
    for (const m of st.matchAll(/_ctxt_switches:\s+(\d+)/g)) n += Number(m[1]);
  }
  return n;
}
/**
 * CPU seconds of each thread of `pid`, grouped: `main` (the event loop: tid = pid), `db` (the
 * task database's worker: the only thread at nice 19, sqliteWorker.ts) and `helpers` (V8's GC and
 * compiler threads, libuv's pool). A thread that ended between two readings is not counted.
 */
function threadCpu(pid: number): Map<number, { group: string; s: number }> {
  const out = new Map<number, { group: string; s: number }>();
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    let st: string;
    try {
      st = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    const tid = Number(t);
    const group = tid === pid ? 'main' : Number(f[16]) > 0 ? 'db' : 'helpers';
    out.set(tid, { group, s: runSeconds(pid, t) ?? (Number(f[11]) + Number(f[12])) / 100 });
  }
  return out;
}
/**
 * A thread's time on a CPU from the scheduler's own count (schedstat, in ns), where the kernel
 * keeps it: stat's user and system times are in ticks of 10 ms, too coarse for a few µs per
 * request over a short run. undefined when there is no schedstat (the caller uses stat).
 */
function runSeconds(pid: number, tid: string): number | undefined {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return undefined;
  }
}
/** Voluntary context switches (the thread slept, then woke) of each group of `pid`'s threads, as threadCpu groups them. */
function groupWakeups(pid: number, groups: Map<number, { group: string }>): Record<string, number> {
  const by: Record<string, number> = {};
  for (const [tid, { group }] of groups) {
    try {
      const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      by[group] = (by[group] ?? 0) + Number(m?.[1] ?? 0);
    } catch {
      /* the thread ended */
    }
  }
  return by;
}
function threadDelta(pid: number, before: Map<number, { group: string; s: number }>): Record<string, number> {
  const by: Record<string, number> = {};
  for (const [tid, { group, s }] of threadCpu(pid)) by[group] = (by[group] ?? 0) + s - (before.get(tid)?.s ?? 0);
  return by;
}
const th0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, threadCpu(pid)]));
const sw0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, switches(pid)]));
const sys0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid, 'sys')]));
const wk0 = groupWakeups(cluster.controllerPid, th0.controller);
const t0 = process.hrtime.bigint();
let units = 0;
if (scenario === 'rtt') {
  for (let i = 0; i < reps; i++) await one.applySync(noop);
  units = reps;
} else if (scenario === 'async') {
  for (let r = 0; r < reps / 2000; r++) {
    const ars: AsyncResult<unknown>[] = [];
    for (let i = 0; i < 2000; i++) ars.push(one.applyAsync(ident, i) as AsyncResult<unknown>);
    await rc.wait(ars);
  }
  units = reps;
} else if (scenario === 'lb') {
  const lview = rc.loadBalancedView();
  for (let r = 0; r < reps / 2000; r++) {
    const ars: AsyncResult<unknown>[] = [];
    for (let i = 0; i < 2000; i++) ars.push(lview.applyAsync(ident, i) as AsyncResult<unknown>);
    await rc.wait(ars);
  }
  units = reps;
} else if (scenario === 'map') {
  const items = Array.from({ length: 10_000 }, (_, i) => i);
  const fn = kind === 'node' ? '(x) => x * x' : 'lambda x: x*x';
  for (let i = 0; i < reps; i++) await rc.view().mapSync(fn, items);
  units = reps;
} else if (scenario === 'execute') {
  for (let i = 0; i < reps; i++) await rc.view().execute('a=1', { block: true });
  units = reps;
} else if (scenario === 'push' || scenario === 'pull') {
  const arr = new Float64Array((Number(values.mb) * 2 ** 20) / 8).fill(1.5);
  await one.push({ a: arr }, { block: true });
  for (let i = 0; i < reps; i++) {
    if (scenario === 'push') await one.push({ a: arr }, { block: true });
    else await one.pull('a', { block: true });
  }
  units = reps * arr.byteLength;
}
const s = Number(process.hrtime.bigint() - t0) / 1e9;
// How often the controller's threads woke per second (the database's worker: how often it was handed writes).
const wk1 = groupWakeups(cluster.controllerPid, th0.controller);
const controllerWakeups = Object.fromEntries(Object.keys(wk1).map((g) => [g, Math.round((wk1[g] - (wk0[g] ?? 0)) / s)]));
console.error(`controller wake-ups per second by thread group: ${JSON.stringify(controllerWakeups)}`);
const perOp = scenario === 'push' || scenario === 'pull' ? reps : units;
console.error(
  'CPU per op: ' +
    Object.entries(pids)
      .map(([k, pid]) => `${k} ${(((cpuSeconds(pid) - cpu0[k]) / perOp) * 1e6).toFixed(0)} us (sys ${(((cpuSeconds(pid, 'sys') - sys0[k]) / perOp) * 1e6).toFixed(0)}, ${((switches(pid) - sw0[k]) / perOp).toFixed(1)} switches)`)
      .join(', '),
);
const threads = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, Object.fromEntries(Object.entries(threadDelta(pid, th0[k])).map(([g, v]) => [g, Math.round((v / perOp) * 1e7) / 10]))]));
console.error(`CPU per op by thread (us): ${JSON.stringify(threads)}`);
if (process.env.PROF_JSON) fs.appendFileSync(process.env.PROF_JSON, JSON.stringify({ scenario, kind, db: values.db, reps, perOpUs: (s / units) * 1e6, threads, controllerWakeups, at: new Date().toISOString(), load: os.loadavg()[0] }) + '\n');
console.error(scenario === 'push' || scenario === 'pull' ? `${((units / 1e6) / s).toFixed(0)} MB/s` : `${((s / units) * 1e6).toFixed(1)} us per op, ${(units / s).toFixed(0)} /s`);
rc.close();
await cluster.stop();
if (process.env.PROF_KEEP) console.error(`kept ${dir}`);
else fs.rmSync(dir, { recursive: true, force: true });
