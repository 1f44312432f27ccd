/**
 * The controller's task database with real clusters: a record for every request kind (direct,
 * multi-engine, load-balanced) with its times in order; dbQuery, hubHistory, purgeResults and
 * queueStatus; records and a stored result surviving a SIGKILLed controller (SQLite); the caps;
 * a corrupt database file (memory fallback, controller alive).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Client, ControllerError, type AsyncResult, type ExecuteResult, type TaskRecord } from 'multiengine';
import { profileDir } from '../../core/connection/connectionFile.ts';
import { signal } from '../reliability/faultKit.ts';
import { startTestCluster, until, untilTasksDone, type TestCluster } from './fixture.ts';

/**
 * A client whose single-engine requests go through the controller, which records them itself:
 * requests on a direct connection (protocol section 13) are recorded from their engines'
 * reports, tested in taskDbDirect.test.ts.
 */
function viaController(tc: TestCluster): Promise<Client> {
  return Client.connect({ file: tc.cluster.connectionFile, direct: false });
}

const TIMES = ['submitted', 'received', 'started', 'completed'] as const;

function assertTimesInOrder(r: Partial<TaskRecord>): void {
  const t = TIMES.map((k) => r[k]);
  for (const x of t) assert.match(String(x), /^\d{4}-\d\d-\d\dT/, `${r.msg_type} ${r.msg_id} has all four times: ${JSON.stringify(r)}`);
  for (let i = 1; i < t.length; i++) assert.ok(Date.parse(t[i - 1]!) <= Date.parse(t[i]!), `${TIMES[i - 1]} <= ${TIMES[i]} in ${JSON.stringify(r)}`);
}

