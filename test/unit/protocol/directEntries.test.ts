/** A task_report's entries (protocol section 13): read from its buffer and checked, each error naming the entry and field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { directEntries, encodeDirectEntry, joinDirectEntries } from '../../../core/protocol/directEntries.ts';
import type { DirectTaskEntry } from '../../../core/protocol/messages.ts';

const ok: DirectTaskEntry = ['m1', 'apply_request', 's', null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.002Z', 'ok', 10, 'f', null];
const failed: DirectTaskEntry = ['m2', 'execute_request', 's', 'd', 'r', 's', 'c', 'error', 0, 'x', 'lbl', null, 'warn', 'TypeError', 'nope'];
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

test('a session or code sent as SAME (0) is read as the entry before\'s', () => {
  const sent = [ok, ['m3', 'apply_request', 0, null, 'r', 's', 'c', 'ok', 1, 0, null], ['m4', 'apply_request', 0, null, 'r', 's', 'c', 'ok', 1, 0, null]];
  assert.deepEqual(directEntries(bytes(sent), 3).map((t) => [t[0], t[2], t[9]]), [['m1', 's', 'f'], ['m3', 's', 'f'], ['m4', 's', 'f']]);
});

test('entries come back as sent, the optional fields left off or set', () => {
  assert.deepEqual(directEntries(bytes(joinDirectEntries([ok, failed].map(encodeDirectEntry))), 2), [ok, failed]);
  assert.deepEqual(directEntries(bytes([]), 0), []);
});

const BAD: [unknown, number, RegExp][] = [
  ['not json', 1, /buffer is not JSON/],
  [{ tasks: [] }, 0, /buffer must be an array of entries/],
  [[ok], 2, /n says 2 entries, its buffer has 1/],
  [[ok.slice(0, 10)], 1, /entry 0 must be an array of 11 to 15 fields/],
  [[{ msg_id: 'm' }], 1, /entry 0 must be an array of 11 to 15 fields/],
  [[ok, [...ok.slice(0, 7), 'fine', ...ok.slice(8)]], 2, /entry 1: status must be 'ok', 'error' or 'aborted', got "fine"/],
  [[[...ok.slice(0, 8), -1, ...ok.slice(9)]], 1, /entry 0: result_bytes must be a whole number, got -1/],
  [[[7, ...ok.slice(1)]], 1, /entry 0: msg_id must be a string, got 7/],
  [[[...ok.slice(0, 3), 5, ...ok.slice(4)]], 1, /entry 0: submitted must be a string or null, got 5/],
  [[[...ok.slice(0, 2), 0, ...ok.slice(3)]], 1, /entry 0: session cannot be 0 \(the same as the entry before\): it is the first/],
  [[ok, [...ok.slice(0, 9), 3, ...ok.slice(10)]], 2, /entry 1: code must be a string, null or 0 \(as in the entry before\), got 3/],
  [[[...failed.slice(0, 13), ['E'], 'v']], 1, /entry 0: ename must be a string or null/],
];

for (const [v, n, re] of BAD) {
  test(`refused: ${re.source}`, () => {
    assert.throws(() => directEntries(bytes(v), n), (e: Error) => e.name === 'WireError' && re.test(e.message));
  });
}
