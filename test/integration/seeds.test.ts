/**
 * The seeds: each section of IPython's multiengine tutorial, replayed as JavaScript
 * on a real controller with four real node engines. The scenarios that need only the protocol
 * live in seedScenarios.ts and also run, at the end, on the client tests' scripted controller.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncResult, CompositeError, RemoteError, TimeoutError, type DirectView } from 'multiengine';
import { scriptedSession } from '../unit/client/scriptedController.ts';
import { startTestCluster, type TestCluster } from './fixture.ts';
import { portableSeeds, type SeedView } from './seedScenarios.ts';

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

/** The portable seeds of `section`, on the real cluster, where the tutorial has them. */
function portable(section: string): void {
  for (const seed of portableSeeds.filter((x) => x.section === section)) test(seed.name, () => seed.run(dview as SeedView));
}

describe('quick and easy parallelism', () => {
  portable('quick and easy parallelism');
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
  portable('the targets and block attributes');
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
  portable('moving values: push, pull and the dictionary interface');
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
  portable('scatter and gather');
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

describe('the portable seeds on the scripted controller of the client tests', () => {
  const s = scriptedSession(4);
  for (const seed of portableSeeds) test(`${seed.section}: ${seed.name}`, () => seed.run(s.rc.view() as SeedView));
});
