/**
 * A client's own requests, with a real cluster: rc.history (every work request it sent, in
 * order); rc.getResult by msg_id or index, of its own running requests (answered here as each
 * ends, a map's task without waiting for the rest) and of finished ones (from the controller,
 * which has a value only when it was stored); the same msg_id asked twice at once; resubmit
 * by index; bad input named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompositeError, ControllerError, type AsyncResult, type ExecuteResult } from 'multiengine';
import { startTestCluster, until } from './fixture.ts';

const distinct = (ids: string[]) => [...new Set(ids)];

test("rc.history lists every work request sent, in order; getResult by msg_id or index waits for this client's running requests, each as it ends", async () => {
  const tc = await startTestCluster({ n: 2 });
  const { rc } = tc;
  try {
    assert.deepEqual(rc.history, []);
    assert.throws(() => rc.getResult(), (e: unknown) => e instanceof RangeError && e.message === 'getResult: index -1 is past the history of this client, which has sent 0 requests');

    const one = rc.view(0).execute('await new Promise((r) => setTimeout(r, 300)); 6 * 7') as AsyncResult<ExecuteResult>;
    const both = rc.view([0, 1]).apply((x: number) => x + 1, 1) as AsyncResult<number[]>;
    const lb = rc.loadBalancedView();
    const task = lb.applyAsync((x: number) => x * 2, 21) as AsyncResult<number>;
    // A map of a quick task and a slow one: the quick one's result comes before the map is done.
    const map = lb.mapAsync((ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), [1, 1500]) as AsyncResult<number[]>;
    const sent = [one, both, task, map].flatMap((ar) => distinct(ar.msgIds));
    assert.equal(sent.length, 5, `one msg_id per request, one for a broadcast, one per task of a map: ${JSON.stringify(sent)}`);
    assert.deepEqual(rc.history, sent);

    // Asked while they run: by index and by msg_id, values per engine in target order.
    const early = rc.getResult([1, task.msgIds[0]]);
    const [r0] = (await rc.getResult(0)) as ExecuteResult[];
    assert.equal(r0.result, '42');
    // A map's task runs a chunk of its items (chunksize 1 here): its value is that chunk.
    assert.deepEqual(await rc.getResult(map.msgIds[0]), [[1]]);
    assert.equal(map.ready(), false, 'the quick task of the map came back while its slow one still ran');
    assert.deepEqual(await rc.getResult(-1), [[1500]]);
    assert.deepEqual(await early, [[2, 2], [42]]);
    assert.deepEqual(await map, [1, 1500]);

    // A failure while it runs: as a view call with several engines would say it.
    const bad = rc.view(1).execute('await new Promise((r) => setTimeout(r, 200)); throw new RangeError("no such thing")') as AsyncResult<unknown>;
    await assert.rejects(rc.getResult(-1), (e: unknown) => e instanceof CompositeError && e.elist.length === 1 && e.elist[0].ename === 'RangeError' && e.elist[0].engineId === 1);
    await assert.rejects(bad);

    // Finished: its AsyncResult has it; the client keeps no copy, and the controller kept none.
    await assert.rejects(rc.getResult(0), (e: unknown) => e instanceof ControllerError && e.ename === 'KeyError' && e.message.includes(`no result for msg_id ${sent[0]}: it was answered to the client that sent it`));

    // Bad input names what was wrong.
    assert.throws(() => rc.getResult(7), (e: unknown) => e instanceof RangeError && e.message === 'getResult: index 7 is past the history of this client, which has sent 6 requests');
    assert.throws(() => rc.getResult(1.5), (e: unknown) => e instanceof TypeError && e.message === 'getResult: expected a msg_id string (e.g. from asyncResult.msgIds) or an index into rc.history, got 1.5');
    assert.throws(() => rc.getResult([null as never]), (e: unknown) => e instanceof TypeError && /got null$/.test(e.message));
    await assert.rejects(rc.resubmit([]), (e: unknown) => e instanceof TypeError && e.message === 'resubmit: expected msg_ids (or indices into rc.history), got an empty array');
    await assert.rejects(rc.resubmit(-20), (e: unknown) => e instanceof RangeError && /^resubmit: index -20 is past the history of this client, which has sent 6 requests$/.test(e.message));
  } finally {
    await tc.stop();
  }
});

test("getResult of a map's task that already came back, while the map still runs, is answered from the map", async () => {
  const tc = await startTestCluster({ n: 2 });
  const { rc } = tc;
  try {
    const map = rc.loadBalancedView().mapAsync((ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), [1, 1500]) as AsyncResult<number[]>;
    await until(() => map.metadata[0].status === 'ok', 5000, "the map's quick task");
    assert.equal(map.ready(), false);
    // Its reply has been read: the request itself is over, the map it belongs to is not.
    assert.deepEqual(await rc.getResult(map.msgIds[0]), [[1]]);
    assert.deepEqual(await map, [1, 1500]);
  } finally {
    await tc.stop();
  }
});

test('a stored request of this client comes back from the controller once finished, also when asked twice at once; resubmit() runs the latest again', async () => {
  const tc = await startTestCluster({ n: 1 });
  const { rc } = tc;
  try {
    const stored = rc.view(0).execute('2 + 2', { store: true, block: false }) as AsyncResult<ExecuteResult>;
    await stored;
    const [a, b] = (await Promise.all([rc.getResult(-1), rc.getResult(stored.msgIds[0])])) as ExecuteResult[][];
    assert.equal(a[0].result, '4');
    assert.deepEqual(a, b);

    // resubmit(), default -1: this client's latest request, again under a new msg_id kept by the controller.
    const [fresh] = await rc.resubmit();
    assert.notEqual(fresh, stored.msgIds[0]);
    const [again] = (await rc.getResult(fresh)) as ExecuteResult[];
    assert.equal(again.result, '4');
    assert.deepEqual(rc.history, stored.msgIds, "a resubmission is the controller's request, not one this client sent");
  } finally {
    await tc.stop();
  }
});
