/**
 * The seeds: each section of IPython's multiengine tutorial, replayed as JavaScript
 * on a real controller with four real node engines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncResult, CompositeError, RemoteError, TimeoutError, type DirectView } from 'multiengine';
import { startTestCluster, type TestCluster } from './fixture.ts';

// Names that live in the engines' namespaces, used inside shipped functions.
declare const a: number, b: number;

let tc: TestCluster;
let dview: DirectView;

before(async () => {
  tc = await startTestCluster({ n: 4 });
  dview = tc.rc.view();
});
after(async () => {
  await tc?.stop();
});

describe('quick and easy parallelism', () => {
  test('map', async () => {
    const range32 = Array.from({ length: 32 }, (_, i) => i);
    assert.deepEqual(tc.rc.ids, [0, 1, 2, 3]);
    assert.deepEqual(await dview.mapSync((x: number) => x ** 10, range32), range32.map((x) => x ** 10));
  });

  test('remote: each engine is its own process', async () => {
    const getpid = dview.remote({ block: true })(() => process.pid);
    const pids = (await getpid()) as number[];
    assert.equal(pids.length, 4);
    assert.equal(new Set(pids).size, 4);
    assert.ok(!pids.includes(process.pid));
  });

  test('parallel: element-wise product of two Float64Arrays', async () => {
    const n = 1001;
    const a = Float64Array.from({ length: n }, (_, i) => i * 0.5);
    const b = Float64Array.from({ length: n }, (_, i) => n - i);
    const pmul = dview.parallel({ block: true })((x: Float64Array, y: Float64Array) => x.map((v, i) => v * y[i]));
    const got = (await pmul(a, b)) as Float64Array;
    assert.ok(got instanceof Float64Array, 'typed arrays come back as typed arrays');
    assert.deepEqual(got, a.map((v, i) => v * b[i]));
  });
});

describe('blocking and non-blocking execution', () => {
  test('block=true returns values; block=false an AsyncResult', async () => {
    dview.block = true;
    const r = (await dview.execute('a = 5; b = 10', { targets: [0, 1, 2, 3] })) as { engineId: number }[];
    assert.deepEqual(r.map((x) => x.engineId), [0, 1, 2, 3]);
    dview.block = false;
    const ar = dview.apply(() => a + b) as AsyncResult<number[]>;
    assert.ok(ar instanceof AsyncResult);
    assert.deepEqual(await ar, [15, 15, 15, 15]);
    assert.equal(ar.ready(), true);
    assert.equal(ar.successful(), true);
    assert.deepEqual(ar.engineIds, [0, 1, 2, 3]);
    assert.equal(ar.msgIds.length, 4);
  });

  test('get(timeout) on a sleeping engine rejects with TimeoutError, then the result arrives', async () => {
    const ar = dview.execute('await new Promise((r) => setTimeout(r, 1500)); slept = true', { block: false }) as AsyncResult<unknown>;
    await assert.rejects(ar.get(1000), (e: unknown) => e instanceof TimeoutError && e.message === 'Result not ready.');
    assert.equal(ar.ready(), false);
    assert.equal(await ar.wait(5000), true);
    assert.deepEqual(await dview.pull('slept', { block: true }), [true, true, true, true]);
  });

  test('wait on a list of results', async () => {
    const results = [0, 1, 2, 3].map((i) => tc.rc.view(i).apply((t: number) => new Promise((r) => setTimeout(() => r(t), t)), 50 * i) as AsyncResult<unknown>);
    assert.equal(await dview.wait(results, 5000), true);
    assert.ok(results.every((r) => r.ready()));
    const slow = dview.execute('await new Promise((r) => setTimeout(r, 800))', { targets: 0 }) as AsyncResult<unknown>;
    assert.equal(await dview.wait([slow], 100), false);
    assert.equal(await dview.wait([slow], 5000), true);
  });

  test('stdout is captured per engine', async () => {
    const ar = dview.execute('console.log("hi from", 7)', { block: false }) as AsyncResult<{ stdout: string }[]>;
    const out = await ar;
    assert.deepEqual(out.map((o) => o.stdout), Array(4).fill('hi from 7\n'));
    assert.deepEqual(ar.stdout, Array(4).fill('hi from 7\n'));
  });
});

describe('the targets and block attributes', () => {
  test('c=a+b on [0,2], c=a-b on [1,3]', async () => {
    const v = tc.rc.view();
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
  });

  test('a per-call option overrides the default for that call only', async () => {
    const v = tc.rc.view([1, 3]);
    v.block = true;
    assert.deepEqual(await v.apply(() => 1), [1, 1]);
    const ar = v.execute('2', { block: false });
    assert.ok(ar instanceof AsyncResult);
    await ar;
    assert.deepEqual(v.targets, [1, 3]);
    assert.equal(v.block, true);
  });
});

describe('moving values: push, pull and the dictionary interface', () => {
  test('push and pull in all forms', async () => {
    dview.block = true;
    await dview.push({ a: 1.03234, b: 3453 });
    assert.deepEqual(await dview.pull('a'), [1.03234, 1.03234, 1.03234, 1.03234]);
    assert.equal(await dview.pull('b', { targets: 0 }), 3453);
    assert.deepEqual(await dview.pull(['a', 'b']), Array(4).fill([1.03234, 3453]));
    assert.deepEqual(await dview.zipPull(['a', 'b']), [Array(4).fill(1.03234), Array(4).fill(3453)]);
  });

  test('functions are values: push f, run it there, pull it back callable', async () => {
    dview.block = true;
    await dview.push({ f: (x: number) => 2 * x ** 4 });
    await dview.execute('y = f(4.0)');
    assert.deepEqual(await dview.pull('y'), [512, 512, 512, 512]);
    const fs = (await dview.pull('f')) as ((x: number) => number)[];
    assert.equal(fs[0](2), 32);
  });

  test('apply resolves free names in the engine namespace', async () => {
    await dview.push({ a: 5, b: 10 }, { block: true });
    assert.deepEqual(await dview.applySync((x: number) => a + b + x, 27), [42, 42, 42, 42]);
  });

  test('the dictionary interface', async () => {
    await dview.set('a', ['foobar']);
    assert.deepEqual(await dview.get('a'), Array(4).fill(['foobar']));
    await dview.update({ k1: 1, k2: 'two' });
    const keys = (await dview.keys()) as string[][];
    assert.equal(keys.length, 4);
    for (const k of keys) for (const name of ['a', 'k1', 'k2']) assert.ok(k.includes(name), `${name} in ${k}`);
  });

  test('let and const persist and pull sees them', async () => {
    dview.block = true;
    await dview.execute('let lx = 3; const cx = lx * 2');
    assert.deepEqual(await dview.pull(['lx', 'cx'], { targets: 1 }), [3, 6]);
  });

  test('pulling a name an engine lacks is a RemoteError from that engine', async () => {
    await assert.rejects(dview.pull('nope_not_here', { targets: 2, block: true }), (e: unknown) => e instanceof RemoteError && e.engineId === 2 && /NameError/.test(e.ename));
  });
});

describe('scatter and gather', () => {
  test('16 numbers in four contiguous blocks, and back', async () => {
    dview.block = true;
    const range16 = Array.from({ length: 16 }, (_, i) => i);
    await dview.scatter('a', range16);
    assert.deepEqual(await dview.get('a'), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]);
    assert.deepEqual(await dview.gather('a'), range16);
  });

  test('uneven blocks: the first engines take the extra element', async () => {
    await dview.scatter('u', [1, 2, 3, 4, 5, 6], { block: true });
    assert.deepEqual(await dview.pull('u', { block: true }), [[1, 2], [3, 4], [5], [6]]);
  });

  test('a typed array arrives as a typed array', async () => {
    const x = Float64Array.from({ length: 10 }, (_, i) => i / 2);
    await dview.scatter('tx', x, { block: true });
    const parts = (await dview.pull('tx', { block: true })) as Float64Array[];
    assert.ok(parts.every((p) => p instanceof Float64Array));
    assert.deepEqual(parts.map((p) => p.length), [3, 3, 2, 2]);
    assert.deepEqual(await dview.gather('tx', { block: true }), x);
  });

  test('parallel list comprehension through scatter, execute and gather', async () => {
    dview.block = true;
    const range64 = Array.from({ length: 64 }, (_, i) => i);
    await dview.scatter('x', range64);
    await dview.execute('y = x.map((i) => i ** 10)');
    assert.deepEqual(await dview.gather('y'), range64.map((i) => i ** 10));
  });
});

describe('CompositeError', () => {
  test('its exact message, elist and raiseException()', async () => {
    let err: unknown;
    try {
      await dview.execute('nope_undefined_x', { block: true });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CompositeError, `expected CompositeError, got ${String(err)}`);
    const lines = [0, 1, 2, 3].map((i) => `[${i}:execute]: ReferenceError: nope_undefined_x is not defined`);
    assert.equal(err.message, ['one or more exceptions from call to method: execute', ...lines].join('\n'));
    assert.equal(err.elist.length, 4);
    assert.throws(() => err.raiseException(), (e: unknown) => e instanceof RemoteError && e.ename === 'ReferenceError' && e.engineId === 0);
    assert.throws(() => err.raiseException(2), (e: unknown) => e instanceof RemoteError && e.engineId === 2);
  });
});
