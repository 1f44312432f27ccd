/**
 * Direct connections (protocol section 13): single-engine requests go straight to the engine,
 * in order with the requests that go through the controller; the controller still sees the
 * engine busy and idle; results of a client that left are kept; strangers are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AbortError, Client, CompositeError, EngineError, TimeoutError, type ExecuteResult } from 'multiengine';
import { createMessage, newSession, type Message } from '../../core/protocol/messages.ts';
import { Signer } from '../../core/transport/codec.ts';
import { Connection, connectTcp } from '../../core/transport/connection.ts';
import { engineInfo, eventually, startTestCluster, until } from './fixture.ts';

/** The engines' global that the ordering test fills (functions below run there). */
declare const seen: string[];

/** Opens a link to engine `id` by sending it one single-engine request, and waits until it is ready. */
async function linkTo(rc: Client, id: number): Promise<void> {
  await rc.view(id).execute('1', { block: true }); // code both languages run
  assert.ok(await eventually(() => rc.directEngines.includes(id), 3000), `no direct connection to engine ${id}: ${JSON.stringify(rc.directEngines)}`);
}

/** Polls until the controller reports engine `id` busy (direct work counts, by the engine's activity reports). */
async function untilBusy(rc: Client, id: number): Promise<void> {
  await until(async () => (await engineInfo(rc, id)).state === 'busy', 5000, `engine ${id} to be busy`);
}

test('single-engine requests reach the engine directly: they are answered while the controller is stopped', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    for (const e of tc.rc.engines) assert.equal(e.direct?.ip, '127.0.0.1', 'engines advertise where they listen');
    await linkTo(tc.rc, 0);
    const v = tc.rc.view(0);
    process.kill(tc.cluster.controllerPid, 'SIGSTOP');
    try {
      assert.equal(await v.applySync((a: number, b: number) => a * b, 6, 7), 42);
      const r = (await v.execute('console.log("out"); 1 + 2', { block: true })) as ExecuteResult;
      assert.equal(r.result, '3');
      assert.equal(r.stdout, 'out\n');
      const big = new Float64Array(2 ** 20).map((_, i) => i / 3);
      await v.push({ big }, { block: true });
      const back = (await v.pull('big', { block: true })) as Float64Array;
      assert.equal(back.length, big.length);
      assert.equal(back[777_777], big[777_777]);
    } finally {
      process.kill(tc.cluster.controllerPid, 'SIGCONT');
    }
    // A request for both engines needs the controller, and works again now.
    assert.deepEqual(await tc.rc.view([0, 1]).applySync(() => 'both'), ['both', 'both']);
  } finally {
    await tc.stop();
  }
});

test('one client keeps its order on an engine across both paths', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    await linkTo(tc.rc, 0);
    await tc.rc.view([0, 1]).execute('globalThis.seen = []', { block: true });
    const one = tc.rc.view(0);
    const all = tc.rc.view([0, 1]);
    const pending: Promise<unknown>[] = [];
    const expected: string[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        // Slow enough that the direct ones are still running when the next controller request is made.
        pending.push(one.applyAsync((tag: string) => { const t = Date.now() + 1; while (Date.now() < t); seen.push(tag); }, `d${round}.${i}`));
        expected.push(`d${round}.${i}`);
      }
      pending.push(all.execute(`seen.push('all${round}')`, { block: false }));
      expected.push(`all${round}`);
      pending.push(one.applyAsync((tag: string) => seen.push(tag), `after${round}`));
      expected.push(`after${round}`);
    }
    await Promise.all(pending);
    assert.deepEqual(await one.pull('seen', { block: true }), expected);
    assert.deepEqual(await tc.rc.view(1).pull('seen', { block: true }), [0, 1, 2, 3, 4].map((r) => `all${r}`));
  } finally {
    await tc.stop();
  }
});

test('the controller counts direct work: busy with the running request while it runs, idle and counted after', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    await linkTo(tc.rc, 0);
    const before = (await tc.rc.status()).engines[0].tasks_done ?? 0;
    // Right after another request, so the engine cannot report the start (it reports at most every
    // 20 ms and the loop is blocked then): its heartbeat says what runs.
    await tc.rc.view(0).applySync(() => 1);
    const long = tc.rc.view(0).execute('const t = Date.now() + 1500; while (Date.now() < t);', { block: false });
    let seen: { state: string; current?: string; queue: number } | undefined;
    assert.ok(
      await eventually(async () => {
        const e = (await tc.rc.status()).engines[0];
        seen = { state: e.state, current: e.current_task?.msg_type, queue: e.queue };
        return e.state === 'busy';
      }, 1200),
      `not busy while running: ${JSON.stringify(seen)}`,
    );
    assert.deepEqual(seen, { state: 'busy', current: 'execute_request', queue: 1 });
    await long;
    const after = (await tc.rc.status()).engines[0];
    assert.equal(after.state, 'idle');
    assert.equal(after.current_task, null);
    assert.ok(await eventually(async () => ((await tc.rc.status()).engines[0].tasks_done ?? 0) >= before + 1, 2000), 'the direct request is counted in tasks_done');
  } finally {
    await tc.stop();
  }
});

