/**
 * Timeouts and aborts: a call's `timeoutMs` interrupts the engine (or drops its queued
 * request) and rejects with TimeoutError, and the engine stays alive with its namespace;
 * abort() removes queued requests, which reject with AbortError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortError, CompositeError, RemoteError, TimeoutError, type AsyncResult, type ExecuteResult } from 'multiengine';
import { sleep, startTestCluster, until } from './faultKit.ts';

test('timeoutMs interrupts running code (synchronous, awaited, python) and rejects with TimeoutError; the engine stays alive with its namespace', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    await tc.rc.view([0, 1]).push({ kept: 'yes' }, { block: true });
    const pids = tc.rc.engines.map((e) => e.pid);

    const t0 = performance.now();
    await assert.rejects(tc.rc.view(0).execute('while (true) {}', { block: true, timeoutMs: 500 }), (e: unknown) => {
      return e instanceof TimeoutError && e.engineIds.length === 1 && e.engineIds[0] === 0 && /execute did not finish within 500 ms on engine 0; it was interrupted/.test(e.message);
    });
    assert.ok(performance.now() - t0 >= 450);
    await assert.rejects(tc.rc.view(1).execute('await new Promise(() => {})', { block: true, timeoutMs: 300 }), TimeoutError);
    await assert.rejects(tc.rc.view(py).execute('import time\ntime.sleep(60)', { block: true, timeoutMs: 300 }), TimeoutError);

    // All of them are idle again, same processes, same namespaces.
    assert.deepEqual(await tc.rc.view([0, 1]).pull('kept', { block: true }), ['yes', 'yes']);
    assert.equal(((await tc.rc.view(py).execute('1 + 1', { block: true })) as ExecuteResult).result, '2');
    const engines = (await tc.rc.status()).engines;
    assert.deepEqual(
      engines.map((e) => [e.pid, e.state]),
      pids.map((p) => [p, 'idle']),
    );

    // apply, through the view's default, and a call that finishes in time is untouched.
    const v = tc.rc.view(0);
    v.timeoutMs = 300;
    await assert.rejects(v.applySync(() => new Promise(() => {})), TimeoutError);
    assert.equal(await v.applySync(() => 'quick'), 'quick');
    const ar = tc.rc.view([0, 1]).execute('await new Promise((r) => setTimeout(r, 100)); 5', { timeoutMs: 5000 }) as AsyncResult<ExecuteResult[]>;
    assert.deepEqual((await ar).map((r) => r.result), ['5', '5']);
    assert.throws(() => tc.rc.view(0).execute('1', { timeoutMs: -1 }), TypeError);
  } finally {
    await tc.stop();
  }
});

test('timeoutMs on a request still queued behind another drops it: it never runs, and the running one is not touched', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const first = tc.rc.view(0).execute("await new Promise((r) => setTimeout(r, 800)); 'first done'") as AsyncResult<ExecuteResult>;
    const second = tc.rc.view(0).execute('globalThis.secondRan = true', { timeoutMs: 300 }) as AsyncResult<ExecuteResult>;
    await assert.rejects(second, TimeoutError);
    assert.equal((await first).result, "'first done'");
    await sleep(100); // a pause in which a wrongly kept second request would run
    await assert.rejects(tc.rc.view(0).pull('secondRan', { block: true }), (e: unknown) => e instanceof RemoteError && e.ename === 'NameError');
  } finally {
    await tc.stop();
  }
});

test('abort() removes queued requests: they reject with AbortError; the running one finishes; the engine goes on', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const view = tc.rc.view([0, 1]);
    const running = view.execute("console.log('started'); await new Promise((r) => setTimeout(r, 500)); 'ran'") as AsyncResult<ExecuteResult[]>;
    const q1 = view.execute('globalThis.q1 = true') as AsyncResult<unknown>;
    const q2 = tc.rc.view(1).apply(() => (globalThis as Record<string, unknown>).q2 = true) as AsyncResult<unknown>;
    // Running on both engines, not queued, when the abort comes: each has said so on its stdout.
    await until(() => running.stdout.every((out) => out.includes('started')), 5000, 'both engines to start the first request');
    await view.abort();
    await assert.rejects(q1, (e: unknown) => e instanceof CompositeError && e.elist.length === 2 && e.elist.every((x) => x instanceof AbortError));
    await assert.rejects(q2, AbortError);
    assert.deepEqual(q1.metadata.map((m) => m.status), ['aborted', 'aborted']);
    assert.deepEqual((await running).map((r) => r.result), ["'ran'", "'ran'"]);
    await assert.rejects(view.pull('q1', { block: true }), CompositeError);
    // One result's requests only.
    const busy = tc.rc.view(0).execute('await new Promise((r) => setTimeout(r, 300))') as AsyncResult<unknown>;
    const keep = tc.rc.view(0).execute('1') as AsyncResult<unknown>;
    const drop = tc.rc.view(0).execute('2') as AsyncResult<unknown>;
    await drop.abort();
    await assert.rejects(drop, AbortError);
    await busy;
    assert.equal(((await keep) as ExecuteResult).result, '1');
  } finally {
    await tc.stop();
  }
});
