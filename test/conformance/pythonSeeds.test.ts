/**
 * Issue 3's seeds: IPython's multiengine transcripts with their Python code, literally,
 * on four real Python engines, sent by the TypeScript client (what its decoding of Python's
 * values gives: NDArray, bigint); then a mixed node + Python cluster sharing one array.
 * The same scenarios typed as a Python client session into ipython3 are
 * test/integration/ipython/python-engine-seeds.txt (run by ipythonSessions.test.ts). The mixed
 * cluster has no IPython form in the seeds (a Float64Array is a TypeScript value), so it stays
 * here only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompositeError, EngineError, NDArray, type AsyncResult, type DirectView, type ExecuteResult } from 'multiengine';
import { startTestCluster, untilReached, type TestCluster } from '../integration/fixture.ts';

describe('seed transcripts on 4 Python engines', () => {
  let tc: TestCluster;
  let dview: DirectView;
  before(async () => {
    tc = await startTestCluster({ n: 4, engine: 'python' });
    dview = tc.rc.view();
    dview.block = true;
  });
  after(() => tc?.stop());

  test('engines report their kernel, version, host and pid', () => {
    assert.deepEqual(tc.rc.ids, [0, 1, 2, 3]);
    for (const e of tc.rc.engines) {
      assert.equal(e.kernel, 'python');
      assert.match(e.language_version, /^3\.\d+/);
      assert.ok(e.host.length > 0 && e.pid > 0);
    }
  });

  test("execute('a=5'), execute('b=10'), c=a+b on [0,2], c=a-b on [1,3], print(c)", async () => {
    await dview.execute('a=5');
    await dview.execute('b=10');
    await dview.execute('c=a+b', { targets: [0, 2] });
    await dview.execute('c=a-b', { targets: [1, 3] });
    const out = (await dview.execute('print(c)')) as ExecuteResult[];
    assert.deepEqual(out.map((r) => r.stdout), ['15\n', '-5\n', '15\n', '-5\n']);
  });

  test('import numpy; a = numpy.random.rand(2,2); numpy.linalg.eigvals(a)', async () => {
    await dview.execute('import numpy');
    await dview.execute('a = numpy.random.rand(2,2)');
    const shown = (await dview.execute('numpy.linalg.eigvals(a)')) as ExecuteResult[];
    for (const r of shown) assert.match(r.result ?? '', /^array\(\[/);
    const as = (await dview.pull('a')) as NDArray<Float64Array>[];
    for (const a of as) {
      assert.ok(a instanceof NDArray);
      assert.deepEqual(a.shape, [2, 2]);
      assert.equal(a.dtype, 'float64');
      assert.ok(a.data instanceof Float64Array);
    }
    await dview.execute('ev = numpy.linalg.eigvals(a @ a.T)');
    const evs = (await dview.pull('ev')) as NDArray<Float64Array>[];
    for (const [i, ev] of evs.entries()) {
      assert.deepEqual(ev.shape, [2]);
      // eigenvalues of a·aᵀ sum to its trace
      const m = as[i].data;
      const trace = m[0] * m[0] + m[1] * m[1] + m[2] * m[2] + m[3] * m[3];
      assert.ok(Math.abs(ev.data[0] + ev.data[1] - trace) < 1e-9);
    }
  });

  test("push({a: 1.03234, b: 3453}) and pull(['a','b'])", async () => {
    await dview.push({ a: 1.03234, b: 3453 });
    assert.deepEqual(await dview.pull(['a', 'b']), Array(4).fill([1.03234, 3453]));
  });

  test("scatter('x', range64), y = [i**10 for i in x], gather('y')", async () => {
    const range64 = Array.from({ length: 64 }, (_, i) => i);
    await dview.scatter('x', range64);
    await dview.execute('y = [i**10 for i in x]');
    // Past 2**53 a Python int arrives as a bigint, as the mapping table says.
    const expected = range64.map((i) => {
      const v = BigInt(i) ** 10n;
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? v : Number(v);
    });
    assert.deepEqual(await dview.gather('y'), expected);
  });

  test("execute('1/0') raises a CompositeError with Python's exception", async () => {
    await assert.rejects(dview.execute('1/0'), (e: unknown) => {
      assert.ok(e instanceof CompositeError);
      const lines = [0, 1, 2, 3].map((i) => `[${i}:execute]: ZeroDivisionError: division by zero`);
      assert.equal(e.message, ['one or more exceptions from call to method: execute', ...lines].join('\n'));
      assert.ok(e.elist[0].traceback.some((l) => l.includes('ZeroDivisionError')));
      return true;
    });
  });

  test('apply takes Python source with free names from the namespace', async () => {
    await dview.push({ a: 5, b: 10 });
    assert.deepEqual(await dview.applySync('lambda x: a+b+x', 27), [42, 42, 42, 42]);
    assert.deepEqual(await dview.mapSync('lambda x: x*2', [1, 2, 3, 4, 5]), [2, 4, 6, 8, 10]);
  });

  test('killing a Python engine fails its outstanding request with EngineError', async () => {
    const victim = tc.rc.engines.find((e) => e.id === 3)!;
    const ar = tc.rc.view(3).execute('import time; time.sleep(60)', { block: false }) as AsyncResult<unknown>;
    await untilReached(tc.rc, 3, ar.msgIds[0]);
    process.kill(victim.pid, 'SIGKILL');
    await assert.rejects(ar, (e: unknown) => e instanceof EngineError && e.engineId === 3);
    assert.deepEqual(await tc.rc.view([0, 1, 2]).applySync('lambda: 1'), [1, 1, 1]);
  });
});

describe('a mixed cluster: 2 node and 2 Python engines', () => {
  let tc: TestCluster;
  before(async () => {
    tc = await startTestCluster({ n: 2 });
    await tc.cluster.addEngines(2, { engine: 'python' });
  });
  after(() => tc?.stop());

  const values = (v: unknown): number[] => Array.from((v instanceof NDArray ? v.data : v) as Float64Array);

  test('push, pull, scatter and gather of a Float64Array', async () => {
    const dview = tc.rc.view();
    dview.block = true;
    assert.deepEqual(tc.rc.engines.map((e) => e.kernel), ['node', 'node', 'python', 'python']);
    const x = Float64Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    await dview.push({ x });
    const pulled = (await dview.pull('x')) as unknown[];
    assert.equal(pulled.length, 4);
    for (const p of pulled) assert.deepEqual(values(p), Array.from(x));
    await dview.scatter('part', x);
    const parts = (await dview.pull('part')) as unknown[];
    assert.deepEqual(parts.map((p) => values(p).length), [250, 250, 250, 250]);
    const gathered = await dview.gather('part');
    assert.deepEqual(values(gathered), Array.from(x));
  });
});
