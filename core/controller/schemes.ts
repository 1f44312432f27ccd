/**
 * How the scheduler picks one engine among those that may take a task (the controller's
 * --scheme), after ipyparallel's schemes. Pure: the scheduler passes each candidate's load
 * (requests outstanding on it) and when it last got a balanced task; tests pass numbers.
 */
import type { Scheme } from '../protocol/messages.js';

export interface Candidate {
  /** Requests outstanding on the engine (balanced and direct). */
  readonly load: number;
  /** A counter value from when it last got a balanced task (0: never); smaller is longer ago. */
  readonly lastUsed: number;
  /** The engine's id: of equals, the lowest id wins (without ids, the first of equals). */
  readonly id?: number;
}

/** Index of the candidate with the smallest key; of equals, the lowest id (else the first), so the caller need not sort. */
function argmin<T extends Candidate>(cands: readonly T[], key: (c: T) => number): number {
  let best = 0;
  let bestKey = key(cands[0]);
  for (let i = 1; i < cands.length; i++) {
    const k = key(cands[i]);
    if (k < bestKey || (k === bestKey && (cands[i].id ?? Infinity) < (cands[best].id ?? -Infinity))) {
      best = i;
      bestKey = k;
    }
  }
  return best;
}

const load = (c: Candidate) => c.load;
const lastUsed = (c: Candidate) => c.lastUsed;

/** An index drawn with probability proportional to weights[i]. */
function drawWeighted(weights: readonly number[], rand: () => number): number {
  let total = 0;
  for (const w of weights) total += w;
  let x = rand() * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i];
    if (x < 0) return i;
  }
  return weights.length - 1;
}

/** Two distinct indexes drawn at random (with `weights`, when given, in proportion to them). */
function drawTwo(n: number, rand: () => number, weights?: readonly number[]): [number, number] {
  const a = weights ? drawWeighted(weights, rand) : Math.floor(rand() * n);
  let b: number;
  if (weights) {
    const rest = weights.map((w, i) => (i === a ? 0 : w));
    b = drawWeighted(rest, rand);
  } else {
    b = Math.floor(rand() * (n - 1));
    if (b >= a) b++;
  }
  return [a, b];
}

/**
 * The index in `cands` (non-empty) of the engine that gets the task:
 * - leastload: the least loaded (of equals, the lowest engine id);
 * - lru: the one that least recently got a balanced task (of equals, the lowest id);
 * - random: any, uniformly;
 * - twobin: two at random, then the less recently used of the two;
 * - weighted: two at random, weighted by inverse load, then the less loaded of the two.
 */
export function chooseEngine(scheme: Scheme, cands: readonly Candidate[], rand: () => number = Math.random): number {
  const n = cands.length;
  if (n === 1) return 0;
  switch (scheme) {
    case 'leastload':
      return argmin(cands, load);
    case 'lru':
      return argmin(cands, lastUsed);
    case 'random':
      return Math.floor(rand() * n);
    case 'twobin': {
      const [a, b] = drawTwo(n, rand);
      return cands[b].lastUsed < cands[a].lastUsed ? b : a;
    }
    case 'weighted': {
      // An idle engine weighs most (1/(load+1)), so it is very likely among the two.
      const [a, b] = drawTwo(n, rand, cands.map((c) => 1 / (c.load + 1)));
      return cands[b].load < cands[a].load ? b : a;
    }
  }
}
