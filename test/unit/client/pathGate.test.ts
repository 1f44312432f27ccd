/**
 * PathGate: the rules that keep one client's requests to an engine in order across the direct
 * path and the controller path (protocol section 13).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathGate } from '../../../core/client/pathGate.ts';

const req = (name: string, ...targets: number[]) => ({ name, targets });

test('an engine has requests in flight on one path at a time', () => {
  const g = new PathGate<ReturnType<typeof req>>();
  assert.ok(g.allows(0, 'direct') && g.allows(0, 'controller'));
  g.sent([0], 'direct');
  g.sent([0], 'direct');
  assert.ok(g.allows(0, 'direct'));
  assert.ok(!g.allows(0, 'controller'));
  assert.ok(g.allows(1, 'controller'), 'other engines are not affected');
  g.answered(0);
  assert.ok(!g.allows(0, 'controller'), 'one of two is still in flight');
  g.answered(0);
  assert.ok(g.allows(0, 'controller'));
});

test('held requests are released in order once their engines are free, and block later ones for the same engines', () => {
  const g = new PathGate<ReturnType<typeof req>>();
  g.sent([0], 'direct');
  const multi = req('multi', 0, 1);
  const single0 = req('single0', 0);
  const other = req('other', 2);
  assert.ok(!g.allows(0, 'controller'));
  g.hold(multi);
  assert.ok(g.isBlocked([0]), 'a later request for engine 0 waits behind the held one');
  assert.ok(g.isBlocked([1, 3]));
  assert.ok(!g.isBlocked([2]), 'engine 2 is not involved');
  g.hold(single0);
  assert.deepEqual(g.answered(1), [], 'nothing was in flight on engine 1; engine 0 still busy');
  assert.deepEqual(g.answered(0).map((h) => h.name), ['multi', 'single0']);
  assert.ok(!g.isBlocked([0]));
  g.hold(other);
  assert.ok(g.unhold(other));
  assert.ok(!g.unhold(other));
});

test('a held request behind a blocked one stays held even when its own engine is free', () => {
  const g = new PathGate<ReturnType<typeof req>>();
  g.sent([0], 'direct');
  g.sent([1], 'direct');
  g.hold(req('a', 0, 1));
  g.hold(req('b', 1));
  assert.deepEqual(g.answered(1), [], 'a still waits for engine 0, and b must not overtake it');
  assert.deepEqual(g.answered(0).map((h) => h.name), ['a', 'b']);
});
