// The controller's scheduler (load-balanced tasks), driven message by message: a real controller
// process, fake engines that answer when told to, and fake clients, over real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BalancedSpec, Message } from '../../../core/protocol/messages.js';
import { content, FakeEngine, fakeClient, type Peer, startController, status, until, type RunningController } from './helpers.js';

type Reply = { status: string; ename?: string; evalue?: string; result?: unknown };

async function withController(extra: string[], fn: (ctl: RunningController) => Promise<void>): Promise<void> {
  const ctl = await startController(extra);
  try {
    await fn(ctl);
  } finally {
    await ctl.stop();
  }
}

/** A fake engine that answers only when the test says. */
async function quietEngine(ctl: RunningController): Promise<FakeEngine> {
  const e = await FakeEngine.start(ctl, { autoReply: false });
  return e;
}

function submit(client: Peer, balanced: BalancedSpec = {}, fn = 'f'): Message {
  return client.send('apply_request', { fn, args: [] }, { metadata: { balanced } });
}

/** The engine's error reply to `req`. */
function answerError(e: FakeEngine, req: Message, ename = 'ZeroDivisionError'): void {
  e.main.send('apply_reply', { status: 'error', ename, evalue: 'it failed', traceback: [] }, { parent: req.header, metadata: { engine_id: e.id } });
}

/** The request `e` got for `task` (waits for it). */
async function arrived(e: FakeEngine, task: Message, what = `engine ${e.id} to get ${task.header.msg_id}`): Promise<Message> {
  await until(() => e.requests.some((r) => r.header.msg_id === task.header.msg_id), 5000, what);
  return e.requests.find((r) => r.header.msg_id === task.header.msg_id)!;
}

function has(e: FakeEngine, task: Message): boolean {
  return e.requests.some((r) => r.header.msg_id === task.header.msg_id);
}

function repliesTo(client: Peer, req: Message): Message[] {
  return client.received.filter((m) => m.header.msg_type === 'apply_reply' && (m.parent_header as { msg_id?: string }).msg_id === req.header.msg_id);
}

async function finalReply(client: Peer, req: Message): Promise<{ c: Reply; engine: unknown }> {
  const m = await client.replyTo(req);
  return { c: content<Reply>(m), engine: m.metadata.engine_id };
}

test('hwm caps balanced tasks per engine; the rest wait unassigned (status says how many), and go out as engines answer or join', async () => {
  await withController(['--hwm', '1'], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    const tasks = [0, 1, 2, 3, 4].map(() => submit(client));
    await arrived(e0, tasks[0]);
    await arrived(e1, tasks[1]);
    let s = await status(client);
    assert.equal(s.unassigned, 3);
    assert.deepEqual(
      s.engines.map((e) => e.balanced),
      [1, 1],
    );
    assert.equal(e0.requests.length + e1.requests.length, 2, 'no engine got more than hwm');
    // The engine gets the client's own bytes: a request like any other.
    assert.equal(e0.requests[0].metadata.targets, undefined);

    e0.answer(e0.requests[0]);
    assert.deepEqual((await finalReply(client, tasks[0])).engine, 0);
    await arrived(e0, tasks[2]);
    assert.equal((await status(client)).unassigned, 2);

    // A new engine takes waiting tasks at once.
    const e2 = await quietEngine(ctl);
    await arrived(e2, tasks[3]);
    s = await status(client);
    assert.equal(s.unassigned, 1);
    assert.deepEqual(
      s.engines.map((e) => e.balanced),
      [1, 1, 1],
    );
    for (const e of [e0, e1, e2]) e.autoReply = true;
    e1.answer(e1.requests[0]);
    e2.answer(e2.requests[0]);
    e0.answer(e0.requests[1]);
    for (const t of tasks) assert.equal((await finalReply(client, t)).c.status, 'ok');
    for (const t of tasks) assert.equal(repliesTo(client, t).length, 1, 'exactly one reply per task');
    assert.equal((await status(client)).unassigned, 0);
  });
});

