/**
 * The client's LoadBalancedView against the scripted controller, whose minimal scheduler picks
 * an engine itself (the least loaded of the pool): what goes on the wire (metadata.balanced, no
 * targets), how any engine's reply fills a task's one slot, map's order and chunks, imap's
 * window, and the errors a scheduler answers with. The controller's own scheduler is tested
 * with the controller; test/integration/loadBalanced.test.ts runs both together.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncResult, Client, CompositeError, EngineError, LoadBalancedView, MapResult, RemoteError, TaskTimeout } from '../../../core/client/index.js';
import type { Message } from '../../../core/protocol/messages.js';
import { scriptedSession, startScriptedController, type ScriptedController } from './scriptedController.js';

declare function sleep(ms: number): Promise<void>;
declare function gate(): Promise<void>;

function workSent(fc: ScriptedController, since = 0): Message[] {
  return fc.received.slice(since).filter((m) => /^(execute|apply)_request$/.test(m.header.msg_type));
}

/** Gives each fake engine a `sleep` (its vm has no timers), so tasks can take time and finish out of order. */
function giveSleep(fc: ScriptedController): void {
  for (const e of fc.engines.values()) e.context.sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
}

/** A gate the fake engines' tasks can wait on (`await gate()`) until the test opens it: an order that does not hang on timing. */
function giveGate(fc: ScriptedController): { open(): void } {
  const state = { open: false };
  for (const e of fc.engines.values()) {
    e.context.gate = async () => {
      while (!state.open) await new Promise((r) => setTimeout(r, 2).unref());
    };
  }
  return { open: () => void (state.open = true) };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

describe('apply', () => {
  const s = scriptedSession(3);

  test('applyAsync sends one request without targets; the reply fills its slot, and engineIds names the engine that ran it', async () => {
    const lview = s.rc.loadBalancedView();
    assert.ok(lview instanceof LoadBalancedView);
    const since = s.fc.received.length;
    const ar = lview.applyAsync((x: number) => x * 2, 21);
    assert.ok(ar instanceof AsyncResult);
    assert.deepEqual(ar.engineIds, [-1], 'no engine is known before the reply');
    assert.equal(await ar, 42);
    const [sent] = workSent(s.fc, since);
    assert.equal(sent.metadata.targets, undefined);
    assert.deepEqual(sent.metadata.balanced, { kernel: 'node' }, 'a function object is node code');
    const ran = s.fc.balancedLog.find((l) => l.msgId === sent.header.msg_id)!;
    assert.deepEqual(ar.engineIds, [ran.engine]);
    assert.deepEqual(ar.msgIds, [sent.header.msg_id]);
    assert.equal(ar.metadata[0].status, 'ok');
  });

  test('tasks spread over the engines the scheduler picks, each result naming its own', async () => {
    const g = giveGate(s.fc);
    const lview = s.rc.loadBalancedView();
    const ars = [0, 1, 2].map((i) => lview.applyAsync(async (x: number) => (await gate(), x), i));
    await until(() => s.fc.balancedInFlight === 3, 'three tasks running');
    g.open();
    assert.deepEqual(await Promise.all(ars), [0, 1, 2]);
    assert.deepEqual(ars.map((a) => a.engineIds[0]).sort(), [0, 1, 2]);
  });

  test('applySync and apply with block give the bare value; output goes to the task', async () => {
    const lview = s.rc.loadBalancedView();
    assert.equal(await lview.applySync((a: number, b: number) => a + b, 2, 3), 5);
    lview.block = true;
    assert.equal(await lview.apply(() => 'blocked'), 'blocked');
    const ar = lview.applyAsync(() => {
      console.log('hello from a task');
      return 1;
    });
    await ar;
    assert.deepEqual(ar.stdout, ['hello from a task\n']);
  });

  test('a pool limits the engines and travels as metadata.balanced.pool', async () => {
    const lview = s.rc.loadBalancedView([2]);
    assert.deepEqual(lview.targets, [2]);
    const since = s.fc.received.length;
    const ar = lview.applyAsync(() => 'x');
    await ar;
    assert.deepEqual(ar.engineIds, [2]);
    assert.deepEqual(workSent(s.fc, since)[0].metadata.balanced, { pool: [2], kernel: 'node' });
    assert.throws(() => s.rc.loadBalancedView([]), /pool must be a non-empty array of engine ids/);
    assert.throws(() => s.rc.loadBalancedView([1.5]), /pool must be a non-empty array of engine ids .*1\.5/);
  });

  test('an error on the engine rejects with its RemoteError, naming the engine', async () => {
    const ar = s.rc.loadBalancedView().applyAsync(() => {
      throw new RangeError('bad task');
    });
    const err = await ar.then(
      () => assert.fail('should reject'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemoteError);
    assert.equal(err.ename, 'RangeError');
    assert.equal(err.engineId, ar.engineIds[0]);
    assert.ok(err.engineId >= 0);
  });

  test('remote(flags)(fn) runs fn as a task when called, with the flags', async () => {
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    const triple = lview.remote({ block: true, label: 'triple' })(function triple(x: number) {
      return x * 3;
    });
    assert.equal(triple.name, 'triple');
    assert.equal(await triple(5), 15);
    assert.deepEqual(workSent(s.fc, since)[0].metadata.balanced, { label: 'triple', kernel: 'node' });
    assert.equal(lview.label, undefined, 'the view keeps its own flags');
  });

  test('execute runs code as one task', async () => {
    const r = await s.rc.loadBalancedView().execute('6 * 7', { block: true });
    assert.equal(r.result, '42');
    assert.ok(r.engineId >= 0);
  });
});

describe('flags', () => {
  const s = scriptedSession(2);

  test('view defaults and withFlags become metadata.balanced, with dependencies as msg_ids', async () => {
    const lview = s.rc.loadBalancedView([0, 1]);
    lview.retries = 2;
    lview.label = 'stage-1';
    const first = lview.applyAsync(() => 1);
    await first;
    const since = s.fc.received.length;
    const second = lview.withFlags({ timeoutMs: 500, after: first, follow: [first, 'other-id'], successOnly: true }).applyAsync(() => 2);
    assert.equal(await second, 2);
    assert.deepEqual(workSent(s.fc, since)[0].metadata.balanced, {
      pool: [0, 1],
      retries: 2,
      timeout_ms: 500,
      after: first.msgIds,
      follow: [...first.msgIds, 'other-id'],
      success_only: true,
      label: 'stage-1',
      kernel: 'node',
    });
    // withFlags made a copy: the view's own flags are as they were.
    assert.equal(lview.timeoutMs, undefined);
    assert.equal(lview.successOnly, false);
  });

  test('bad flags throw naming the flag, and nothing is sent', () => {
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    assert.throws(() => lview.withFlags({ retries: -1 }), /withFlags: retries must be a whole number from 0 to 1000, got -1/);
    assert.throws(() => lview.withFlags({ timeoutMs: 0 }), /timeoutMs must be a number of milliseconds > 0, got 0/);
    assert.throws(() => lview.withFlags({ after: [42 as unknown as string] }), /after: expected AsyncResults or msg_id strings, got 42/);
    assert.throws(() => lview.withFlags({ retry: 1 } as never), /unknown option retry/);
    lview.retries = 1.5;
    assert.throws(() => lview.applyAsync(() => 1), /applyAsync: retries must be a whole number from 0 to 1000, got 1\.5/);
    assert.throws(() => lview.mapAsync((x: number) => x, [1], { chunksize: 0 }), /mapAsync: chunksize must be a whole number ≥ 1, got 0/);
    assert.equal(workSent(s.fc, since).length, 0);
  });
});

describe('map', () => {
  const s = scriptedSession(4);

  test('mapSync keeps input order although later items finish first', async () => {
    giveSleep(s.fc);
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    const out = await lview.mapSync(async (x: number) => (await sleep(40 - x * 5), x * x), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(out, [0, 1, 4, 9, 16, 25, 36, 49]);
    assert.equal(workSent(s.fc, since).length, 8, 'one task per item (chunksize 1)');
  });

  test('chunksize sends chunks of that many items, the last one shorter; several sequences go element-wise', async () => {
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    const out = await lview.mapSync((a: number, b: number) => a + b, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], new Set([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]), { chunksize: 4 });
    assert.deepEqual(out, [11, 22, 33, 44, 55, 66, 77, 88, 99, 110]);
    assert.equal(workSent(s.fc, since).length, 3);
  });

  test('mapAsync: iteration in input order, or as tasks finish with ordered: false; progress counts items', async () => {
    const lview = s.rc.loadBalancedView();
    // Item 0 waits on the gate; the others do not.
    const heldFirst = async (x: number) => (x === 0 ? await gate() : undefined, x);
    const g1 = giveGate(s.fc);
    const ordered = lview.mapAsync(heldFirst, [0, 1, 2, 3]);
    assert.ok(ordered instanceof MapResult);
    assert.equal(ordered.length, 4);
    await until(() => ordered.progress === 3, 'items 1-3 done');
    g1.open();
    const seen: number[] = [];
    for await (const v of ordered) seen.push(v);
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.equal(ordered.progress, 4);

    const g2 = giveGate(s.fc);
    const unordered = lview.mapAsync(heldFirst, [0, 1, 2, 3], { ordered: false });
    const got: number[] = [];
    for await (const v of unordered) {
      got.push(v);
      if (got.length === 3) {
        assert.equal(unordered.progress, 3);
        g2.open();
      }
    }
    assert.deepEqual(got.slice(0, 3).sort(), [1, 2, 3]);
    assert.equal(got[3], 0, 'the held item comes last');
    assert.deepEqual(await unordered, [0, 1, 2, 3], 'awaited, the values are in input order');
  });

  test('progress counts items of chunks', async () => {
    const ar = s.rc.loadBalancedView().mapAsync((x: number) => x, [1, 2, 3, 4, 5], { chunksize: 2 });
    await ar;
    assert.equal(ar.progress, 5);
    assert.equal(ar.engineIds.length, 3);
    assert.ok(ar.engineIds.every((id) => id >= 0));
  });

  test('failed items reject with CompositeError listing them; iteration throws at the first', async () => {
    const ar = s.rc.loadBalancedView().mapAsync((x: number) => {
      if (x % 2 === 1) throw new Error(`odd ${x}`);
      return x;
    }, [0, 1, 2, 3]);
    await assert.rejects(ar, (e: unknown) => e instanceof CompositeError && e.elist.length === 2 && /odd 1/.test(e.message) && /odd 3/.test(e.message));
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const v of ar) seen.push(v);
      })(),
      /odd 1/,
    );
    assert.deepEqual(seen, [0]);
  });

  test('bad input is refused before anything is sent', () => {
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    assert.throws(() => lview.mapAsync((x: number) => x), /give at least one sequence/);
    assert.throws(() => lview.mapAsync((x: number) => x, [1, 2], [1]), /different lengths \(2, 1\)/);
    assert.throws(() => lview.mapAsync((x: number) => x, 'abc' as never), /argument 1 is a string/);
    assert.throws(() => lview.mapAsync((x: number) => x, [1], { chunksiz: 2 } as never), /unknown option chunksiz/);
    assert.equal(workSent(s.fc, since).length, 0);
  });
});

