// Back-pressure toward the SQLite worker (core/controller/taskDb/writeQueue.ts), against a slow
// store: a sink that writes a batch only when the test says, as a worker far behind would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskRecord } from '../../../core/protocol/messages.ts';
import type { StoredValue } from '../../../core/controller/taskDb/taskStore.ts';
import { AT_ONCE, WriteQueue, type WriteBatch } from '../../../core/controller/taskDb/writeQueue.ts';
import { until } from '../../harness/poll.ts';

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
  const q = new WriteQueue(s.post, s.warn, { inFlight: 100, held: 1000, heldBytes: 1 << 30 }, AT_ONCE);
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
  const q = new WriteQueue(s.post, s.warn, { inFlight: 100, held: 1000, heldBytes: 1 << 30 }, AT_ONCE);
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
  const q = new WriteQueue(s.post, s.warn, { inFlight: 1, held: 1000, heldBytes: 10_000 }, AT_ONCE);
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

test("engines' reports (unread) count as the records they hold: in flight, held within the limit (the oldest dropped by their entries), then posted whole, never past the in-flight limit", () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 100, held: 300, heldBytes: 1 << 30 }, AT_ONCE);
  const report = (engine: number, n: number) => ({ engine, n, bytes: new Uint8Array(10 * n) });
  q.write([], [], [], [report(0, 150)]);
  assert.equal(s.posted.length, 1, 'posted at once: nothing in flight (a report larger than the whole limit goes alone)');
  assert.equal(q.inFlight, 150);
  for (let e = 1; e <= 4; e++) q.write([record(e)], [], [], [report(e, 100)]);
  assert.equal(s.posted.length, 1);
  assert.equal(q.waiting, 4 + 100 * 2, 'held: 4 records and the two newest reports; the two oldest went');
  assert.equal(q.dropped, 200);
  assert.equal(q.heldBytes > 2000, true);
  // Each written batch makes room for 100 rows: one report, the next report, then the records.
  const after: [number[][], string[]][] = [];
  for (let k = 0; k < 3; k++) {
    q.written();
    const b = s.posted.at(-1)!;
    after.push([b.reports.map((r) => [r.engine, r.n]), b.records.map((r) => r.msg_id)]);
    assert.ok(q.inFlight <= 100, `in flight ${q.inFlight} after ${k + 1} written`);
  }
  assert.deepEqual(after, [
    [[[3, 100]], []],
    [[[4, 100]], []],
    [[], ['m1', 'm2', 'm3', 'm4']],
  ]);
  assert.equal(q.waiting, 0);
  assert.equal(q.heldBytes, 0);
});

test('the in-flight limit is exact: whatever the mix of records, values and reports, rows posted and not written never pass it, and nothing is lost or reordered', () => {
  const s = slowStore();
  const limit = 50;
  const q = new WriteQueue(s.post, s.warn, { inFlight: limit, held: 1e6, heldBytes: 1 << 30 }, AT_ONCE);
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  let i = 0;
  const sentRecords: string[] = [];
  const sentReports: number[] = [];
  for (let step = 0; step < 2000; step++) {
    const records = Array.from({ length: rand(30) }, () => record(i++));
    sentRecords.push(...records.map((r) => r.msg_id));
    const reports = rand(3) === 0 ? [{ engine: step, n: 1 + rand(limit), bytes: new Uint8Array(8) }] : [];
    sentReports.push(...reports.map((r) => r.engine));
    q.write(records, rand(4) === 0 ? [value(`v${step}`, 10)] : [], [], reports);
    assert.ok(q.inFlight <= limit, `step ${step}: ${q.inFlight} rows in flight`);
    if (rand(2) === 0) q.written();
    assert.ok(q.inFlight <= limit, `step ${step}, after a write: ${q.inFlight} rows in flight`);
  }
  for (let k = 0; q.waiting > 0 || q.inFlight > 0; k++) {
    assert.ok(k < 10_000, 'the queue empties as the store writes');
    q.written();
    assert.ok(q.inFlight <= limit);
  }
  for (const b of s.posted) {
    const rows = b.records.length + b.values.length + b.requests.length + b.reports.reduce((n, r) => n + r.n, 0);
    assert.ok(rows <= limit, `a batch of ${rows} rows`);
  }
  assert.deepEqual(s.posted.flatMap((b) => b.records.map((r) => r.msg_id)), sentRecords, 'every record, in order');
  assert.deepEqual(s.posted.flatMap((b) => b.reports.map((r) => r.engine)), sentReports, 'every report, in order');
  assert.equal(q.dropped, 0);
});

