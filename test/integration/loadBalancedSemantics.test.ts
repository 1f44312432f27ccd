/**
 * The LoadBalancedView's flags and failures on a real mixed cluster (two node engines, two
 * Python engines), each test run against both engine kinds through the same table of task
 * sources; and the mixed pool itself (a JS function only on node engines, Python source only
 * on Python ones). Tasks that must wait do so on a file the test creates (no sleeps).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AbortError, CompositeError, EngineError, ImpossibleDependency, RemoteError, requireModules, TaskTimeout, UnmetDependency, type Client } from 'multiengine';
import { startTestCluster, until, type TestCluster } from './fixture.ts';

type Kind = 'node' | 'python';

/** The same tasks in each engine language. */
const SRC: Record<Kind, { double: string; boom: string; held: string; pid: string; failFirst: string; chunkDouble: string; spin: string }> = {
  node: {
    double: '(x) => x * 2',
    boom: '() => { throw new Error("boom"); }',
    held: 'async (file, x) => { const fs = require("node:fs"); while (!fs.existsSync(file)) await new Promise((r) => setTimeout(r, 5)); return x; }',
    pid: '() => process.pid',
    failFirst: '(file) => { const fs = require("node:fs"); if (!fs.existsSync(file)) { fs.writeFileSync(file, String(process.pid)); throw new Error("first attempt"); } return [Number(fs.readFileSync(file, "utf8")), process.pid]; }',
    chunkDouble: '(xs) => xs.map((x) => x * 2)',
    spin: 'async () => { await new Promise((r) => setTimeout(r, 60_000)); return "never"; }',
  },
  python: {
    double: 'lambda x: x * 2',
    boom: 'def boom():\n    raise ValueError("boom")',
    held: 'def held(file, x):\n    import os, time\n    while not os.path.exists(file):\n        time.sleep(0.005)\n    return x',
    pid: 'def pid():\n    import os\n    return os.getpid()',
    failFirst: 'def fail_first(file):\n    import os\n    if not os.path.exists(file):\n        with open(file, "w") as f:\n            f.write(str(os.getpid()))\n        raise ValueError("first attempt")\n    with open(file) as f:\n        return [int(f.read()), os.getpid()]',
    chunkDouble: 'def chunk_double(xs):\n    return [x * 2 for x in xs]',
    spin: 'def spin():\n    import time\n    time.sleep(60)\n    return "never"',
  },
};

/** Balanced tasks the controller holds and has on each engine. */
async function counts(rc: Client): Promise<{ unassigned: number; byEngine: Map<number, number> }> {
  const s = await rc.status();
  return { unassigned: s.unassigned ?? 0, byEngine: new Map(s.engines.map((e) => [e.id, e.balanced ?? 0])) };
}

async function rejection(p: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(p).then(
    () => assert.fail('should reject'),
    (e: unknown) => e,
  );
}

