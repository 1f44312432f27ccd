/** Bad input is refused on the client, before anything is sent, with an error naming the problem. */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SerializationError, requireModules, type DirectView } from '../../../core/client/index.js';
import { checkName, checkTargetsShape, isIdentifier, resolveTargets } from '../../../core/client/validate.js';
import { scriptedSession } from './scriptedController.js';

test('resolveTargets: all, one, a list; unknown ids and empty lists are refused', () => {
  const known = new Set([0, 1, 2, 3, 4]);
  const live = [0, 1, 2, 3];
  assert.deepEqual(resolveTargets('m', undefined, known, live), { ids: [0, 1, 2, 3], bare: false });
  assert.deepEqual(resolveTargets('m', 'all', known, live), { ids: [0, 1, 2, 3], bare: false });
  assert.deepEqual(resolveTargets('m', 2, known, live), { ids: [2], bare: true });
  assert.deepEqual(resolveTargets('m', [3, 1], known, live), { ids: [3, 1], bare: false }, 'target order is kept');
  assert.deepEqual(resolveTargets('m', [4], known, live), { ids: [4], bare: false }, 'a known dead engine may be named; the controller answers for it');
  assert.throws(() => resolveTargets('m', 9, known, live), { message: 'no engine with id 9 (engines: 0, 1, 2, 3)' });
  assert.throws(() => resolveTargets('m', [0, 9], known, live), { message: 'no engine with id 9 (engines: 0, 1, 2, 3)' });
  assert.throws(() => resolveTargets('m', [], known, live), /m: targets is an empty list/);
  assert.throws(() => resolveTargets('m', [1, 1], known, live), /engine 1 appears twice/);
  assert.throws(() => resolveTargets('m', 1.5, known, live), /targets must be an engine id/);
  assert.throws(() => resolveTargets('m', undefined, new Set(), []), /m: no engines are registered/);
  assert.throws(() => resolveTargets('m', 'all', new Set([0]), [], 'why'), /^Error: m: no engines are registered: why$/);
  assert.throws(() => resolveTargets('m', 0, new Set(), []), { message: 'no engine with id 0 (engines: none)' });
});

test('checkTargetsShape', () => {
  assert.equal(checkTargetsShape(undefined), undefined);
  assert.equal(checkTargetsShape(null), undefined);
  assert.equal(checkTargetsShape('all'), 'all');
  assert.equal(checkTargetsShape(3), 3);
  assert.deepEqual(checkTargetsShape([0, 2]), [0, 2]);
  for (const bad of ['x', -1, [0, 'a'], {}, 1.2]) assert.throws(() => checkTargetsShape(bad), /targets must be/);
});

test('names must be identifiers', () => {
  for (const ok of ['a', 'x1', '_', '$y', 'my_value', 'ñame']) assert.ok(isIdentifier(ok), ok);
  for (const bad of ['', '1a', 'a-b', 'a b', 'a.b', 42, null]) assert.equal(isIdentifier(bad), false, String(bad));
  assert.throws(() => checkName('push', 'a-b'), { message: 'push: "a-b" is not a valid name (names must be identifiers, like a, x1 or my_value)' });
});

