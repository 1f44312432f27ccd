/**
 * An SVG chart of latency against the number of engines, from a results file of
 * `npm run bench -- --json FILE`:
 *   node --import tsx bench/chart.ts FILE > docs/latency-vs-engines.svg
 * Two panels: the 1-engine apply round trip and execute on all engines, at each cluster
 * size, one line per engine kind (and ipyparallel when the run compared). Points are medians
 * (their tooltips give min and max); both axes are logarithmic.
 * With --scale (a file of `npm run bench -- --scale --json FILE`), the cost per engine of
 * execute on all, 4 … 1,000 simulated engines: the wall time ÷ n and the controller's CPU ÷ n
 * (docs/engines-per-engine-cost.svg).
 */
import fs from 'node:fs';
import { readFigures } from './stats.ts';

const scale = process.argv.includes('--scale');
const file = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node --import tsx bench/chart.ts [--scale] RESULTS.jsonl > chart.svg');
  process.exit(2);
}
const figures = readFigures(fs.readFileSync(file, 'utf8'));

const PANELS = scale
  ? [
      { name: 'scale_execute_all_per_engine', title: 'execute on all: wall time ÷ engines' },
      { name: 'scale_execute_all_controller_cpu', title: 'execute on all: controller CPU ÷ engines' },
    ]
  : [
      { name: 'overhead_apply_rtt_1', title: 'apply round trip on one engine' },
      { name: 'overhead_execute_all', title: "execute('a=1') on all engines" },
    ];
const KINDS = [
  { kind: 'node', label: 'Multiengine, node engines', color: '#1f77b4', dash: '' },
  { kind: 'python', label: 'Multiengine, Python engines', color: '#2ca02c', dash: '' },
  { kind: 'ipyparallel', label: 'ipyparallel 7.1', color: '#d62728', dash: '6 4' },
  { kind: 'sim', label: 'Multiengine, simulated engines (one process plays them all)', color: '#9467bd', dash: '' },
] as const;

const W = 980;
const H = 440;
const panelW = 390;
const panelH = 290;
const top = 70;
const lefts = [80, 560];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmtUs = (us: number) => (us >= 1000 ? `${+(us / 1000).toPrecision(3)} ms` : `${+us.toPrecision(3)} µs`);

const out: string[] = [];
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${scale ? 'Cost per engine against the number of engines' : 'Latency against the number of engines'} (median; log scales)</text>`);

const sizes = [...new Set(figures.filter((f) => PANELS.some((p) => p.name === f.name)).map((f) => f.n))].sort((a, b) => a - b);
if (sizes.length === 0) {
  console.error(`${file} has no ${PANELS.map((p) => p.name).join(' or ')} figures`);
  process.exit(1);
}

PANELS.forEach((panel, pi) => {
  const left = lefts[pi];
  const rows = figures.filter((f) => f.name === panel.name);
  const values = rows.map((f) => f.median);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  lo = 10 ** Math.floor(Math.log10(lo));
  hi = 10 ** Math.ceil(Math.log10(hi));
  const xs = (n: number) => {
    const a = Math.log2(sizes[0]);
    const b = Math.log2(sizes[sizes.length - 1]);
    return left + (b === a ? panelW / 2 : ((Math.log2(n) - a) / (b - a)) * (panelW - 40) + 20);
  };
  const ys = (v: number) => top + panelH - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * panelH;
  out.push(`<text x="${left + panelW / 2}" y="${top - 12}" text-anchor="middle" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
  // y grid: decades and 2x, 5x
  for (let d = Math.log10(lo); d <= Math.log10(hi) + 1e-9; d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v < lo || v > hi) continue;
      const y = ys(v);
      out.push(`<line x1="${left}" x2="${left + panelW}" y1="${y}" y2="${y}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" fill="#444">${fmtUs(v)}</text>`);
    }
  }
  for (const n of sizes) {
    const x = xs(n);
    out.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${top + panelH}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${top + panelH + 16}" text-anchor="middle" fill="#444">${n}</text>`);
  }
  out.push(`<text x="${left + panelW / 2}" y="${top + panelH + 34}" text-anchor="middle">engines in the cluster</text>`);
  for (const k of KINDS) {
    const pts = rows.filter((f) => f.kind === k.kind).sort((a, b) => a.n - b.n);
    if (pts.length === 0) continue;
    const path = pts.map((f, i) => `${i ? 'L' : 'M'}${xs(f.n).toFixed(1)},${ys(f.median).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${k.color}" stroke-width="2"${k.dash ? ` stroke-dasharray="${k.dash}"` : ''}/>`);
    for (const f of pts) {
      out.push(`<circle cx="${xs(f.n).toFixed(1)}" cy="${ys(f.median).toFixed(1)}" r="4" fill="${k.color}"><title>${esc(`${k.label}, ${f.n} engines: median ${fmtUs(f.median)} (min ${fmtUs(f.min)}, max ${fmtUs(f.max)}, ${f.samples} samples)`)}</title></circle>`);
      const last = f.n === sizes[sizes.length - 1];
      const lx = xs(f.n) + (last ? -8 : 8);
      // The lower of two close points is labelled below it, the other above.
      const below = rows.some((g) => g.n === f.n && g.kind !== f.kind && g.median > f.median && g.median < 3 * f.median);
      out.push(`<text x="${lx.toFixed(1)}" y="${(ys(f.median) + (below ? 16 : -8)).toFixed(1)}" text-anchor="${last ? 'end' : 'start'}" fill="${k.color}" font-size="11">${fmtUs(f.median)}</text>`);
    }
  }
});

// legend
let lx = 80;
for (const k of KINDS) {
  if (!figures.some((f) => f.kind === k.kind && PANELS.some((p) => p.name === f.name))) continue;
  out.push(`<line x1="${lx}" x2="${lx + 28}" y1="${H - 22}" y2="${H - 22}" stroke="${k.color}" stroke-width="2"${k.dash ? ` stroke-dasharray="${k.dash}"` : ''}/>`);
  out.push(`<text x="${lx + 34}" y="${H - 18}">${esc(k.label)}</text>`);
  lx += 60 + k.label.length * 6.5;
}
out.push('</svg>');
process.stdout.write(out.join('\n') + '\n');