test('leastload: a task goes to the engine with the fewest outstanding requests, direct ones included', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    // Two direct requests keep engine 0 loaded.
    const direct = [client.send('apply_request', { fn: 'g', args: [] }, { metadata: { targets: [0] } }), client.send('apply_request', { fn: 'g', args: [] }, { metadata: { targets: [0] } })];
    await until(() => e0.requests.length === 2, 5000, 'engine 0 to get the direct requests');
    const t = submit(client);
    await arrived(e1, t);
    assert.equal(has(e0, t), false);
    e1.answer(e1.requests[0]);
    for (const r of e0.requests) e0.answer(r);
    assert.equal((await finalReply(client, t)).engine, 1);
    for (const d of direct) assert.equal((await finalReply(client, d)).c.status, 'ok');
  });
});

test('direct and balanced requests on the same engine are all answered, each once', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    await FakeEngine.start(ctl);
    const reqs: Message[] = [];
    for (let i = 0; i < 20; i++) reqs.push(i % 2 === 0 ? submit(client) : client.send('apply_request', { fn: 'g', args: [] }, { metadata: { targets: [0] } }));
    for (const r of reqs) {
      const { c, engine } = await finalReply(client, r);
      assert.equal(c.status, 'ok');
      assert.equal(engine, 0);
    }
    for (const r of reqs) assert.equal(repliesTo(client, r).length, 1);
  });
});

test('a task whose engine dies is sent again while it has retries; without, it fails with EngineError; other tasks go on', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    const retried = submit(client, { retries: 1 });
    await arrived(e0, retried);
    const other = submit(client, {});
    await arrived(e1, other);
    const doomed = submit(client, {});
    await arrived(e0, doomed);
    e0.close();
    const again = await arrived(e1, retried, 'the retried task to reach engine 1');
    e1.answer(again);
    e1.answer(e1.requests[0]);
    const r = await finalReply(client, retried);
    assert.equal(r.c.status, 'ok');
    assert.equal(r.engine, 1);
    const d = await finalReply(client, doomed);
    assert.equal(d.c.ename, 'EngineError');
    assert.match(d.c.evalue!, /^engine 0 is dead: /);
    assert.equal(d.engine, 0);
    assert.equal((await finalReply(client, other)).c.status, 'ok');
    for (const t of [retried, doomed, other]) assert.equal(repliesTo(client, t).length, 1);
  });
});

test('a task that failed is retried on an engine that has not failed it; only the last outcome reaches the client', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    const t = submit(client, { retries: 3 });
    const first = await arrived(e0, t);
    answerError(e0, first);
    const second = await arrived(e1, t);
    answerError(e1, second);
    // Every engine has failed it: the last error goes to the client, retries or not.
    const r = await finalReply(client, t);
    assert.equal(r.c.ename, 'ZeroDivisionError');
    assert.equal(r.engine, 1);
    assert.equal(repliesTo(client, t).length, 1);
    assert.equal(e0.requests.filter((x) => x.header.msg_id === t.header.msg_id).length, 1, 'never sent back to the engine that failed it');

    const u = submit(client, { retries: 1 });
    const u0 = await arrived(e0, u);
    answerError(e0, u0);
    const u1 = await arrived(e1, u);
    e1.answer(u1);
    const ok = await finalReply(client, u);
    assert.equal(ok.c.status, 'ok');
    assert.equal(ok.engine, 1);
    assert.equal(repliesTo(client, u).length, 1);

    const v = submit(client, {});
    answerError(e0, await arrived(e0, v));
    assert.equal((await finalReply(client, v)).c.ename, 'ZeroDivisionError');
  });
});