describe('a view on four engines refuses bad input', () => {
  const s = scriptedSession(4);
  let dview: DirectView<false>;
  before(() => {
    dview = s.rc.view();
  });

  test('every bad call throws at once and sends nothing', async () => {
    const sentBefore = s.fc.received.length;
    const cases: [string, () => unknown, RegExp | ((e: unknown) => boolean)][] = [
      ['unknown engine', () => dview.execute('1', { targets: 9 }), /: no engine with id 9 \(engines: 0, 1, 2, 3\)$/],
      ['unknown engine in a list', () => dview.pull('a', { targets: [0, 7] }), /: no engine with id 7 \(engines: 0, 1, 2, 3\)$/],
      ['unknown engine in a view', () => s.rc.view(12).apply(() => 1), /no engine with id 12/],
      ['empty targets', () => dview.push({ a: 1 }, { targets: [] }), /push: targets is an empty list/],
      ['targets of the wrong kind', () => dview.execute('1', { targets: 'some' as never }), /targets must be/],
      ['bad block', () => dview.execute('1', { block: 'yes' as never }), /block must be true or false/],
      ['bad name in push', () => dview.push({ 'a-b': 1 }), /push: "a-b" is not a valid name/],
      ['bad name in pull', () => dview.pull('not valid'), /pull: "not valid" is not a valid name/],
      ['bad name in a pull list', () => dview.pull(['ok', '9x']), /pull: "9x" is not a valid name/],
      ['empty pull list', () => dview.pull([]), /pull: the list of names is empty/],
      ['bad name in scatter', () => dview.scatter('x y', [1]), /scatter: "x y" is not a valid name/],
      ['bad name in gather', () => dview.gather(''), /gather: "" is not a valid name/],
      ['bad path in set', () => dview.set('a..b', 1), /set: "a\.\.b" is not a valid name \(names are identifiers, like a, x1 or my_value, or attribute paths like a\.b\)/],
      ['bad path in pull', () => dview.pull('a.1b'), /pull: "a\.1b" is not a valid name/],
      ['paths mixed with names in push', () => dview.push({ 'a.b': 1, c: 2 }), /push: set attribute paths \(a\.b\) in a push of their own, not with names \(c\)/],
      ['map over a number', () => dview.map((x: number) => x, 3 as never), /map: argument 1 is not iterable/],
      ['push of a non-object', () => dview.push([1, 2] as never), /push: expected an object of names to values/],
      ['unserializable value, named by path', () => dview.push({ a: { b: Symbol('s') } }), (e: unknown) => e instanceof SerializationError && /^cannot serialize push\.a\.b: a symbol/.test((e as Error).message)],
      ['unserializable class instance', () => dview.push({ a: new (class Point {})() }), /cannot serialize push\.a: an instance of Point is not plain data/],
      ['unserializable argument', () => dview.apply((x: unknown) => x, new WeakMap()), /cannot serialize apply\.args\[0\]/],
      ['circular value', () => { const o: Record<string, unknown> = {}; o.self = o; return dview.push({ o }); }, /cannot serialize push\.o\.self: it refers to itself/],
      ['native function', () => dview.apply(Math.max), /cannot serialize apply\.fn: function max is native or bound/],
      ['not a function', () => dview.apply(42 as never), /apply: expected a function or a string of function source, got 42/],
      ['empty source', () => dview.apply('  '), /apply: the function source is an empty string/],
      ['scatter of a non-sequence', () => dview.scatter('a', 5 as never), /scatter: a must be a sequence \(an array, typed array or NDArray\) to split, got 5/],
      ['scatter of a string', () => dview.scatter('a', 'abc' as never), /scatter: a must be a sequence/],
      ['scatter of an unserializable element', () => dview.scatter('a', [1, () => 2, Symbol('z')]), /cannot serialize scatter\.a\[\d\]: a symbol/],
      ['map of unequal sequences', () => dview.mapSync((x: number, y: number) => x + y, [1, 2], [1]), /mapSync: the sequences have different lengths \(2, 1\)/],
      ['map without sequences', () => dview.map((x: number) => x), /give at least one sequence/],
      ['code that is not a string', () => dview.execute(42 as never), /execute: code must be a string, got 42/],
      ['no modules', () => dview.syncImports(), /syncImports: name at least one module/],
      ['requireModules without modules', () => requireModules(), /requireModules: name at least one module/],
      ['parallel with an unknown target', () => dview.parallel({ targets: [5] })((x: number[]) => x)([1, 2]), /no engine with id 5/],
    ];
    for (const [what, call, expected] of cases) {
      assert.throws(call, expected as RegExp, what);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.fc.received.length, sentBefore, 'nothing reached the controller');
    assert.deepEqual(await dview.applySync(() => 'fine'), ['fine', 'fine', 'fine', 'fine'], 'the view still works');
  });

  test('a view refuses bad targets when they are set', () => {
    assert.throws(() => {
      dview.targets = 'x' as never;
    }, /targets must be/);
    assert.throws(() => s.rc.view(-1 as never), /targets must be/);
  });
});