test('task records: every request kind, one record per engine, times in order; dbQuery filters, hubHistory, queueStatus, purgeResults', async () => {
  const tc = await startTestCluster({ n: 2 });
  const rc = await viaController(tc);
  try {
    const v = rc.view([0, 1]);
    const ex = v.execute('console.log("out"); console.error("err"); 6 * 7') as AsyncResult<unknown>;
    await ex;
    const push = v.push({ a: 1 }) as AsyncResult<unknown>;
    await push;
    const pull = rc.view(1).pull('a') as AsyncResult<unknown>;
    await pull;
    const bad = rc.view(0).execute('throw new TypeError("nope")') as AsyncResult<unknown>;
    await assert.rejects(bad);
    const lb = rc.loadBalancedView();
    lb.label = 'doubling';
    const ap = lb.apply((x: number) => x * 2, 21) as AsyncResult<number>;
    assert.equal(await ap.get(), 42);
    const ids = [ex.msgIds[0], push.msgIds[0], pull.msgIds[0], bad.msgIds[0], ap.msgIds[0]];

    // Records come in the order they finished: sorted here by request, then engine.
    const all = ((await rc.dbQuery()) as TaskRecord[]).sort((a, b) => ids.indexOf(a.msg_id) - ids.indexOf(b.msg_id) || a.engine_id! - b.engine_id!);
    assert.deepEqual(
      all.map((r) => [r.msg_id, r.msg_type, r.engine_id, r.status, r.balanced]),
      [
        [ids[0], 'execute_request', 0, 'ok', false],
        [ids[0], 'execute_request', 1, 'ok', false],
        [ids[1], 'push_request', 0, 'ok', false],
        [ids[1], 'push_request', 1, 'ok', false],
        [ids[2], 'pull_request', 1, 'ok', false],
        [ids[3], 'execute_request', 0, 'error', false],
        [ids[4], 'apply_request', all.at(-1)!.engine_id, 'ok', true],
      ],
    );
    for (const r of all) assertTimesInOrder(r);
    const exec0 = all[0];
    assert.equal(exec0.code, 'console.log("out"); console.error("err"); 6 * 7');
    assert.equal(exec0.stdout, 'out\n');
    assert.equal(exec0.stderr, 'err\n');
    assert.equal(exec0.client, all.at(-1)!.client);
    assert.ok(exec0.result_bytes! > 0);
    assert.equal(all[5].ename, 'TypeError');
    assert.match(all[5].evalue!, /nope/);
    assert.ok(Array.isArray(all[5].traceback));
    assert.equal(all[6].label, 'doubling');
    assert.match(all[6].code!, /x \* 2|x\*2/);

    // Filters: equality, $in, time comparisons; keys limit the fields.
    assert.deepEqual(
      (await rc.dbQuery({ status: 'error' }, ['ename'])).map((r) => [r.msg_id, r.engine_id, r.ename, r.status]),
      [[ids[3], 0, 'TypeError', undefined]],
    );
    assert.deepEqual((await rc.dbQuery({ msg_type: { $in: ['push_request', 'pull_request'] }, engine_id: 1 })).map((r) => r.msg_id), [ids[1], ids[2]]);
    assert.deepEqual((await rc.dbQuery({ msg_type: { $nin: ['execute_request', 'push_request'] } })).map((r) => r.msg_id), [ids[2], ids[4]]);
    const cut = all[4].received!;
    assert.deepEqual(
      (await rc.dbQuery({ received: { $gte: cut }, balanced: false })).map((r) => r.msg_id).sort(),
      all.filter((r) => r.received! >= cut && !r.balanced).map((r) => r.msg_id).sort(),
    );
    assert.ok((await rc.dbQuery({ received: { $gte: cut } })).length < all.length, 'the time comparison excludes the earlier records');
    assert.deepEqual((await rc.dbQuery({ engine_id: { $lt: 1 }, msg_type: { $ne: 'execute_request' } })).map((r) => r.msg_type).sort(), all.filter((r) => r.engine_id === 0 && r.msg_type !== 'execute_request').map((r) => r.msg_type).sort());
    await assert.rejects(rc.dbQuery({ colour: 'red' } as never), (e: unknown) => e instanceof ControllerError && /filter field "colour" is not a task record field/.test(e.message));

    assert.deepEqual(await rc.hubHistory(), ids);

    // A request still running shows as pending; queueStatus counts it.
    const slow = rc.view(0).execute('await new Promise((r) => setTimeout(r, 1500))') as AsyncResult<unknown>;
    const behind = rc.view(0).execute('1') as AsyncResult<unknown>;
    await until(async () => (await rc.queueStatus()).engines[0].running === 1, 5000, 'engine 0 to run the slow request');
    const q = await rc.queueStatus();
    assert.deepEqual(q.engines[0], { id: 0, queued: 1, running: 1, completed: all.filter((r) => r.engine_id === 0).length });
    assert.equal(q.unassigned, 0);
    assert.deepEqual((await rc.dbQuery({ status: 'pending' })).map((r) => [r.msg_id, r.engine_id]), [
      [slow.msgIds[0], 0],
      [behind.msgIds[0], 0],
    ]);
    // Another client asking for it meanwhile is told it still runs, and how values are kept.
    const other = await viaController(tc);
    // A task the scheduler holds until another finishes: no engine yet.
    const gate = rc.loadBalancedView().applyAsync(() => new Promise((r) => setTimeout(r, 1200))) as AsyncResult<unknown>;
    const waiting = rc.loadBalancedView().withFlags({ after: gate }).applyAsync(() => 'after the gate') as AsyncResult<string>;
    try {
      await until(async () => (await rc.queueStatus()).unassigned === 1, 5000, 'the dependent task to wait unassigned');
      await assert.rejects(other.getResult(waiting.msgIds[0]), (e: unknown) => e instanceof ControllerError && e.message.includes(`no result for msg_id ${waiting.msgIds[0]} yet: it has not finished (waiting for an engine)`));
      await assert.rejects(
        other.getResult(slow.msgIds[0]),
        (e: unknown) => e instanceof ControllerError && e.ename === 'KeyError' && e.message === `result_request: no result for msg_id ${slow.msgIds[0]} yet: it has not finished (on engine 0) and its value goes to the client that sent it; the controller keeps the values of clients that went away and of requests sent with store ({ store: true } in TypeScript, view.store = True in Python), within its caps`,
      );
    } finally {
      other.close();
    }
    await Promise.all([slow, behind, gate]);
    assert.equal(await waiting, 'after the gate');

    // Purging: by msg_id limited to a target, then everything finished.
    assert.equal(await rc.purgeResults([ids[0]], { targets: [1] }), 1);
    assert.deepEqual((await rc.dbQuery({ msg_id: ids[0] })).map((r) => r.engine_id), [0]);
    await assert.rejects(rc.purgeResults('some' as never), (e: unknown) => e instanceof TypeError && /msgIds must be an array of msg_ids or 'all', got "some"/.test(e.message));
    await assert.rejects(rc.request('purge_request', { msg_ids: 'some' as never }), (e: unknown) => e instanceof ControllerError && /msg_ids must be an array of msg_id strings or 'all'/.test(e.message));
    assert.equal(await rc.purgeResults('all'), 10);
    assert.deepEqual(await rc.dbQuery(), []);
    assert.deepEqual(await rc.hubHistory(), []);
    assert.equal((await rc.status()).task_db!.rows, 0);
  } finally {
    rc.close();
    await tc.stop();
  }
});

