/**
 * npm run bench [-- --quick] [-- --compare ipyparallel] [-- --kinds node,python] [-- --json FILE] [-- --hosts]
 *
 * Prints one JSON line per figure, then a readable table. With --compare ipyparallel the
 * same scenarios run on ipyparallel (Debian's python3-ipyparallel under /usr/bin/python3)
 * in the same run, and each figure is given as a ratio.
 *
 * --hosts runs the scenarios past one machine instead (docs/benchmarks.md, "Past one machine"):
 * round trip and 128 MiB push/pull with the engine on another network-namespace host beside that
 * link's TCP limit, and the start of 16 engines through the launchers of --launchers (default
 * local,mpi,slurm; with --compare ipyparallel, ipyparallel's same launchers in the same run). Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { hostsScenarios } from './hosts.ts';
import { BENCH_LAUNCHERS, launcherStarts, prepareLaunchers, type BenchLauncher } from './launchStart.ts';
import { measureLoopback } from './loopback.ts';
import { printHostsReport, printReport } from './report.ts';
import { clusterStart, mainScenarios, overhead, type BenchKind } from './scenarios.ts';
import type { Figure } from './stats.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    compare: { type: 'string' },
    kinds: { type: 'string', default: 'node,python' },
    json: { type: 'string' },
    hosts: { type: 'boolean', default: false },
    launchers: { type: 'string' },
  },
});
if (values.compare !== undefined && values.compare !== 'ipyparallel') {
  console.error(`--compare takes "ipyparallel", got ${JSON.stringify(values.compare)}`);
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

function ensureIpyparallel(): void {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import ipyparallel, numpy, psutil'], { encoding: 'utf8' });
  if (probe.status === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`ipyparallel is not importable by ${SYSTEM_PYTHON}; install Debian's python3-ipyparallel python3-numpy python3-psutil`);
  }
  console.error('installing python3-ipyparallel with apt…');
  for (const args of [['update'], ['install', '-y', 'python3-ipyparallel', 'python3-numpy', 'python3-psutil']]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}

async function runIpyparallel(args: string[] = []): Promise<void> {
  ensureIpyparallel();
  const driver = path.join(path.dirname(new URL(import.meta.url).pathname), 'ipp_driver.py');
  const child = spawn(SYSTEM_PYTHON, [driver, ...(values.quick ? ['--quick'] : []), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  for await (const line of readline.createInterface({ input: child.stdout })) {
    if (line.startsWith('{')) emit(JSON.parse(line) as Figure);
  }
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`ipyparallel driver exited with ${code}`);
}

const started = Date.now();
for (const f of await measureLoopback((values.quick ? 16 : 128) * 2 ** 20, values.quick ? 200 : 1000, values.quick ? 2 : 5)) emit(f);
if (values.hosts) {
  await hostsScenarios(kinds, opts);
  const tools = await prepareLaunchers(launchers);
  try {
    await launcherStarts(kinds, launchers, opts, tools.slurm);
    if (values.compare) await runIpyparallel(['--launchers', launchers.join(',')]);
  } finally {
    await tools.stop();
  }
  printHostsReport(figures);
} else {
  for (const kind of kinds) {
    await clusterStart(kind, opts);
    await mainScenarios(kind, opts);
    await overhead(kind, values.quick ? [4, 16] : [4, 16, 64], opts);
  }
  if (values.compare) await runIpyparallel();
  printReport(figures, { compare: values.compare === 'ipyparallel' });
}
console.log(`\nbench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (values.json) fs.writeFileSync(values.json, figures.map((f) => JSON.stringify(f)).join('\n') + '\n');
