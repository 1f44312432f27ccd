/** The end of `npm run bench -- --scale`: each of issue 18's figures beside its target, and whether it holds. */
import type { Figure } from '../stats.ts';

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return x.toFixed(1);
  return x.toPrecision(3);
}

/** [figure, value, target, holds] rows; a figure the run lacks reads '–' and 'not measured'. */
export function scaleRows(figures: readonly Figure[]): string[][] {
  const get = (name: string, n: number) => figures.find((f) => f.name === name && f.n === n)?.median;
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'yes' : 'no');
  const both = (a: number | undefined, b: number | undefined, ok: (a: number, b: number) => boolean) => (a === undefined || b === undefined ? undefined : ok(a, b));
  const reg = get('scale_register', 1000);
  const cpu = get('scale_idle_cpu', 1000);
  const mem = get('scale_memory_per_engine', 1000);
  const heap = get('scale_heap_per_engine', 1000);
  const [ex64, ex1000] = [get('scale_execute_all_per_engine', 64), get('scale_execute_all_per_engine', 1000)];
  const [rtt4, rtt1000] = [get('scale_rtt_1', 4), get('scale_rtt_1', 1000)];
  const [lb64, lb1000] = [get('scale_lb_throughput', 64), get('scale_lb_throughput', 1000)];
  const pyStart = get('scale_python_start', 256);
  const left = get('scale_python_left_behind', 256);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '–' : `${fmt(a / b)}×`);
  const curve = [4, 16, 64, 256, 1000].map((n) => `${n}: ${fmt(get('scale_execute_all_per_engine', n))}`).join(', ');
  return [
    ['figure', 'measured', 'target', 'holds'],
    ['registration of 1,000 simulated engines, all answering', `${fmt(reg)} s`, '≤ 3 s', verdict(reg === undefined ? undefined : reg <= 3)],
    ['idle controller CPU, 1,000 engines beating', `${fmt(cpu)} % of a core`, '≤ 5 %', verdict(cpu === undefined ? undefined : cpu <= 5)],
    ['controller memory per registered engine', `${fmt(mem)} KB RSS (${fmt(heap)} KB heap)`, '≤ 50 KB', verdict(mem === undefined ? undefined : mem <= 50)],
    ['execute on all, per engine (µs)', curve, '1,000 ≤ 1.5× of 64', `${verdict(both(ex1000, ex64, (a, b) => a <= 1.5 * b))} (${ratio(ex1000, ex64)})`],
    ['1-engine round trip, 1,000 vs 4 engines', `${fmt(rtt1000)} vs ${fmt(rtt4)} µs`, '≤ 1.2×', `${verdict(both(rtt1000, rtt4, (a, b) => a <= 1.2 * b))} (${ratio(rtt1000, rtt4)})`],
    ['load-balanced trivial tasks, 1,000 vs 64 engines', `${fmt(lb1000)} vs ${fmt(lb64)} tasks/s`, '≥ 1×', `${verdict(both(lb1000, lb64, (a, b) => a >= b))} (${ratio(lb1000, lb64)})`],
    [
      '256 real Python engines: start, execute on all, stop',
      `start ${fmt(pyStart)} s, execute ${fmt(get('scale_python_execute_all', 256))} ms, stop ${fmt(get('scale_python_stop', 256))} s, ${fmt(get('scale_python_rss_per_engine', 256))} MB RSS (${fmt(get('scale_python_uss_per_engine', 256))} MB own) each, ${fmt(left)} left`,
      'start ≤ 10 s, nothing left',
      verdict(pyStart === undefined || left === undefined ? undefined : pyStart <= 10 && left === 0),
    ],
  ];
}

export function printScaleReport(figures: readonly Figure[]): void {
  const rows = scaleRows(figures);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log('');
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '));
}

/** The same rows as a Markdown table (docs/benchmarks.md). */
export function scaleMarkdown(figures: readonly Figure[]): string {
  const rows = scaleRows(figures);
  return [`| ${rows[0].join(' | ')} |`, `|${rows[0].map(() => '---').join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
