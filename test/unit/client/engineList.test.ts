/**
 * The client's engine list (core/client/engineList.ts) at 1,000 engines: ids stay sorted as
 * engines register in any order, die and leave, without sorting the list again on each change
 * (a registration storm re-sorted all ids 1,000 times); listeners see the ids at their change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineList, type EngineChange } from '../../../core/client/engineList.ts';
import type { EngineInfo, EngineState } from '../../../core/protocol/messages.ts';

const info = (id: number, state: EngineState = 'idle'): EngineInfo =>
  ({ id, uuid: `u${id}`, kernel: 'node', language_version: 't', host: 'h', pid: 1, state, queue: 0, balanced: 0, restarts: 0, registered: '' }) as EngineInfo;

/** Runs `fn` counting the calls of Array.prototype.sort. */
function sorts(fn: () => void): number {
  const sort = Array.prototype.sort;
  let n = 0;
  Array.prototype.sort = function (this: unknown[], ...args: Parameters<typeof sort>) {
    n++;
    return sort.apply(this, args);
  } as typeof sort;
  try {
    fn();
  } finally {
    Array.prototype.sort = sort;
  }
  return n;
}

test('1,000 registrations in any order, deaths and departures: ids sorted, and the list never sorted again', () => {
  const list = new EngineList();
  const seen: EngineChange[] = [];
  list.onDidChange((c) => seen.push(c));
  // Registrations arrive mostly in order, some late (as from many hosts at once).
  const order = Array.from({ length: 1000 }, (_, i) => i).sort((a, b) => (a % 97 === 0 ? a + 500 : a) - (b % 97 === 0 ? b + 500 : b));
  const count = sorts(() => {
    for (const id of order) {
      list.update('registered', info(id));
      list.announce('registered', info(id));
    }
    list.update('state', info(5, 'dead'));
    list.update('unregistered', info(7));
    list.update('state', info(9, 'busy'));
  });
  assert.equal(count, 0, 'sorts while engines came and went');
  const want = Array.from({ length: 1000 }, (_, i) => i).filter((i) => i !== 5 && i !== 7);
  assert.deepEqual(list.ids, want);
  // Each listener saw the ids as they were at its change, not as they are now.
  assert.deepEqual(seen[0].ids, [order[0]]);
  assert.equal(seen[999].ids.length, 1000);
  // A copy: changing it changes nothing in the list.
  list.ids.push(-1);
  assert.deepEqual(list.ids, want);
  // Back from the dead (a restart re-registers the id): listed again, in order.
  list.update('registered', info(5));
  assert.deepEqual(list.ids.slice(0, 6), [0, 1, 2, 3, 4, 5]);
});
