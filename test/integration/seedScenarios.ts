/**
 * The seed transcripts (IPython's multiengine tutorial, as JavaScript) that need nothing but the
 * protocol: one list, run by seeds.test.ts on a real cluster and on the scripted controller of
 * the client tests. Each takes a view on four engines and checks values only (no instanceof, so
 * it runs against the built package or the sources alike).
 */
import assert from 'node:assert/strict';

// Names that live in the engines' namespaces, used inside shipped functions.
declare const a: number, b: number;

type Opts = { targets?: number | number[]; block?: boolean };
/** What the scenarios use of a DirectView on four engines (the built one or the source one). */
export interface SeedView {
  block: boolean;
  targets: number | number[] | undefined;
  mapSync(fn: (x: number) => unknown, xs: number[]): Promise<unknown>;
  applySync(fn: (...args: never[]) => unknown, ...args: unknown[]): Promise<unknown>;
  execute(code: string, opts?: Opts): unknown;
  push(ns: Record<string, unknown>, opts?: Opts): unknown;
  pull(names: string | string[], opts?: Opts): unknown;
  zipPull(names: string[], opts?: Opts): unknown;
  scatter(name: string, values: ArrayLike<number>, opts?: Opts): unknown;
  gather(name: string, opts?: Opts): unknown;
  set(name: string, value: unknown): unknown;
  get(name: string): unknown;
  update(ns: Record<string, unknown>): unknown;
  keys(): unknown;
}

export interface SeedScenario {
  section: string;
  name: string;
  run(dview: SeedView): Promise<void>;
}

export const portableSeeds: SeedScenario[] = [
  {
    section: 'quick and easy parallelism',
    name: 'map',
    async run(dview) {
      const range32 = Array.from({ length: 32 }, (_, i) => i);
      assert.deepEqual(await dview.mapSync((x: number) => x ** 10, range32), range32.map((x) => x ** 10));
    },
  },
  {
    section: 'the targets and block attributes',
    name: 'c=a+b on [0,2], c=a-b on [1,3]',
    async run(v) {
      v.block = true;
      await v.push({ a: 5, b: 10 });
      v.targets = [0, 2];
      await v.execute('c = a + b');
      v.targets = [1, 3];
      await v.execute('c = a - b');
      v.targets = undefined;
      assert.deepEqual(await v.pull('c'), [15, -5, 15, -5]);
      assert.deepEqual(await v.pull('c', { targets: [1, 2] }), [-5, 15]);
      assert.equal(await v.pull('c', { targets: 0 }), 15);
    },
  },
  {
    section: 'moving values: push, pull and the dictionary interface',
    name: 'push and pull in all forms',
    async run(dview) {
      dview.block = true;
      await dview.push({ a: 1.03234, b: 3453 });
      assert.deepEqual(await dview.pull('a'), [1.03234, 1.03234, 1.03234, 1.03234]);
      assert.equal(await dview.pull('b', { targets: 0 }), 3453);
      assert.deepEqual(await dview.pull(['a', 'b']), Array(4).fill([1.03234, 3453]));
      assert.deepEqual(await dview.zipPull(['a', 'b']), [Array(4).fill(1.03234), Array(4).fill(3453)]);
    },
  },
  {
    section: 'moving values: push, pull and the dictionary interface',
    name: 'functions are values: push f, run it there, pull it back callable',
    async run(dview) {
      dview.block = true;
      await dview.push({ f: (x: number) => 2 * x ** 4 });
      await dview.execute('y = f(4.0)');
      assert.deepEqual(await dview.pull('y'), [512, 512, 512, 512]);
      const fs = (await dview.pull('f')) as ((x: number) => number)[];
      assert.equal(fs[0](2), 32);
    },
  },
  {
    section: 'moving values: push, pull and the dictionary interface',
    name: 'apply resolves free names in the engine namespace',
    async run(dview) {
      await dview.push({ a: 5, b: 10 }, { block: true });
      assert.deepEqual(await dview.applySync((x: number) => a + b + x, 27), [42, 42, 42, 42]);
    },
  },
  {
    section: 'moving values: push, pull and the dictionary interface',
    name: 'the dictionary interface',
    async run(dview) {
      await dview.set('a', ['foobar']);
      assert.deepEqual(await dview.get('a'), Array(4).fill(['foobar']));
      await dview.update({ k1: 1, k2: 'two' });
      const keys = (await dview.keys()) as string[][];
      assert.equal(keys.length, 4);
      for (const k of keys) for (const name of ['a', 'k1', 'k2']) assert.ok(k.includes(name), `${name} in ${k}`);
    },
  },
  {
    section: 'scatter and gather',
    name: '16 numbers in four contiguous blocks, and back',
    async run(dview) {
      dview.block = true;
      const range16 = Array.from({ length: 16 }, (_, i) => i);
      await dview.scatter('a', range16);
      assert.deepEqual(await dview.get('a'), [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
      ]);
      assert.deepEqual(await dview.gather('a'), range16);
    },
  },
  {
    section: 'scatter and gather',
    name: 'uneven blocks: the first engines take the extra element',
    async run(dview) {
      await dview.scatter('u', [1, 2, 3, 4, 5, 6], { block: true });
      assert.deepEqual(await dview.pull('u', { block: true }), [[1, 2], [3, 4], [5], [6]]);
    },
  },
  {
    section: 'scatter and gather',
    name: 'a typed array arrives as a typed array',
    async run(dview) {
      const x = Float64Array.from({ length: 10 }, (_, i) => i / 2);
      await dview.scatter('tx', x, { block: true });
      const parts = (await dview.pull('tx', { block: true })) as Float64Array[];
      assert.ok(parts.every((p) => p instanceof Float64Array));
      assert.deepEqual(
        parts.map((p) => p.length),
        [3, 3, 2, 2],
      );
      assert.deepEqual(await dview.gather('tx', { block: true }), x);
    },
  },
  {
    section: 'scatter and gather',
    name: 'parallel list comprehension through scatter, execute and gather',
    async run(dview) {
      dview.block = true;
      const range64 = Array.from({ length: 64 }, (_, i) => i);
      await dview.scatter('x', range64);
      await dview.execute('y = x.map((i) => i ** 10)');
      assert.deepEqual(await dview.gather('y'), range64.map((i) => i ** 10));
    },
  },
];
