/** Figures: one JSON line each, the min/median/max of a set of samples. */

/** 'link': the TCP limit between two hosts (bench/hosts.ts), as 'loopback' is on this machine. */
/** 'pyclient': Multiengine's Python client with Python engines (bench/pyclient_driver.py). */
export type Kind = 'node' | 'python' | 'pyclient' | 'ipyparallel' | 'dask' | 'loopback' | 'link';

export interface Figure {
  name: string;
  kind: Kind;
  n: number;
  unit: string;
  min: number;
  median: number;
  max: number;
  samples: number;
  /** Makespan figures (lb_map_skewed, direct_map_skewed): the best makespan possible, and median / it. */
  lower_bound?: number;
  ratio_to_bound?: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function figure(name: string, kind: Kind, n: number, unit: string, samples: readonly number[]): Figure {
  if (samples.length === 0) throw new Error(`no samples for ${name}`);
  return { name, kind, n, unit, min: Math.min(...samples), median: median(samples), max: Math.max(...samples), samples: samples.length };
}

/** Times `fn` `reps` times after `warm` untimed calls; returns seconds per call. */
export async function timed(fn: () => Promise<unknown>, reps: number, warm = 0): Promise<number[]> {
  for (let i = 0; i < warm; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return out;
}

/** Units where a larger number is better. */
export function higherIsBetter(unit: string): boolean {
  return unit.endsWith('/s');
}

/** The figures of a results file (`npm run bench -- --json FILE`): its JSON lines. */
export function readFigures(text: string): Figure[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Figure);
}
