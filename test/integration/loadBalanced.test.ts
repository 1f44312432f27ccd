/**
 * The LoadBalancedView on a real cluster (the controller's scheduler, node and Python engines):
 * where tasks run, map's order, imap's window as the controller counts it, retries after an
 * engine is killed, and TaskTimeout. Tasks that must wait do so on a file the test creates (no
 * sleeps, no timing assertions): `held(path)` is a node function that returns once it exists.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AbortError, EngineError, RemoteError, type Client } from 'multiengine';
import { startTestCluster, until, type TestCluster } from './fixture.ts';

declare const require: (m: string) => typeof fs;

/** Runs on a node engine: waits until `file` exists, then returns `x`. */
async function held(file: string, x: number): Promise<number> {
  const { existsSync } = require('node:fs');
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 5));
  return x;
}

/** Balanced tasks the controller holds (unassigned) and has on engines (their balanced counts). */
async function balancedCounts(rc: Client): Promise<{ unassigned: number; onEngines: number; byEngine: Map<number, number> }> {
  const s = await rc.status();
  const byEngine = new Map(s.engines.map((e) => [e.id, e.balanced ?? 0]));
  return { unassigned: s.unassigned ?? 0, onEngines: [...byEngine.values()].reduce((a, b) => a + b, 0), byEngine };
}

