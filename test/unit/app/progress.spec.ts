// Progress in items (renderer/lib/progress.ts): a map counts its items from listed events and
// from the controller's per-map counts of overflowed ones; a call counts one item per engine;
// elapsed and time left; and the main side's conversion of task_events (main/services/taskStream.ts).
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../preload/contract.js';
import { elapsed, ProgressBook, timeLeft } from '../../../renderer/lib/progress.js';
import { streamBatch } from '../../../main/services/taskStream.js';

const map = { id: 'm1', items: 10_000, chunk: 1 };

function ev(event: StreamEvent['event'], msgId: string, engineId: number | null, time: number, more: Partial<StreamEvent> = {}): StreamEvent {
  return { event, msgId, engineId, client: 2, kind: 'apply', label: null, time, ...more };
}

describe('ProgressBook', () => {
  it('a 10,000-item map reaches 10,000 from listed events and per-map counts', () => {
    const book = new ProgressBook();
    const listed: StreamEvent[] = [];
    for (let i = 0; i < 2000; i++) listed.push(ev('submitted', `t${i}`, null, 1000, { map, label: 'squares' }));
    book.add({ events: listed, unlisted: 8000 }, 1050);
    let [e] = book.list();
    expect(e).toMatchObject({ id: 'm1', what: 'map', title: 'squares', total: 10_000, done: 0, last: null, client: 2 });
    book.add({ events: Array.from({ length: 1500 }, (_, i) => ev('finished', `t${i}`, i % 4, 2000, { map, status: 'ok' })) }, 2000);
    book.add({ events: [ev('finished', 'x', 1, 2100, { map, status: 'error' })], maps: [{ map, ok: 4000, failed: 0 }] }, 2100);
    [e] = book.list();
    expect([e.done, e.failed, e.last]).toEqual([5501, 1, null]);
    expect(timeLeft(e, 3000)).toBeCloseTo(((3000 - 1000) / 5501) * (10_000 - 5501));
    book.add({ events: [], maps: [{ map, ok: 4499, failed: 0 }] }, 4000);
    [e] = book.list();
    expect([e.done, e.failed, e.last]).toEqual([10_000, 1, 4000]);
    expect(elapsed(e, 9999)).toBe(3000);
    expect(timeLeft(e, 9999)).toBeNull();
  });

  it('a chunked map counts the short last chunk exactly once every task is done', () => {
    const book = new ProgressBook();
    const m = { id: 'c', items: 10, chunk: 4 }; // tasks of 4, 4 and 2 items
    book.add({ events: [ev('finished', 'a', 0, 1, { map: m, status: 'ok' }), ev('finished', 'b', 0, 2, { map: m, status: 'ok' })] }, 2);
    expect(book.list()[0].done).toBe(8);
    book.add({ events: [ev('finished', 'c3', 0, 3, { map: m, status: 'ok' })] }, 3);
    expect(book.list()[0]).toMatchObject({ done: 10, total: 10, last: 3 });
  });

  it('a call counts its engines; running ones are listed before finished ones; a finished call of one item is dropped', () => {
    const book = new ProgressBook();
    book.add({ events: [ev('submitted', 'px', null, 10, { kind: 'execute', code: 'import time\ntime.sleep(1)' }), ev('started', 'px', 0, 11), ev('started', 'px', 1, 11), ev('started', 'px', 2, 11)] }, 11);
    book.add({ events: [ev('submitted', 'two', null, 12), ev('started', 'two', 3, 12), ev('started', 'two', 4, 12), ev('finished', 'two', 3, 13, { status: 'ok' }), ev('finished', 'two', 4, 14, { status: 'ok' })] }, 14);
    book.add({ events: [ev('submitted', 'one', null, 12), ev('started', 'one', 5, 12)] }, 14);
    expect(book.list().map((e) => e.id)).toEqual(['one', 'px', 'two']);
    book.add({ events: [ev('finished', 'one', 5, 15, { status: 'ok' }), ev('finished', 'px', 0, 20, { status: 'ok' }), ev('finished', 'px', 2, 21, { status: 'error' })] }, 21);
    let list = book.list();
    expect(list.map((e) => [e.id, e.title, e.done, e.total, e.failed, e.last])).toEqual([
      ['px', 'import time', 2, 3, 1, null],
      ['two', 'apply', 2, 2, 0, 14],
    ]);
    book.add({ events: [ev('finished', 'px', 1, 30, { status: 'ok' })] }, 30);
    list = book.list();
    expect(list.map((e) => [e.id, e.last])).toEqual([['px', 30], ['two', 14]]); // latest finished first
  });

  it('a task the scheduler failed without an engine is a finished, failed item', () => {
    const book = new ProgressBook();
    const m = { id: 'mm', items: 2, chunk: 1 };
    book.add({ events: [ev('submitted', 'dep', null, 1, { map: m }), ev('finished', 'dep', null, 5, { status: 'error', ename: 'ImpossibleDependency', map: m })] }, 5);
    expect(book.list()[0]).toMatchObject({ total: 2, done: 1, failed: 1, last: null });
    book.add({ events: [ev('submitted', 'x', null, 6), ev('finished', 'x', null, 7, { status: 'error', ename: 'TaskTimeout' })] }, 7);
    expect(book.list().map((e) => e.id)).toEqual(['mm']); // a single failed call: done, not listed
  });
});

