/** A task_report's entries (protocol section 13): read from its buffer and checked, each error naming the entry and field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { directEntries } from '../../../core/protocol/directEntries.ts';
import type { DirectTaskEntry } from '../../../core/protocol/messages.ts';
import { columnsReport } from '../../harness/columnsReport.ts';

const ok: DirectTaskEntry = ['m1', 'apply_request', 's', null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.002Z', 'ok', 10, 'f', null];
const failed: DirectTaskEntry = ['m2', 'execute_request', 's', 'd', 'r', 's', 'c', 'error', 0, 'x', 'lbl', null, 'warn', 'TypeError', 'nope'];

test('entries come back as an engine sent them, the optional fields left off or set; a repeated code has no row', () => {
  const again: DirectTaskEntry = ['m3', 'apply_request', 's', null, 'r', 's', 'c', 'ok', 1, 'f', null];
  assert.deepEqual(directEntries(columnsReport([ok, again, failed]), 3), [ok, again, failed].map(full));
  assert.deepEqual(directEntries(columnsReport([]), 0), []);
});

test('a buffer that is not in the columns form is refused, naming the form', () => {
  const entriesForm = new TextEncoder().encode(JSON.stringify([ok]));
  assert.throws(() => directEntries(entriesForm, 1), (e: Error) => e.name === 'WireError' && /four sections \(headers, metadata, sizes, extras\) separated by 0x1D, got 1$/.test(e.message));
});

/** An entry with all 15 fields, as the reader gives it back. */
function full(t: DirectTaskEntry): unknown[] {
  return [...t, ...Array<null>(15 - t.length).fill(null)];
}

/** A columns-form buffer, written out by hand: headers GS metadata GS sizes GS extras; a header or metadata given as a string is sent as it is. */
function columns(heads: unknown[], metas: unknown[], sizes: unknown, rows: unknown): Uint8Array {
  const json = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  return new TextEncoder().encode([heads.map(json).join('\x1e'), metas.map(json).join('\x1e'), JSON.stringify(sizes), JSON.stringify(rows)].join('\x1d'));
}
const head = (id: string, extra: object = {}) => ({ msg_id: id, msg_type: 'apply_request', session: 's', date: 'd', ...extra });
const m1 = { engine_id: 0, received: 'r', started: 's', completed: 'c' };

test('the columns form: fields from each header as received, reply metadata as sent, sizes and extras rows; an entry without a row keeps the code before, is ok and has nothing else', () => {
  const buf = columns(
    ['{ "msg_id" : "m1",\n "msg_type":"execute_request", "session":"s1", "x": [1, {"y": "\\u001d"}] }', head('m2'), head('m3', { date: 5 }), head('m4'), head('m5')],
    [m1, '{"engine_id": 0, "received": "r2", "started": "s2", "completed": "c2", "orphan": true}', m1, m1, m1],
    [10, 0, 10, 10, 3],
    [[0, 'f', 'lbl'], [1, 0, null, 'error', 'out', null, 'E', 'v'], [3, 'g'], [4, 0, null, 'aborted']],
  );
  assert.deepEqual(directEntries(buf, 5), [
    ['m1', 'execute_request', 's1', null, 'r', 's', 'c', 'ok', 10, 'f', 'lbl', null, null, null, null],
    ['m2', 'apply_request', 's', 'd', 'r2', 's2', 'c2', 'error', 0, 'f', null, 'out', null, 'E', 'v'],
    ['m3', 'apply_request', 's', null, 'r', 's', 'c', 'ok', 10, 'f', null, null, null, null, null],
    ['m4', 'apply_request', 's', 'd', 'r', 's', 'c', 'ok', 10, 'g', null, null, null, null, null],
    ['m5', 'apply_request', 's', 'd', 'r', 's', 'c', 'aborted', 3, 'g', null, null, null, null, null],
  ]);
  assert.deepEqual(directEntries(columns([], [], [], []), 0), []);
  assert.deepEqual(directEntries(columns([head('m1')], [m1], [1], []), 1)[0][9], null, 'no row: the first entry has no code');
});

