/** The readable end of a bench run: one table, ratios against ipyparallel, and the loopback (or link) fractions. */
import { higherIsBetter, type Figure, type Kind } from './stats.ts';

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return x.toFixed(1);
  return x.toPrecision(3);
}

export function printReport(figures: readonly Figure[], opts: { compare: boolean }): void {
  const key = (f: Figure) => `${f.name}@${f.n}`;
  const byKind = new Map<Kind, Map<string, Figure>>();
  for (const f of figures) {
    if (!byKind.has(f.kind)) byKind.set(f.kind, new Map());
    byKind.get(f.kind)!.set(key(f), f);
  }
  const rowsSeen = [...new Set(figures.filter((f) => f.kind !== 'loopback').map(key))];
  const kinds = (['node', 'python'] as const).filter((k) => byKind.has(k));
  const ipp = byKind.get('ipyparallel');
  const header = ['scenario', 'n', 'unit', ...kinds.map((k) => `${k} (median)`)];
  if (opts.compare) header.push('ipyparallel', ...kinds.map((k) => `ipp/${k}`), ...kinds.map((k) => `${k} faster by`));
  const rows: string[][] = [header];
  for (const k of rowsSeen) {
    const any = kinds.map((kind) => byKind.get(kind)?.get(k)).find(Boolean) ?? ipp?.get(k);
    if (!any) continue;
    const row = [any.name, String(any.n), any.unit, ...kinds.map((kind) => fmt(byKind.get(kind)?.get(k)?.median))];
    if (opts.compare) {
      const theirs = ipp?.get(k)?.median;
      row.push(fmt(theirs));
      for (const kind of kinds) {
        const ours = byKind.get(kind)?.get(k)?.median;
        row.push(theirs && ours ? `${fmt(theirs / ours)}` : '–');
      }
      for (const kind of kinds) {
        const ours = byKind.get(kind)?.get(k)?.median;
        const speedup = theirs && ours ? (higherIsBetter(any.unit) ? ours / theirs : theirs / ours) : undefined;
        row.push(speedup === undefined ? '–' : `${fmt(speedup)}×`);
      }
    }
    rows.push(row);
  }
  console.log('');
  printTable(rows, 3);

  const loop = byKind.get('loopback');
  const tput = loop?.get('loopback_throughput@1')?.median;
  const rtt = loop?.get('loopback_rtt@1')?.median;
  if (tput && rtt) {
    console.log(`\nloopback TCP limit: ${fmt(tput)} MB/s, ${fmt(rtt)} µs round trip`);
    for (const kind of kinds) {
      const m = byKind.get(kind)!;
      const push = m.get('push_128MiB@4')?.median;
      const pull = m.get('pull_128MiB@4')?.median;
      const apply = m.get('apply_rtt_1@4')?.median;
      const pct = (x?: number) => (x ? `${((100 * x) / tput).toFixed(0)} %` : '–');
      console.log(`  ${kind}: push ${pct(push)}, pull ${pct(pull)} of loopback throughput; apply round trip ${apply ? (apply / rtt).toFixed(1) : '–'}× the loopback round trip`);
    }
  }
}

