/**
 * npm run bench [-- --quick] [-- --compare ipyparallel,dask] [-- --kinds node,python] [-- --json FILE] [-- --hosts]
 *                [-- --scenarios all|lb|direct] [-- --lb-hwm 1,2,4,0] [-- --direct-dbs sqlite,none] [-- --direct-pairs 8]
 *                [-- --direct-bursts 3]
 *
 * Prints one JSON line per figure, then a readable table. With --compare ipyparallel the
 * same scenarios run on ipyparallel (Debian's python3-ipyparallel under /usr/bin/python3)
 * in the same run, and each figure is given as a ratio; with --compare dask the load-balanced
 * scenarios also run on dask.distributed (bench/dask_driver.py).
 *
 * --scenarios pyclient runs only Multiengine's Python client with Python engines (bench/pyclient_driver.py)
 * on the figures of issue 17 (1-engine round trip, async throughput, 128 MiB push/pull), with
 * --compare ipyparallel beside ipyparallel's same figures; `all` runs them too when --kinds has python.
 * --scenarios lb runs only the load-balanced scenarios (bench/lbScenarios.ts); --scenarios direct
 * only the 1-engine round trip and the direct async throughput, with the task database on and
 * --db none in pairs of rounds, alternating order, a fresh cluster each (figures *_dbnone), and
 * the median on/off ratio of the pairs with a bootstrap 95 % interval; --direct-pairs sets how
 * many pairs (8; --quick 2), --direct-bursts how many timed async bursts each round runs (3;
 * --quick 1; past 16,384 requests per cluster the task database writes during the bursts,
 * writeQueue.ts); --direct-dbs names the task-database settings it alternates (sqlite, memory,
 * none; figures of any but sqlite end in _db<setting>). --lb-hwm runs the load-balanced scenarios once per controller --hwm given
 * (figures lb_*_hwm<N>), for choosing its default.
 *
 * --scale runs issue 18's figures instead (bench/scale/, docs/benchmarks.md "1,000 engines"): up to 1,000
 * simulated engines on one controller, and 256 real Python engines (--kinds node leaves those out;
 * --scale --scenarios python runs only those).
 *
 * --hosts runs the scenarios past one machine instead (docs/benchmarks.md, "Past one machine"):
 * round trip and 128 MiB push/pull with the engine on another network-namespace host beside that
 * link's TCP limit, and the start of 16 engines through the launchers of --launchers (default
 * local,mpi,slurm; with --compare ipyparallel, ipyparallel's same launchers in the same run). Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { hostsScenarios } from './hosts.ts';
import { BENCH_LAUNCHERS, launcherStarts, prepareLaunchers, type BenchLauncher } from './launchStart.ts';
import { measureLoopback } from './loopback.ts';
import { printHostsReport, printLbReport, printPyclientReport, printReport } from './report.ts';
import { pythonEngines, scaleCurve, scaleThousand } from './scale/scaleScenarios.ts';
import { printScaleReport } from './scale/scaleReport.ts';
import { lbScenarios, skewedDurations, skewedPerCore } from './lbScenarios.ts';
import { clusterStart, directScenarios, mainScenarios, overhead, type BenchKind, type DirectDb } from './scenarios.ts';
import type { Figure } from './stats.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    compare: { type: 'string' },
    scenarios: { type: 'string', default: 'all' },
    'lb-hwm': { type: 'string' },
    'direct-dbs': { type: 'string', default: 'sqlite,none' },
    'direct-pairs': { type: 'string' },
    'direct-bursts': { type: 'string' },
    kinds: { type: 'string', default: 'node,python' },
    json: { type: 'string' },
    hosts: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    launchers: { type: 'string' },
  },
});
const compare = new Set((values.compare ?? '').split(',').map((c) => c.trim()).filter(Boolean));
for (const c of compare) {
  if (c !== 'ipyparallel' && c !== 'dask') {
    console.error(`--compare takes ipyparallel and/or dask (with a comma), got ${JSON.stringify(c)}`);
    process.exit(2);
  }
}
const scenarios = values.scenarios;
if (scenarios !== 'all' && scenarios !== 'lb' && scenarios !== 'direct' && scenarios !== 'pyclient' && !(values.scale && scenarios === 'python')) {
  console.error(`--scenarios takes all, lb, direct or pyclient (with --scale: all or python), got ${JSON.stringify(scenarios)}`);
  process.exit(2);
}
const directDbs = values['direct-dbs'].split(',').map((d) => d.trim());
if (directDbs.length === 0 || directDbs.some((d) => d !== 'sqlite' && d !== 'memory' && d !== 'none')) {
  console.error(`--direct-dbs takes sqlite, memory and/or none, with commas, got ${JSON.stringify(values['direct-dbs'])}`);
  process.exit(2);
}
const directPairs = values['direct-pairs'] === undefined ? (values.quick ? 2 : 8) : Number(values['direct-pairs']);
const directBursts = values['direct-bursts'] === undefined ? (values.quick ? 1 : 3) : Number(values['direct-bursts']);
if (!Number.isInteger(directBursts) || directBursts < 1) {
  console.error(`--direct-bursts takes a whole number ≥ 1, got ${JSON.stringify(values['direct-bursts'])}`);
  process.exit(2);
}
if (!Number.isInteger(directPairs) || directPairs < 1) {
  console.error(`--direct-pairs takes a whole number ≥ 1, got ${JSON.stringify(values['direct-pairs'])}`);
  process.exit(2);
}
const lbHwms = values['lb-hwm'] === undefined ? [] : values['lb-hwm'].split(',').map((h) => Number(h.trim()));
if (lbHwms.some((h) => !Number.isInteger(h) || h < 0)) {
  console.error(`--lb-hwm takes whole numbers ≥ 0 (0: no limit), with commas, got ${JSON.stringify(values['lb-hwm'])}`);
  process.exit(2);
}
if (values.launchers !== undefined && !values.hosts) {
  console.error('--launchers goes with --hosts (the start of 16 engines through launchers is measured there)');
  process.exit(2);
}
const launchers = (values.launchers ?? BENCH_LAUNCHERS.join(',')).split(',').map((l) => l.trim()) as BenchLauncher[];
for (const l of launchers) {
  if (!BENCH_LAUNCHERS.includes(l)) {
    console.error(`--launchers takes ${BENCH_LAUNCHERS.join(', ')} (one or more, with commas), got ${JSON.stringify(l)}`);
    process.exit(2);
  }
}
const kinds = values.kinds.split(',').map((k) => k.trim()) as BenchKind[];
for (const k of kinds) {
  if (k !== 'node' && k !== 'python') {
    console.error(`--kinds takes node and/or python, got ${JSON.stringify(k)}`);
    process.exit(2);
  }
}

const figures: Figure[] = [];
const emit = (f: Figure) => {
  figures.push(f);
  console.log(JSON.stringify(f));
};
const opts = { quick: values.quick, emit };
const SYSTEM_PYTHON = '/usr/bin/python3';

/** Installs Debian's packages for a driver when `modules` are not importable by the system Python (as root). */
function ensurePython(modules: string, packages: string[]): void {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' });
  if (probe.status === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`${modules} is not importable by ${SYSTEM_PYTHON}; install Debian's ${packages.join(' ')}`);
  console.error(`installing ${packages.join(' ')} with apt…`);
  for (const args of [['update'], ['install', '-y', ...packages]]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}

/** Runs a Python driver of this folder and emits the figures it prints. */
async function runDriver(file: string, args: string[]): Promise<void> {
  const driver = path.join(path.dirname(new URL(import.meta.url).pathname), file);
  const child = spawn(SYSTEM_PYTHON, [driver, ...(values.quick ? ['--quick'] : []), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Listened for from the start: a driver may exit before its last line is read, and a missed
  // 'exit' would leave nothing pending, so node would end the run here without its report.
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  for await (const line of readline.createInterface({ input: child.stdout })) {
    if (line.startsWith('{')) emit(JSON.parse(line) as Figure);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`${file} exited with ${code}`);
}

/** Multiengine's Python client under the system Python (its scenarios push numpy arrays). */
async function runPyclient(): Promise<void> {
  ensurePython('numpy', ['python3-numpy']);
  await runDriver('pyclient_driver.py', []);
}

async function runIpyparallel(args: string[] = []): Promise<void> {
  ensurePython('ipyparallel, numpy, psutil', ['python3-ipyparallel', 'python3-numpy', 'python3-psutil']);
  await runDriver('ipp_driver.py', args);
}

/** The skewed durations for the drivers, in a temporary file (the same list bench/lbScenarios.ts maps). */
function durationsFile(): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-bench-')), 'durations.json');
  fs.writeFileSync(file, JSON.stringify(skewedDurations()));
  return file;
}

const started = Date.now();
if (!values.scale) for (const f of await measureLoopback((values.quick ? 16 : 128) * 2 ** 20, values.quick ? 200 : 1000, values.quick ? 2 : 5)) emit(f);
if (values.scale) {
  if (scenarios !== 'python') {
    await scaleCurve(opts);
    await scaleThousand(opts);
  }
  if (kinds.includes('python')) await pythonEngines(opts);
  printScaleReport(figures);
} else if (values.hosts) {
  await hostsScenarios(kinds, opts);
  const tools = await prepareLaunchers(launchers);
  try {
    await launcherStarts(kinds, launchers, opts, tools.slurm);
    if (compare.has('ipyparallel')) await runIpyparallel(['--launchers', launchers.join(',')]);
  } finally {
    await tools.stop();
  }
  printHostsReport(figures);
} else if (scenarios === 'pyclient') {
  await runPyclient();
  if (compare.has('ipyparallel')) await runIpyparallel(['--only-pyclient']);
  printPyclientReport(figures);
} else {
  for (const kind of kinds) {
    if (scenarios === 'direct') await directScenarios(kind, opts, directDbs as DirectDb[], directPairs, directBursts);
    if (scenarios === 'all') {
      await clusterStart(kind, opts);
      await mainScenarios(kind, opts);
      await overhead(kind, values.quick ? [4, 16] : [4, 16, 64], opts);
    }
    if (scenarios !== 'direct') {
      await lbScenarios(kind, opts, { direct: true });
      await skewedPerCore(kind, opts);
    }
    for (const hwm of lbHwms) await lbScenarios(kind, opts, { hwm, suffix: `_hwm${hwm}` });
  }
  if (scenarios === 'all' && kinds.includes('python')) await runPyclient();
  const lb = scenarios !== 'direct';
  const durations = lb ? durationsFile() : '';
  try {
    if (compare.has('ipyparallel') && scenarios !== 'direct') await runIpyparallel([...(lb ? ['--durations', durations] : []), ...(scenarios === 'lb' ? ['--only-lb'] : [])]);
    if (compare.has('dask') && lb) {
      ensurePython('distributed', ['python3-distributed']);
      await runDriver('dask_driver.py', ['--durations', durations]);
    }
  } finally {
    if (lb) fs.rmSync(path.dirname(durations), { recursive: true, force: true });
  }
  printReport(figures, { compare: compare.has('ipyparallel') });
  printPyclientReport(figures);
  if (lb) printLbReport(figures);
}
console.log(`\nbench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (values.json) fs.writeFileSync(values.json, figures.map((f) => JSON.stringify(f)).join('\n') + '\n');