test('an engine that dies mid-request fails its direct requests with EngineError at once; the other engine is untouched', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    await linkTo(tc.rc, 0);
    await linkTo(tc.rc, 1);
    const doomed = tc.rc.view(0).execute('await new Promise((r) => setTimeout(r, 60_000))', { block: false });
    const other = tc.rc.view(1).applySync(() => new Promise((r) => setTimeout(() => r('fine'), 300)));
    await untilBusy(tc.rc, 0);
    const t0 = performance.now();
    process.kill(tc.rc.engine(0)!.pid, 'SIGKILL');
    await assert.rejects(doomed, (e: unknown) => e instanceof EngineError && e.engineId === 0);
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(await other, 'fine');
  } finally {
    await tc.stop();
  }
});

test('a client that leaves while its direct request runs: the result and its output wait in the controller for rc.getResult', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const rc = await tc.cluster.connect();
    await linkTo(rc, 0);
    const ar = rc.view(0).execute('await new Promise((r) => setTimeout(r, 500)); console.log("after the client left"); 6 * 7', { block: false });
    const [msgId] = ar.msgIds;
    await untilBusy(tc.rc, 0);
    rc.close();
    await assert.rejects(ar, EngineError);
    // The engine tells the controller as soon as it sees the connection close; then the store holds it.
    let fetched: Promise<unknown[]> | undefined;
    assert.ok(
      await eventually(async () => {
        fetched = tc.rc.getResult(msgId);
        return fetched.then(() => true, (e: Error) => !/KeyError|no result/.test(e.message));
      }, 2000),
    );
    const [r] = (await fetched!) as ExecuteResult[];
    assert.equal(r.result, '42');
    assert.equal(r.stdout, 'after the client left\n');
  } finally {
    await tc.stop();
  }
});

test("an engine's listener refuses strangers: a wrong key is hung up on, a wrong uuid gets EngineError", async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const e = tc.rc.engine(0)!;
    const { ip, port } = e.direct!;
    const session = newSession();

    const stranger = new Connection(await connectTcp(ip, port), new Signer('not the key'));
    const closed = new Promise<boolean>((resolve) => stranger.start({ onMessage: () => resolve(false), onClose: () => resolve(true) }));
    stranger.send(createMessage('engine_connect_request', { engine_uuid: e.uuid }, { session }));
    assert.equal(await closed, true);

    const key = tc.rc.connectionInfo.key;
    const wrong = new Connection(await connectTcp(ip, port), new Signer(key));
    const reply = new Promise<Message>((resolve) => wrong.start({ onMessage: resolve }));
    wrong.send(createMessage('engine_connect_request', { engine_uuid: 'someone-else' }, { session }));
    const m = await reply;
    assert.equal(m.header.msg_type, 'engine_connect_reply');
    assert.deepEqual([(m.content as { status: string }).status, (m.content as { ename: string }).ename], ['error', 'EngineError']);
    wrong.destroy();

    // A work request before the handshake is not run: the connection is closed.
    const early = new Connection(await connectTcp(ip, port), new Signer(key));
    const earlyClosed = new Promise<boolean>((resolve) => early.start({ onMessage: () => resolve(false), onClose: () => resolve(true) }));
    early.send(createMessage('execute_request', { code: 'globalThis.ran = 1' }, { session, metadata: { targets: [0] } }));
    assert.equal(await earlyClosed, true);
    assert.deepEqual(await tc.rc.view(0).execute('typeof ran', { block: true }).then((r) => (r as ExecuteResult).result), "'undefined'");

    // A stranger's first frame may not be large: announcing 256 MiB gets the connection closed at once.
    const greedy = net.connect(port, ip);
    await new Promise((r) => greedy.once('connect', r));
    const head = Buffer.alloc(8);
    head.writeUInt32BE(256 * 1024 * 1024, 0);
    greedy.write(head);
    assert.equal(await new Promise((r) => greedy.once('close', () => r(true))), true);

    // A silent connection does not stop the engine from serving.
    const silent = net.connect(port, ip);
    await new Promise((r) => silent.once('connect', r));
    assert.equal(await tc.rc.view(0).applySync(() => 'still here'), 'still here');
    silent.destroy();
  } finally {
    await tc.stop();
  }
});

