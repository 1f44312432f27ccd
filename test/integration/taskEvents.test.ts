/**
 * Task events with real clusters (protocol section 15): a subscriber sees every routed request
 * submitted, started and finished in order (through the controller, multi-engine,
 * load-balanced), with the sender's client number, status and duration; a burst of 20,000
 * load-balanced tasks reaches it listed or counted, every message within the cap; a client
 * that did not ask gets none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type AsyncResult, type TaskEvent, type TaskEventBatch } from 'multiengine';
import { TASK_EVENTS_CAP } from '../../core/controller/taskEvents.ts';
import { startTestCluster, until } from './fixture.ts';

function watch(rc: Client): TaskEventBatch[] {
  const batches: TaskEventBatch[] = [];
  rc.onTaskEvents((b) => batches.push(b));
  return batches;
}

test('task events: submitted, started and finished in order for routed requests, to subscribers only', async () => {
  const tc = await startTestCluster({ n: 2 });
  const file = tc.cluster.connectionFile;
  const watcher = await Client.connect({ file, taskEvents: true });
  const sender = await Client.connect({ file, direct: false });
  try {
    assert.throws(() => tc.rc.onTaskEvents(() => {}), /did not ask for task events; connect with Client\.connect\(\{ taskEvents: true \}\)/);
    const batches = watch(watcher);
    const both = sender.view([0, 1]).execute('6 * 7') as AsyncResult<unknown>;
    await both;
    const one = sender.view(1).execute('throw new RangeError("too far")') as AsyncResult<unknown>;
    await assert.rejects(one);
    const lb = sender.loadBalancedView();
    lb.label = 'tripling';
    const task = lb.apply((x: number) => x * 3, 5) as AsyncResult<number>;
    assert.equal(await task.get(), 15);
    const ids = [both.msgIds[0], one.msgIds[0], task.msgIds[0]];

    const events = (): TaskEvent[] => batches.flatMap((b) => b.events).filter((e) => ids.includes(e.msg_id));
    await until(() => events().filter((e) => e.event === 'finished').length === 4, 10_000, 'four finished events');
    const seen = events();
    const senderNo = sender.clientNumber;
    assert.ok(senderNo > 0 && senderNo !== watcher.clientNumber, `the controller numbers its clients: ${senderNo}, ${watcher.clientNumber}`);
    for (const e of seen) assert.equal(e.client, senderNo, `every event names the sender's client: ${JSON.stringify(e)}`);
    const steps = (id: string) => seen.filter((e) => e.msg_id === id).map((e) => [e.event, e.engine_id, e.status ?? null]);

    // The multi-engine request: submitted once, then started before finished on each engine.
    const multi = steps(ids[0]);
    assert.deepEqual(multi[0], ['submitted', null, null]);
    assert.deepEqual(multi.slice(1).sort(), [['finished', 0, 'ok'], ['finished', 1, 'ok'], ['started', 0, null], ['started', 1, null]].sort());
    for (const id of [0, 1]) {
      const at = (kind: string) => multi.findIndex((s) => s[0] === kind && s[1] === id);
      assert.ok(at('started') < at('finished'), `engine ${id}: started before finished in ${JSON.stringify(multi)}`);
    }
    assert.deepEqual(steps(ids[1]), [
      ['submitted', null, null],
      ['started', 1, null],
      ['finished', 1, 'error'],
    ]);
    const lbSteps = steps(ids[2]);
    const engine = lbSteps[1][1];
    assert.ok(engine === 0 || engine === 1, `the task ran on an engine: ${JSON.stringify(lbSteps)}`);
    assert.deepEqual(lbSteps, [
      ['submitted', null, null],
      ['started', engine, null],
      ['finished', engine, 'ok'],
    ]);

    const finished = seen.filter((e) => e.event === 'finished');
    for (const e of finished) assert.ok(typeof e.duration_ms === 'number' && e.duration_ms >= 0, `a duration from the engine's times: ${JSON.stringify(e)}`);
    assert.equal(finished.find((e) => e.msg_id === ids[1])?.ename, 'RangeError');
    const lbEvents = seen.filter((e) => e.msg_id === ids[2]);
    for (const e of lbEvents) assert.deepEqual([e.balanced, e.label, e.msg_type], [true, 'tripling', 'apply_request']);
    assert.deepEqual(seen.filter((e) => e.event === 'submitted').map((e) => e.code?.replace(/\s+/g, '')), ['6*7', 'thrownewRangeError("toofar")', lbEvents[0].code?.replace(/\s+/g, '')]);
    assert.match(lbEvents[0].code ?? '', /x \* 3|x\*3/);
    assert.deepEqual(
      seen.filter((e) => e.msg_id === ids[0]).map((e) => [e.balanced, e.msg_type]),
      Array(5).fill([false, 'execute_request']),
    );
    for (const e of seen) assert.ok(!Number.isNaN(Date.parse(e.time)), `an ISO time: ${e.time}`);
    assert.ok(batches.every((b) => b.overflow === undefined), 'a handful of requests stays far below the cap');

    // The cluster's own client never asked: nothing reached it (it would count it as dropped).
    assert.equal(tc.rc.droppedMessages, 0);
    assert.equal(watcher.droppedMessages, 0);
  } finally {
    watcher.close();
    sender.close();
    await tc.stop();
  }
});

test('task events: a burst of 20,000 load-balanced tasks arrives listed or counted, each message within the cap', async () => {
  const N = 20_000;
  const tc = await startTestCluster({ n: 2 });
  const watcher = await Client.connect({ file: tc.cluster.connectionFile, taskEvents: true });
  try {
    const batches = watch(watcher);
    const lb = tc.rc.loadBalancedView();
    const results: AsyncResult<number>[] = [];
    for (let i = 0; i < N; i++) results.push(lb.apply((x: number) => x, i) as AsyncResult<number>);
    const values = await Promise.all(results.map((r) => r.get()));
    assert.equal(values[N - 1], N - 1);

    const totals = { submitted: 0, started: 0, ok: 0, other: 0 };
    const count = () => {
      Object.assign(totals, { submitted: 0, started: 0, ok: 0, other: 0 });
      for (const b of batches) {
        for (const e of b.events) {
          if (e.event !== 'finished') totals[e.event]++;
          else if (e.status === 'ok') totals.ok++;
          else totals.other++;
        }
        if (b.overflow !== undefined) {
          totals.submitted += b.overflow.submitted;
          totals.started += b.overflow.started;
          totals.ok += b.overflow.finished.ok;
          totals.other += b.overflow.finished.error + b.overflow.finished.aborted;
        }
      }
      return totals.ok === N;
    };
    await until(count, 20_000, `${N} finished tasks listed or counted`);
    assert.deepEqual(totals, { submitted: N, started: N, ok: N, other: 0 });
    for (const b of batches) assert.ok(b.events.length <= TASK_EVENTS_CAP, `a message lists at most ${TASK_EVENTS_CAP} events, got ${b.events.length}`);

    // What is listed keeps each task's order.
    const where = new Map<string, string>();
    for (const e of batches.flatMap((b) => b.events)) {
      const before = where.get(e.msg_id);
      const order = ['submitted', 'started', 'finished'];
      if (before !== undefined) assert.ok(order.indexOf(before) < order.indexOf(e.event), `${e.msg_id}: ${before} then ${e.event}`);
      where.set(e.msg_id, e.event);
    }
    assert.equal(watcher.droppedMessages, 0);
  } finally {
    watcher.close();
    await tc.stop();
  }
});

test('task events: a 10,000-item load-balanced map names its map on every task, and its items add up listed or counted per map', async () => {
  const N = 10_000;
  const tc = await startTestCluster({ n: 2 });
  const watcher = await Client.connect({ file: tc.cluster.connectionFile, taskEvents: true });
  try {
    const batches = watch(watcher);
    const lb = tc.rc.loadBalancedView();
    const values = (await lb.map((x: number) => x + 1, Array.from({ length: N }, (_, i) => i), { block: true })) as number[];
    assert.equal(values[N - 1], N);
    let id: string | undefined;
    const finished = () => {
      let n = 0;
      for (const b of batches) {
        for (const e of b.events) {
          assert.ok(e.map !== undefined, `every task of the map names it: ${JSON.stringify(e)}`);
          id ??= e.map.id;
          assert.deepEqual(e.map, { id, items: N, chunk: 1 });
          if (e.event === 'finished' && e.status === 'ok') n++;
        }
        const m = b.overflow?.maps?.[id ?? ''] ?? Object.values(b.overflow?.maps ?? {})[0];
        if (m !== undefined) n += m.finished.ok;
        if (b.overflow !== undefined) assert.ok(Object.keys(b.overflow.maps ?? {}).length <= 1, "one map ran");
      }
      return n;
    };
    await until(() => finished() === N, 20_000, `${N} finished items of the map`);
    assert.equal(finished(), N);
  } finally {
    watcher.close();
    await tc.stop();
  }
});