describe('map over a pool of two languages', () => {
  test('chunksize > 1 needs one language when the source does not tell, and says so', async () => {
    const fc = await startScriptedController({ n: 2, kernels: ['node', 'python'] });
    const rc = await Client.connect(fc.file);
    try {
      assert.throws(() => rc.loadBalancedView().mapAsync('abs', [1, 2, 3], { chunksize: 2 }), /needs engines of one language, and this pool has node and python engines/);
      assert.deepEqual(await rc.loadBalancedView([0]).mapSync((x: number) => -x, [1, 2, 3], { chunksize: 2 }), [-1, -2, -3]);
    } finally {
      rc.close();
      await fc.close();
    }
  });
});

describe('imap', () => {
  const s = scriptedSession(4);

  test('keeps at most maxOutstanding tasks in flight over a generator, in input order', async () => {
    giveSleep(s.fc);
    s.fc.maxBalancedInFlight = 0;
    function* items() {
      for (let i = 0; i < 10; i++) yield i;
    }
    const it = s.rc.loadBalancedView().imap(async (x: number) => (await sleep(15), x * 10), items(), { maxOutstanding: 2 });
    const out: number[] = [];
    for await (const v of it) {
      assert.ok(it.outstanding <= 2);
      out.push(v);
    }
    assert.deepEqual(out, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    assert.equal(s.fc.maxBalancedInFlight, 2, 'two tasks in flight at a time, never more');
    assert.equal(it.progress, 10);
  });

  test('an async iterable, ordered: false, and the default window (the number of engines)', async () => {
    giveSleep(s.fc);
    s.fc.maxBalancedInFlight = 0;
    async function* items() {
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 1));
        yield i;
      }
    }
    const g = giveGate(s.fc);
    const out: number[] = [];
    for await (const v of s.rc.loadBalancedView().imap(async (x: number) => (x === 0 ? await gate() : undefined, x), items(), { ordered: false })) {
      out.push(v);
      if (out.length === 7) g.open();
    }
    assert.deepEqual(out.slice(0, 7).sort(), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(out[7], 0, 'the held first item does not hold back the others');
    assert.ok(s.fc.maxBalancedInFlight <= 4, `at most 4 in flight, saw ${s.fc.maxBalancedInFlight}`);
  });

  test('cancel stops reading the source; breaking out of the loop does too', async () => {
    giveSleep(s.fc);
    let read = 0;
    function* endless() {
      for (;;) yield read++;
    }
    s.fc.maxBalancedInFlight = 0;
    const it = s.rc.loadBalancedView().imap(async (x: number) => (await sleep(5), x), endless(), { maxOutstanding: 3 });
    const out: number[] = [];
    for await (const v of it) {
      out.push(v);
      if (out.length === 5) await it.cancel();
    }
    assert.deepEqual(out, [0, 1, 2, 3, 4]);
    const readAtCancel = read;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(read, readAtCancel, 'nothing read after cancel');
    assert.ok(s.fc.maxBalancedInFlight <= 3, `at most 3 in flight, saw ${s.fc.maxBalancedInFlight}`);
    await until(() => s.fc.balancedInFlight === 0, 'the tasks in flight at cancel finish');

    let read2 = 0;
    function* endless2() {
      for (;;) yield read2++;
    }
    for await (const v of s.rc.loadBalancedView().imap((x: number) => x, endless2(), { maxOutstanding: 2 })) if (v === 3) break;
    const after = read2;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(read2, after);
  });

  test('a failed task ends the iteration with its error; a source that throws ends it with that error', async () => {
    const lview = s.rc.loadBalancedView();
    const out: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const v of lview.imap((x: number) => {
          if (x === 2) throw new Error('two');
          return x;
        }, [0, 1, 2, 3])) out.push(v);
      })(),
      (e: unknown) => e instanceof RemoteError && e.evalue === 'two',
    );
    assert.deepEqual(out, [0, 1]);
    function* broken() {
      yield 1;
      throw new Error('source broke');
    }
    await assert.rejects(
      (async () => {
        for await (const v of lview.imap((x: number) => x, broken())) void v;
      })(),
      /source broke/,
    );
    assert.throws(() => lview.imap((x: number) => x, 5 as never), /imap: expected an iterable or async iterable/);
    assert.throws(() => lview.imap((x: number) => x, [1], { maxOutstanding: 0 }), /maxOutstanding must be a whole number ≥ 1, got 0/);
  });
});

