/**
 * `npm run bench -- --scale` (issue 18): one controller process with up to 1,000 simulated
 * engines (test/harness/simEngines.ts, played by bench/scale/simProcess.ts in a process of its
 * own), and 256 real Python engines. Figures are named scale_*; bench/scale/scaleReport.ts prints
 * them against the targets.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Cluster, type AsyncResult, type Client } from 'multiengine';
import { cpuSeconds, isAlive, parentPid, rssKB, ussKB } from '../../core/util/processes.ts';
import { until } from '../../test/harness/poll.ts';
import type { BenchOptions } from '../scenarios.ts';
import { figure, timed } from '../stats.ts';

/** Cluster sizes of the per-engine execute curve. */
export const SCALE_SIZES = [4, 16, 64, 256, 1000] as const;
const SIM_PROCESS = path.join(path.dirname(new URL(import.meta.url).pathname), 'simProcess.ts');

/** The simulated engines' process: add and kill engines, one command at a time. */
class SimProcess {
  private readonly lines: AsyncIterator<string>;

  constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  get pid(): number {
    return this.child.pid!;
  }

  static start(engineFile: string): SimProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', SIM_PROCESS, engineFile], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new SimProcess(child);
  }

  private async command(cmd: object): Promise<{ event: string; ids: number[]; ms: number; message?: string }> {
    this.child.stdin.write(JSON.stringify(cmd) + '\n');
    const line = await this.lines.next();
    if (line.done) throw new Error(`the simulated engines' process ended (exit code ${this.child.exitCode})`);
    const answer = JSON.parse(line.value) as { event: string; ids: number[]; ms: number; message?: string };
    if (answer.event === 'error') throw new Error(`simulated engines: ${answer.message}`);
    return answer;
  }

  add(n: number): Promise<{ ids: number[]; ms: number }> {
    return this.command({ cmd: 'add', n });
  }

  /** Closes stdin (the process closes its engines and exits) and waits for it. */
  async stop(): Promise<void> {
    const exited = new Promise((r) => (this.child.exitCode !== null ? r(null) : this.child.once('exit', r)));
    this.child.stdin.end();
    await exited;
  }
}