test('a task no engine starts within timeout_ms fails with TaskTimeout (engine_id -1)', async () => {
  await withController(['--hwm', '1'], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const busy = submit(client);
    await arrived(e0, busy);
    const late = submit(client, { timeout_ms: 50 });
    const r = await finalReply(client, late);
    assert.equal(r.c.ename, 'TaskTimeout');
    assert.match(r.c.evalue!, /within timeout_ms 50/);
    assert.equal(r.engine, -1);
    assert.equal((await status(client)).unassigned, 0);
    e0.answer(e0.requests[0]);
    await finalReply(client, busy);
    // A started task is not timed out.
    const inTime = submit(client, { timeout_ms: 50 });
    const got = await arrived(e0, inTime);
    await new Promise((res) => setTimeout(res, 100)); // longer than its timeout: nothing may happen
    e0.answer(got);
    assert.equal((await finalReply(client, inTime)).c.status, 'ok');
    assert.equal(has(e0, late), false);
  });
});

test('abort_request with msg_ids drops tasks not sent yet (answered aborted)', async () => {
  await withController(['--hwm', '1'], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const running = submit(client);
    await arrived(e0, running);
    const queued = submit(client);
    const kept = submit(client);
    await until(async () => (await status(client)).unassigned === 2, 5000, 'two unassigned');
    const ab = await client.request('abort_request', { msg_ids: [queued.header.msg_id] });
    assert.equal(content<Reply>(ab).status, 'ok');
    const r = await finalReply(client, queued);
    assert.equal(r.c.status, 'aborted');
    assert.equal((await status(client)).unassigned, 1);
    e0.answer(e0.requests[0]);
    e0.answer(await arrived(e0, kept));
    assert.equal((await finalReply(client, kept)).c.status, 'ok');
    assert.equal(has(e0, queued), false);
    const bad = await client.request('abort_request', {});
    assert.equal(content<Reply>(bad).ename, 'ValueError');
  });
});

test('after and follow: run after the dependencies, where they ran; impossible ones fail with ImpossibleDependency', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    const a = submit(client, { pool: [1] });
    await arrived(e1, a);
    const b = submit(client, { after: [a.header.msg_id], follow: [a.header.msg_id] });
    const c = submit(client, { after: [a.header.msg_id], success_only: true });
    assert.equal((await status(client)).unassigned, 2);
    assert.equal(has(e0, b) || has(e1, b), false, 'not before its dependency finished');
    answerError(e1, e1.requests[0]);
    assert.equal((await finalReply(client, a)).c.ename, 'ZeroDivisionError');
    // b follows a to engine 1 although engine 0 is idle; c needed a to succeed.
    e1.answer(await arrived(e1, b));
    assert.equal((await finalReply(client, b)).engine, 1);
    const rc = await finalReply(client, c);
    assert.equal(rc.c.ename, 'ImpossibleDependency');
    assert.match(rc.c.evalue!, /after dependency .* failed \(success_only\)/);
    assert.equal(rc.engine, -1);

    const unknown = await finalReply(client, submit(client, { after: ['no-such-task'] }));
    assert.equal(unknown.c.ename, 'ImpossibleDependency');
    assert.match(unknown.c.evalue!, /after names no-such-task, which is not a load-balanced task this controller knows/);

    // A task that must follow a dead engine can never run.
    const d = submit(client, { pool: [0] });
    e0.answer(await arrived(e0, d));
    await finalReply(client, d);
    const hold = submit(client, { pool: [0] });
    await arrived(e0, hold);
    const waits = submit(client, { follow: [d.header.msg_id], after: [hold.header.msg_id] });
    e0.close();
    const rw = await finalReply(client, waits);
    assert.equal(rw.c.ename, 'ImpossibleDependency');
    assert.match(rw.c.evalue!, /engine 0/);
  });
});

test('bad metadata.balanced is answered with a ValueError naming the field; the controller goes on', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    await FakeEngine.start(ctl);
    const bad = await client.request('apply_request', { fn: 'f', args: [] }, { metadata: { balanced: { retries: -2 } } });
    assert.equal(content<Reply>(bad).ename, 'ValueError');
    assert.match(content<Reply>(bad).evalue!, /metadata\.balanced\.retries must be a whole number from 0 to 1000, got -2/);
    const both = await client.request('apply_request', { fn: 'f', args: [] }, { metadata: { balanced: {}, targets: [0] } });
    assert.match(content<Reply>(both).evalue!, /must not name metadata\.targets/);
    const push = await client.request('push_request', { ns: {} }, { metadata: { balanced: {} } });
    assert.match(content<Reply>(push).evalue!, /push_request cannot be load-balanced/);
    assert.equal((await finalReply(client, submit(client))).c.status, 'ok');
  });
});

