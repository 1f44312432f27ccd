/**
 * An AsyncResult's times, getDict and label with real node and Python engines: per engine,
 * submitted <= received <= started <= completed <= resultReceived (to the millisecond the ISO strings keep),
 * wallTimeMs against serialTimeMs, a failed request's times, and the times matching what the
 * controller's task database recorded for the same request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteError, type AsyncResult, type ExecuteResult, type TaskRecord } from 'multiengine';
import { startTestCluster, type TestCluster } from './fixture.ts';

/** Per engine of `ar`: its five times, all there and in order (1 ms of slack for two processes' clocks rounding apart). */
function assertTimesInOrder(ar: AsyncResult<unknown>): void {
  const rows = ar.engineIds.map((id, i) => ({ id, t: [ar.submitted[i], ar.received[i], ar.started[i], ar.completed[i], ar.resultReceived[i]] }));
  for (const { id, t } of rows) {
    for (const x of t) assert.match(String(x), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `engine ${id}: all five times, as ISO strings: ${JSON.stringify(t)}`);
    const ms = t.map((x) => Date.parse(x!));
    for (let k = 1; k < ms.length; k++) assert.ok(ms[k - 1] <= ms[k] + 1, `engine ${id}: submitted <= received <= started <= completed <= resultReceived: ${JSON.stringify(t)}`);
  }
}

describe('AsyncResult times on node and Python engines', () => {
  let tc: TestCluster;
  let nodes: number[];
  let py: number[];

  before(async () => {
    tc = await startTestCluster({ n: 2 });
    nodes = [0, 1];
    py = await tc.cluster.addEngines(2, { engine: 'python' });
  });
  after(async () => {
    await tc?.stop();
  });

  test('wallTimeMs (first submission to last completion) covers serialTimeMs spread over the engines, on each kind', async () => {
    const busy = [
      { ids: nodes, code: 'let s = 0; for (let i = 0; i < 1e6; i++) s += i; s' },
      { ids: py, code: 'sum(range(300000))' },
    ];
    for (const { ids, code } of busy) {
      const ar = tc.rc.view(ids).execute(code, { block: false });
      await ar;
      assertTimesInOrder(ar);
      const wall = ar.wallTimeMs!;
      const serial = ar.serialTimeMs!;
      assert.ok(serial > 0, `engines ${ids} took some time each: serialTimeMs ${serial}`);
      assert.ok(wall >= serial / ids.length, `engines ${ids}: wallTimeMs ${wall} >= serialTimeMs ${serial} / ${ids.length}`);
      const earliest = Math.min(...ar.submitted.map((t) => Date.parse(t!)));
      const latest = Math.max(...ar.completed.map((t) => Date.parse(t!)));
      assert.equal(wall, latest - earliest);
      const ran = ar.started.map((t, i) => Date.parse(ar.completed[i]!) - Date.parse(t!));
      assert.equal(serial, ran.reduce((x, y) => x + y, 0));
    }
  });

  test('direct execute on node and Python engines at once: times in order, getDict by engine id, no label', async () => {
    const all = [...nodes, ...py];
    const ar = tc.rc.view(all).execute('1 + 1', { block: false });
    assert.equal(ar.wallTimeMs, undefined, 'not ready: no wall time yet');
    await ar;
    assert.deepEqual(ar.engineIds, all);
    assertTimesInOrder(ar);
    const dict = (await ar.getDict()) as Record<number, ExecuteResult>;
    assert.deepEqual(Object.keys(dict).map(Number).sort(), [...all].sort());
    for (const id of all) assert.equal(dict[id].engineId, id);
    assert.equal(ar.label, undefined);
  });

  test('a failed request has its times too, on each kind of engine', async () => {
    const bad = tc.rc.view([nodes[0], py[0]]).execute('throw new Error("node says no")', { block: false });
    await assert.rejects(bad);
    assertTimesInOrder(bad);
    assert.deepEqual(bad.metadata.map((m) => m.status), ['error', 'error']);
    const pyBad = tc.rc.view(py[1]).execute('raise ValueError("python says no")', { block: false });
    await assert.rejects(pyBad, (e: unknown) => e instanceof RemoteError && e.ename === 'ValueError');
    assertTimesInOrder(pyBad);
    assert.ok(pyBad.wallTimeMs! >= pyBad.serialTimeMs!, 'one engine: the wall time holds its own run');
    await assert.rejects(pyBad.getDict(), (e: unknown) => e instanceof RemoteError && e.ename === 'ValueError', 'getDict rejects as the result does');
  });

  test('load-balanced: label is the flag; getDict names the engine that ran a task; a map with more tasks than engines has no dict; the times match the task record', async () => {
    const lview = tc.rc.loadBalancedView(py);
    lview.label = 'pylabel';
    const ar = lview.applyAsync('def double(x):\n    return x * 2', 21) as AsyncResult<number>;
    assert.equal(await ar, 42);
    assert.equal(ar.label, 'pylabel');
    assert.ok(ar.loadBalanced);
    assertTimesInOrder(ar);
    assert.deepEqual(await ar.getDict(), { [ar.engineIds[0]]: 42 });

    const m = tc.rc.loadBalancedView(nodes).mapAsync((x: number) => x + 1, [1, 2, 3, 4, 5], { label: 'inc' });
    assert.deepEqual(await m, [2, 3, 4, 5, 6]);
    assert.equal(m.label, 'inc');
    assertTimesInOrder(m);
    // Five tasks on two engines: one engine ran several (ipyparallel's get_dict refuses this too).
    await assert.rejects(m.getDict(), (e: unknown) => e instanceof RangeError && /getDict: engine \d ran \d of this result's 5 requests/.test(e.message));
    assert.equal(tc.rc.loadBalancedView().applyAsync(() => 1).label, undefined, 'no label flag: undefined');

    // The controller recorded the same request: the client's submitted is the record's; the engine's times are the same strings.
    const [rec] = (await tc.rc.dbQuery({ msg_id: ar.msgIds[0] })) as TaskRecord[];
    assert.deepEqual([rec.submitted, rec.started, rec.completed, rec.label], [ar.submitted[0], ar.started[0], ar.completed[0], 'pylabel']);
  });
});
