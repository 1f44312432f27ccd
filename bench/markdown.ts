/**
 * The results table of a run as Markdown, for docs/benchmarks.md:
 *   node --import tsx bench/markdown.ts RESULTS.jsonl
 * (RESULTS.jsonl from `npm run bench -- [--hosts] --compare ipyparallel --json RESULTS.jsonl`).
 */
import fs from 'node:fs';
import { higherIsBetter, readFigures, type Figure } from './stats.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx bench/markdown.ts RESULTS.jsonl');
  process.exit(2);
}
const figures = readFigures(fs.readFileSync(file, 'utf8'));

const WHAT: Record<string, string> = {
  cluster_start: 'cluster start, to 4 engines answering',
  idle_engine_rss: 'idle engine resident memory',
  idle_engine_uss: 'idle engine private memory (USS)',
  controller_rss: 'idle controller resident memory',
  cluster_processes: 'processes of a 4-engine cluster',
  apply_rtt_1: '`apply` round trip, 1 engine',
  apply_rtt_all: '`apply` on 4 engines',
  execute_all: "`execute('a=1')` on 4 engines",
  async_throughput: '2,000 `apply_async`, then wait for all',
  push_128MiB: 'push of a 128 MiB float64 array',
  pull_128MiB: 'pull of a 128 MiB float64 array',
  scatter_gather: 'scatter + gather of 8M float64 over 4 engines',
  composite_error: "`CompositeError` from `execute('1/0')` on 4",
  map_10000: '`mapSync` of 10,000 trivial items',
  overhead_apply_rtt_1: '`apply` round trip on engine 0',
  overhead_execute_all: "`execute('a=1')` on all engines",
  // load-balanced (bench/lbScenarios.ts)
  lb_async_throughput: '10,000 load-balanced `applyAsync`, then wait for all',
  lb_map_skewed: 'load-balanced map of 400 skewed tasks (makespan)',
  direct_map_skewed: 'static map of the same 400 skewed tasks (makespan)',
  // --hosts (bench/hosts.ts, bench/launchStart.ts)
  same_host_apply_rtt_1: "`apply` round trip, engine on the controller's host",
  same_host_push_128MiB: "push of 128 MiB, engine on the controller's host",
  same_host_pull_128MiB: "pull of 128 MiB, engine on the controller's host",
  other_host_apply_rtt_1: '`apply` round trip, engine on the other host',
  other_host_push_128MiB: 'push of 128 MiB, engine on the other host',
  other_host_pull_128MiB: 'pull of 128 MiB, engine on the other host',
  start16_local: 'start of 16 local engines, to all answering',
  start16_mpi: 'start of 16 engines through mpiexec, to all answering',
  start16_slurm: 'start of 16 engines through SLURM, to all answering',
};

function fmt(x: number | undefined, unit: string): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  let s: string;
  if (x >= 1000) s = Math.round(x).toLocaleString('en-US');
  else if (x >= 100) s = x.toFixed(0);
  else if (x >= 10) s = x.toFixed(1);
  else s = x.toPrecision(3);
  return `${s} ${unit === 'us' ? 'µs' : unit === 'count' ? '' : unit}`.trim();
}

const get = (kind: string, name: string, n: number) => figures.find((f) => f.kind === kind && f.name === name && f.n === n);
const keys = [...new Set(figures.filter((f) => f.kind === 'node' || f.kind === 'python').map((f) => `${f.name}@${f.n}`))];
const lines = [
  '| scenario | n | node engines | Python engines | ipyparallel 7.1 | node vs ipp | Python vs ipp |',
  '|---|---:|---:|---:|---:|---:|---:|',
];
for (const k of keys) {
  const [name, nStr] = k.split('@');
  const n = Number(nStr);
  const node = get('node', name, n);
  const py = get('python', name, n);
  const ipp = get('ipyparallel', name, n);
  const unit = (node ?? py)!.unit;
  const ratio = (ours?: Figure) => {
    if (!ours || !ipp) return '–';
    const r = higherIsBetter(unit) ? ours.median / ipp.median : ipp.median / ours.median;
    return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
  };
  lines.push(`| ${WHAT[name] ?? name} | ${n} | ${fmt(node?.median, unit)} | ${fmt(py?.median, unit)} | ${fmt(ipp?.median, unit)} | ${ratio(node)} | ${ratio(py)} |`);
}
const loop = figures.find((f) => f.name === 'loopback_throughput');
const rtt = figures.find((f) => f.name === 'loopback_rtt');
if (loop && rtt) lines.push('', `Loopback TCP in the same run: ${fmt(loop.median, 'MB/s')}, ${fmt(rtt.median, 'us')} round trip (node to node).`);
const link = figures.find((f) => f.name === 'link_throughput');
const linkRtt = figures.find((f) => f.name === 'link_rtt');
if (link && linkRtt) lines.push('', `TCP between the two hosts in the same run: ${fmt(link.median, 'MB/s')}, ${fmt(linkRtt.median, 'us')} round trip (node to node).`);
console.log(lines.join('\n'));
