/**
 * { store: true }: a request's result kept in the controller's task database, so rc.getResult
 * from a NEW client returns it (the client that sent it got it too), on node and Python engines,
 * direct views (execute, apply, map) and load-balanced views; and after the controller is
 * SIGKILLed and restarted with --db sqlite. Without store, a result answered to its client is not kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControllerError, type AsyncResult, type ExecuteResult } from 'multiengine';
import { signal } from '../reliability/faultKit.ts';
import { startTestCluster, until } from './fixture.ts';

for (const db of ['sqlite', 'memory'] as const) {
  test(`store (${db}): results of execute, apply and map (direct views) and of load-balanced apply and map come back by getResult from a new client, on node and Python engines`, async () => {
    const tc = await startTestCluster({ n: 1, db });
    try {
      const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
      const { rc } = tc;
      // The direct connections are up: stored requests go through the controller anyway.
      for (const id of [0, py]) await rc.view(id).execute('1', { block: true }); // code both languages run
      await until(() => rc.directEngines.length === 2, 5000, 'direct connections to both engines');

      const node = rc.view(0);
      const pyv = rc.view(py);
      const ex = node.execute('console.log("said"); 6 * 7', { store: true, block: false }) as AsyncResult<ExecuteResult>;
      const exPy = pyv.execute('print("said")\nx = 6 * 7', { store: true, block: false }) as AsyncResult<ExecuteResult>;
      const ap = node.remote({ store: true, block: false })((x: number) => x * 2)(21) as AsyncResult<number>;
      const apPy = pyv.remote({ store: true, block: false })('lambda x: x * 2')(21) as AsyncResult<number>;
      node.store = true;
      const mp = node.mapAsync((x: number) => x + 1, [1, 2, 3]);
      node.store = false;
      const lb = rc.loadBalancedView([0]).withFlags({ store: true });
      const lbAp = lb.applyAsync((x: number) => x * 3, 5);
      const lbMap = rc.loadBalancedView([py]).withFlags({ store: true }).mapAsync('lambda x: x * 10', [1, 2]);
      const plain = node.applyAsync(() => 'not kept');
      assert.equal(await ap, 42, 'the client that sent it gets its result as usual');
      await Promise.all([ex, exPy, apPy, mp, lbAp, lbMap, plain]);

      const fresh = await tc.cluster.connect();
      try {
        const e = (await fresh.getResult(ex.msgIds[0])) as ExecuteResult[];
        assert.deepEqual(e.map((r) => [r.engineId, r.result, r.stdout]), [[0, '42', 'said\n']]);
        const ep = (await fresh.getResult(exPy.msgIds[0])) as ExecuteResult[];
        assert.deepEqual(ep.map((r) => [r.engineId, r.stdout]), [[py, 'said\n']]);
        assert.deepEqual(await fresh.getResult(ap.msgIds[0]), [42]);
        assert.deepEqual(await fresh.getResult(apPy.msgIds[0]), [42]);
        assert.deepEqual(await fresh.getResult(mp.msgIds), [[[2, 3, 4]]], "map: its one request, the one engine's chunk");
        assert.deepEqual(await fresh.getResult(lbAp.msgIds[0]), [15]);
        assert.deepEqual(await fresh.getResult(lbMap.msgIds), [[10], [20]]);
        await assert.rejects(
          fresh.getResult(plain.msgIds[0]),
          (x: unknown) =>
            x instanceof ControllerError &&
            x.ename === 'KeyError' &&
            /^result_request: no result for msg_id \S+: it was answered to the client that sent it \(on engine \d+\) and its value was not kept; the controller keeps the values of clients that went away and of requests sent with store \(\{ store: true \} in TypeScript, view\.store = True in Python\)/.test(x.message),
        );
      } finally {
        fresh.close();
      }
    } finally {
      await tc.stop();
    }
  });
}

test('store (sqlite): a stored result survives a SIGKILLed controller; a new client gets it after the restart', async () => {
  const tc = await startTestCluster({ n: 1, restart: 'always' });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    const a = tc.rc.view(0).remote({ store: true, block: false })(() => 'node value')() as AsyncResult<string>;
    const b = tc.rc.view(py).remote({ store: true, block: false })('lambda: "python value"')() as AsyncResult<string>;
    await Promise.all([a, b]);
    await until(async () => (await tc.rc.dbQuery({ msg_id: { $in: [a.msgIds[0], b.msgIds[0]] } })).length === 2, 5000, 'both records written');
    const oldPid = tc.cluster.controllerPid;
    signal(oldPid, 'SIGKILL');
    await until(() => tc.cluster.controllerPid !== oldPid, 20_000, 'the controller to be restarted');
    assert.ok(await tc.rc.waitConnected(20_000));
    const fresh = await tc.cluster.connect();
    try {
      assert.deepEqual(await fresh.getResult(a.msgIds[0]), ['node value']);
      assert.deepEqual(await fresh.getResult(b.msgIds[0]), ['python value']);
    } finally {
      fresh.close();
    }
  } finally {
    await tc.stop();
  }
});