test('gathered: writes wait and go to the store as one batch when their time comes, not one post per write', async () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 1000, held: 1000, heldBytes: 1 << 30 }, { quietMs: 100, everyMs: 100, rows: 500 });
  for (let k = 0; k < 20; k++) q.write([record(k)], [], [], [{ engine: 0, n: 3, bytes: new Uint8Array(30) }]);
  assert.equal(s.posted.length, 0, 'nothing posted while the interval runs');
  assert.equal(q.waiting, 20 * 4);
  await until(() => s.posted.length > 0, 5000, 'the gathered batch');
  assert.equal(s.posted.length, 1, 'one batch');
  assert.deepEqual([s.posted[0].records.length, s.posted[0].reports.length], [20, 20]);
  assert.equal(q.waiting, 0);
});

test('gathered until a lull: nothing is posted while writes keep coming; all of it goes once they pause', async () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 10_000, held: 10_000, heldBytes: 1 << 30 }, { quietMs: 1000, everyMs: 60_000, rows: 1e6 });
  for (let k = 0; k < 20; k++) {
    q.write([record(k)], [], []);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(s.posted.length, 0, 'nothing posted during the burst');
  await until(() => s.posted.length > 0, 5000, 'the batch after the lull');
  assert.equal(s.posted.length, 1, 'one batch');
  assert.deepEqual(s.posted[0].records.map((r) => r.msg_id), Array.from({ length: 20 }, (_, k) => `m${k}`));
});

test('gathered until a lull: an engine that says it has direct work (its report waits for it to go idle) keeps the lull from coming', async () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 10_000, held: 10_000, heldBytes: 1 << 30 }, { quietMs: 100, everyMs: 60_000, rows: 1e6 });
  q.write([record(0)], [], []);
  const start = performance.now();
  while (performance.now() - start < 400) {
    q.traffic();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(s.posted.length, 0, 'nothing posted while the engine is busy');
  await until(() => s.posted.length === 1, 5000, 'the batch after the lull');
  assert.deepEqual(s.posted[0].records.map((r) => r.msg_id), ['m0']);
  q.traffic();
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(s.posted.length, 1, 'traffic with nothing waiting posts nothing');
});

test('gathered until a lull, but traffic that never pauses is posted every everyMs', async () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 10_000, held: 10_000, heldBytes: 1 << 30 }, { quietMs: 1000, everyMs: 200, rows: 1e6 });
  const start = performance.now();
  let k = 0;
  while (performance.now() - start < 1000) {
    q.write([record(k++)], [], []);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(s.posted.length >= 1, `posted while writes kept coming (${s.posted.length} batches)`);
  q.flush();
  assert.deepEqual(s.posted.flatMap((b) => b.records.map((r) => r.msg_id)), Array.from({ length: k }, (_, i) => `m${i}`), 'every record, in order');
});

test('gathered: enough rows waiting, or a flush (a query about to read), post at once', () => {
  const s = slowStore();
  const q = new WriteQueue(s.post, s.warn, { inFlight: 10_000, held: 10_000, heldBytes: 1 << 30 }, { quietMs: 60_000, everyMs: 60_000, rows: 100 });
  q.write(Array.from({ length: 60 }, (_, k) => record(k)), [], []);
  assert.equal(s.posted.length, 0);
  q.write(Array.from({ length: 40 }, (_, k) => record(60 + k)), [], []);
  assert.equal(s.posted.length, 1, '100 rows waiting: posted without waiting for the interval');
  assert.equal(s.posted[0].records.length, 100);
  q.write([record(100)], [value('x', 5)], []);
  assert.equal(s.posted.length, 1);
  q.flush();
  assert.equal(s.posted.length, 2, 'a flush posts what waits');
  assert.deepEqual([s.posted[1].records.map((r) => r.msg_id), s.posted[1].values.map((v) => v.msg_id)], [['m100'], ['x']]);
  q.flush();
  assert.equal(s.posted.length, 2, 'nothing waits: nothing posted');
});