test('--scheme and --hwm are checked', async () => {
  await assert.rejects(startController(['--scheme', 'fastest']), /--scheme must be one of leastload, lru, random, twobin, weighted, got "fastest"/);
  await withController(['--scheme', 'lru', '--hwm', '0'], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    // lru alternates; hwm 0 sends everything at once.
    const ts = [0, 1, 2, 3].map(() => submit(client));
    await until(() => e0.requests.length === 2 && e1.requests.length === 2, 5000, 'two tasks each');
    assert.deepEqual(
      e0.requests.map((r) => r.header.msg_id),
      [ts[0].header.msg_id, ts[2].header.msg_id],
    );
    const s = await status(client);
    assert.equal(s.unassigned, 0);
    assert.deepEqual(
      s.engines.map((e) => e.balanced),
      [2, 2],
    );
  });
});

test('an engine that cannot import what a task requires passes it on (no retry spent); when none can, UnmetDependency', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    const t = submit(client, {});
    answerError(e0, await arrived(e0, t), 'UnmetDependencyError');
    answerError(e1, await arrived(e1, t), 'UnmetDependencyError');
    const r = await finalReply(client, t);
    assert.equal(r.c.ename, 'UnmetDependency');
    assert.match(r.c.evalue!, /no engine of the pool could import what the task requires: engine 0: it failed; engine 1: it failed/);
    assert.equal(r.engine, 1);
    assert.equal(repliesTo(client, t).length, 1);

    const u = submit(client, {});
    answerError(e0, await arrived(e0, u), 'UnmetDependencyError');
    e1.answer(await arrived(e1, u));
    assert.equal((await finalReply(client, u)).c.status, 'ok');
  });
});

test('a task whose client left runs on; its reply is kept in the result store', async () => {
  await withController(['--hwm', '1'], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const first = submit(client, { retries: 1 });
    const second = submit(client);
    await arrived(e0, first);
    await until(async () => (await status(client)).unassigned === 1, 5000, 'one unassigned');
    client.close();
    const other = await fakeClient(ctl, 'none', 'other');
    await until(async () => (await status(other)).clients === 1, 5000, 'the first client to be gone');
    e0.answer(e0.requests[0]);
    e0.answer(await arrived(e0, second));
    for (const t of [first, second]) {
      await until(async () => content<Reply>(await other.request('result_request', { msg_id: t.header.msg_id })).status === 'ok', 5000, `a stored result for ${t.header.msg_id}`);
      const req = other.send('result_request', { msg_id: t.header.msg_id });
      const head = content<{ engine_ids: number[]; pending: number[] }>(await other.replyTo(req));
      assert.deepEqual(head.engine_ids, [0]);
      assert.deepEqual(head.pending, []);
      const stored = await other.waitFor((m) => m.header.msg_type === 'apply_reply' && (m.parent_header as { msg_id?: string }).msg_id === t.header.msg_id);
      assert.equal(content<Reply>(stored).status, 'ok');
    }
  });
});