test('the SQLite worker thread runs at nice 19 (Linux), the controller\'s own loop at its usual priority', { skip: process.platform !== 'linux' && 'thread priorities are read from /proc (Linux only)' }, async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const pid = tc.rc.controllerPid;
    const niceOf = (tid: string) => Number(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]);
    // The worker starts with the controller; poll until its thread shows up with its priority set.
    const niced = () => fs.readdirSync(`/proc/${pid}/task`).filter((tid) => niceOf(tid) === 19);
    await until(() => niced().length === 1, 5000, 'one thread of the controller at nice 19');
    assert.equal(niceOf(String(pid)), 0, 'the main thread keeps its priority');
  } finally {
    await tc.stop();
  }
});

test('task records of load-balanced tasks: each attempt of a retried task, and a task the scheduler failed before sending it; none left pending', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const { rc } = tc;
    const lb = rc.loadBalancedView();
    const retried = lb.withFlags({ retries: 1, label: 'flaky' }).applyAsync(() => {
      throw new Error('always fails');
    });
    await assert.rejects(retried);
    const never = lb.withFlags({ after: [retried.msgIds[0]], successOnly: true }).applyAsync(() => 1);
    await assert.rejects(never);
    const attempts = await rc.dbQuery({ msg_id: retried.msgIds[0] });
    assert.deepEqual(attempts.map((r) => [r.status, r.ename, r.label]), [
      ['error', 'Error', 'flaky'],
      ['error', 'Error', 'flaky'],
    ]);
    assert.deepEqual(new Set(attempts.map((r) => r.engine_id)), new Set([0, 1]), 'the retry ran on the other engine');
    for (const r of attempts) assertTimesInOrder(r);
    assert.deepEqual(
      (await rc.dbQuery({ msg_id: never.msgIds[0] })).map((r) => [r.engine_id, r.status, r.ename, r.started]),
      [[null, 'error', 'ImpossibleDependency', null]],
    );
    assert.deepEqual(await rc.dbQuery({ status: 'pending' }), []);
    assert.deepEqual(await rc.hubHistory(), [retried.msgIds[0], never.msgIds[0]]);
  } finally {
    await tc.stop();
  }
});

