/**
 * The compact engine view's colours: one cell per engine, by state or by CPU. CPU is in
 * percent of one core (a busy engine reads ~100, more with threads); the scale saturates at 100.
 */
import type { EngineState } from '../../preload/contract.js';

export type CellColouring = 'state' | 'cpu';

export const STATE_COLOURS: Record<EngineState, string> = {
  idle: '#3f6f3a',
  busy: '#d19a2e',
  starting: '#4a5568',
  unresponsive: '#c0392b',
  dead: '#2a2d33',
};

/** No CPU reading yet. */
export const NO_CPU = '#2a2d33';

/** Dark blue (0 %) through teal and yellow to red (100 % and above). */
export function cpuColour(cpu: number | null): string {
  if (cpu === null || !Number.isFinite(cpu)) return NO_CPU;
  const f = Math.min(1, Math.max(0, cpu / 100));
  const stops: [number, [number, number, number]][] = [
    [0, [30, 42, 70]],
    [0.35, [38, 132, 140]],
    [0.7, [222, 190, 60]],
    [1, [225, 87, 89]],
  ];
  let i = 1;
  while (i < stops.length - 1 && stops[i][0] < f) i++;
  const [a, ca] = stops[i - 1];
  const [b, cb] = stops[i];
  const t = (f - a) / (b - a);
  const c = ca.map((v, k) => Math.round(v + (cb[k] - v) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

export function cellColour(row: { state: EngineState; cpu: number | null }, by: CellColouring): string {
  return by === 'state' ? STATE_COLOURS[row.state] : row.state === 'dead' ? STATE_COLOURS.dead : cpuColour(row.cpu);
}
