/**
 * The controller killed with SIGKILL. Supervised by a Cluster, it is restarted on the same
 * port with the same key; node and python engines re-register with their ids and namespaces,
 * clients reconnect on their own, and the request in flight fails with a clear error without
 * ever running twice. Unsupervised, engines and clients give up after the grace period.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ConnectionError, EngineError, RemoteError, type AsyncResult, type ConnectionState, type ControllerEvent } from 'multiengine';
import { engineInfo, eventually, isAlive, signal, sleep, startTestCluster, until, untilReached } from './faultKit.ts';

test('controller killed (SIGKILL): restarted on the same port and key; engines come back with their ids and namespaces; clients reconnect; the request in flight fails once, clearly', async () => {
  const tc = await startTestCluster({ n: 2, restart: 'always' });
  const states: ConnectionState[] = [];
  const events: ControllerEvent[] = [];
  tc.rc.onDidChangeConnection((s) => states.push(s));
  tc.cluster.onDidChangeController((e) => events.push(e));
  const allPids = new Set<number>();
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    assert.deepEqual(tc.rc.ids, [0, 1, py]);
    await tc.rc.view([0, 1]).push({ a: 'node state' }, { block: true });
    await tc.rc.view(py).execute("a = 'python state'", { block: true });
    const before = tc.rc.engines;
    for (const e of before) allPids.add(e.pid);
    const fileBefore = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as { key: string; port: number };
    const oldPid = tc.cluster.controllerPid;
    allPids.add(oldPid);

    // In flight on engine 0 (it counts its runs); on engine 1 one running and one queued behind it.
    const inFlight = tc.rc.view(0).execute('globalThis.runs = (globalThis.runs ?? 0) + 1; await new Promise((r) => setTimeout(r, 1000)); runs') as AsyncResult<unknown>;
    const busy = tc.rc.view(1).execute('await new Promise((r) => setTimeout(r, 1000))') as AsyncResult<unknown>;
    const queued = tc.rc.view(1).execute('globalThis.queuedRan = true') as AsyncResult<unknown>;
    await untilReached(tc.rc, 0, inFlight.msgIds[0]);
    await until(async () => (await engineInfo(tc.rc, 1)).queue === 2, 5000, 'engine 1 to run one request and have one queued');
    signal(oldPid, 'SIGKILL');

    await assert.rejects(inFlight, (e: unknown) => e instanceof EngineError && /lost the connection to the controller/.test(e.evalue) && /not sent again/.test(e.evalue));
    await assert.rejects(busy, EngineError);
    await assert.rejects(queued, EngineError);
    assert.ok(await tc.rc.waitConnected(20_000), 'the client reconnected');
    assert.ok(states.includes('reconnecting') && states.at(-1) === 'connected', `states: ${states.join(', ')}`);
    assert.equal(tc.rc.reconnects, 1);

    // A new controller process, same port, same key, same connection files.
    assert.notEqual(tc.cluster.controllerPid, oldPid);
    allPids.add(tc.cluster.controllerPid);
    assert.equal(tc.rc.controllerPid, tc.cluster.controllerPid);
    const fileAfter = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as { key: string; port: number };
    assert.deepEqual([fileAfter.key, fileAfter.port], [fileBefore.key, fileBefore.port]);
    assert.equal(tc.cluster.controllerRestarts, 1);
    assert.deepEqual(
      events.map((e) => e.event),
      ['exited', 'restarted'],
    );
    assert.match(events[0].reason, /SIGKILL/);

    // The same engine processes, re-registered under their old ids, namespaces intact.
    assert.ok(await eventually(() => tc.rc.ids.length === 3, 15_000), `ids: ${tc.rc.ids.join(', ')}`);
    assert.deepEqual(tc.rc.ids, [0, 1, py]);
    for (const e of before) {
      const now = tc.rc.engine(e.id)!;
      assert.equal(now.pid, e.pid, `engine ${e.id} is the same process`);
      assert.equal(now.kernel, e.kernel);
      assert.ok(now.resumed, `engine ${e.id} says it resumed`);
      assert.ok(!now.namespace_new);
    }
    assert.deepEqual(await tc.rc.view([0, 1]).pull('a', { block: true }), ['node state', 'node state']);
    assert.equal(await tc.rc.view(py).pull('a', { block: true }), 'python state');

    // Never run twice, and the request that was only queued never ran.
    await sleep(1200); // longer than the in-flight request: a second run would have counted by now
    assert.equal(await tc.rc.view(0).pull('runs', { block: true }), 1);
    await assert.rejects(tc.rc.view(1).pull('queuedRan', { block: true }), (e: unknown) => e instanceof RemoteError && e.ename === 'NameError');

    // Supervision goes on: an adopted engine that dies is replaced under its id (restart 'always').
    const adopted = tc.rc.engine(0)!.pid;
    signal(adopted, 'SIGKILL');
    assert.ok(await eventually(() => tc.rc.engine(0)?.state === 'idle' && tc.rc.engine(0)!.pid !== adopted, 20_000), 'engine 0 restarted');
    assert.equal(tc.rc.engine(0)!.restarts, 1);
    allPids.add(tc.rc.engine(0)!.pid);
    assert.deepEqual(await tc.rc.view([0, 1]).applySync(() => 'ok'), ['ok', 'ok']);
    assert.equal(((await tc.rc.view(py).execute('6 * 7', { block: true })) as { result?: string }).result, '42');

    // A fresh client of the restarted controller works too.
    const rc2 = await tc.cluster.connect();
    assert.deepEqual(rc2.ids, [0, 1, py]);
    rc2.close();
  } finally {
    await tc.stop();
  }
  assert.ok(await eventually(() => [...allPids].every((p) => !isAlive(p)), 5000), 'stop() left no process behind');
});

test('controller killed and not restarted: engines exit after the reconnect grace period (no orphans) and clients close', async () => {
  const tc = await startTestCluster({ n: 2, restartController: false, reconnectMs: 1500 });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    const pids = tc.rc.engines.map((e) => e.pid);
    assert.equal(pids.length, 3);
    const inFlight = tc.rc.view(py).execute('import time; time.sleep(5)') as AsyncResult<unknown>;
    await untilReached(tc.rc, py, inFlight.msgIds[0]);
    const t0 = performance.now();
    signal(tc.cluster.controllerPid, 'SIGKILL');
    await assert.rejects(inFlight, (e: unknown) => e instanceof EngineError && /lost the connection/.test(e.evalue));
    assert.equal(tc.rc.connectionState, 'reconnecting');
    // They keep trying for the grace period, then give up.
    await sleep(500); // within the grace period, in which no engine may exit
    assert.ok(pids.every(isAlive), 'engines wait for the controller during the grace period');
    assert.ok(await eventually(() => pids.every((p) => !isAlive(p)), 15_000), 'every engine exited');
    assert.ok(performance.now() - t0 >= 1500 - 100, 'not before the grace period');
    assert.ok(await eventually(() => tc.rc.connectionState === 'closed', 10_000), 'the client gave up');
    assert.equal(tc.rc.isClosed, true);
    assert.throws(() => tc.rc.view().execute('1'), ConnectionError);
  } finally {
    await tc.stop();
  }
});
