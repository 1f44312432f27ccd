/**
 * Client gone: when a client disconnects while its requests run, the controller keeps their
 * results in a bounded store (LRU, capped in bytes and entries, size in status and in
 * `multiengine status`); rc.getResult(msgId) returns them, also to the same client after it
 * reconnected on its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type net from 'node:net';
import path from 'node:path';
import { ControllerError, EngineError, type AsyncResult, type ExecuteResult } from 'multiengine';
import { engineInfo, startTestCluster, untilClients, untilReached, untilTasksDone } from './faultKit.ts';

const isMissing = (e: unknown) => e instanceof ControllerError && e.ename === 'KeyError' && /not in the result store|no result/.test(e.message);

test('client gone: results of its unanswered requests are kept; rc.getResult returns them; status and `multiengine status` show the store', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const gone = await tc.cluster.connect();
    await gone.view(1).push({ v: [1, 2, 3] }, { block: true });
    const ex = gone.view().execute("await new Promise((r) => setTimeout(r, 300)); console.log('hello'); 6 * 7") as AsyncResult<ExecuteResult[]>;
    const ap = gone.view(0).apply((x: number) => new Promise((r) => setTimeout(() => r(x * 2), 300)), 21) as AsyncResult<number>;
    const pl = gone.view(1).pull('v') as AsyncResult<unknown>;
    const [exId, apId, plId] = [ex.msgIds[0], ap.msgIds[0], pl.msgIds[0]];
    gone.close();
    await assert.rejects(ex, (e: unknown) => e instanceof Error);
    await assert.rejects(ap, (e: unknown) => e instanceof EngineError && /closed/.test(e.evalue));
    // Every reply has reached the controller: engine 0 answered execute and apply; 1 push, execute and pull.
    await untilTasksDone(tc.rc, 0, 1);
    await untilTasksDone(tc.rc, 1, 2);

    const r = (await tc.rc.getResult(exId)) as ExecuteResult[];
    assert.deepEqual(
      r.map((x) => [x.engineId, x.result, x.stdout]),
      [
        [0, '42', 'hello\n'],
        [1, '42', 'hello\n'],
      ],
    );
    assert.deepEqual(await tc.rc.getResult(apId), [42]);
    assert.deepEqual(await tc.rc.getResult(plId), [[[1, 2, 3]]]);
    // Fetching does not consume: it is there until evicted.
    assert.deepEqual(await tc.rc.getResult(apId), [42]);
    await assert.rejects(tc.rc.getResult('no-such-msg-id'), isMissing);

    const store = (await tc.rc.status()).result_store!;
    assert.equal(store.entries, 3);
    assert.ok(store.bytes > 0 && store.bytes <= store.max_bytes);
    assert.equal(store.evicted, 0);
    const cli = spawnSync(process.execPath, [path.join(import.meta.dirname, '../../bin/multiengine.js'), 'status', '--profile', 'test', '--dir', tc.dir], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /result store: 3 results, [\d.]+ MiB of [\d.]+ MiB \(max \d+ results\), 0 evicted/);
  } finally {
    await tc.stop();
  }
});

test('getResult of a request that is still running waits for it', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const others = (await tc.rc.status()).clients;
    const gone = await tc.cluster.connect();
    const ar = gone.view(0).execute("await new Promise((r) => setTimeout(r, 800)); 'late'") as AsyncResult<ExecuteResult>;
    const id = ar.msgIds[0];
    await untilReached(tc.rc, 0, id);
    gone.close();
    await untilClients(tc.rc, others);
    const r = (await tc.rc.getResult(id)) as ExecuteResult[];
    assert.equal(r[0].result, "'late'");
  } finally {
    await tc.stop();
  }
});

test('the result store is bounded in entries and bytes, least recently used out first', async () => {
  // --db memory: with the default SQLite task database, results evicted here are still found there.
  const tc = await startTestCluster({ n: 1, resultStoreEntries: 3, resultStoreBytes: 256 * 1024, db: 'memory' });
  try {
    const orphan = async (fn: string): Promise<string> => {
      const done = (await engineInfo(tc.rc, 0)).tasks_done ?? 0;
      const c = await tc.cluster.connect();
      const ar = c.view(0).apply(fn) as AsyncResult<unknown>;
      const id = ar.msgIds[0];
      await untilReached(tc.rc, 0, id, done);
      c.close();
      await ar.catch(() => {});
      await untilTasksDone(tc.rc, 0, done); // its reply went into the store
      return id;
    };
    const slow = "() => new Promise((r) => setTimeout(() => r('small'), 100))";
    const a = await orphan(slow);
    const b = await orphan(slow);
    const c = await orphan(slow);
    assert.deepEqual(await tc.rc.getResult(a), ['small']); // a is now the most recently used
    const d = await orphan(slow); // 4 entries > 3: b, the least recently used, goes
    await assert.rejects(tc.rc.getResult(b), isMissing);
    for (const id of [a, c, d]) assert.deepEqual(await tc.rc.getResult(id), ['small']);
    let s = (await tc.rc.status()).result_store!;
    assert.deepEqual([s.entries, s.evicted, s.max_entries], [3, 1, 3]);

    // 200 KiB results: two would pass the 256 KiB cap, so each pushes the others out.
    const big = "() => new Promise((r) => setTimeout(() => r('x'.repeat(200 * 1024)), 100))";
    const e = await orphan(big);
    const f = await orphan(big);
    await assert.rejects(tc.rc.getResult(e), isMissing);
    assert.equal(((await tc.rc.getResult(f)) as string[])[0].length, 200 * 1024);
    s = (await tc.rc.status()).result_store!;
    assert.ok(s.bytes <= s.max_bytes, `${s.bytes} bytes stored, cap ${s.max_bytes}`);
    // A result bigger than the whole store is not kept at all.
    const huge = await orphan("() => new Promise((r) => setTimeout(() => r('y'.repeat(300 * 1024)), 100))");
    await assert.rejects(tc.rc.getResult(huge), isMissing);
    s = (await tc.rc.status()).result_store!;
    assert.ok(s.bytes <= s.max_bytes && s.entries <= 3);
  } finally {
    await tc.stop();
  }
});

test('a client whose connection drops gets a clear error, reconnects on its own, and fetches the result with getResult', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const ar = tc.rc.view([0, 1]).apply((n: number) => new Promise((r) => setTimeout(() => r(n + 1), 400)), 1) as AsyncResult<number[]>;
    const id = ar.msgIds[0];
    for (const e of [0, 1]) await untilReached(tc.rc, e, id);
    // The network drops the connection under the client's feet (the controller stays up).
    (tc.rc as unknown as { link: { conn: { socket: net.Socket } } }).link.conn.socket.destroy();
    await assert.rejects(ar, (e: unknown) => e instanceof Error && /lost the connection/.test(e.message) && e.message.includes(`getResult('${id}')`));
    assert.ok(await tc.rc.waitConnected(10_000), 'reconnected');
    assert.deepEqual(await tc.rc.getResult(id), [2, 2]);
    assert.deepEqual(await tc.rc.view().applySync(() => 'after'), ['after', 'after']);
  } finally {
    await tc.stop();
  }
});