/** A controller with no engines of its own, its client, and a simulated-engines process. */
async function withSimCluster(fn: (cluster: Cluster, rc: Client, sims: SimProcess) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-scale-'));
  const cluster = await Cluster.start({ n: 0, dir, profile: 'scale' });
  const rc = await cluster.connect();
  const sims = SimProcess.start(cluster.engineConnectionFile);
  try {
    await fn(cluster, rc, sims);
  } finally {
    rc.close();
    await sims.stop();
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until the client lists `n` engines (it learns of registrations by engine events). */
async function untilEngines(rc: Client, n: number): Promise<void> {
  await until(() => rc.ids.length >= n, 60_000, `the client to list ${n} engines`);
}

/** execute on all engines, checking that every one answered. */
async function executeAll(rc: Client, n: number): Promise<void> {
  const r = await rc.view().execute('a=1');
  if (r.length !== n) throw new Error(`execute on all: ${r.length} answers from ${n} engines`);
}

/** The three busy processes of a scenario: the controller, the simulated engines, and this one (the client). */
interface Pids {
  controller: number;
  sim: number;
}

/** CPU seconds each process spends in `fn`. */
async function cpuShares(pids: Pids, fn: () => Promise<void>): Promise<{ controller: number; sim: number; client: number }> {
  const before = [cpuSeconds(pids.controller), cpuSeconds(pids.sim), cpuSeconds(process.pid)];
  await fn();
  return { controller: cpuSeconds(pids.controller) - before[0], sim: cpuSeconds(pids.sim) - before[1], client: cpuSeconds(process.pid) - before[2] };
}

/**
 * Per-engine cost of execute on all (µs: total ÷ n) after a warm-up; and each process's CPU
 * time per engine reached: the controller's is what the bench is about, the simulated engines'
 * shows whether the one process playing them all was the bottleneck.
 */
async function executeAllPerEngine(rc: Client, pids: Pids, n: number, o: BenchOptions): Promise<void> {
  const reps = Math.max(o.quick ? 5 : 15, Math.min(o.quick ? 40 : 200, Math.round(8000 / n)));
  for (let i = 0; i < Math.min(reps, 50); i++) await executeAll(rc, n);
  let totals: number[] = [];
  const cpu = await cpuShares(pids, async () => {
    totals = await timed(() => executeAll(rc, n), reps);
  });
  o.emit(figure('scale_execute_all_per_engine', 'sim', n, 'µs', totals.map((s) => (s * 1e6) / n)));
  o.emit(figure('scale_execute_all_controller_cpu', 'sim', n, 'µs per engine', [(cpu.controller * 1e6) / (reps * n)]));
  o.emit(figure('scale_execute_all_sim_cpu', 'sim', n, 'µs per engine', [(cpu.sim * 1e6) / (reps * n)]));
  o.emit(figure('scale_execute_all_client_cpu', 'sim', n, 'µs per engine', [(cpu.client * 1e6) / (reps * n)]));
}

/** The 1-engine round trip (execute on engine 0, through the controller: simulated engines offer no direct connection). */
async function roundTrip(rc: Client, n: number, o: BenchOptions): Promise<void> {
  const one = rc.view(0);
  const samples = await timed(() => one.execute('a=1'), o.quick ? 300 : 1000, o.quick ? 300 : 1500);
  o.emit(figure('scale_rtt_1', 'sim', n, 'µs', samples.map((s) => s * 1e6)));
}

/** Load-balanced throughput of trivial tasks (identity, one task per call) on every engine. */
async function lbThroughput(rc: Client, pids: Pids, n: number, o: BenchOptions): Promise<void> {
  const lview = rc.loadBalancedView();
  const count = o.quick ? 2000 : 10_000;
  const burst = async () => {
    const ars: AsyncResult<unknown>[] = [];
    for (let i = 0; i < count; i++) ars.push(lview.applyAsync('(x) => x', i) as AsyncResult<unknown>);
    await rc.wait(ars);
    for (const i of [0, count >> 1, count - 1]) if ((await ars[i]) !== i) throw new Error(`scale_lb_throughput: task ${i} answered ${String(await ars[i])}`);
  };
  const reps = o.quick ? 1 : 3;
  let times: number[] = [];
  const cpu = await cpuShares(pids, async () => {
    times = await timed(burst, reps, 1);
  });
  o.emit(figure('scale_lb_throughput', 'sim', n, 'tasks/s', times.map((s) => count / s)));
  // Per task, warm-up burst included: the controller's own cost, and its two neighbours' on the same 2 cores.
  const tasks = count * (reps + 1);
  o.emit(figure('scale_lb_controller_cpu', 'sim', n, 'µs per task', [(cpu.controller * 1e6) / tasks]));
  o.emit(figure('scale_lb_sim_cpu', 'sim', n, 'µs per task', [(cpu.sim * 1e6) / tasks]));
  o.emit(figure('scale_lb_client_cpu', 'sim', n, 'µs per task', [(cpu.client * 1e6) / tasks]));
}

/** The curve at 4 … 256, growing one controller's engines; the 4- and 64-engine points of round trip and throughput. */
export async function scaleCurve(o: BenchOptions): Promise<void> {
  await withSimCluster(async (cluster, rc, sims) => {
    let have = 0;
    for (const n of SCALE_SIZES.filter((s) => s < 1000)) {
      await sims.add(n - have);
      have = n;
      await untilEngines(rc, n);
      const pids = { controller: cluster.controllerPid, sim: sims.pid };
      await executeAllPerEngine(rc, pids, n, o);
      if (n === 4) await roundTrip(rc, n, o);
      if (n === 64) await lbThroughput(rc, pids, n, o);
    }
  });
}

/** The RSS of `pid` once it changed by under 256 KB over a second (at most 15 s). */
async function settledRss(pid: number): Promise<number> {
  let last = rssKB(pid);
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = rssKB(pid);
    if (Math.abs(now - last) < 256) return now;
    last = now;
  }
  return last;
}

/**
 * 1,000 simulated engines registering at once on a fresh controller (to all answering an
 * execute), then: its idle CPU while they beat, its memory per engine, and the 1,000 points.
 */
export async function scaleThousand(o: BenchOptions): Promise<void> {
  const n = 1000;
  await withSimCluster(async (cluster, rc, sims) => {
    const pid = cluster.controllerPid;
    // The baseline once the controller has settled (its task database's worker starts after
    // the ready line): taken at once, it counted tens of MB of start-up as the engines'.
    const rssBefore = await settledRss(pid);
    const heapBefore = (await rc.status()).memory?.heap_used ?? 0;
    const t = performance.now();
    await sims.add(n);
    await untilEngines(rc, n);
    await executeAll(rc, n);
    o.emit(figure('scale_register', 'sim', n, 's', [(performance.now() - t) / 1000]));

    const idleMs = o.quick ? 3000 : 10_000;
    // Idle means after the start-up's work has settled (its last writes, the collection after it).
    await new Promise((r) => setTimeout(r, 3000));
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, idleMs)); // the measurement window: nothing is asked of the controller
    o.emit(figure('scale_idle_cpu', 'sim', n, '% of a core', [((cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100]));
    // Memory with the engines registered and nothing else done: later work leaves per-task state
    // (task records, the scheduler's outcomes) that is not the engines' cost.
    o.emit(figure('scale_memory_per_engine', 'sim', n, 'KB (RSS)', [(rssKB(pid) - rssBefore) / n]));
    o.emit(figure('scale_heap_per_engine', 'sim', n, 'KB (heap)', [((((await rc.status()).memory?.heap_used ?? 0) - heapBefore) / 1024) / n]));

    const pids = { controller: pid, sim: sims.pid };
    await executeAllPerEngine(rc, pids, n, o);
    await roundTrip(rc, n, o);
    await lbThroughput(rc, pids, n, o);
  });
}

/** CPU time of `pid` in ms from /proc/PID/schedstat (ns): a forked engine's few ms fall between /proc/PID/stat's 10 ms ticks. */
function cpuMs(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/**
 * 256 real Python engines through the local launcher (forked from one server per interpreter,
 * core/launch/forkServer.ts): start, execute on all, stop, what they use, and that nothing is
 * left (the engines, their fork server, the controller). MULTIENGINE_PYTHON_FORK=0 starts each
 * from scratch, for an A/B run.
 */
export async function pythonEngines(o: BenchOptions, n = 256): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-scale-py-'));
  let t = performance.now();
  const cluster = await Cluster.start({ n, engine: 'python', dir, profile: 'scale', timeoutMs: 120_000, engineTimeoutMs: 120_000 });
  const rc = await cluster.connect();
  let servers: number[] = [];
  try {
    await untilEngines(rc, n);
    o.emit(figure('scale_python_start', 'python', n, 's', [(performance.now() - t) / 1000]));
    const pids = (await rc.status()).engines.map((e) => e.pid!);
    // Where the start went: each engine's own CPU (forked: from its fork on), the processes that started them, the controller's.
    o.emit(figure('scale_python_engine_cpu_at_start', 'python', n, 'ms per engine', [pids.reduce((a, p) => a + cpuMs(p), 0) / pids.length]));
    servers = [...new Set(pids.map(parentPid))].filter((p): p is number => p !== null && p !== cluster.controllerPid);
    o.emit(figure('scale_python_fork_servers_cpu', 'python', n, 'ms per engine', [servers.reduce((a, p) => a + cpuMs(p), 0) / n]));
    o.emit(figure('scale_python_controller_cpu_at_start', 'python', n, 'ms per engine', [cpuMs(cluster.controllerPid) / n]));
    const totals = await timed(() => executeAll(rc, n), o.quick ? 3 : 10, 2);
    o.emit(figure('scale_python_execute_all', 'python', n, 'ms', totals.map((s) => s * 1000)));
    const live = pids.filter(isAlive);
    o.emit(figure('scale_python_rss_per_engine', 'python', n, 'MB', [live.reduce((a, p) => a + rssKB(p), 0) / 1024 / live.length]));
    // Forked engines share the server's pages until they write them: their own pages are the cost of one more.
    o.emit(figure('scale_python_uss_per_engine', 'python', n, 'MB', [live.reduce((a, p) => a + ussKB(p), 0) / 1024 / live.length]));
    o.emit(figure('scale_python_controller_rss', 'python', n, 'MB', [rssKB(cluster.controllerPid) / 1024]));
  } finally {
    rc.close();
    t = performance.now();
    const pids = [...cluster.pids, ...servers]; // the controller's and, tracked by the cluster as it stops, its engines'; their fork servers
    await cluster.stop();
    o.emit(figure('scale_python_stop', 'python', n, 's', [(performance.now() - t) / 1000]));
    // A fork server exits once its last engine has: given a moment, not counted as left unless it stays.
    await until(() => servers.every((p) => !isAlive(p)), 10_000).catch(() => {});
    o.emit(figure('scale_python_left_behind', 'python', n, 'processes', [pids.filter(isAlive).length]));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