describe('a cluster of node and Python engines', () => {
  let tc: TestCluster;
  let py: number[];
  let gateDir: string;
  let gates = 0;
  /** A fresh file path for one test's tasks to wait on, and its opener. */
  const gate = () => {
    const file = path.join(gateDir, `gate-${gates++}`);
    return { file, open: () => fs.writeFileSync(file, '') };
  };

  before(async () => {
    tc = await startTestCluster({ n: 4 });
    py = await tc.cluster.addEngines(2, { engine: 'python' });
    gateDir = fs.mkdtempSync(path.join(tc.dir, 'gates-'));
  });
  after(async () => {
    await tc?.stop();
  });

  test('applyAsync runs on some engine of the pool and engineIds names it', async () => {
    const nodes = [0, 1, 2, 3];
    const lview = tc.rc.loadBalancedView(nodes);
    const ar = lview.applyAsync((a: number, b: number) => a * b, 6, 7);
    assert.equal(await ar, 42);
    assert.equal(ar.engineIds.length, 1);
    assert.ok(nodes.includes(ar.engineIds[0]), `ran on ${ar.engineIds[0]}`);
    const where = await lview.applySync(() => (globalThis as unknown as { process: { pid: number } }).process.pid);
    assert.ok(tc.rc.engines.some((e) => nodes.includes(e.id) && e.pid === where));
  });

  test('Python engines take the same tasks, as Python source', async () => {
    const lview = tc.rc.loadBalancedView(py);
    const ar = lview.applyAsync('def double(x):\n    return x * 2', 21);
    assert.equal(await ar, 42);
    assert.ok(py.includes(ar.engineIds[0]));
    assert.deepEqual(await lview.mapSync('def square(x):\n    return x * x', [1, 2, 3, 4, 5], { chunksize: 2 }), [1, 4, 9, 16, 25]);
    assert.deepEqual(await lview.mapSync('def neg(x):\n    return -x', [1, 2, 3]), [-1, -2, -3]);
  });

  test('map keeps input order although the first items finish last', async () => {
    const g = gate();
    const lview = tc.rc.loadBalancedView([0, 1, 2, 3]);
    // Items 0 and 1 wait on the gate ('/' exists: 2 and 3 return at once).
    const ar = lview.mapAsync(held, [g.file, g.file, '/', '/'], [0, 1, 2, 3]);
    await until(() => ar.progress === 2, 5000, 'items 2 and 3 done first');
    g.open();
    assert.deepEqual(await ar, [0, 1, 2, 3]);
    assert.deepEqual(await lview.mapSync((x: number) => x * 10, [1, 2, 3, 4, 5, 6, 7, 8, 9], { chunksize: 2 }), [10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  test('ordered: false yields tasks as they finish; progress counts items', async () => {
    const g = gate();
    const lview = tc.rc.loadBalancedView([0, 1, 2, 3]);
    // Item 0 waits on the gate; the others do not: they come first, then 0 once the gate opens.
    const files = [g.file, '/', '/', '/'];
    const ar = lview.mapAsync(held, files, [0, 1, 2, 3], { ordered: false });
    const seen: number[] = [];
    for await (const v of ar) {
      seen.push(v);
      if (seen.length === 3) {
        assert.equal(ar.progress, 3);
        g.open();
      }
    }
    assert.deepEqual(seen.slice(0, 3).sort(), [1, 2, 3]);
    assert.equal(seen[3], 0);
    assert.equal(ar.progress, 4);
  });

  test('imap keeps at most maxOutstanding tasks with the controller, though engines are free', async () => {
    const g = gate();
    const lview = tc.rc.loadBalancedView([0, 1, 2, 3]);
    const items = [0, 1, 2, 3, 4, 5].map((x) => [g.file, x] as [string, number]);
    const it = lview.imap(
      async (item: [string, number]) => {
        const { existsSync } = require('node:fs');
        while (!existsSync(item[0])) await new Promise((r) => setTimeout(r, 5));
        return item[1];
      },
      items.values(),
      { maxOutstanding: 2 },
    );
    // The two tasks wait on the gate; with four free engines, nothing else may be sent.
    await until(async () => (await balancedCounts(tc.rc)).onEngines === 2, 5000, 'two tasks running');
    const c = await balancedCounts(tc.rc);
    assert.equal(c.onEngines + c.unassigned, 2, `two tasks with the controller, saw ${JSON.stringify(c)}`);
    assert.equal(it.outstanding, 2);
    g.open();
    const out: number[] = [];
    for await (const v of it) out.push(v);
    assert.deepEqual(out, [0, 1, 2, 3, 4, 5]);
  });

  test('a task whose engine is killed is retried elsewhere with retries, and fails with EngineError without', async () => {
    const g = gate();
    const lview = tc.rc.loadBalancedView([1, 2]);
    const retried = lview.withFlags({ retries: 1 }).applyAsync(held, g.file, 7);
    const first = await untilRunning(tc.rc, [1, 2]);
    process.kill(tc.rc.engines.find((e) => e.id === first)!.pid, 'SIGKILL');
    const other = first === 1 ? 2 : 1;
    await until(async () => (await balancedCounts(tc.rc)).byEngine.get(other) === 1, 10_000, `the task resubmitted to engine ${other}`);
    g.open();
    assert.equal(await retried, 7);
    assert.deepEqual(retried.engineIds, [other]);

    const g2 = gate();
    const once = tc.rc.loadBalancedView([other]).applyAsync(held, g2.file, 8);
    await untilRunning(tc.rc, [other]);
    process.kill(tc.rc.engines.find((e) => e.id === other)!.pid, 'SIGKILL');
    const err = await once.then(() => assert.fail('should reject'), (e: unknown) => e);
    assert.ok(err instanceof EngineError, String(err));
    assert.equal(err.engineId, other);
    g2.open();
  });

  test('timeoutMs: a task not started in time fails with TaskTimeout (engine -1)', async () => {
    const g = gate();
    const lview = tc.rc.loadBalancedView([0]);
    const blocker = lview.applyAsync(held, g.file, 1);
    const late = lview.withFlags({ timeoutMs: 300, after: blocker }).applyAsync(() => 'never');
    const err = await late.then(() => assert.fail('should reject'), (e: unknown) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.ename, 'TaskTimeout');
    assert.deepEqual(late.engineIds, [-1]);
    g.open();
    assert.equal(await blocker, 1);
  });

  test('follow runs where its dependency ran; after with successOnly fails with ImpossibleDependency when it failed', async () => {
    // Engines 1 and 2 were killed above: the pool is the node engines left.
    const lview = tc.rc.loadBalancedView([0, 3]);
    for (let i = 0; i < 4; i++) {
      const first = lview.applyAsync(() => 'first');
      await first;
      const next = lview.withFlags({ follow: first }).applyAsync(() => 'next');
      assert.equal(await next, 'next');
      assert.deepEqual(next.engineIds, first.engineIds);
    }
    const failed = lview.applyAsync(() => {
      throw new Error('no');
    });
    await assert.rejects(failed, /no/);
    const dependent = lview.withFlags({ after: failed, successOnly: true }).applyAsync(() => 'never');
    const err = await dependent.then(() => assert.fail('should reject'), (e: unknown) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.ename, 'ImpossibleDependency');
    assert.deepEqual(dependent.engineIds, [-1]);
  });

  test('ar.abort() drops a task the scheduler has not sent; the others run', async () => {
    const g = gate();
    const lview = tc.rc.loadBalancedView([3]);
    const blocker = lview.applyAsync(held, g.file, 1);
    const waiting = lview.withFlags({ after: blocker }).applyAsync(() => 'after');
    const dropped = lview.withFlags({ after: blocker }).applyAsync(() => 'dropped');
    await until(async () => (await balancedCounts(tc.rc)).unassigned === 2, 5000, 'two tasks held by the scheduler');
    await dropped.abort();
    await assert.rejects(dropped, (e: unknown) => e instanceof AbortError);
    assert.equal((await balancedCounts(tc.rc)).unassigned, 1);
    g.open();
    assert.equal(await blocker, 1);
    assert.equal(await waiting, 'after');
  });

  test('a task waiting for its pool runs on an engine that registers later', async () => {
    const next = Math.max(...tc.rc.engines.map((e) => e.id)) + 1;
    const ar = tc.rc.loadBalancedView([next]).applyAsync(() => 'on the new engine');
    await until(async () => (await balancedCounts(tc.rc)).unassigned === 1, 5000, 'the task held for its pool');
    assert.deepEqual(await tc.cluster.addEngines(1), [next]);
    assert.equal(await ar, 'on the new engine');
    assert.deepEqual(ar.engineIds, [next]);
  });
});

/** Polls until one of `pool` has a balanced task; returns that engine. */
async function untilRunning(rc: Client, pool: number[]): Promise<number> {
  let found = -1;
  await until(
    async () => {
      const c = await balancedCounts(rc);
      found = pool.find((id) => (c.byEngine.get(id) ?? 0) > 0) ?? -1;
      return found >= 0;
    },
    5000,
    `a task on one of engines ${pool.join(', ')}`,
  );
  return found;
}
