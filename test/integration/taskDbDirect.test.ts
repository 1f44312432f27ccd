/**
 * Records of requests that go straight to an engine (protocol section 13): the engines report
 * them in task_report messages, and the controller's task database records them, on node and
 * Python engines; a burst of 2,000 direct applies is recorded whole; a controller with
 * --db none tells its engines not to report, and none come.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type AsyncResult, type TaskRecord } from 'multiengine';
import { sleep, startTestCluster, until, type TestCluster } from './fixture.ts';

const TIMES = ['submitted', 'received', 'started', 'completed'] as const;

function assertTimesInOrder(r: Partial<TaskRecord>): void {
  const t = TIMES.map((k) => r[k]);
  for (const x of t) assert.match(String(x), /^\d{4}-\d\d-\d\dT/, `${r.msg_type} ${r.msg_id} has all four times: ${JSON.stringify(r)}`);
  for (let i = 1; i < t.length; i++) assert.ok(Date.parse(t[i - 1]!) <= Date.parse(t[i]!), `${TIMES[i - 1]} <= ${TIMES[i]} in ${JSON.stringify(r)}`);
}

/** Polls until the database holds a record of each msg_id; returns them in the order of `ids`. */
async function recordsOf(tc: TestCluster, ids: string[]): Promise<TaskRecord[]> {
  let found: TaskRecord[] = [];
  await until(async () => {
    found = (await tc.rc.dbQuery({ msg_id: { $in: ids } })) as TaskRecord[];
    return found.length >= ids.length;
  }, 10_000, `records of ${ids.length} direct requests`);
  return found.sort((a, b) => ids.indexOf(a.msg_id) - ids.indexOf(b.msg_id));
}

/** Opens the direct connection to engine `id` (the first requests go through the controller until it is up). */
async function linkTo(tc: TestCluster, id: number): Promise<void> {
  await tc.rc.view(id).execute('1', { block: true }); // code both languages run
  await until(() => tc.rc.directEngines.includes(id), 3000, `a direct connection to engine ${id}`);
}

async function reported(tc: TestCluster): Promise<number> {
  return (await tc.rc.status()).task_db!.reported ?? -1;
}

describe('direct requests in the task database', () => {
  let tc: TestCluster;
  let py: number;

  before(async () => {
    tc = await startTestCluster({ n: 1, db: 'memory' });
    [py] = await tc.cluster.addEngines(1, { engine: 'python' });
  });
  after(async () => {
    await tc?.stop();
  });

  const kinds = [
    { name: 'node', id: () => 0, code: 'let q = 6 * 7; q', fn: (x: number) => x * 2, bad: 'throw new TypeError("nope")', ename: 'TypeError' },
    { name: 'python', id: () => py, code: 'q = 6 * 7', fn: 'lambda x: x * 2', bad: 'raise ValueError("nope")', ename: 'ValueError' },
  ];
  for (const k of kinds) {
    test(`${k.name} engine: direct execute, apply, push, pull and an error are recorded with their times in order`, async () => {
      await linkTo(tc, k.id());
      const before = await reported(tc);
      const v = tc.rc.view(k.id());
      const ex = v.execute(k.code, { block: false }) as AsyncResult<unknown>;
      await ex;
      const ap = v.apply(k.fn as (x: number) => number, 21) as AsyncResult<unknown>;
      assert.equal(await ap, 42);
      const push = v.push({ pushed: 5 }) as AsyncResult<unknown>;
      await push;
      const pull = v.pull('pushed') as AsyncResult<unknown>;
      assert.equal(await pull, 5);
      const bad = v.execute(k.bad, { block: false }) as AsyncResult<unknown>;
      await assert.rejects(bad);
      const ids = [ex, ap, push, pull, bad].map((a) => a.msgIds[0]);
      const recs = await recordsOf(tc, ids);
      assert.deepEqual(
        recs.map((r) => [r.msg_id, r.msg_type, r.engine_id, r.status, r.balanced]),
        [
          [ids[0], 'execute_request', k.id(), 'ok', false],
          [ids[1], 'apply_request', k.id(), 'ok', false],
          [ids[2], 'push_request', k.id(), 'ok', false],
          [ids[3], 'pull_request', k.id(), 'ok', false],
          [ids[4], 'execute_request', k.id(), 'error', false],
        ],
      );
      for (const r of recs) assertTimesInOrder(r);
      // The engine's received time is the one the client's AsyncResult has too.
      assert.equal(recs[0].received, ex.received[0]);
      assert.equal(recs[0].code, k.code);
      assert.equal(recs[2].code, 'pushed');
      assert.equal(recs[3].code, 'pushed');
      assert.equal(recs[4].ename, k.ename);
      assert.match(recs[4].evalue!, /nope/);
      assert.ok(recs[3].result_bytes! > 0);
      // The client that sent them: the same number the controller gave this client's routed requests.
      assert.ok(recs.every((r) => r.client > 0 && r.client === recs[0].client), JSON.stringify(recs.map((r) => r.client)));
      // They came from the engine's reports, not through the controller.
      assert.ok((await reported(tc)) >= before + 5, 'the engine reported the five requests');
    });
  }

  const printing = [
    { name: 'node', id: () => 0, prints: 'console.log("to out"); console.error("to err"); 1', big: 'process.stdout.write("x".repeat(20000)); 1', quiet: '2' },
    { name: 'python', id: () => py, prints: 'import sys\nprint("to out")\nprint("to err", file=sys.stderr)', big: 'print("x" * 20000, end="")', quiet: 'q = 2' },
  ];
  for (const k of printing) {
    test(`${k.name} engine: a direct request's stdout and stderr are in its record, capped at 16 KiB characters; one that printed nothing has none`, async () => {
      await linkTo(tc, k.id());
      const v = tc.rc.view(k.id());
      const prints = v.execute(k.prints, { block: false }) as AsyncResult<unknown>;
      const big = v.execute(k.big, { block: false }) as AsyncResult<unknown>;
      const quiet = v.execute(k.quiet, { block: false }) as AsyncResult<unknown>;
      await Promise.all([prints, big, quiet]);
      assert.ok(tc.rc.directEngines.includes(k.id()), 'they went over the direct connection');
      const [p, b, q] = await recordsOf(tc, [prints, big, quiet].map((a) => a.msgIds[0]));
      assert.deepEqual([p.stdout, p.stderr], ['to out\n', 'to err\n']);
      assert.equal(b.stdout, 'x'.repeat(16 * 1024), 'capped at 16 KiB characters');
      assert.equal(big.stdout[0].length, 20000, "the client still got all of it");
      assert.deepEqual([q.stdout, q.stderr], ['', '']);
    });
  }

  test('a burst of 2,000 direct applies on each kind: every one recorded', async () => {
    const n = 1000;
    for (const id of [0, py]) await linkTo(tc, id);
    const before = await reported(tc);
    const ars: AsyncResult<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      ars.push(tc.rc.view(0).apply((x: number) => x + 1, i) as AsyncResult<unknown>);
      ars.push(tc.rc.view(py).apply('lambda x: x + 1', i) as AsyncResult<unknown>);
    }
    await Promise.all(ars);
    const ids = ars.map((a) => a.msgIds[0]);
    const recs = await recordsOf(tc, ids);
    assert.equal(recs.length, 2 * n);
    assert.deepEqual(recs.map((r) => r.msg_id), ids);
    assert.ok(recs.every((r) => r.status === 'ok' && r.msg_type === 'apply_request'));
    assert.deepEqual([0, py].map((id) => recs.filter((r) => r.engine_id === id).length), [n, n]);
    assert.ok((await reported(tc)) >= before + 2 * n, 'all came from the engines\' reports');
  });
});

