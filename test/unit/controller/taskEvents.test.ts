/**
 * The coalescing rule of core/controller/taskEvents.ts, with a small cap so both sides of it
 * show: an interval lists its first `cap` events in order and counts the rest by kind and
 * status; a subscriber backed up past the backlog limit gets the whole interval as counts.
 * Messages are encoded by the real Replier and decoded, signature checked, by the real codec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../../core/transport/connection.ts';
import type { ContentMap, TaskRecord } from '../../../core/protocol/messages.ts';
import { checkContent } from '../../../core/protocol/validate.ts';
import { decodeMessage, Signer } from '../../../core/transport/codec.ts';
import { Replier } from '../../../core/controller/replies.ts';
import { TaskEventFeed } from '../../../core/controller/taskEvents.ts';

const signer = new Signer('k'.repeat(32));

/** A subscriber's connection as the feed sees it: what was sent, decoded and checked as a client would. */
function subscriber(writableLength = 0) {
  const got: ContentMap['task_events'][] = [];
  const conn = {
    isClosed: false,
    writableLength,
    sendParts(parts: readonly Uint8Array[]) {
      const m = decodeMessage(parts.map((p) => Buffer.from(p)), signer);
      assert.equal(m.header.msg_type, 'task_events');
      got.push(checkContent('task_events', m.content));
    },
  };
  return { client: { conn: conn as unknown as Connection }, got };
}

function record(msgId: string, fields: Partial<TaskRecord> = {}): TaskRecord {
  return {
    msg_id: msgId, engine_id: null, client: 3, msg_type: 'apply_request', label: null, code: 'f', balanced: true, status: 'pending',
    submitted: '2026-01-01T00:00:00.000Z', received: '2026-01-01T00:00:00.001Z', started: null, completed: null,
    ename: null, evalue: null, traceback: null, result_bytes: null, stdout: '', stderr: '', ...fields,
  };
}

test('task events: an interval lists its first events in order and counts those past the cap', () => {
  const feed = new TaskEventFeed(new Replier('s', signer), 3, 60_000);
  assert.equal(feed.active, false);
  const s = subscriber();
  feed.subscribe(s.client);
  assert.equal(feed.active, true);
  feed.submitted(record('a'));
  feed.started(0, record('a'));
  const done = record('a', { engine_id: 0, status: 'ok', started: '2026-01-01T00:00:01.000Z', completed: '2026-01-01T00:00:01.250Z' });
  feed.finished([done]);
  feed.submitted(record('b'));
  feed.started(1, record('b'));
  feed.finished([record('b', { engine_id: 1, status: 'error', ename: 'E' }), record('c', { status: 'aborted' })]);
  feed.send();
  assert.equal(s.got.length, 1);
  const [m] = s.got;
  assert.deepEqual(m.events.map((e) => [e.event, e.msg_id, e.engine_id, e.status]), [
    ['submitted', 'a', null, undefined],
    ['started', 'a', 0, undefined],
    ['finished', 'a', 0, 'ok'],
  ]);
  assert.equal(m.events[2].duration_ms, 250);
  assert.equal(m.events[2].time, '2026-01-01T00:00:01.250Z');
  assert.equal(m.events[0].client, 3);
  assert.deepEqual(m.overflow, { submitted: 1, started: 1, finished: { ok: 0, error: 1, aborted: 1 } });

  // The next interval starts afresh: listed again, no overflow.
  feed.submitted(record('d'));
  feed.send();
  assert.deepEqual(s.got[1], { events: [{ event: 'submitted', msg_id: 'd', client: 3, msg_type: 'apply_request', engine_id: null, balanced: true, label: null, time: '2026-01-01T00:00:00.001Z', code: 'f' }] });
  feed.submitted(record('e', { code: 'x'.repeat(500) }));
  feed.send();
  assert.equal(s.got[2].events[0].code, 'x'.repeat(200), 'a submitted event carries the start of the code');
  // Nothing happened: nothing sent.
  feed.send();
  assert.equal(s.got.length, 3);
});

test('task events: a subscriber backed up gets the interval as counts; a closed or departed one gets nothing', () => {
  const feed = new TaskEventFeed(new Replier('s', signer), 10, 60_000);
  const quick = subscriber();
  const slow = subscriber(64 * 1024 * 1024);
  const gone = subscriber();
  const closed = subscriber();
  (closed.client.conn as { isClosed: boolean }).isClosed = true;
  for (const s of [quick, slow, gone, closed]) feed.subscribe(s.client);
  feed.unsubscribe(gone.client);
  feed.submitted(record('a'));
  feed.started(2, record('a'));
  feed.finished([record('a', { engine_id: 2, status: 'ok' })]);
  feed.send();
  assert.deepEqual(quick.got[0].events.map((e) => e.event), ['submitted', 'started', 'finished']);
  assert.equal(quick.got[0].events[2].duration_ms, null, 'no engine times, no duration');
  assert.deepEqual(slow.got, [{ events: [], overflow: { submitted: 1, started: 1, finished: { ok: 1, error: 0, aborted: 0 } } }]);
  assert.deepEqual([gone.got, closed.got], [[], []]);
});

test('task events: a map task carries its map, and its overflowed events are counted per map as well', () => {
  const feed = new TaskEventFeed(new Replier('s', signer), 2, 60_000);
  const s = subscriber();
  const backed = subscriber(64 * 1024 * 1024);
  feed.subscribe(s.client);
  feed.subscribe(backed.client);
  const map = { id: 'm1', items: 5, chunk: 2 };
  feed.submitted(record('a', { map }));
  feed.submitted(record('b')); // not a map task
  feed.submitted(record('c', { map }));
  feed.started(0, record('c', { map }));
  feed.finished([record('c', { map, engine_id: 0, status: 'ok' }), record('a', { map, engine_id: 1, status: 'error' })]);
  feed.send();
  const [m] = s.got;
  assert.deepEqual(m.events.map((e) => [e.msg_id, e.map]), [['a', map], ['b', undefined]]);
  assert.deepEqual(m.overflow, {
    submitted: 1, started: 1, finished: { ok: 1, error: 1, aborted: 0 },
    maps: { m1: { map, submitted: 1, started: 1, finished: { ok: 1, error: 1, aborted: 0 } } },
  });
  // Counts alone for the backed-up subscriber: the listed map event is counted with its map too.
  assert.deepEqual(backed.got[0].overflow?.maps, { m1: { map, submitted: 2, started: 1, finished: { ok: 1, error: 1, aborted: 0 } } });
});
