/** Figures: one JSON line each, the min/median/max of a set of samples. */

/** 'link': the TCP limit between two hosts (bench/hosts.ts), as 'loopback' is on this machine; 'sim': simulated engines (bench/scale/);
 * 'pyclient': Multiengine's Python client with Python engines (bench/pyclient_driver.py). */
export type Kind = 'node' | 'python' | 'pyclient' | 'ipyparallel' | 'dask' | 'loopback' | 'link' | 'sim';

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
  /** Paired runs (bench/scenarios.ts directScenarios): this setting's per-round medians against `vs`'s. */
  paired?: PairedRatio & { vs: string };
  /** Paired runs: each round's samples in the order measured (for looking at warm-up and order effects). */
  rounds?: number[][];
  /** The load average (1 min) when the figure's runs began and ended. */
  load?: [number, number];
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

/** A setting's figure against another's, from rounds run in pairs: the median of the pairs' ratios and its bootstrap 95 % interval. */
export interface PairedRatio {
  /** Pairs (rounds of each setting) compared. */
  pairs: number;
  /** Median of on[i] / off[i]. */
  ratio: number;
  /** 2.5th and 97.5th percentiles of that median over `resamples` resamplings of the pairs. */
  low: number;
  high: number;
}

/**
 * The median on/off ratio of paired rounds (on[i] and off[i] ran next to each other, so a change
 * in the machine's load falls on both), with a percentile bootstrap interval: resample the pairs
 * with replacement, take the median ratio, `resamples` times. Seeded, so one run's samples always
 * give the same interval.
 */
export function pairedRatio(on: readonly number[], off: readonly number[], resamples = 10_000, seed = 1): PairedRatio {
  if (on.length !== off.length || on.length === 0) throw new Error(`pairedRatio needs as many rounds of each setting, at least one (got ${on.length} and ${off.length})`);
  const ratios = on.map((x, i) => x / off[i]);
  const random = mulberry32(seed);
  const medians: number[] = [];
  const pick = new Array<number>(ratios.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < ratios.length; i++) pick[i] = ratios[Math.floor(random() * ratios.length)];
    medians.push(median(pick));
  }
  medians.sort((a, b) => a - b);
  const at = (p: number) => medians[Math.min(medians.length - 1, Math.floor(p * medians.length))];
  return { pairs: ratios.length, ratio: median(ratios), low: at(0.025), high: at(0.975) };
}

/**
 * Whether `p` shows the setting no worse than the one it is compared with: the interval includes
 * 1.0, or lies on the better side of it (below for times, above for rates).
 */
export function noWorse(p: PairedRatio, higherBetter: boolean): boolean {
  return higherBetter ? p.high >= 1 : p.low <= 1;
}

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