describe('what the scheduler answers', () => {
  test('TaskTimeout when no engine took it in time (engine -1); EngineError when its engine dies', async () => {
    const fc = await startScriptedController({ n: 2 });
    const rc = await Client.connect(fc.file);
    try {
      fc.kill(1);
      await until(() => !rc.ids.includes(1), 'engine 1 seen dead');
      const timedOut = rc.loadBalancedView([1]).withFlags({ timeoutMs: 30 }).applyAsync(() => 1);
      const err = await timedOut.then(() => assert.fail('should reject'), (e: unknown) => e);
      assert.ok(err instanceof TaskTimeout && err instanceof RemoteError, String(err));
      assert.equal(err.ename, 'TaskTimeout');
      assert.deepEqual(timedOut.engineIds, [-1]);

      giveSleep(fc);
      const running = rc.loadBalancedView([0]).applyAsync(async () => (await sleep(10_000), 1));
      await until(() => fc.balancedInFlight === 1, 'the task runs on engine 0');
      fc.kill(0, 'gone');
      const died = await running.then(() => assert.fail('should reject'), (e: unknown) => e);
      assert.ok(died instanceof EngineError);
      assert.equal(died.engineId, 0);
      assert.deepEqual(running.engineIds, [0]);
    } finally {
      rc.close();
      await fc.close();
    }
  });
});

