/**
 * An AsyncResult's times (submitted, received, started, completed, resultReceived, wallTimeMs,
 * serialTimeMs), getDict and label, against the scripted controller, whose fake engines can put
 * chosen times in their replies' metadata, so every figure is checked exactly.
 * test/integration/asyncResultTimes.test.ts checks the same with real node and python engines.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteError } from '../../../core/client/index.js';
import { errorContent, type Message } from '../../../core/protocol/messages.js';
import { serialTimeMs, wallTimeMs, type TimedSlot } from '../../../core/client/resultTimes.js';
import { scriptedSession } from './scriptedController.js';

/** The request's own date plus `ms`, as an ISO string. */
const after = (msg: Message, ms: number) => new Date(Date.parse(msg.header.date) + ms).toISOString();

function sentWork(fc: { received: Message[] }, msgId: string): Message {
  const m = fc.received.find((x) => x.header.msg_id === msgId);
  assert.ok(m, `the controller got ${msgId}`);
  return m;
}

describe('times', () => {
  const s = scriptedSession(2);

  test('per engine in target order: submitted is the header date, the others come from the reply; wall and serial time follow', async () => {
    // Engine 0 runs 5..25 ms after the request's date, engine 1 10..40 ms: wall 40, serial 20 + 30.
    const offsets: Record<number, [number, number, number]> = { 0: [1, 5, 25], 1: [2, 10, 40] };
    for (const [id, e] of s.fc.engines) {
      const [r, st, c] = offsets[id];
      e.handler = (msg) => ({ content: { status: 'ok' }, metadata: { received: after(msg, r), started: after(msg, st), completed: after(msg, c) } });
    }
    try {
      const ar = s.rc.view([1, 0]).push({ x: 1 }, { block: false });
      await ar;
      const msg = sentWork(s.fc, ar.msgIds[0]);
      assert.deepEqual(ar.engineIds, [1, 0]);
      assert.deepEqual(ar.submitted, [msg.header.date, msg.header.date]);
      assert.deepEqual(ar.received, [after(msg, 2), after(msg, 1)]);
      assert.deepEqual(ar.started, [after(msg, 10), after(msg, 5)]);
      assert.deepEqual(ar.completed, [after(msg, 40), after(msg, 25)]);
      for (const t of ar.resultReceived) {
        assert.ok(t !== undefined && Date.parse(t) >= Date.parse(msg.header.date), `resultReceived ${t} is after the request was sent`);
      }
      assert.equal(ar.wallTimeMs, 40);
      assert.equal(ar.serialTimeMs, 50);
      const md = ar.metadata[0];
      assert.deepEqual(
        { submitted: md.submitted, received: md.received, started: md.started, completed: md.completed, resultReceived: md.resultReceived },
        { submitted: ar.submitted[0], received: ar.received[0], started: ar.started[0], completed: ar.completed[0], resultReceived: ar.resultReceived[0] },
      );
    } finally {
      for (const e of s.fc.engines.values()) e.handler = undefined;
    }
  });

  test('a failed request keeps its times; wallTimeMs and serialTimeMs wait for the result to be ready', async () => {
    const e0 = s.fc.engines.get(0)!;
    let seen: Message | undefined;
    e0.handler = (msg) => {
      seen = msg;
      return { content: errorContent('ValueError', 'bad input'), metadata: { started: after(msg, 3), completed: after(msg, 8) } };
    };
    try {
      const ar = s.rc.view(0).execute('boom', { block: false });
      // No reply can have come yet (it comes over a socket): only the send time is known.
      assert.equal(typeof ar.submitted[0], 'string', 'submitted is known as soon as the request is made');
      assert.deepEqual([ar.started[0], ar.completed[0], ar.resultReceived[0], ar.wallTimeMs, ar.serialTimeMs], [undefined, undefined, undefined, undefined, undefined]);
      await assert.rejects(ar, (e: unknown) => e instanceof RemoteError && e.ename === 'ValueError');
      assert.ok(seen);
      assert.deepEqual([ar.started[0], ar.completed[0]], [after(seen, 3), after(seen, 8)]);
      assert.equal(typeof ar.resultReceived[0], 'string');
      assert.equal(ar.metadata[0].status, 'error');
      assert.equal(ar.wallTimeMs, 8);
      assert.equal(ar.serialTimeMs, 5);
      await assert.rejects(ar.getDict(), (e: unknown) => e instanceof RemoteError && e.ename === 'ValueError', 'getDict rejects as the result does');
    } finally {
      e0.handler = undefined;
    }
  });
});

