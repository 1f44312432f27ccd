import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { decodeValue, encodeValue, SerializationError } from '../../../core/serialize/serialize.ts';
import { NDArray } from '../../../core/serialize/ndarray.ts';

function roundTrip(v: unknown): unknown {
  const enc = { buffers: [] as Uint8Array[] };
  const tree = JSON.parse(JSON.stringify(encodeValue(v, enc)));
  return decodeValue(tree, enc.buffers);
}

test('every mapped kind of value round-trips', () => {
  const values: unknown[] = [
    null, true, false, 0, -1.5, 2 ** 53 - 1, NaN, Infinity, -Infinity, 'héllo', 123456789012345678901234567890n,
    undefined, [1, [2, 'x']], { a: 1, b: { c: [true] } }, { $t: 'looks like a tag' },
    new Uint8Array([1, 2, 255]), Buffer.from('buf'), new Float64Array([1.5, -2]), new Int32Array([7, -7]),
    new BigInt64Array([1n, -2n]), new Date('2026-01-02T03:04:05.678Z'),
    new Map<unknown, unknown>([['k', 1], [2, 'v']]), new Set([1, 'a']), /ab+c/gi,
  ];
  for (const v of values) assert.deepEqual(roundTrip(v), v, `value ${String(v)}`);
});

test('-0 survives JSON (issue 16): it travels as a tag, and 0 stays a plain number', () => {
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.ok(Object.is(roundTrip(0), 0));
  assert.deepEqual(encodeValue([-0, 0, -0.5], { buffers: [] }), [{ $t: 'float', v: '-0' }, 0, -0.5]);
  assert.ok(Object.is((roundTrip({ z: [-0] }) as { z: number[] }).z[0], -0));
  // What a Python engine sends for -0.0 without the tag (JSON `-0.0`) decodes to -0 too.
  assert.ok(Object.is(decodeValue(JSON.parse('-0.0'), []), -0));
});

test('typed arrays travel as buffers, never as JSON numbers', () => {
  const enc = { buffers: [] as Uint8Array[] };
  const tree = encodeValue({ x: new Float64Array(1000) }, enc);
  assert.equal(enc.buffers.length, 1);
  assert.equal(enc.buffers[0].byteLength, 8000);
  assert.ok(JSON.stringify(tree).length < 100);
});

test('NDArray keeps dtype and shape', () => {
  const a = new NDArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const b = roundTrip(a) as NDArray;
  assert.ok(b instanceof NDArray);
  assert.deepEqual(b.shape, [2, 3]);
  assert.equal(b.dtype, 'float32');
  assert.deepEqual(b.toArray(), [[1, 2, 3], [4, 5, 6]]);
  assert.throws(() => new NDArray(new Float64Array(5), [2, 3]), /needs 6 elements, data has 5/);
});

test('functions cross as source and come back callable', () => {
  const f = roundTrip((x: number) => 2 * x ** 4) as (x: number) => number;
  assert.equal(f(4), 512);
  const obj = roundTrip({ twice(x: number) { return 2 * x; } }) as { twice(x: number): number };
  assert.equal(obj.twice(21), 42);
});

test('values from another vm realm encode like local ones', () => {
  const ctx = vm.createContext({});
  const v = vm.runInContext('({ a: new Float64Array([1, 2]), b: [1, { c: 2 }], d: new Date(0) })', ctx);
  assert.deepEqual(roundTrip(v), { a: new Float64Array([1, 2]), b: [1, { c: 2 }], d: new Date(0) });
});

test('values that cannot cross are refused with their path and reason', () => {
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  class Point { constructor(public x = 1) {} }
  const cases: [unknown, RegExp][] = [
    [{ a: { b: Symbol('s') } }, /cannot serialize ns\.a\.b: a symbol/],
    [cyc, /cannot serialize ns\.self: it refers to itself/],
    [{ p: new Point() }, /cannot serialize ns\.p: an instance of Point is not plain data/],
    [{ q: Promise.resolve(1) }, /cannot serialize ns\.q: a Promise/],
    [{ f: Math.max }, /cannot serialize ns\.f: function max is native/],
  ];
  for (const [v, re] of cases) {
    assert.throws(() => encodeValue(v, { buffers: [] }, 'ns'), (e: unknown) => e instanceof SerializationError && re.test(e.message));
  }
});

test('a __proto__ key stays an own key and never becomes the prototype', () => {
  const tree = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
  const v = decodeValue(tree, []) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ['__proto__', 'x']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
