/** The paired on/off statistics of the direct benchmark (bench/stats.ts): median ratio and bootstrap interval. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noWorse, pairedRatio } from '../../../bench/stats.ts';

test('the ratio is the median of the pairs\' ratios, not the ratio of the medians', () => {
  const on = [10, 40, 90, 4];
  const off = [10, 20, 30, 1];
  // ratios 1, 2, 3, 4: median 2.5; medians of the sides 25 and 15: 1.67
  const p = pairedRatio(on, off);
  assert.equal(p.ratio, 2.5);
  assert.equal(p.pairs, 4);
  assert.ok(p.low >= 1 && p.high <= 4 && p.low <= p.ratio && p.ratio <= p.high, `interval ${p.low}–${p.high} around ${p.ratio}`);
});

test('equal settings give 1.0 with a zero-width interval; a constant factor gives that factor', () => {
  const xs = [100, 120, 90, 300, 110, 105, 99, 130];
  assert.deepEqual(pairedRatio(xs, xs), { pairs: 8, ratio: 1, low: 1, high: 1 });
  const p = pairedRatio(xs.map((x) => x * 1.5), xs);
  assert.deepEqual([p.ratio, p.low, p.high], [1.5, 1.5, 1.5]);
});

test('the interval widens with the spread of the ratios and says whether the setting is no worse', () => {
  const off = [100, 100, 100, 100, 100, 100, 100, 100];
  const spread = pairedRatio([80, 90, 95, 100, 102, 105, 110, 120], off);
  assert.ok(spread.low < 1 && spread.high > 1, `${spread.low}–${spread.high} includes 1`);
  assert.ok(spread.high - spread.low > 0.05);
  assert.equal(noWorse(spread, false), true, 'a time whose interval includes 1.0');
  assert.equal(noWorse(spread, true), true, 'a rate whose interval includes 1.0');
  const slower = pairedRatio([111, 112, 113, 114, 115, 116, 117, 118], off);
  assert.ok(slower.low > 1);
  assert.equal(noWorse(slower, false), false, 'a time above 1.0 throughout is worse');
  assert.equal(noWorse(slower, true), true, 'a rate above 1.0 throughout is better');
  const lower = pairedRatio([81, 82, 83, 84, 85, 86, 87, 88], off);
  assert.equal(noWorse(lower, true), false, 'a rate below 1.0 throughout is worse');
  assert.equal(noWorse(lower, false), true, 'a time below 1.0 throughout is better');
});

test('seeded: the same samples give the same interval; another seed may differ only within the spread', () => {
  const on = [95, 130, 101, 99, 160, 104, 97, 120];
  const off = [100, 100, 105, 98, 110, 100, 101, 99];
  assert.deepEqual(pairedRatio(on, off), pairedRatio(on, off));
  const other = pairedRatio(on, off, 10_000, 7);
  const ratios = on.map((x, i) => x / off[i]);
  assert.ok(other.low >= Math.min(...ratios) && other.high <= Math.max(...ratios));
});

test('unpaired or empty rounds are refused, naming the counts', () => {
  assert.throws(() => pairedRatio([1, 2], [1]), /as many rounds of each setting.*got 2 and 1/);
  assert.throws(() => pairedRatio([], []), /at least one/);
});