test('direct: false keeps every request on the controller', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const rc = await Client.connect({ dir: tc.dir, profile: 'test', direct: false });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await rc.view(0).applySync((x: number) => x + 1, i), i + 1);
      assert.deepEqual(rc.directEngines, []);
    } finally {
      rc.close();
    }
  } finally {
    await tc.stop();
  }
});

test('a restarted engine gets a new direct connection; the old one is not used', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    await linkTo(tc.rc, 0);
    const oldUuid = tc.rc.engine(0)!.uuid;
    await tc.cluster.restartEngine(0);
    await tc.rc.refreshEngines();
    assert.ok(await eventually(() => tc.rc.engine(0)?.uuid !== oldUuid && tc.rc.engine(0)?.state === 'idle', 5000));
    assert.equal(await tc.rc.view(0).applySync(() => process.pid), tc.rc.engine(0)!.pid);
    await linkTo(tc.rc, 0);
    assert.equal(await tc.rc.view(0).applySync(() => process.pid), tc.rc.engine(0)!.pid);
  } finally {
    await tc.stop();
  }
});

test('gather over direct connections: equal blocks land in one array in place, uneven ones are concatenated; values intact on node and python engines', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    const ids = [0, 1, py];
    for (const id of ids) await linkTo(tc.rc, id);
    // Node engines give Float64Array blocks (one Float64Array back); with a Python engine the blocks
    // differ in kind (an NDArray among them) and come back as a plain array.
    for (const [v, n] of [[tc.rc.view([0, 1]), 2 ** 20], [tc.rc.view([0, 1]), 2 ** 20 + 1], [tc.rc.view(ids), 3 * 2 ** 18], [tc.rc.view(ids), 3 * 2 ** 18 + 2]] as const) {
      const data = Float64Array.from({ length: n }, (_, i) => i * 0.5);
      await v.scatter('part', data, { block: true });
      const back = (await v.gather('part', { block: true })) as ArrayLike<number>;
      const arr = back;
      if ((v.targets as number[]).length === 2) assert.ok(arr instanceof Float64Array);
      assert.equal(arr.length, n);
      assert.deepEqual([arr[0], arr[n >> 1], arr[n - 1]], [0, (n >> 1) * 0.5, (n - 1) * 0.5]);
      let same = true;
      for (let i = 0; i < n; i++) if (arr[i] !== data[i]) same = false;
      assert.ok(same, `gather of ${n} elements returned what was scattered`);
    }
  } finally {
    await tc.stop();
  }
});

test("garbage at an engine's direct port (200 connections of random bytes and bad frames) does not disturb it: node and Python engines keep serving", async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    for (const id of [0, py]) {
      const { ip, port } = tc.rc.engine(id)!.direct!;
      let seed = 12345 + id;
      const random = (n: number) => Buffer.from(Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff));
      const closed = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const s = net.connect(port, ip);
          await new Promise((r) => s.once('connect', r));
          // Random bytes, or a plausible frame head announcing random parts.
          const head = Buffer.alloc(8);
          head.writeUInt32BE(16 + (i % 64), 0);
          head.writeUInt32BE(1 + (i % 7), 4);
          s.write(i % 2 ? random(1 + (i % 300)) : Buffer.concat([head, random(64)]));
          s.end();
          return new Promise<boolean>((resolve) => {
            s.on('error', () => {});
            s.once('close', () => resolve(true));
            setTimeout(() => resolve(false), 15_000);
          });
        }),
      );
      assert.ok(closed.every(Boolean), `every garbage connection to engine ${id} ended`);
      const r = (await tc.rc.view(id).execute('6 * 7', { block: true })) as ExecuteResult;
      assert.equal(r.result, '42', `engine ${id} still serves`);
      assert.equal(tc.rc.engine(id)!.state !== 'dead', true);
    }
  } finally {
    await tc.stop();
  }
});

test('a multi-engine request held back behind direct requests can be aborted or time out, and then never runs; the next one runs in order', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    await linkTo(tc.rc, 0);
    await tc.rc.view([0, 1]).execute('globalThis.ran = []', { block: true });
    const slow = tc.rc.view(0).execute('await new Promise((r) => setTimeout(r, 800)); ran.push("slow")', { block: false });
    const both = tc.rc.view([0, 1]);
    const aborted = both.execute('ran.push("aborted")', { block: false });
    const timedOut = both.execute('ran.push("timed out")', { block: false, timeoutMs: 300 });
    const later = both.execute('ran.push("later")', { block: false });
    await aborted.abort();
    await assert.rejects(aborted, (e: unknown) => e instanceof CompositeError && e.elist.every((x) => x instanceof AbortError));
    await assert.rejects(timedOut, TimeoutError);
    await slow;
    await later;
    assert.deepEqual(await tc.rc.view([0, 1]).pull('ran', { block: true }), [['slow', 'later'], ['later']]);
  } finally {
    await tc.stop();
  }
});
