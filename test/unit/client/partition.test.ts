import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockBounds, blockSizes, concatenate, flattenOnce, isSequence, partition, transpose } from '../../../core/client/partition.js';
import { NDArray } from '../../../core/serialize/ndarray.js';

test('block sizes differ by at most 1 and the first engines take the extra element', () => {
  assert.deepEqual(blockSizes(16, 4), [4, 4, 4, 4]);
  assert.deepEqual(blockSizes(6, 4), [2, 2, 1, 1]);
  assert.deepEqual(blockSizes(10, 4), [3, 3, 2, 2]);
  assert.deepEqual(blockSizes(3, 4), [1, 1, 1, 0]);
  assert.deepEqual(blockSizes(0, 3), [0, 0, 0]);
  assert.deepEqual(blockSizes(7, 1), [7]);
  assert.deepEqual(blockBounds(6, 4), [[0, 2], [2, 4], [4, 5], [5, 6]]);
  assert.throws(() => blockSizes(5, 0), RangeError);
  for (let n = 0; n < 40; n++) {
    for (let p = 1; p < 9; p++) {
      const s = blockSizes(n, p);
      assert.equal(s.reduce((a, b) => a + b, 0), n);
      assert.ok(Math.max(...s) - Math.min(...s) <= 1);
      assert.deepEqual(s, [...s].sort((a, b) => b - a), 'larger blocks come first');
    }
  }
});

test('partition of arrays gives contiguous arrays in order', () => {
  const range16 = Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual(partition(range16, 4), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]);
  assert.deepEqual(partition([1, 2, 3, 4, 5, 6], 4), [[1, 2], [3, 4], [5], [6]]);
  assert.deepEqual(partition([1], 3), [[1], [], []]);
});

test('partition of a typed array gives views of the same type, without copying', () => {
  const x = Float64Array.from({ length: 10 }, (_, i) => i / 2);
  const parts = partition(x, 4);
  assert.deepEqual(parts.map((p) => p.length), [3, 3, 2, 2]);
  for (const p of parts) {
    assert.ok(p instanceof Float64Array);
    assert.equal(p.buffer, x.buffer, 'a subarray shares the buffer');
  }
  assert.deepEqual(Array.from(parts[1]), [1.5, 2, 2.5]);
});

test('partition of an NDArray splits along the first axis', () => {
  const a = new NDArray(Int32Array.from({ length: 12 }, (_, i) => i), [4, 3]);
  const [p, q] = partition(a, 2);
  assert.ok(p instanceof NDArray);
  assert.deepEqual(p.shape, [2, 3]);
  assert.deepEqual(q.toArray(), [[6, 7, 8], [9, 10, 11]]);
  assert.equal(p.data.buffer, a.data.buffer);
});

test('isSequence', () => {
  assert.ok(isSequence([]));
  assert.ok(isSequence(new Uint8Array(2)));
  assert.ok(isSequence(new NDArray(new Float32Array(3))));
  for (const v of [1, 'abc', { length: 3 }, new Set([1]), null, undefined, new DataView(new ArrayBuffer(2))]) assert.equal(isSequence(v), false, String(v));
});

test('concatenate joins blocks in order, keeping typed arrays typed', () => {
  const typed = concatenate([new Float64Array([1, 2]), new Float64Array([3]), new Float64Array([])]);
  assert.ok(typed instanceof Float64Array);
  assert.deepEqual(typed, new Float64Array([1, 2, 3]));
  const big = concatenate([new BigInt64Array([1n]), new BigInt64Array([2n])]);
  assert.deepEqual(big, new BigInt64Array([1n, 2n]));
  assert.deepEqual(concatenate([[0, 1], [2], [], [3, [4, 5]]]), [0, 1, 2, 3, [4, 5]], 'flattened one level only');
  assert.deepEqual(concatenate([]), []);
  assert.equal(concatenate(['ab', 'c']), 'abc');
  const nd = concatenate([new NDArray(new Int16Array([1, 2, 3, 4]), [2, 2]), new NDArray(new Int16Array([5, 6]), [1, 2])]) as NDArray;
  assert.ok(nd instanceof NDArray);
  assert.deepEqual(nd.shape, [3, 2]);
  assert.deepEqual(nd.toArray(), [[1, 2], [3, 4], [5, 6]]);
  const nd1 = concatenate([new NDArray(new Float32Array([1])), new NDArray(new Float32Array([2, 3]))]) as NDArray;
  assert.deepEqual(nd1.shape, [3]);
  assert.ok(nd1.data instanceof Float32Array);
  // Mixed kinds fall back to one flat array.
  assert.deepEqual(concatenate([new Int8Array([1]), new Float32Array([2])]), [1, 2]);
  assert.deepEqual(concatenate([[1], 2, 'x']), [1, 2, 'x']);
});

test('partition then concatenate is the identity', () => {
  const arr = Array.from({ length: 37 }, (_, i) => i * 3);
  const typed = Uint32Array.from(arr);
  for (let p = 1; p <= 8; p++) {
    assert.deepEqual(concatenate(partition(arr, p)), arr);
    assert.deepEqual(concatenate(partition(typed, p)), typed);
  }
});

test('flattenOnce keeps large blocks off the call stack', () => {
  const block = new Array(300_000).fill(1);
  assert.equal(flattenOnce([block, block]).length, 600_000);
});

test('transpose turns per-engine rows into per-name columns', () => {
  assert.deepEqual(transpose([[1, 'a'], [2, 'b'], [3, 'c']], 2), [[1, 2, 3], ['a', 'b', 'c']]);
});

test('concatenate: blocks that are consecutive views of one buffer (a gather received in place) become one view, without a copy', async () => {
  const { GatherTarget } = await import('../../../core/client/gatherTarget.ts');
  const target = new GatherTarget(3);
  const places = [2, 0, 1].map((slot) => target.place(slot, [16])![0]!); // arrival order differs from slot order
  places.forEach((b, i) => new Float64Array(b.buffer, b.byteOffset, 2).set([10 * [2, 0, 1][i], 10 * [2, 0, 1][i] + 1]));
  assert.equal(target.place(1, [24]), null, 'a block of another length does not fit the guess');
  const views = [0, 1, 2].map((slot) => {
    const b = places[[2, 0, 1].indexOf(slot)];
    return new Float64Array(b.buffer, b.byteOffset, 2);
  });
  const whole = concatenate(views) as Float64Array;
  assert.deepEqual([...whole], [0, 1, 10, 11, 20, 21]);
  assert.equal(whole.buffer, views[0].buffer, 'the same memory');
  const copied = concatenate([views[1], views[0]]) as Float64Array;
  assert.deepEqual([...copied], [10, 11, 0, 1]);
  assert.notEqual(copied.buffer, views[0].buffer);
});