test('a load-balanced task with retries left that fails where no other engine can take it is recorded as failed, not left pending', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const { rc } = tc;
    const stored = rc.loadBalancedView().withFlags({ retries: 2, label: 'alone', store: true });
    const t = stored.applyAsync(() => {
      console.log('tried');
      throw new RangeError('fails everywhere');
    });
    await assert.rejects(t, /fails everywhere/);
    const id = t.msgIds[0];
    assert.deepEqual(
      (await rc.dbQuery({ msg_id: id })).map((r) => [r.engine_id, r.status, r.ename, r.evalue, r.label, r.stdout]),
      [[0, 'error', 'RangeError', 'fails everywhere', 'alone', 'tried\n']],
    );
    assert.deepEqual(await rc.dbQuery({ status: 'pending' }), [], 'nothing left pending');
    // Its outcome was the task's: kept as its stored value, so another client gets the same error.
    const other = await Client.connect({ file: tc.cluster.connectionFile });
    try {
      await assert.rejects(other.getResult(id), /fails everywhere/);
    } finally {
      other.close();
    }
  } finally {
    await tc.stop();
  }
});

test('resubmit: recorded execute and apply requests run again with new msg_ids (same targets, or load-balanced); their results come by getResult; other kinds and unknown ids are refused by name', async () => {
  const tc = await startTestCluster({ n: 2 });
  const rc = await viaController(tc);
  try {
    const ex = rc.view([0, 1]).execute('globalThis.runs = (globalThis.runs ?? 0) + 1; console.log("run", runs); runs') as AsyncResult<ExecuteResult[]>;
    await ex;
    const big = new Float64Array([1.5, 2.5, 3.5]);
    const ap = rc.loadBalancedView().applyAsync((a: Float64Array, k: number) => a.reduce((x, y) => x + y, 0) * k, big, 2) as AsyncResult<number>;
    assert.equal(await ap, 15);
    const push = rc.view(0).push({ z: 1 }) as AsyncResult<unknown>;
    await push;

    const fresh = await rc.resubmit([ex.msgIds[0], ap.msgIds[0]]);
    assert.equal(fresh.length, 2);
    assert.ok(!fresh.includes(ex.msgIds[0]) && !fresh.includes(ap.msgIds[0]), 'new msg_ids');
    const again = (await rc.getResult(fresh[0])) as ExecuteResult[];
    assert.deepEqual(
      again.map((r) => [r.engineId, r.result, r.stdout]),
      [
        [0, '2', 'run 2\n'],
        [1, '2', 'run 2\n'],
      ],
      'it ran again on both engines (their namespaces count the second run)',
    );
    assert.deepEqual(await rc.getResult(fresh[1]), [15]);
    const records = await rc.dbQuery({ msg_id: { $in: fresh } }, ['status', 'balanced', 'code']);
    assert.deepEqual(records.map((r) => [r.msg_id, r.status, r.balanced]).sort(), [
      [fresh[0], 'ok', false],
      [fresh[0], 'ok', false],
      [fresh[1], 'ok', true],
    ].sort());

    await assert.rejects(rc.resubmit([push.msgIds[0]]), (e: unknown) => e instanceof ControllerError && e.ename === 'KeyError' && e.message === `resubmit_request: msg_id ${push.msgIds[0]} is a push_request: only execute and apply requests can run again`);
    await assert.rejects(rc.resubmit(['no-such-id']), (e: unknown) => e instanceof ControllerError && /^resubmit_request: no task record with msg_id no-such-id$/.test(e.message));

    // A request on a direct connection: recorded from its engine's report, but its code never reached the controller.
    const direct = await tc.cluster.connect();
    try {
      await (direct.view(1).execute('0') as AsyncResult<unknown>); // opens the link
      await until(() => direct.directEngines.includes(1), 5000, 'the direct connection to engine 1');
      const straight = direct.view(1).execute('1 + 1') as AsyncResult<unknown>;
      await straight;
      await until(async () => (await rc.dbQuery({ msg_id: straight.msgIds[0] })).length === 1, 5000, 'the engine to report the direct request');
      await assert.rejects(
        rc.resubmit([straight.msgIds[0], 'no-such-id']),
        (e: unknown) =>
          e instanceof ControllerError &&
          e.ename === 'KeyError' &&
          e.message.includes(`msg_id ${straight.msgIds[0]} was not kept: it went to engine 1 on a direct connection`) &&
          e.message.includes('Client.connect({ direct: false })') &&
          e.message.endsWith('; no task record with msg_id no-such-id'),
      );
    } finally {
      direct.close();
    }
    await assert.rejects(rc.resubmit([]), TypeError);
  } finally {
    rc.close();
    await tc.stop();
  }
});

