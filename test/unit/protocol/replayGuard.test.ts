import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayGuard } from '../../../core/transport/replayGuard.ts';

test('an id is admitted once; a replay is refused while it is remembered', () => {
  const g = new ReplayGuard(1024);
  assert.equal(g.admit('a'), true);
  assert.equal(g.admit('b'), true);
  assert.equal(g.admit('a'), false);
  assert.equal(g.admit('b'), false);
});

test('at capacity the oldest ids are forgotten first, and every newer one is still refused', () => {
  const cap = 256;
  const g = new ReplayGuard(cap);
  const ids = Array.from({ length: 5000 }, (_, i) => `msg-${i}-${(i * 2654435761) >>> 0}`);
  for (const id of ids) assert.equal(g.admit(id), true, id);
  // The last `cap` ids are remembered after thousands of evictions (deletions kept the table consistent).
  for (const id of ids.slice(-cap)) assert.equal(g.admit(id), false, `${id} should be remembered`);
  // The oldest ones were forgotten.
  assert.equal(g.admit(ids[0]), true);
});