const enc = (text: string) => new TextEncoder().encode(text);
const BAD_COLUMNS: [Uint8Array, number, RegExp][] = [
  [enc(`${JSON.stringify(head('m1'))}\x1d${JSON.stringify(m1)}`), 1, /four sections \(headers, metadata, sizes, extras\) separated by 0x1D, got 2/],
  [enc(`${JSON.stringify(head('m1'))}\x1d${JSON.stringify(m1)}\x1d[1]`), 1, /four sections .* got 3/],
  [enc('{}\x1d{}\x1d[1]\x1d[]\x1d'), 1, /got more/],
  [columns([head('m1')], [m1], [1], []), 2, /n says 2 entries, its buffer has 1 headers/],
  [columns([head('m1'), head('m2')], [m1], [1, 1], []), 2, /n says 2 entries, its buffer has 1 metadata/],
  [columns([head('m1')], [m1], [1, 2], []), 1, /n says 1 entries, its buffer has 2 sizes/],
  [columns([head('m1')], [m1], { n: 1 }, []), 1, /its sizes must be an array of sizes/],
  [enc(`${JSON.stringify(head('m1'))}\x1d${JSON.stringify(m1)}\x1d[1,\x1d[]`), 1, /its sizes are not JSON/],
  [columns([head('m1')], [m1], [1], {}), 1, /its extras must be an array of rows/],
  [enc(`${JSON.stringify(head('m1'))}\x1d${JSON.stringify(m1)}\x1d[1]\x1d[`), 1, /its extras are not JSON/],
  [columns(['{nope'], [m1], [1], []), 1, /entry 0: its header is not JSON/],
  [columns(['[1]'], [m1], [1], []), 1, /entry 0: its header must be an object, got/],
  [columns([head('m1')], ['{nope'], [1], []), 1, /entry 0: its metadata is not JSON/],
  [columns([head('m1')], ['"r"'], [1], []), 1, /entry 0: its metadata must be an object, got/],
  [columns([head('m1'), { msg_id: 7, msg_type: 'x', session: 's' }], [m1, m1], [1, 1], []), 2, /entry 1: msg_id must be a string, got 7/],
  [columns([{ msg_id: 'm', msg_type: 'x' }], [m1], [1], []), 1, /entry 0: session must be a string, got nothing/],
  [columns([head('m1')], [{ received: 'r', started: 's' }], [1], []), 1, /entry 0: completed must be a string, got nothing/],
  [columns([head('m1')], [m1], [1], [[0, 'f', null, 'fine']]), 1, /entry 0: status must be 'ok', 'error' or 'aborted', got "fine"/],
  [columns([head('m1')], [m1], [-1], []), 1, /entry 0: result_bytes must be a whole number, got -1/],
  [columns([head('m1')], [m1], ['10'], []), 1, /entry 0: result_bytes must be a whole number, got "10"/],
  [columns([head('m1')], [m1], [1], [[0, 0]]), 1, /entry 0: code cannot be 0 \(the same as the entry before\): it is the first/],
  [columns([head('m1')], [m1], [1], [[0, 3]]), 1, /entry 0: code must be a string, null or 0/],
  [columns([head('m1')], [m1], [1], [[0]]), 1, /extras row 0 must have 2 to 8 fields/],
  [columns([head('m1')], [m1], [1], [[0, 'f', null, 'error', null, null, 'E', 'v', 'more']]), 1, /extras row 0 must have 2 to 8 fields/],
  [columns([head('m1'), head('m2')], [m1, m1], [1, 1], [[1, 'f'], [0, 'g']]), 2, /extras row 1 must be an array \[i, code, …\] with i from 0 to 1 ascending, got \[0,"g"\]/],
  [columns([head('m1')], [m1], [1], [[0, 'f', 5]]), 1, /entry 0: label must be a string or null, got 5/],
  [columns([head('m1', { session: 0 })], [m1], [1], []), 1, /entry 0: session must be a string, got 0/],
];

for (const [buf, n, re] of BAD_COLUMNS) {
  test(`columns form refused: ${re.source}`, () => {
    assert.throws(() => directEntries(buf, n), (e: Error) => e.name === 'WireError' && re.test(e.message));
  });
}
