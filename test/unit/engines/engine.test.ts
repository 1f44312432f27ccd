/**
 * End to end: a real node engine process (from source, under tsx) against a fake controller.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import os from 'node:os';
import { createMessage, type ContentMap, type Message } from '../../../core/protocol/messages.js';
import { isReplyTo } from '../../harness/peer.js';
import { until } from '../../harness/poll.js';
import { FakeController } from './fakeController.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isBeat = (m: Message) => m.header.msg_type === 'heartbeat';

describe('node engine process', () => {
  const fc = new FakeController(100, 3);

  before(async () => {
    await fc.listen();
    await fc.startEngine(['--id', '3']);
  });
  after(() => fc.close());

  it('registers with its uuid, kernel, pid and the requested id', async () => {
    const reg = (await fc.main.next((m) => m.header.msg_type === 'registration_request')).msg;
    const c = reg.content as Record<string, unknown>;
    assert.equal(c.kernel, 'node');
    assert.equal(c.pid, fc.engine!.pid);
    assert.equal(c.requested_id, 3);
    assert.equal(c.language_version, process.versions.node);
    assert.equal(typeof c.uuid, 'string');
    assert.equal(typeof c.host, 'string');
  });

  it('heartbeats on a second connection, with its uuid and id, every heartbeat_ms', async () => {
    const reg = (await fc.main.next((m) => m.header.msg_type === 'registration_request')).msg;
    const first = (await fc.heart.next(isBeat)).msg;
    assert.notEqual(fc.heartConn, fc.mainConn);
    const { stats, ...beat } = first.content as ContentMap['heartbeat'];
    assert.deepEqual(beat, { uuid: (reg.content as { uuid: string }).uuid, id: 3 });
    assert.ok(stats, 'the first beat carries stats');
    assert.equal(stats.host, os.hostname());
    assert.ok(stats.rss > 1_000_000 && stats.cpu >= 0 && stats.mem_total === os.totalmem(), JSON.stringify(stats));
    const n = fc.heart.count(isBeat);
    await sleep(450);
    assert.ok(fc.heart.count(isBeat) - n >= 3, `expected >= 3 beats in 450 ms at 100 ms, got ${fc.heart.count(isBeat) - n}`);
  });

  it('sends stats with the first beat and then about once a second, not with every beat', async () => {
    const beats = () => fc.heart.received.filter(isBeat);
    await until(() => beats().length >= 25, 10_000, '25 beats');
    const withStats = beats()
      .slice(0, 25)
      .flatMap((m, i) => ((m.content as ContentMap['heartbeat']).stats ? [i] : []));
    // A second apart at 100 ms beats: about 10 beats apart (never 5 or fewer), and 25 beats hold 2 or 3.
    assert.equal(withStats[0], 0, 'the first beat carries stats');
    assert.ok(withStats.length >= 2 && withStats.length <= 3, `stats on beats ${withStats.join(', ')}`);
    for (let i = 1; i < withStats.length; i++) assert.ok(withStats[i] - withStats[i - 1] > 5, `stats on beats ${withStats.join(', ')}`);
  });

  it('executes, streaming output while the code runs and all of it before the reply', async () => {
    const code = 'console.log("first"); const t0 = Date.now(); while (Date.now() - t0 < 400) {} process.stdout.write("second\\n"); console.error("oops"); 6 * 7';
    const req = fc.send('execute_request', { code });
    const reply = await fc.reply(req);
    assert.deepEqual(reply.msg.content, { status: 'ok', execution_count: 1, result: '42' });
    const md = reply.msg.metadata;
    assert.equal(md.engine_id, 3);
    assert.ok(typeof md.started === 'string' && typeof md.completed === 'string' && md.started <= md.completed);
    assert.deepEqual(reply.msg.parent_header, req.header);

    const streams = fc.main.streamsOf(req);
    const text = (name: string) => streams.filter((s) => (s.msg.content as { name: string }).name === name).map((s) => (s.msg.content as { text: string }).text).join('');
    assert.equal(text('stdout'), 'first\nsecond\n');
    assert.equal(text('stderr'), 'oops\n');
    const replyIndex = fc.main.messages.indexOf(reply);
    assert.ok(streams.every((s) => fc.main.messages.indexOf(s) < replyIndex), 'all streams come before the reply');
    // "first" left while the loop still ran, long before the reply
    assert.ok(reply.at - streams[0].at > 250, `first output arrived only ${(reply.at - streams[0].at).toFixed(0)} ms before the reply`);
  });

  it('sends output of timers that fire after a request to that request', async () => {
    const req = fc.send('execute_request', { code: 'setTimeout(() => console.log("late"), 100); "scheduled"' });
    await fc.reply(req);
    const late = await fc.main.next((m) => m.header.msg_type === 'stream' && (m.content as { text: string }).text.includes('late'));
    assert.equal((late.msg.parent_header as { msg_id: string }).msg_id, req.header.msg_id);
  });

  it('survives errors thrown by user timers and promises', async () => {
    const req = fc.send('execute_request', { code: 'setTimeout(() => { throw new Error("from timer") }, 10); Promise.reject(new Error("unhandled")); 1' });
    await fc.reply(req);
    await fc.main.next((m) => m.header.msg_type === 'stream' && (m.content as { text: string }).text.includes('from timer'));
    await fc.main.next((m) => m.header.msg_type === 'stream' && (m.content as { text: string }).text.includes('unhandled'));
    const r = await fc.request('execute_request', { code: '2' });
    assert.equal((r.content as { result: string }).result, '2');
  });

  it('interrupts a busy loop through interrupt_request on the heart, and keeps beating and its namespace meanwhile', async () => {
    await fc.request('execute_request', { code: 'kept = "yes"' });
    const req = fc.send('execute_request', { code: 'while (true) {}' });
    await sleep(150);
    const beats = fc.heart.count(isBeat);
    await sleep(350);
    assert.ok(fc.heart.count(isBeat) - beats >= 2, 'heart keeps beating while the main thread is busy');
    fc.heartConn!.send(createMessage('interrupt_request', {}, { session: fc.session }));
    const reply = await fc.reply(req, 3000);
    assert.deepEqual(reply.msg.content, { status: 'error', ename: 'InterruptError', evalue: 'interrupted', traceback: [] });
    const after = await fc.request('execute_request', { code: 'kept' });
    assert.equal((after.content as { result: string }).result, "'yes'");
  });

  it('interrupts an awaited promise and a busy applied function', async () => {
    const req = fc.send('execute_request', { code: 'await new Promise(() => {})' });
    await sleep(150);
    fc.heartConn!.send(createMessage('interrupt_request', {}, { session: fc.session }));
    assert.equal(((await fc.reply(req, 3000)).msg.content as { ename: string }).ename, 'InterruptError');

    const apply = fc.send('apply_request', { fn: '() => { for (;;) {} }', args: [] });
    await sleep(150);
    fc.heartConn!.send(createMessage('interrupt_request', {}, { session: fc.session }));
    assert.equal(((await fc.reply(apply, 3000)).msg.content as { ename: string }).ename, 'InterruptError');
  });

  it('aborts queued requests (listed ones, then all) at once, but not the running one', async () => {
    const running = fc.send('execute_request', { code: 'await new Promise((r) => setTimeout(r, 500)); "done"' });
    await sleep(100);
    const q1 = fc.send('execute_request', { code: '"q1"' });
    const q2 = fc.send('keys_request', {});
    const q3 = fc.send('execute_request', { code: '"q3"' });
    fc.send('abort_request', { msg_ids: [q2.header.msg_id] });
    const r2 = await fc.reply(q2);
    assert.deepEqual(r2.msg.content, { status: 'aborted' });
    assert.equal(r2.msg.header.msg_type, 'keys_reply');
    fc.send('abort_request', {});
    const [r1, r3] = await Promise.all([fc.reply(q1), fc.reply(q3)]);
    assert.deepEqual(r1.msg.content, { status: 'aborted' });
    assert.deepEqual(r3.msg.content, { status: 'aborted' });
    const r0 = await fc.reply(running);
    assert.equal((r0.msg.content as { result: string }).result, "'done'");
    assert.ok(r0.at > r3.at, 'aborted ones are answered while the running request still runs');
  });

  it('aborts requests that queued up while a busy loop blocked the engine', async () => {
    const running = fc.send('execute_request', { code: 'const t1 = Date.now(); while (Date.now() - t1 < 400) {} "done"' });
    await sleep(100);
    const q1 = fc.send('execute_request', { code: '"q1"' });
    const q2 = fc.send('execute_request', { code: '"q2"' });
    fc.send('abort_request', {});
    const [r0, r1, r2] = await Promise.all([running, q1, q2].map((q) => fc.reply(q)));
    assert.equal((r0.msg.content as { result: string }).result, "'done'");
    assert.deepEqual([r1.msg.content, r2.msg.content], [{ status: 'aborted' }, { status: 'aborted' }]);
  });

  it('answers pull, push, keys, clear and apply over the wire with buffers', async () => {
    const push = await fc.request('push_request', { ns: { arr: { $t: 'ndarray', dtype: 'float64', shape: [2], buf: 0, typed: true } } }, [new Uint8Array(new Float64Array([1.5, 2.5]).buffer)]);
    assert.deepEqual(push.content, { status: 'ok' });
    const applied = await fc.request('apply_request', { fn: '(a) => a.map((x) => x * 2)', args: [{ $t: 'ndarray', dtype: 'float64', shape: [2], buf: 0, typed: true }] }, [new Uint8Array(new Float64Array([1, 2]).buffer)]);
    const tree = (applied.content as { result: { buf: number } }).result;
    assert.equal((tree as unknown as { $t: string }).$t, 'ndarray');
    const bytes = applied.buffers[tree.buf];
    assert.deepEqual(Array.from(new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))), [2, 4]);
    const keys = await fc.request('keys_request', {});
    assert.ok((keys.content as { keys: string[] }).keys.includes('arr'));
    const missing = await fc.request('pull_request', { names: ['arr', 'nothere'] });
    assert.equal((missing.content as { ename: string }).ename, 'NameError');
    assert.deepEqual((await fc.request('clear_request', {})).content, { status: 'ok' });
    assert.deepEqual((await fc.request('keys_request', {})).content, { status: 'ok', keys: [] });
  });

  it('exits with 0 on shutdown_request', async () => {
    fc.send('shutdown_request', {});
    assert.equal(await fc.exitCode(3000), 0);
  });
});

describe('node engine process lifetime', () => {
  it('exits promptly when the controller connection closes', async () => {
    const fc = new FakeController(100);
    await fc.listen();
    try {
      await fc.startEngine();
      await fc.heart.next(isBeat);
      const t0 = performance.now();
      fc.mainConn!.destroy();
      await fc.exitCode(3000);
      assert.ok(performance.now() - t0 < 1000);
    } finally {
      await fc.close();
    }
  });

  it('replies to each request exactly once, in arrival order', async () => {
    const fc = new FakeController(100);
    await fc.listen();
    try {
      await fc.startEngine();
      const reqs = Array.from({ length: 50 }, (_, i) => fc.send('execute_request', { code: i % 2 ? `n = ${i}` : `await 0; n = ${i}` }));
      const replies = await Promise.all(reqs.map((q) => fc.reply(q)));
      assert.deepEqual(
        replies.map((r) => (r.msg.content as { execution_count: number }).execution_count),
        reqs.map((_, i) => i + 1),
      );
      const order = replies.map((r) => fc.main.messages.indexOf(r));
      assert.deepEqual(order, [...order].sort((a, b) => a - b));
      for (const q of reqs) assert.equal(fc.main.count((m) => isReplyTo(m, q)), 1);
    } finally {
      await fc.close();
    }
  });
  it('runs a request that came in the same read as its registration_reply once it is set up: the output is captured and the request answered', async () => {
    const fc = new FakeController(100);
    await fc.listen();
    let early: Message | undefined;
    fc.withRegistration = (conn) => {
      early = createMessage('execute_request', { code: 'console.log("early bird"); 6 * 7' }, { session: fc.session });
      conn.send(early);
    };
    try {
      await fc.startEngine();
      const reply = await fc.reply(early!);
      assert.equal((reply.msg.content as { status: string }).status, 'ok');
      const text = fc.main.streamsOf(early!).map((s) => (s.msg.content as { text: string }).text).join('');
      assert.equal(text, 'early bird\n', 'printed as a stream of the request, not on the process stdout');
      assert.ok(!fc.stderr.includes('early bird'), `went to the process output instead: ${fc.stderr}`);
    } finally {
      await fc.close();
    }
  });
});