describe('streamBatch (main)', () => {
  it('turns task_events into the contract shape: kinds, epoch times, the engine start, map counts of overflowed events', () => {
    const m = { id: 'm', items: 3, chunk: 1 };
    const b = streamBatch({
      events: [
        { event: 'submitted', msg_id: 'a', client: 4, msg_type: 'apply_request', engine_id: null, balanced: true, label: 'sq', time: '2026-01-01T00:00:00.000Z', code: 'x'.repeat(500), map: m },
        { event: 'finished', msg_id: 'a', client: 4, msg_type: 'apply_request', engine_id: 1, balanced: true, label: 'sq', time: '2026-01-01T00:00:01.000Z', status: 'error', duration_ms: 250, ename: 'ValueError', map: m },
      ],
      overflow: { submitted: 2, started: 2, finished: { ok: 1, error: 0, aborted: 1 }, maps: { m: { map: m, submitted: 2, started: 2, finished: { ok: 1, error: 0, aborted: 1 } } } },
    });
    expect(b.events[0]).toMatchObject({ event: 'submitted', msgId: 'a', engineId: null, client: 4, kind: 'apply', label: 'sq', time: Date.parse('2026-01-01T00:00:00.000Z'), map: m });
    expect(b.events[0].code).toHaveLength(120);
    expect(b.events[1]).toMatchObject({ status: 'error', ename: 'ValueError', start: Date.parse('2026-01-01T00:00:00.750Z') });
    expect(b.unlisted).toBe(6);
    expect(b.maps).toEqual([{ map: m, ok: 1, failed: 1 }]);
  });
});

describe('taskOfRecords (main)', () => {
  it("a stream task's detail from its database records, per engine with output and error", async () => {
    const { taskOfRecords } = await import('../../../main/services/taskStream.js');
    const base = { msg_id: 'm', client: 3, msg_type: 'execute_request', label: null, code: 'x = 1', balanced: false, submitted: null, received: '2026-01-01T00:00:00.000Z', result_bytes: 1 };
    const t = taskOfRecords('m', [
      { ...base, engine_id: 0, status: 'ok', started: '2026-01-01T00:00:00.100Z', completed: '2026-01-01T00:00:00.300Z', ename: null, evalue: null, traceback: null, stdout: 'hi\n', stderr: '' },
      { ...base, engine_id: 1, status: 'error', started: '2026-01-01T00:00:00.100Z', completed: '2026-01-01T00:00:00.600Z', ename: 'NameError', evalue: 'y', traceback: ['tb'], stdout: '', stderr: '' },
    ]);
    expect(t).toMatchObject({ kind: 'execute', code: 'x = 1', state: 'error', targets: [0, 1], durationMs: 500, msgId: 'm', client: 3 });
    expect(t.engines.map((e) => [e.engineId, e.state, e.durationMs, e.stdout, e.error?.ename ?? null])).toEqual([
      [0, 'ok', 200, 'hi\n', null],
      [1, 'error', 500, '', 'NameError'],
    ]);
    expect(() => taskOfRecords('gone', [])).toThrow(/no record of task gone/);
  });
});
