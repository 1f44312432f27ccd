/**
 * Issue 11's client-side defects, on real clusters: map over any iterable, a Python def in
 * map and parallel.map, dotted attribute paths in pull/get/set (node and Python engines, and
 * a view mixing both), and remote()/parallel() keeping the function's name.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompositeError, RemoteError, type DirectView } from 'multiengine';
import { startTestCluster, type TestCluster } from './fixture.ts';

describe('node engines', () => {
  let tc: TestCluster;
  let dview: DirectView;
  before(async () => {
    tc = await startTestCluster({ n: 2 });
    dview = tc.rc.view();
  });
  after(() => tc?.stop());

  test('map takes any iterable: a generator, a Set, a Map, a Map\'s values', async () => {
    function* squares(n: number) {
      for (let i = 0; i < n; i++) yield i * i;
    }
    assert.deepEqual(await dview.mapSync((x: number) => x + 1, squares(5)), [1, 2, 5, 10, 17]);
    assert.deepEqual(await dview.mapSync((x: string) => x.toUpperCase(), new Set(['a', 'b', 'c'])), ['A', 'B', 'C']);
    const m = new Map([['x', 1], ['y', 2], ['z', 3]]);
    assert.deepEqual(await dview.mapSync((v: number) => v * 10, m.values()), [10, 20, 30]);
    assert.deepEqual(await dview.mapSync((e: [string, number]) => e.join('='), m), ['x=1', 'y=2', 'z=3']);
    assert.deepEqual(await dview.mapSync((a: number, b: number) => a * b, new Set([1, 2, 3]), [4, 5, 6]), [4, 10, 18], 'an iterable with an array');
    const pf = dview.parallel({ block: true })((x: number) => -x);
    assert.deepEqual(await pf.map(new Set([1, 2, 3])), [-1, -2, -3], 'parallel.map too');
    // What is not iterable is still refused, naming it; strings keep being refused.
    assert.throws(() => dview.map((x: number) => x, 42 as never), /map: argument 1 is not iterable/);
    assert.throws(() => dview.map((x: string) => x, 'abc' as never), /map: argument 1 is a string/);
  });

  test('pull, get and zipPull read dotted attribute paths; set and push set an attribute of an existing object', async () => {
    await dview.execute('var cfg = { opts: { depth: 3 }, name: "c" }; var plain = 7;', { block: true });
    assert.deepEqual(await dview.get('cfg.opts.depth'), [3, 3]);
    assert.equal(await dview.get('cfg.name', { targets: 1 }), 'c');
    assert.deepEqual(await dview.pull(['plain', 'cfg.opts.depth'], { block: true }), [[7, 3], [7, 3]]);
    assert.deepEqual(await dview.zipPull(['plain', 'cfg.name'], { block: true }), [[7, 7], ['c', 'c']]);
    await dview.set('cfg.opts.depth', 9, { targets: 0 });
    await dview.push({ 'cfg.name': 'renamed' }, { targets: [1], block: true });
    assert.deepEqual(await dview.get('cfg.opts.depth'), [9, 3], 'engine 0 set, engine 1 untouched');
    assert.deepEqual(await dview.get('cfg.name'), ['c', 'renamed']);
    // A missing object is the engine's own error, naming it, for the method the user called.
    await assert.rejects(dview.get('nothing.here', { targets: 0 }), (e: unknown) => e instanceof RemoteError && e.method === 'pull' && /nothing/.test(e.message));
    await assert.rejects(dview.set('nothing.here', 1), (e: unknown) => e instanceof CompositeError && e.elist.every((x) => x.method === 'push' && /nothing/.test(x.message)));
    assert.throws(() => dview.get('cfg..name'), /get|pull: "cfg\.\.name" is not a valid name/);
    assert.throws(() => dview.push({ 'cfg.name': 1, other: 2 }), /push: set attribute paths \(cfg\.name\) in a push of their own/);
  });

  test('remote and parallel keep the function\'s name', () => {
    function double(x: number) {
      return 2 * x;
    }
    assert.equal(dview.remote()(double).name, 'double');
    assert.equal(dview.parallel()(double).name, 'double');
    assert.equal(dview.remote()('function triple(x) { return 3 * x }').name, 'triple');
    assert.equal(dview.remote()((x: number) => x).name, '', 'an anonymous function stays anonymous');
  });
});

describe('Python engines', () => {
  let tc: TestCluster;
  let pview: DirectView;
  before(async () => {
    tc = await startTestCluster({ n: 2, engine: 'python' });
    pview = tc.rc.view();
    pview.block = true;
  });
  after(() => tc?.stop());

  test('map and parallel.map accept a def block, as apply does', async () => {
    const sq = 'def sq(x):\n    return x * x\n';
    assert.deepEqual(await pview.apply(sq, 3), [9, 9], 'apply accepts it');
    assert.deepEqual(await pview.map(sq, [1, 2, 3, 4, 5]), [1, 4, 9, 16, 25]);
    assert.deepEqual(await pview.parallel()(sq).map([6, 7]), [36, 49]);
    // A decorated, recursive def; and statements ending with an expression.
    const fact = 'import functools\n@functools.lru_cache\ndef fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n';
    assert.deepEqual(await pview.map(fact, [0, 5, 10]), [1, 120, 3628800]);
    assert.deepEqual(await pview.map('import math\nk = 2\nlambda x: math.isqrt(x) * k', [16, 81]), [8, 18]);
    assert.deepEqual(await pview.map('lambda a, b: a - b', new Set([10, 20]), [1, 2]), [9, 18], 'a lambda as before');
  });

  test('remote of a Python def carries its name', () => {
    assert.equal(pview.remote()('def getpid():\n    import os\n    return os.getpid()\n').name, 'getpid');
  });

  test('dotted attribute paths read and set attributes', async () => {
    await pview.execute('import types\nns = types.SimpleNamespace(inner=types.SimpleNamespace(v=1), s="x")\nplain = 5');
    assert.deepEqual(await pview.get('ns.inner.v'), [1, 1]);
    assert.deepEqual(await pview.pull(['plain', 'ns.s']), [[5, 'x'], [5, 'x']]);
    await pview.set('ns.inner.v', 42, { targets: [1] });
    assert.deepEqual(await pview.get('ns.inner.v'), [1, 42]);
    await assert.rejects(pview.get('ns.missing', { targets: 0 }), (e: unknown) => e instanceof RemoteError && e.ename === 'AttributeError');
  });

  test('a view over node and Python engines reads a path on each in its own language', async () => {
    const [nodeId] = await tc.rc.addEngines(1, { engine: 'node' });
    await tc.rc.view(nodeId).execute('var ns = { s: "from node" }', { block: true });
    const both = tc.rc.view([0, nodeId]);
    assert.deepEqual(await both.get('ns.s'), ['x', 'from node']);
    await both.set('ns.s', 'same');
    assert.deepEqual(await both.get('ns.s'), ['same', 'same']);
  });
});