describe('load-balanced tasks on node and Python engines', () => {
  let tc: TestCluster;
  let gateDir: string;
  let gates = 0;
  const ids: Record<Kind, number[]> = { node: [0, 1], python: [] };
  const made: string[] = [];
  const gate = () => {
    const file = path.join(gateDir, `gate-${gates++}`);
    made.push(file);
    return { file, open: () => fs.writeFileSync(file, '') };
  };
  // A test that failed before opening its gates would leave tasks held on the pool's engines, and
  // every later test waiting behind them: open what is left, so one failure stays one failure.
  afterEach(() => {
    for (const f of made.splice(0)) if (!fs.existsSync(f)) fs.writeFileSync(f, '');
  });

  before(async () => {
    tc = await startTestCluster({ n: 2 });
    ids.python = await tc.cluster.addEngines(2, { engine: 'python' });
    gateDir = fs.mkdtempSync(path.join(tc.dir, 'gates-'));
  });
  after(async () => {
    await tc?.stop();
  });

  test('a mixed pool sends a JS function only to node engines and Python source only to Python engines', async () => {
    const lview = tc.rc.loadBalancedView();
    const js = lview.mapAsync((x: number) => x + 1, [1, 2, 3, 4, 5, 6, 7, 8]);
    const py = lview.mapAsync('lambda x: x - 1', [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(await js, [2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(await py, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(js.engineIds.every((id) => ids.node.includes(id)), `JS ran on ${js.engineIds}`);
    assert.ok(py.engineIds.every((id) => ids.python.includes(id)), `Python ran on ${py.engineIds}`);
    // chunksize > 1 on the mixed pool: the function's language picks the element-wise wrapper.
    assert.deepEqual(await lview.mapSync('lambda x: x * 3', [1, 2, 3, 4, 5], { chunksize: 2 }), [3, 6, 9, 12, 15]);
    const err = await rejection(tc.rc.loadBalancedView(ids.python).applyAsync((x: number) => x, 1));
    assert.ok(err instanceof ImpossibleDependency && err instanceof RemoteError, String(err));
    assert.equal(err.ename, 'ImpossibleDependency');
    assert.match(err.evalue, /the task is node code and no engine of its pool runs node: engines \d \(python\), \d \(python\)/);
  });

  for (const kind of ['node', 'python'] as const) {
    describe(`${kind} engines`, () => {
      const src = SRC[kind];
      const pool = () => ids[kind];
      const view = () => tc.rc.loadBalancedView(pool());

      test('apply, block, label and remote(flags) run on the pool', async () => {
        const lview = view();
        assert.equal(await lview.applySync(src.double, 21), 42);
        lview.block = true;
        assert.equal(await lview.apply(src.double, 5), 10, 'block: the call gives the value');
        lview.block = false;
        const ar = lview.withFlags({ label: 'stage-a' }).apply(src.double, 4);
        assert.equal(await ar, 8);
        assert.ok(pool().includes((ar as { engineIds: number[] }).engineIds[0]));
        const doubled = lview.remote({ block: true, retries: 1 })(src.double);
        assert.equal(await doubled(3), 6);
        assert.throws(() => lview.withFlags({ label: 7 as never }), /label must be a string/);
      });

      test('a task error rejects with the remote exception; a map with failures gives a CompositeError', async () => {
        const lview = view();
        const err = await rejection(lview.applyAsync(src.boom));
        assert.ok(err instanceof RemoteError, String(err));
        assert.equal(err.ename, kind === 'node' ? 'Error' : 'ValueError');
        assert.match(err.evalue, /boom/);
        const g = gate();
        const blocker = tc.rc.loadBalancedView([pool()[0]]).applyAsync(src.held, g.file, 1);
        const late = tc.rc.loadBalancedView([pool()[0]]).withFlags({ after: blocker, timeoutMs: 200 }).mapAsync(src.double, [1, 2, 3]);
        const composite = await rejection(late);
        assert.ok(composite instanceof CompositeError, String(composite));
        assert.equal(composite.elist.length, 3);
        assert.ok(composite.elist.every((e) => e instanceof TaskTimeout && e.ename === 'TaskTimeout' && e.engineId === -1), composite.message);
        g.open();
        assert.equal(await blocker, 1);
      });

      test('retries: a task failing on one engine is sent to another; without retries the error comes back', async () => {
        // The task fails where it first runs (leaving that engine's pid in a file) and succeeds after.
        const lview = view();
        const once = await rejection(lview.applyAsync(src.failFirst, gate().file));
        assert.ok(once instanceof RemoteError && /first attempt/.test(once.evalue), String(once));
        const retried = lview.withFlags({ retries: 1 }).applyAsync(src.failFirst, gate().file);
        const [firstPid, pid] = (await retried) as [number, number];
        const pids = pool().map((id) => tc.rc.engine(id)!.pid);
        assert.ok(pids.includes(firstPid) && pids.includes(pid) && firstPid !== pid, `first on ${firstPid}, then on ${pid}`);
        assert.equal(tc.rc.engine(retried.engineIds[0])!.pid, pid);
      });

      test('follow runs where its dependency ran; after waits for it; successOnly and follow failures are ImpossibleDependency', async () => {
        const lview = view();
        const g = gate();
        const first = lview.applyAsync(src.held, g.file, 1);
        const next = lview.withFlags({ follow: first }).applyAsync(src.pid);
        const afterIt = lview.withFlags({ after: first }).applyAsync(src.double, 5);
        await until(async () => (await counts(tc.rc)).unassigned >= 2, 5000, 'the dependent tasks held');
        g.open();
        assert.equal(await first, 1);
        const pid = await next;
        assert.deepEqual(next.engineIds, first.engineIds);
        assert.equal(pid, tc.rc.engine(first.engineIds[0])!.pid);
        assert.equal(await afterIt, 10);

        const failed = lview.applyAsync(src.boom);
        await assert.rejects(failed);
        const notOk = await rejection(lview.withFlags({ after: failed, successOnly: true }).applyAsync(src.double, 1));
        assert.ok(notOk instanceof ImpossibleDependency, String(notOk));
        assert.match(notOk.evalue, /failed \(success_only\)/);
        assert.equal(await lview.withFlags({ after: failed }).applyAsync(src.double, 2), 4, 'without successOnly any outcome will do');

        const onA = tc.rc.loadBalancedView([pool()[0]]).applyAsync(src.double, 1);
        const onB = tc.rc.loadBalancedView([pool()[1]]).applyAsync(src.double, 1);
        await Promise.all([onA, onB]);
        const split = await rejection(lview.withFlags({ follow: [onA, onB] }).applyAsync(src.double, 1));
        assert.ok(split instanceof ImpossibleDependency && /ran on different engines/.test(split.evalue), String(split));
        const outside = await rejection(tc.rc.loadBalancedView([pool()[1]]).withFlags({ follow: onA }).applyAsync(src.double, 1));
        assert.ok(outside instanceof ImpossibleDependency && /not in the task's pool/.test(outside.evalue), String(outside));
        const unknown = await rejection(lview.withFlags({ after: 'no-such-msg-id' }).applyAsync(src.double, 1));
        assert.ok(unknown instanceof ImpossibleDependency && /not a load-balanced task this controller knows/.test(unknown.evalue), String(unknown));
      });

      test('after and follow accept direct requests: the task waits for them and follows their engine', async () => {
        const lview = view();
        const target = pool()[1];
        const g = gate();
        const direct = tc.rc.view(target).applyAsync(src.held, g.file, 3);
        const followed = lview.withFlags({ follow: direct }).applyAsync(src.pid);
        const later = lview.withFlags({ after: direct.msgIds[0] }).applyAsync(src.double, 2);
        // Held in this client until the direct request ends, yet named from the start.
        const heldIds = [...followed.msgIds, ...later.msgIds];
        assert.equal(heldIds.length, 2);
        assert.ok(heldIds.every((id) => typeof id === 'string' && id.length > 0) && heldIds[0] !== heldIds[1], `msg_ids while held: ${JSON.stringify(heldIds)}`);
        // One held that is aborted by msg_id is dropped here, and never runs.
        const dropped = lview.withFlags({ after: direct }).applyAsync(src.double, 5);
        await lview.abort(dropped.msgIds[0]);
        assert.ok((await rejection(dropped)) instanceof AbortError);
        assert.equal(followed.loadBalanced, true);
        assert.equal(direct.loadBalanced, false);
        g.open();
        assert.deepEqual(await direct, 3);
        assert.equal(await followed, tc.rc.engine(target)!.pid);
        assert.deepEqual(followed.engineIds, [target]);
        assert.equal(await later, 4);
        assert.deepEqual([...followed.msgIds, ...later.msgIds], heldIds, 'they kept their msg_ids when sent');
        const failed = tc.rc.view(target).applyAsync(src.boom);
        await assert.rejects(failed);
        const notOk = await rejection(lview.withFlags({ after: failed, successOnly: true }).applyAsync(src.double, 1));
        assert.ok(notOk instanceof ImpossibleDependency && /failed \(success_only\)/.test(notOk.evalue), String(notOk));
        const everywhere = tc.rc.view(pool()).applyAsync(src.double, 1);
        await everywhere;
        const many = await rejection(lview.withFlags({ follow: everywhere }).applyAsync(src.double, 1));
        assert.ok(many instanceof ImpossibleDependency && /did not run on exactly one engine/.test(many.evalue), String(many));
      });

      test('map: chunksize, ordered, parallel; imap: maxOutstanding', async () => {
        const lview = view();
        assert.deepEqual(await lview.mapSync(src.double, [1, 2, 3, 4, 5, 6, 7], { chunksize: 3 }), [2, 4, 6, 8, 10, 12, 14]);
        const g = gate();
        const files = [g.file, '/', '/', '/'];
        const unordered = lview.mapAsync(src.held, files, [0, 1, 2, 3], { ordered: false });
        const seen: number[] = [];
        for await (const v of unordered) {
          // (With hwm 2 on two engines, a quick item may queue behind the held one: open at the first.)
          if (seen.push(v as number) === 1) g.open();
        }
        assert.notEqual(seen[0], 0, 'the held item does not come first');
        assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
        const pf = lview.parallel({ chunksize: 2 })(src.chunkDouble);
        assert.deepEqual(await pf([1, 2, 3, 4, 5]), [2, 4, 6, 8, 10]);
        assert.deepEqual(await lview.parallel()(src.double).map([1, 2, 3]), [2, 4, 6], 'map: element-wise');
        const g2 = gate();
        const it = lview.imap(
          kind === 'node' ? '(item) => { const fs = require("node:fs"); return (async () => { while (!fs.existsSync(item[0])) await new Promise((r) => setTimeout(r, 5)); return item[1]; })(); }' : 'def f(item):\n    import os, time\n    while not os.path.exists(item[0]):\n        time.sleep(0.005)\n    return item[1]',
          [0, 1, 2, 3, 4].map((x) => [g2.file, x]),
          { maxOutstanding: 1 },
        );
        await until(async () => [...(await counts(tc.rc)).byEngine.values()].reduce((a, b) => a + b, 0) === 1, 5000, 'one task on an engine');
        const c = await counts(tc.rc);
        assert.equal(c.unassigned, 0, 'maxOutstanding 1: nothing else was sent');
        g2.open();
        const out: unknown[] = [];
        for await (const v of it) out.push(v);
        assert.deepEqual(out, [0, 1, 2, 3, 4]);
      });

      test('interrupt stops running tasks of the view; abort drops those not started', async () => {
        const lview = view();
        const running = pool().map(() => lview.applyAsync(src.spin));
        const queued = tc.rc.loadBalancedView(pool()).applyAsync(src.double, 9);
        const g = gate();
        const held = tc.rc.loadBalancedView(pool()).withFlags({ after: queued }).applyAsync(src.held, g.file, 1);
        await until(
          async () => {
            const c = await counts(tc.rc);
            return pool().every((id) => (c.byEngine.get(id) ?? 0) >= 1);
          },
          5000,
          'both engines given a spin task',
        );
        await lview.interrupt(running);
        for (const r of running) {
          // Interrupted where it runs (or dropped, had its engine not started it yet).
          const e = await rejection(r);
          assert.ok(e instanceof RemoteError && (/Interrupt/.test(e.ename) || e instanceof AbortError), String(e));
        }
        assert.equal(await queued, 18);
        const blocker = tc.rc.loadBalancedView([pool()[0]]).applyAsync(src.held, g.file, 2);
        const waiting = tc.rc.loadBalancedView([pool()[0]]).withFlags({ after: blocker }).applyAsync(src.double, 1);
        const mine = lview.withFlags({ after: blocker }).mapAsync(src.double, [1, 2, 3]);
        await until(async () => (await counts(tc.rc)).unassigned === 4, 5000, 'four tasks held');
        await lview.abort();
        const e = await rejection(mine);
        assert.ok(e instanceof CompositeError && e.elist.every((x) => x instanceof AbortError), String(e));
        g.open();
        assert.equal(await blocker, 2);
        assert.equal(await waiting, 2, 'another view’s task is not aborted');
        assert.equal(await held, 1);
      });

      test('an engine that dies: its task is retried with retries, else fails with EngineError', async () => {
        const extra = await tc.cluster.addEngines(2, { engine: kind });
        const g = gate();
        const lview = tc.rc.loadBalancedView(extra);
        const retried = lview.withFlags({ retries: 1 }).applyAsync(src.held, g.file, 7);
        let first = -1;
        await until(
          async () => {
            const c = await counts(tc.rc);
            first = extra.find((id) => (c.byEngine.get(id) ?? 0) > 0) ?? -1;
            return first >= 0;
          },
          5000,
          'the task on an engine',
        );
        const other = extra.find((id) => id !== first)!;
        process.kill(tc.rc.engine(first)!.pid, 'SIGKILL');
        await until(async () => (await counts(tc.rc)).byEngine.get(other) === 1, 10_000, 'the task sent to the other engine');
        g.open();
        assert.equal(await retried, 7);
        assert.deepEqual(retried.engineIds, [other]);
        const g2 = gate();
        const once = tc.rc.loadBalancedView([other]).applyAsync(src.held, g2.file, 8);
        await until(async () => (await counts(tc.rc)).byEngine.get(other) === 1, 5000, 'the task running');
        process.kill(tc.rc.engine(other)!.pid, 'SIGKILL');
        const err = await rejection(once);
        assert.ok(err instanceof EngineError && err.engineId === other, String(err));
        g2.open();
        // `retried` ran on the engine now dead: a task that must follow it can never run.
        const orphan = await rejection(tc.rc.loadBalancedView().withFlags({ follow: retried }).applyAsync(src.double, 1));
        assert.ok(orphan instanceof ImpossibleDependency && new RegExp(`ran on engine ${other}, which died`).test(orphan.evalue), String(orphan));
      });
    });
  }

  test('UnmetDependency: a module missing on one engine sends the task to another; missing on all fails', async () => {
    const modDir = fs.mkdtempSync(path.join(tc.dir, 'pymods-'));
    fs.writeFileSync(path.join(modDir, 'lb_only_here.py'), 'VALUE = 42\n');
    const [a, b] = ids.python;
    await tc.rc.view(b).execute(`import sys\nsys.path.insert(0, ${JSON.stringify(modDir)})`, { block: true });
    const lview = tc.rc.loadBalancedView(ids.python);
    const ar = lview.applyAsync(requireModules('lb_only_here')('def value():\n    return lb_only_here.VALUE'));
    assert.equal(await ar, 42);
    assert.deepEqual(ar.engineIds, [b], `engine ${a} could not import it`);
    // The same on node engines: only engine n1's resolver knows the module (leastload offers the task to n0 first).
    const jsMod = path.join(modDir, 'lb_only_here.js');
    fs.writeFileSync(jsMod, 'module.exports = { VALUE: 43 };\n');
    const [n0, n1] = ids.node;
    await tc.rc.view(n1).execute(`const M = require('node:module'); const orig = M._resolveFilename; M._resolveFilename = function (req, ...rest) { return req === 'lb-only-here' ? ${JSON.stringify(jsMod)} : orig.call(this, req, ...rest); };`, { block: true });
    const js = tc.rc.loadBalancedView(ids.node).applyAsync(requireModules('lb-only-here')('() => lb_only_here.VALUE'));
    assert.equal(await js, 43);
    assert.deepEqual(js.engineIds, [n1], `engine ${n0} could not import it`);
    for (const [pool, fn] of [
      [ids.python, requireModules('lb_nowhere_module')('def f():\n    return 1')],
      [ids.node, requireModules('lb-nowhere-module')(() => 1)],
    ] as const) {
      const err = await rejection(tc.rc.loadBalancedView([...pool]).applyAsync(fn as never));
      assert.ok(err instanceof UnmetDependency && err instanceof RemoteError, String(err));
      assert.equal(err.ename, 'UnmetDependency');
      for (const id of pool) assert.match(err.evalue, new RegExp(`engine ${id}: `));
    }
  });

  test('an engine added while a map runs takes tasks from it', async () => {
    const g = gate();
    const pool = ids.node.filter((id) => tc.rc.engine(id)?.state !== 'dead');
    const lview = tc.rc.loadBalancedView();
    const ar = lview.mapAsync(SRC.node.held, new Array(12).fill(g.file), [...new Array(12).keys()]);
    await until(async () => (await counts(tc.rc)).unassigned > 0, 5000, 'tasks waiting for room');
    const [added] = await tc.cluster.addEngines(1);
    await until(async () => ((await counts(tc.rc)).byEngine.get(added) ?? 0) > 0, 10_000, 'the new engine taking tasks');
    g.open();
    assert.deepEqual(await ar, [...new Array(12).keys()]);
    assert.ok(ar.engineIds.includes(added), `ran on ${ar.engineIds}`);
    assert.ok(ar.engineIds.every((id) => id === added || pool.includes(id)));
  });
});
