/**
 * ResultTracker.slotsDone, which getResult of a running request of one's own waits on: it
 * resolves when those slots are done, not when the whole result is, and also when the result
 * ends at once (a timeout expires it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResultTracker } from '../../../core/client/asyncResult.js';
import { RemoteError } from '../../../core/client/errors.js';

function tracker(n: number): ResultTracker<unknown[]> {
  return new ResultTracker<unknown[]>({ engineIds: Array.from({ length: n }, (_, i) => i), method: 'apply', bare: false, finalize: (v) => v });
}

/** Whether `p` has settled once pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

test('slotsDone waits for those slots only, each as it settles or fails', async () => {
  const t = tracker(3);
  const first = t.slotsDone([0, 2]);
  const second = t.slotsDone([2]);
  t.settle(0, 'a', {});
  assert.equal(await settled(first), false, 'slot 2 is still running');
  t.fail(2, new RemoteError(2, 'apply', 'ValueError', 'bad'), {});
  assert.equal(await settled(first), true);
  assert.equal(await settled(second), true);
  assert.equal(t.done, false, 'slot 1 still runs: the result is not done');
  assert.equal(await settled(t.slotsDone([0])), true, 'slots already done: at once');
  assert.equal(await settled(t.slotsDone([1])), false);
});

test('slotsDone resolves when the result expires, for slots that never got a reply', async () => {
  const t = tracker(2);
  const waiting = t.slotsDone([1]);
  t.settle(0, 'a', {});
  t.expire(new Error('timed out'));
  assert.equal(await settled(waiting), true);
  assert.equal(t.slots[1].resultReceivedAt, 0, 'no reply came: getResult asks the controller then');
  assert.equal(t.slots[1].error?.ename, 'Error');
});
