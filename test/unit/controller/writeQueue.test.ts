// Back-pressure toward the SQLite worker (core/controller/taskDb/writeQueue.ts), against a slow
// store: a sink that writes a batch only when the test says, as a worker far behind would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskRecord } from '../../../core/protocol/messages.ts';
import type { StoredValue } from '../../../core/controller/taskDb/taskStore.ts';
import { WriteQueue, type WriteBatch } from '../../../core/controller/taskDb/writeQueue.ts';

function record(i: number): TaskRecord {
  const at = new Date(Date.UTC(2026, 0, 1) + i).toISOString();
  return { msg_id: `m${i}`, engine_id: 0, client: 1, msg_type: 'apply_request', label: null, code: 'f', balanced: false, status: 'ok', submitted: at, received: at, started: at, completed: at, ename: null, evalue: null, traceback: null, result_bytes: 1, stdout: '', stderr: '' };
}

function value(msgId: string, bytes: number): StoredValue {
  return { msg_id: msgId, msg_type: 'apply_request', engine_ids: [0], messages: [[new Uint8Array(bytes)]] };
}

/** A store that falls behind: batches pile up until written() is called for each. */
function slowStore() {
  const posted: WriteBatch[] = [];
  const warnings: string[] = [];
  return { posted, warnings, post: (b: WriteBatch) => posted.push(b), warn: (w: string) => warnings.push(w) };
}

test('records faster than the store writes them: at most inFlight posted, held ones bounded, the oldest dropped with a count and one warning', () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 100, held: 1000, heldBytes: 1 << 30 });
  let i = 0;
  let maxWaiting = 0;
  for (let b = 0; b < 500; b++) {
    q.write(Array.from({ length: 100 }, () => record(i++)), [], []);
    maxWaiting = Math.max(maxWaiting, q.waiting);
  }
  assert.equal(s.posted.length, 1, 'one batch in flight: the store has written nothing yet');
  assert.equal(maxWaiting, 1000, 'held records never pass the limit');
  assert.equal(q.dropped, 50_000 - 100 - 1000);
  assert.equal(s.warnings.length, 1, 'a flood of drops is logged once per interval');
  assert.match(s.warnings[0], /faster than they are written; dropped the oldest \d+ waiting/);

  // The store catches up: what waits goes out oldest first, within the in-flight room.
  while (q.waiting > 0) {
    q.written();
    assert.ok(s.posted.at(-1)!.records.length <= 100);
  }
  const written = s.posted.flatMap((b) => b.records.map((r) => r.msg_id));
  assert.equal(written.length, 1100);
  assert.deepEqual(written.slice(0, 100), Array.from({ length: 100 }, (_, k) => `m${k}`), 'the first batch, posted before the store fell behind');
  assert.deepEqual(written.slice(100), Array.from({ length: 1000 }, (_, k) => `m${49_000 + k}`), 'then the newest; the oldest waiting were dropped');
});

test('a store that keeps up: everything is posted at once, nothing held or dropped', () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 100, held: 1000, heldBytes: 1 << 30 });
  for (let b = 0; b < 50; b++) {
    q.write([record(b)], [], []);
    q.written();
  }
  assert.equal(s.posted.length, 50);
  assert.equal(q.waiting, 0);
  assert.equal(q.dropped, 0);
  assert.deepEqual(s.warnings, []);
});

test('held stored values coalesce per msg_id, count in the byte limit and go first; drain posts all that waits', () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 1, held: 1000, heldBytes: 10_000 });
  q.write([record(0)], [], []);
  q.write([record(1)], [value('a', 3000)], []);
  q.write([], [value('a', 4000)], []);
  assert.equal(q.waiting, 2, 'one record and one value for msg_id a (the later replaces the earlier)');
  assert.ok(q.heldBytes < 10_000);
  q.write([], [value('b', 8000)], []);
  assert.equal(q.dropped, 1, 'the oldest value went to keep the byte limit');
  assert.ok(q.heldBytes <= 10_000);
  q.drain();
  const last = s.posted.at(-1)!;
  assert.deepEqual([last.records.map((r) => r.msg_id), last.values.map((v) => [v.msg_id, v.messages[0][0].byteLength])], [['m1'], [['b', 8000]]]);
  assert.equal(q.waiting, 0);
});

test("engines' reports (unread) count as the records they hold: in flight, held within the limit (the oldest dropped by their entries), then posted whole", () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 100, held: 300, heldBytes: 1 << 30 });
  const report = (engine: number, n: number) => ({ engine, n, bytes: new Uint8Array(10 * n) });
  q.write([], [], [], [report(0, 150)]);
  assert.equal(s.posted.length, 1, 'posted at once: nothing in flight');
  // 151 rows in flight (150 entries + the batch): the next reports wait here.
  for (let e = 1; e <= 4; e++) q.write([record(e)], [], [], [report(e, 100)]);
  assert.equal(s.posted.length, 1);
  assert.equal(q.waiting, 4 + 100 * 2, 'held: 4 records and the two newest reports; the two oldest went');
  assert.equal(q.dropped, 200);
  assert.equal(q.heldBytes > 2000, true);
  q.written();
  assert.equal(s.posted.length, 2);
  assert.deepEqual(s.posted[1].reports.map((r) => [r.engine, r.n]), [[3, 100], [4, 100]]);
  assert.deepEqual(s.posted[1].records.map((r) => r.msg_id), ['m1', 'm2', 'm3', 'm4']);
  assert.equal(q.waiting, 0);
  assert.equal(q.heldBytes, 0);
});