/** Rows of cells, the first `left` columns left-aligned, the rest right-aligned. */
function printTable(rows: readonly string[][], left: number): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) console.log(r.map((cell, c) => (c < left ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
}

/** The end of `--hosts`: each figure on the same host and on the other, and as a fraction of the link's TCP limit. */
export function printHostsReport(figures: readonly Figure[]): void {
  const get = (name: string, kind?: Kind) => figures.find((f) => f.name === name && (kind === undefined || f.kind === kind))?.median;
  const linkRtt = get('link_rtt');
  const linkTput = get('link_throughput');
  console.log(`\nTCP between the two hosts: ${fmt(linkTput)} MB/s, ${fmt(linkRtt)} µs round trip (loopback in this run: ${fmt(get('loopback_throughput'))} MB/s, ${fmt(get('loopback_rtt'))} µs)`);
  const rows: string[][] = [['scenario', 'kind', 'unit', 'same host', 'other host', 'other host vs link']];
  for (const kind of ['node', 'python'] as const) {
    for (const [name, unit] of [['apply_rtt_1', 'us'], ['push_128MiB', 'MB/s'], ['pull_128MiB', 'MB/s']] as const) {
      const same = get(`same_host_${name}`, kind);
      const other = get(`other_host_${name}`, kind);
      if (same === undefined && other === undefined) continue;
      let vsLink = '–';
      if (other !== undefined && unit === 'us' && linkRtt) vsLink = `${(other / linkRtt).toFixed(1)}× its round trip`;
      if (other !== undefined && unit === 'MB/s' && linkTput) vsLink = `${((100 * other) / linkTput).toFixed(0)} % of its throughput`;
      rows.push([name, kind, unit, fmt(same), fmt(other), vsLink]);
    }
  }
  console.log('');
  printTable(rows, 3);

  const starts: string[][] = [['start of 16 engines', 'kind', 'unit', 'Multiengine', 'ipyparallel', 'faster by']];
  for (const launcher of ['local', 'mpi', 'slurm']) {
    const theirs = get(`start16_${launcher}`, 'ipyparallel');
    for (const kind of ['node', 'python'] as const) {
      const ours = get(`start16_${launcher}`, kind);
      if (ours === undefined) continue;
      starts.push([`through ${launcher}`, kind, 's', fmt(ours), fmt(theirs), theirs === undefined ? '–' : `${fmt(theirs / ours)}×`]);
    }
  }
  if (starts.length > 1) {
    console.log('');
    printTable(starts, 3);
  }
}

/**
 * The load-balanced scenarios side by side: each contender's figure, a makespan's ratio to its
 * lower bound, and throughput as a multiple of ipyparallel's and Dask's in the same run.
 */
export function printLbReport(figures: readonly Figure[]): void {
  const lb = figures.filter((f) => f.name.startsWith('lb_') || f.name.startsWith('direct_map_skewed'));
  if (lb.length === 0) return;
  const median = (name: string, kind: Kind) => lb.find((f) => f.name === name && f.kind === kind)?.median;
  const rows: string[][] = [['load-balanced', 'kind', 'unit', 'median', 'vs bound', 'vs ipyparallel', 'vs dask']];
  for (const f of lb) {
    const vs = (kind: Kind) => {
      const theirs = median(f.name, kind);
      if (theirs === undefined || f.kind === kind) return '–';
      return `${fmt(higherIsBetter(f.unit) ? f.median / theirs : theirs / f.median)}×`;
    };
    rows.push([f.name, f.kind, f.unit, fmt(f.median), f.ratio_to_bound === undefined ? '–' : `${f.ratio_to_bound.toFixed(2)}×`, vs('ipyparallel'), vs('dask')]);
  }
  console.log('');
  printTable(rows, 3);
}

/** The Python client's goals (issue 17): how many times ipyparallel's figure, in the same run. */
const PYCLIENT_TARGETS: readonly [string, number][] = [['apply_rtt_1', 10], ['async_throughput', 20], ['push_128MiB', 3], ['pull_128MiB', 3]];

/** The Python client beside ipyparallel, both driven from /usr/bin/python3 with Python engines. */
export function printPyclientReport(figures: readonly Figure[]): void {
  const get = (name: string, kind: Kind) => figures.find((f) => f.name === name && f.kind === kind);
  const rows: string[][] = [['Python client', 'unit', 'pyclient', 'ipyparallel', 'faster by', 'target', 'holds']];
  for (const [name, target] of PYCLIENT_TARGETS) {
    const ours = get(name, 'pyclient');
    if (!ours) continue;
    const theirs = get(name, 'ipyparallel')?.median;
    const speedup = theirs === undefined ? undefined : higherIsBetter(ours.unit) ? ours.median / theirs : theirs / ours.median;
    rows.push([name, ours.unit, fmt(ours.median), fmt(theirs), speedup === undefined ? '–' : `${fmt(speedup)}×`, `${target}×`, speedup === undefined ? '–' : speedup >= target ? 'yes' : 'no']);
  }
  if (rows.length === 1) return;
  console.log('');
  printTable(rows, 2);
}