describe('parallel, interrupt, abort and direct dependencies', () => {
  const s = scriptedSession(2);

  test('parallel(opts)(fn) sends fn one block of chunksize items per task (other arguments whole) and concatenates; .map is element-wise', async () => {
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    const pf = lview.parallel({ chunksize: 2, label: 'blocks' })((xs: number[], k: number) => xs.map((x) => x * k));
    assert.equal(pf.name, '');
    const out = pf([1, 2, 3, 4, 5], 10);
    assert.ok(out instanceof MapResult);
    assert.deepEqual(await out, [10, 20, 30, 40, 50]);
    const sent = workSent(s.fc, since);
    assert.equal(sent.length, 3);
    assert.deepEqual(
      sent.map((m) => (m.content as { args: unknown[] }).args),
      [
        [[1, 2], 10],
        [[3, 4], 10],
        [[5], 10],
      ],
    );
    assert.ok(sent.every((m) => (m.metadata.balanced as { label?: string }).label === 'blocks'));
    assert.deepEqual(await lview.parallel()((x: number) => x + 1).map([1, 2, 3]), [2, 3, 4]);
    assert.throws(() => lview.parallel({ chunksize: 0 })((xs: number[]) => xs)([1]), /chunksize must be a whole number ≥ 1, got 0/);
    assert.throws(() => lview.parallel()((x: number) => x)(1), /give at least one sequence/);
  });

  test('ar.interrupt() and lview.interrupt() name the unfinished tasks of the view by msg_id, without targets', async () => {
    const g = giveGate(s.fc);
    const lview = s.rc.loadBalancedView();
    const a = lview.applyAsync(async () => (await gate(), 1));
    const m = lview.mapAsync(async (x: number) => (await gate(), x), [1, 2]);
    const other = s.rc.loadBalancedView().applyAsync(async () => (await gate(), 3));
    const since = s.fc.received.length;
    await a.interrupt();
    await lview.interrupt();
    const sent = s.fc.received.slice(since).filter((x) => x.header.msg_type === 'interrupt_request');
    assert.equal(sent.length, 2);
    assert.ok(sent.every((x) => x.metadata.targets === undefined));
    assert.deepEqual((sent[0].content as { msg_ids: string[] }).msg_ids, a.msgIds);
    assert.deepEqual(new Set((sent[1].content as { msg_ids: string[] }).msg_ids), new Set([...a.msgIds, ...m.msgIds]), 'every unfinished task of the view, not the other view’s');
    assert.equal(lview.outstandingResults.length, 2);
    g.open();
    await Promise.all([a, m, other]);
    assert.equal(lview.outstandingResults.length, 0, 'finished results leave the view');
  });

  test('after/follow of a direct result: the task waits in the client, then goes with its outcome', async () => {
    const g = giveGate(s.fc);
    const direct = s.rc.view(1).applyAsync(async () => (await gate(), 'direct'));
    const lview = s.rc.loadBalancedView();
    const since = s.fc.received.length;
    const task = lview.withFlags({ follow: direct, after: [direct.msgIds[0]] }).applyAsync(() => 'task');
    const dependent = lview.withFlags({ after: task }).applyAsync(() => 'after the task');
    await new Promise((r) => setImmediate(r));
    assert.equal(workSent(s.fc, since).filter((m) => m.metadata.balanced !== undefined).length, 0, 'held in the client while the direct request runs');
    g.open();
    assert.equal(await direct, 'direct');
    assert.equal(await task, 'task');
    assert.equal(await dependent, 'after the task');
    const [sentTask, sentDependent] = workSent(s.fc, since).filter((m) => m.metadata.balanced !== undefined);
    assert.deepEqual(sentTask.metadata.balanced, { follow: direct.msgIds, after: direct.msgIds, kernel: 'node', direct: [{ msg_id: direct.msgIds[0], ok: true, engines: [1] }] });
    assert.deepEqual((sentDependent.metadata.balanced as { after: string[] }).after, task.msgIds, 'a task waiting on a held one gets its msg_id once it is sent');

    const g2 = giveGate(s.fc);
    const slow = s.rc.view(0).applyAsync(async () => (await gate(), 1));
    const dropped = lview.withFlags({ after: slow }).mapAsync((x: number) => x, [1, 2]);
    const since2 = s.fc.received.length;
    await lview.abort();
    const err = await dropped.then(() => assert.fail('should reject'), (e: unknown) => e);
    assert.ok(err instanceof CompositeError && err.elist.every((e) => e.ename === 'AbortError'), String(err));
    g2.open();
    assert.equal(await slow, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(workSent(s.fc, since2).filter((m) => m.metadata.balanced !== undefined).length, 0, 'an aborted held task is never sent');
  });
});