test('kernel: a task goes only to engines of its kernel; a pool with none of it fails with ImpossibleDependency naming why', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const node = await quietEngine(ctl);
    const py = await FakeEngine.start(ctl, { autoReply: false, kernel: 'python' });
    // The python engine is the busier one: leastload alone would pick the node engine.
    const busy = client.send('apply_request', { fn: 'g', args: [] }, { metadata: { targets: [py.id] } });
    await until(() => py.requests.length === 1, 5000, 'the python engine busy');
    const t = submit(client, { kernel: 'python' });
    await arrived(py, t);
    assert.equal(has(node, t), false);
    const j = submit(client, { kernel: 'node' });
    await arrived(node, j);
    for (const r of [...py.requests]) py.answer(r);
    node.answer(node.requests[0]);
    assert.equal((await finalReply(client, t)).engine, py.id);
    assert.equal((await finalReply(client, busy)).c.status, 'ok');
    const none = await finalReply(client, submit(client, { kernel: 'python', pool: [node.id] }));
    assert.equal(none.c.ename, 'ImpossibleDependency');
    assert.equal(none.c.evalue, `the task is python code and no engine of its pool runs python: engines ${node.id} (node)`);
    const bad = await client.request('apply_request', { fn: 'f', args: [] }, { metadata: { balanced: { kernel: 'no spaces' } } });
    assert.match(content<Reply>(bad).evalue!, /metadata\.balanced\.kernel must name the engine's language/);
  });
});

test('direct outcomes: after/follow of a direct request the client saw end (metadata.balanced.direct)', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    const followed = submit(client, { follow: ['direct-1'], direct: [{ msg_id: 'direct-1', ok: true, engines: [e1.id] }] });
    assert.equal((await finalReply(client, followed)).engine, e1.id);
    assert.equal(has(e0, followed), false);
    // Remembered: a later task may name it without the outcome.
    assert.equal((await finalReply(client, submit(client, { follow: ['direct-1'] }))).engine, e1.id);
    const failed = await finalReply(client, submit(client, { after: ['direct-2'], success_only: true, direct: [{ msg_id: 'direct-2', ok: false, engines: [e0.id] }] }));
    assert.equal(failed.c.ename, 'ImpossibleDependency');
    assert.match(failed.c.evalue!, /after dependency direct-2 failed \(success_only\)/);
    const several = await finalReply(client, submit(client, { follow: ['direct-3'], direct: [{ msg_id: 'direct-3', ok: true, engines: [e0.id, e1.id] }] }));
    assert.match(several.c.evalue!, /follow dependency direct-3 did not run on exactly one engine/);
    const unknown = await finalReply(client, submit(client, { after: ['direct-4'] }));
    assert.match(unknown.c.evalue!, /after names direct-4, which is not a load-balanced task this controller knows/);
    const bad = await client.request('apply_request', { fn: 'f', args: [] }, { metadata: { balanced: { direct: [{ msg_id: 'x', ok: 'yes' as never, engines: [] }] } } });
    assert.match(content<Reply>(bad).evalue!, /metadata\.balanced\.direct must be an array of at most \d+ \{msg_id, ok, engines\} objects/);
  });
});

test('interrupt_request by msg_id without targets goes to the engine running the task', async () => {
  await withController([], async (ctl) => {
    const client = await fakeClient(ctl);
    const e0 = await quietEngine(ctl);
    const e1 = await quietEngine(ctl);
    const t = submit(client, { pool: [e1.id] });
    await arrived(e1, t);
    const ok = await client.request('interrupt_request', { msg_ids: [t.header.msg_id, 'not-a-task'] });
    assert.equal(content<Reply>(ok).status, 'ok');
    await until(() => e1.heart!.received.some((m) => m.header.msg_type === 'interrupt_request'), 5000, 'engine 1 interrupted');
    const sent = e1.heart!.received.find((m) => m.header.msg_type === 'interrupt_request')!;
    assert.deepEqual((sent.content as { msg_ids?: string[] }).msg_ids, [t.header.msg_id, 'not-a-task']);
    assert.equal(e0.heart!.count((m) => m.header.msg_type === 'interrupt_request'), 0, 'engine 0 runs none of them');
    const bare = await client.request('interrupt_request', {});
    assert.match(content<Reply>(bare).evalue!, /interrupt_request needs metadata\.targets \(engines to interrupt\) or msg_ids/);
    e1.answer(e1.requests[0]);
    assert.equal((await finalReply(client, t)).c.status, 'ok');
  });
});