test('--db none: engines are told not to report direct requests, and none are recorded', async () => {
  const tc = await startTestCluster({ n: 1, db: 'none' });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    for (const id of [0, py]) await linkTo(tc, id);
    const ars: AsyncResult<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      ars.push(tc.rc.view(0).apply((x: number) => x + 1, i) as AsyncResult<unknown>);
      ars.push(tc.rc.view(py).apply('lambda x: x + 1', i) as AsyncResult<unknown>);
    }
    await Promise.all(ars);
    // Nothing may come during this time: an engine that reported would have within its interval (50 ms).
    await sleep(300);
    const s = (await tc.rc.status()).task_db!;
    assert.deepEqual([s.backend, s.rows, s.reported], ['none', 0, 0]);
    assert.deepEqual(await tc.rc.dbQuery(), []);
  } finally {
    await tc.stop();
  }
});

test('a direct reply over the maximum message size is recorded as the MessageTooLargeError the client got, on each kind', async () => {
  const MiB = 1024 * 1024;
  const tc = await startTestCluster({ n: 1, db: 'memory', maxMessageBytes: 4 * MiB });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    const setups: [number, string][] = [
      [0, 'globalThis.big = new Float64Array(1024 * 1024)'],
      [py, 'big = bytes(8 * 1024 * 1024)'],
    ];
    const ids: string[] = [];
    for (const [id, code] of setups) {
      await linkTo(tc, id);
      await tc.rc.view(id).execute(code, { block: true });
      const pull = tc.rc.view(id).pull('big') as AsyncResult<unknown>;
      await assert.rejects(pull, /MessageTooLargeError|maximum message size/);
      ids.push(pull.msgIds[0]);
    }
    const recs = await recordsOf(tc, ids);
    assert.deepEqual(
      recs.map((r) => [r.engine_id, r.msg_type, r.status, r.ename, r.code, r.result_bytes]),
      [
        [0, 'pull_request', 'error', 'MessageTooLargeError', 'big', 0],
        [py, 'pull_request', 'error', 'MessageTooLargeError', 'big', 0],
      ],
      'no result went out: 0 bytes on both kinds',
    );
    for (const r of recs) assert.match(r.evalue!, /more than the maximum message size of 4\.0 MiB/);
  } finally {
    await tc.stop();
  }
});