test('task database (sqlite): after the controller is SIGKILLed and restarted, its records are there and a new client fetches a finished result by msg_id', async () => {
  const tc = await startTestCluster({ n: 2, restart: 'always' });
  try {
    const gone = await tc.cluster.connect();
    const ex = gone.view([0, 1]).execute("await new Promise((r) => setTimeout(r, 200)); console.log('kept'); 6 * 7") as AsyncResult<ExecuteResult[]>;
    const msgId = ex.msgIds[0];
    gone.close();
    await assert.rejects(ex);
    await untilTasksDone(tc.rc, 0, 0);
    await untilTasksDone(tc.rc, 1, 0);
    await until(async () => (await tc.rc.dbQuery({ msg_id: msgId, status: 'ok' })).length === 2, 5000, 'both records finished');
    const before = await tc.rc.dbQuery();
    assert.equal((await tc.rc.status()).task_db!.backend, 'sqlite');

    const oldPid = tc.cluster.controllerPid;
    signal(oldPid, 'SIGKILL');
    await until(() => tc.cluster.controllerPid !== oldPid, 20_000, 'the controller to be restarted');
    assert.ok(await tc.rc.waitConnected(20_000));

    const fresh = await tc.cluster.connect();
    try {
      assert.deepEqual(await fresh.dbQuery(), before);
      assert.deepEqual(await fresh.hubHistory(), [msgId]);
      const r = (await fresh.getResult(msgId)) as ExecuteResult[];
      assert.deepEqual(
        r.map((x) => [x.engineId, x.result, x.stdout]),
        [
          [0, '42', 'kept\n'],
          [1, '42', 'kept\n'],
        ],
      );
      const [[again]] = (await fresh.getResult([msgId])) as ExecuteResult[][];
      assert.equal(again.result, '42');
      await assert.rejects(fresh.getResult('no-such-msg-id'), (e: unknown) => e instanceof ControllerError && e.ename === 'KeyError' && /no result for msg_id no-such-msg-id: there is no task record of it/.test(e.message));
    } finally {
      fresh.close();
    }
  } finally {
    await tc.stop();
  }
});

for (const db of ['sqlite', 'memory'] as const) {
  test(`task database (${db}): the row cap holds, the oldest records go first`, async () => {
    const tc = await startTestCluster({ n: 2, db, dbMaxRows: 100 });
    const rc = await viaController(tc);
    try {
      const v = rc.view(0);
      const ids: string[] = [];
      for (let round = 0; round < 10; round++) {
        const batch = Array.from({ length: 50 }, (_, i) => v.execute(`${round * 50 + i}`) as AsyncResult<unknown>);
        await Promise.all(batch);
        ids.push(...batch.map((a) => a.msgIds[0]));
      }
      await until(async () => (await tc.rc.hubHistory()).length === 100 && (await tc.rc.status()).task_db!.evicted === 400, 5000, 'the cap to hold at 100 records');
      assert.deepEqual(await tc.rc.hubHistory(), ids.slice(-100));
      const s = (await tc.rc.status()).task_db!;
      assert.equal(s.backend, db);
      assert.equal(s.rows, 100);
      assert.equal(s.max_rows, 100);
    } finally {
      rc.close();
      await tc.stop();
    }
  });
}

