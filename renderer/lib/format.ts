/** Display helpers (pure). */
import { describeEngineGroups, type LoadBalancing } from '../../preload/contract';

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} m`;
}

export function formatUptime(since: number, now: number): string {
  const s = Math.max(0, Math.floor((now - since) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function formatCpu(cpu: number | null | undefined): string {
  return cpu === null || cpu === undefined ? '–' : `${cpu.toFixed(cpu < 10 ? 1 : 0)}%`;
}

/** "all engines", "engine 3", "engines 0, 2". */
export function describeTargets(ids: readonly number[]): string {
  if (ids.length === 0) return 'all engines';
  if (ids.length === 1) return `engine ${ids[0]}`;
  const shown = ids.slice(0, 12).join(', ');
  return `engines ${shown}${ids.length > 12 ? `, … (${ids.length})` : ''}`;
}

/** Engine ids as short ranges: "0–3, 6, 8–9". */
export function idRanges(ids: readonly number[]): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j > i ? `${sorted[i]}–${sorted[j]}` : String(sorted[i]));
    i = j;
  }
  return parts.join(', ');
}

/** The live engines by language: "3 node engines", "2 node and 1 python engines". */
export function describeKinds(rows: readonly { id: number; kernel: string; state: string }[]): string {
  const groups: { n: number; kind: string }[] = [];
  for (const r of rows) {
    if (r.id < 0 || r.state === 'dead') continue;
    const g = groups.find((x) => x.kind === r.kernel);
    if (g) g.n++;
    else groups.push({ n: 1, kind: r.kernel });
  }
  return describeEngineGroups(groups);
}

/** The cluster bar's note on load-balanced tasks: "3 unassigned · leastload". */
export function formatBalancing(b: LoadBalancing): string {
  return `${b.unassigned} unassigned${b.scheme ? ` · ${b.scheme}` : ''}`;
}

/** ...and its tooltip, in words. */
export function describeBalancing(b: LoadBalancing): string {
  const held = `${b.unassigned} load-balanced task${b.unassigned === 1 ? '' : 's'} waiting in the controller, not yet sent to any engine`;
  const scheme = b.scheme ? `; engines picked by ${b.scheme}` : '';
  const hwm = b.hwm === null ? '' : b.hwm === 0 ? ', no limit per engine' : `, at most ${b.hwm} per engine`;
  return `${held}${scheme}${hwm}`;
}

/** The task name as the history lists it: first line of the code, shortened. */
export function firstLine(code: string, max = 80): string {
  const line = code.split('\n', 1)[0];
  const more = code.includes('\n') ? ' …' : '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line + more;
}

/** Polyline points for a sparkline of `values` in a w×h box. */
export function sparkPoints(values: readonly number[], w: number, h: number): string {
  if (values.length === 0) return '';
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  return values.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - ((v - min) / span) * (h - 2)).toFixed(1)}`).join(' ');
}

/** An error as one readable line: the message, with the error's name only when it tells the user something. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.name && !['Error', 'ApiError', 'PayloadError', 'UserError'].includes(e.name) ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}
