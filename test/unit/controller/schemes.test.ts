/** Each scheme's choice of engine (core/controller/schemes.ts), with loads and recency given and the random draws fixed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEngine, type Candidate } from '../../../core/controller/schemes.ts';

/** A fixed sequence of draws in [0, 1), repeated. */
function draws(...xs: number[]): () => number {
  let i = 0;
  return () => xs[i++ % xs.length];
}

const c = (load: number, lastUsed: number): Candidate => ({ load, lastUsed });

test('leastload: the least loaded, the first of equals', () => {
  assert.equal(chooseEngine('leastload', [c(3, 1), c(1, 2), c(2, 3)]), 1);
  assert.equal(chooseEngine('leastload', [c(2, 9), c(0, 8), c(0, 1)]), 1);
  assert.equal(chooseEngine('leastload', [c(5, 0)]), 0);
});

test('lru: the one that got a balanced task least recently (never: first)', () => {
  assert.equal(chooseEngine('lru', [c(0, 5), c(9, 2), c(0, 7)]), 1);
  assert.equal(chooseEngine('lru', [c(0, 5), c(0, 0), c(0, 0)]), 1);
});

test('leastload and lru: of equals, the lowest engine id, whatever order the candidates come in (the scheduler does not sort them)', () => {
  const e = (id: number, load: number, lastUsed: number): Candidate => ({ id, load, lastUsed });
  assert.equal(chooseEngine('leastload', [e(7, 1, 0), e(5, 0, 0), e(2, 0, 0), e(3, 0, 0)]), 2);
  assert.equal(chooseEngine('leastload', [e(9, 0, 0), e(4, 2, 0)]), 0);
  assert.equal(chooseEngine('lru', [e(8, 0, 0), e(6, 0, 3), e(1, 0, 0)]), 2);
});

test('random: the draw picks uniformly', () => {
  const four = [c(0, 0), c(0, 0), c(0, 0), c(0, 0)];
  assert.equal(chooseEngine('random', four, draws(0)), 0);
  assert.equal(chooseEngine('random', four, draws(0.3)), 1);
  assert.equal(chooseEngine('random', four, draws(0.99)), 3);
});

test('twobin: two distinct at random, then the less recently used of them', () => {
  const four = [c(0, 40), c(0, 10), c(0, 30), c(0, 20)];
  // Draws pick index 2 (0.5 * 4), then index 3 of the other three (0.9 * 3 = 2 -> skips 2 -> 3): 3 is older.
  assert.equal(chooseEngine('twobin', four, draws(0.5, 0.9)), 3);
  // Index 0, then 0.4 * 3 = 1, which is at or past 0 so it moves up to 2: engines 0 and 2, and 2 is older.
  assert.equal(chooseEngine('twobin', four, draws(0, 0.4)), 2);
  // Never the same engine twice: with two engines both are compared, so the older wins whatever the draws.
  for (const x of [0, 0.49, 0.5, 0.99]) assert.equal(chooseEngine('twobin', [c(0, 9), c(0, 3)], draws(x, x)), 1);
});

test('weighted: two drawn by inverse load, then the less loaded of them', () => {
  // Weights 1/(load+1): 1, 0.5, 0.25 (total 1.75). Draw 0.1*1.75 -> index 0; then from {1: 0.5, 2: 0.25} 0.9*0.75 -> index 2.
  assert.equal(chooseEngine('weighted', [c(0, 0), c(1, 0), c(3, 0)], draws(0.1, 0.9)), 0);
  // Draw 0.8*1.75 = 1.4 -> index 1 (1 < 1.4 < 1.5); then from {0: 1, 2: 0.25} 0.9*1.25 = 1.125 -> index 2: 1 is less loaded.
  assert.equal(chooseEngine('weighted', [c(0, 0), c(1, 0), c(3, 0)], draws(0.8, 0.9)), 1);
  // With two engines both are compared: the less loaded wins.
  for (const x of [0, 0.5, 0.99]) assert.equal(chooseEngine('weighted', [c(4, 0), c(2, 0)], draws(x, x)), 1);
});

test('weighted never chooses a loaded engine over an idle one (it loses every pair it is in)', () => {
  let chosenBusy = 0;
  let x = 0.123;
  const rand = () => (x = (x * 9301 + 0.49297) % 1);
  for (let i = 0; i < 1000; i++) if (chooseEngine('weighted', [c(0, 0), c(0, 0), c(50, 0)], rand) === 2) chosenBusy++;
  assert.equal(chosenBusy, 0);
});