describe('getDict and label', () => {
  const s = scriptedSession(3);

  test('a direct result: each engine value by engine id; a single target too; label is undefined', async () => {
    for (const id of [0, 1, 2]) await s.rc.view(id).push({ who: `engine ${id}` }, { block: true });
    const ar = s.rc.view([2, 0]).pull('who', { block: false });
    assert.deepEqual(await ar.getDict(), { 2: 'engine 2', 0: 'engine 0' });
    assert.deepEqual(await s.rc.view(1).pull('who', { block: false }).getDict(), { 1: 'engine 1' });
    assert.equal(ar.label, undefined);
    assert.equal(ar.loadBalanced, false);
  });

  test('a load-balanced task: getDict names the engine that ran it, label is the flag; a map with more tasks than engines has no dict', async () => {
    const lview = s.rc.loadBalancedView();
    lview.label = 'nightly';
    const ar = lview.applyAsync(() => 42);
    await ar;
    assert.equal(ar.label, 'nightly');
    assert.deepEqual(await ar.getDict(), { [ar.engineIds[0]]: 42 });
    const m = s.rc.loadBalancedView().mapAsync((x: number) => x * 2, [1, 2, 3, 4, 5, 6], { label: 'doubling' });
    assert.deepEqual(await m, [2, 4, 6, 8, 10, 12]);
    assert.equal(m.label, 'doubling');
    // Six tasks on three engines: at least one engine ran two (as ipyparallel's get_dict, an error).
    await assert.rejects(m.getDict(), (e: unknown) => e instanceof RangeError && /getDict: engine \d ran \d of this result's 6 requests/.test(e.message));
    assert.equal(s.rc.loadBalancedView().applyAsync(() => 1).label, undefined, 'no label flag: undefined');
  });

  test('getDict(timeoutMs) rejects with TimeoutError when the result is not ready in time', async () => {
    const e1 = s.fc.engines.get(1)!;
    e1.handler = () => ({ content: { status: 'ok' }, delayMs: 300 });
    try {
      const ar = s.rc.view(1).push({ y: 1 }, { block: false });
      await assert.rejects(ar.getDict(1), /Result not ready/);
      assert.deepEqual(await ar.getDict(), { 1: undefined });
    } finally {
      e1.handler = undefined;
    }
  });
});

describe('resultTimes', () => {
  const slot = (t: Partial<TimedSlot>): TimedSlot => ({ engineId: 0, value: undefined, submitted: undefined, received: undefined, started: undefined, completed: undefined, resultReceivedAt: 0, ...t });

  test('wallTimeMs: a slot the engine did not time ends when its answer reached the client; no submission time, no wall time', () => {
    const t0 = Date.parse('2026-01-02T03:04:05.000Z');
    const slots = [
      slot({ submitted: new Date(t0).toISOString(), completed: new Date(t0 + 20).toISOString() }),
      slot({ submitted: new Date(t0 + 2).toISOString(), resultReceivedAt: t0 + 70 }),
    ];
    assert.equal(wallTimeMs(slots), 70);
    assert.equal(wallTimeMs([slot({ completed: new Date(t0).toISOString() })]), undefined);
  });

  test('serialTimeMs: only slots with both engine times count', () => {
    const iso = (ms: number) => new Date(Date.parse('2026-01-02T03:04:05.000Z') + ms).toISOString();
    assert.equal(serialTimeMs([slot({ started: iso(0), completed: iso(7) }), slot({ started: iso(1) }), slot({ started: iso(3), completed: iso(4) })]), 8);
  });
});
