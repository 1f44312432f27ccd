/** AsyncResult.outcomes: each engine's own value or error, even when the call as a whole failed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompositeError, RemoteError, type AsyncResult, type ExecuteResult } from 'multiengine';
import { startTestCluster } from './fixture.ts';

test('outcomes keep the values of the engines that succeeded', async () => {
  const tc = await startTestCluster({ n: 3 });
  try {
    const dview = tc.rc.view();
    await dview.scatter('part', [0, 1, 2], { block: true });
    const ar = dview.execute("if (part[0] === 1) throw new Error('only on one'); part[0] * 10", { block: false }) as AsyncResult<ExecuteResult[]>;
    assert.deepEqual(ar.outcomes.map((o) => o.engineId), [0, 1, 2]);
    await assert.rejects(ar, CompositeError);
    const outcomes = ar.outcomes;
    assert.deepEqual(outcomes.map((o) => o.status), ['ok', 'error', 'ok']);
    const ok = outcomes.flatMap((o) => (o.status === 'ok' ? [o.value as ExecuteResult] : []));
    assert.deepEqual(ok.map((r) => [r.engineId, r.result]), [[0, '0'], [2, '20']]);
    const failed = outcomes[1];
    assert.ok(failed.status === 'error' && failed.error instanceof RemoteError && failed.error.evalue === 'only on one');
  } finally {
    await tc.stop();
  }
});

test('Client, DirectView and Cluster print as short summaries, not their internals', async () => {
  const { inspect } = await import('node:util');
  const tc = await startTestCluster({ n: 2 });
  try {
    const v = tc.rc.view([1]);
    v.block = true;
    assert.equal(inspect(v), 'DirectView { targets: [ 1 ], block: true }');
    assert.equal(inspect(tc.rc.view()), "DirectView { targets: 'all', block: false }");
    assert.equal(inspect(tc.rc), `Client { ids: [ 0, 1 ], connectionFile: '${tc.cluster.connectionFile}' }`);
    assert.equal(inspect(tc.cluster), `Cluster { profile: 'test', controllerPid: ${tc.cluster.controllerPid}, ids: [ 0, 1 ] }`);
  } finally {
    await tc.stop();
  }
});