test('task database (sqlite): 100,000 requests through the controller; the row cap holds and the newest are kept', { timeout: 300_000 }, async () => {
  const tc = await startTestCluster({ n: 4, dbMaxRows: 10_000 });
  const rc = await viaController(tc);
  try {
    const TOTAL = 100_000;
    const BATCH = 5_000;
    const views = [0, 1, 2, 3].map((id) => rc.view(id));
    let first: string[] = [];
    let last: string[] = [];
    for (let sent = 0; sent < TOTAL; sent += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => views[i % 4].applyAsync((x: number) => x, sent + i) as AsyncResult<number>);
      await rc.wait(batch);
      assert.equal(await batch[BATCH - 1], sent + BATCH - 1);
      last = batch.map((a) => a.msgIds[0]);
      if (first.length === 0) first = last;
    }
    await until(async () => (await rc.status()).task_db!.evicted === TOTAL - 10_000, 60_000, 'every record written, the oldest 90,000 dropped');
    const s = (await rc.status()).task_db!;
    assert.deepEqual([s.backend, s.rows, s.max_rows], ['sqlite', 10_000, 10_000]);
    const history = await rc.hubHistory();
    assert.equal(history.length, 10_000);
    // Each batch finished before the next was sent: the last batch is all kept, the first all dropped.
    const kept = new Set(history);
    assert.ok(last.every((id) => kept.has(id)), 'the last batch is kept');
    assert.ok(first.every((id) => !kept.has(id)), 'the first batch was dropped');
    assert.deepEqual(await rc.dbQuery({ status: { $ne: 'ok' } }), []);
  } finally {
    rc.close();
    await tc.stop();
  }
});

test('task database: a corrupt file gives a clear reason in status and records go on in memory; the controller keeps serving', async () => {
  const dir = fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'multiengine-corrupt-'));
  const file = path.join(profileDir('test', dir), 'tasks.db');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'this is not an SQLite database, just text '.repeat(200));
  const tc = await startTestCluster({ n: 1, dir });
  try {
    await until(async () => (await tc.rc.status()).task_db!.backend === 'memory', 5000, 'the fallback to memory');
    const s = (await tc.rc.status()).task_db!;
    assert.match(s.fallback!, /not a database/);
    assert.equal(s.file, file);
    const rc = await viaController(tc);
    const r = rc.view(0).execute('1 + 1') as AsyncResult<unknown>;
    await r;
    rc.close();
    assert.deepEqual((await tc.rc.dbQuery({}, ['status'])).map((x) => [x.msg_id, x.status]), [[r.msgIds[0], 'ok']]);
    // The file is left as it was, for the user to look at.
    assert.match(fs.readFileSync(file, 'utf8'), /^this is not an SQLite database/);
  } finally {
    await tc.stop();
    fs.rmSync(dir, { recursive: true, force: true }); // the test's own folder, not the cluster's
  }
});

test('task database (none): nothing is recorded; results of clients that went away are still kept in memory', async () => {
  const tc = await startTestCluster({ n: 1, db: 'none' });
  const rc = await viaController(tc);
  try {
    const gone = await tc.cluster.connect();
    const ex = gone.view([0]).execute("await new Promise((r) => setTimeout(r, 200)); 'late'") as AsyncResult<ExecuteResult[]>;
    gone.close();
    await assert.rejects(ex);
    await (rc.view(0).execute('1') as AsyncResult<unknown>);
    await untilTasksDone(rc, 0, 1);
    assert.deepEqual(await rc.dbQuery(), []);
    assert.deepEqual(await rc.hubHistory(), []);
    await assert.rejects(rc.resubmit([ex.msgIds[0]]), (e: unknown) => e instanceof ControllerError && e.ename === 'KeyError' && e.message === `resubmit_request: no request kept with msg_id ${ex.msgIds[0]}: this controller runs with --db none, which keeps none`);
    const s = (await rc.status()).task_db!;
    assert.deepEqual([s.backend, s.rows], ['none', 0]);
    assert.deepEqual(((await rc.getResult(ex.msgIds[0])) as ExecuteResult[]).map((x) => x.result), ["'late'"]);
  } finally {
    rc.close();
    await tc.stop();
  }
});
