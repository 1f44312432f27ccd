import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortError, CompositeError, EngineError, ImpossibleDependency, RemoteError, TaskTimeout, TimeoutError, UnmetDependency } from '../../../core/client/errors.js';
import { workFailure } from '../../../core/client/replyDecoders.js';
import { sourceKernel } from '../../../core/client/remoteFunction.js';

const refErr = (id: number) => new RemoteError(id, 'execute', 'ReferenceError', 'x is not defined', ['ReferenceError: x is not defined', `    at engine ${id}`]);

test('RemoteError carries the remote exception and reads like it', () => {
  const e = refErr(2);
  assert.ok(e instanceof Error);
  assert.equal(e.message, 'ReferenceError: x is not defined');
  assert.equal(e.engineId, 2);
  assert.equal(e.method, 'execute');
  assert.equal(e.ename, 'ReferenceError');
  assert.equal(e.evalue, 'x is not defined');
  assert.deepEqual(e.traceback, ['ReferenceError: x is not defined', '    at engine 2']);
});

test('EngineError and AbortError are RemoteErrors with their own ename', () => {
  const d = new EngineError(3, 'apply', 'engine 3 is dead: exited with signal SIGKILL');
  assert.ok(d instanceof RemoteError);
  assert.equal(d.ename, 'EngineError');
  assert.equal(d.name, 'EngineError');
  assert.equal(d.message, 'EngineError: engine 3 is dead: exited with signal SIGKILL');
  const a = new AbortError(1, 'execute');
  assert.ok(a instanceof RemoteError);
  assert.equal(a.ename, 'AbortError');
});

test('CompositeError has the exact IPython-style message', () => {
  const c = new CompositeError('execute', [refErr(0), refErr(1), refErr(2), refErr(3)]);
  assert.equal(
    c.message,
    [
      'one or more exceptions from call to method: execute',
      '[0:execute]: ReferenceError: x is not defined',
      '[1:execute]: ReferenceError: x is not defined',
      '[2:execute]: ReferenceError: x is not defined',
      '[3:execute]: ReferenceError: x is not defined',
    ].join('\n'),
  );
  assert.equal(c.name, 'CompositeError');
  assert.equal(c.elist.length, 4);
});

test('raiseException throws the chosen engine error', () => {
  const c = new CompositeError('execute', [refErr(0), refErr(2)]);
  assert.throws(() => c.raiseException(), (e: unknown) => e instanceof RemoteError && e.engineId === 0);
  assert.throws(() => c.raiseException(1), (e: unknown) => e instanceof RemoteError && e.engineId === 2);
  assert.throws(() => c.raiseException(5), RangeError);
});

test('printTracebacks writes each traceback under an [id:method] heading', () => {
  const c = new CompositeError('execute', [refErr(0), new RemoteError(1, 'execute', 'TypeError', 'no', [])]);
  let text = '';
  c.printTracebacks((t) => (text += t));
  assert.match(text, /^\[0:execute\]:\nReferenceError: x is not defined\n {4}at engine 0\n/);
  assert.match(text, /\[1:execute\]:\nTypeError: no\n/, 'ename: evalue when there is no traceback');
});

test('TimeoutError says the result is not ready', () => {
  const t = new TimeoutError();
  assert.equal(t.message, 'Result not ready.');
  assert.equal(t.name, 'TimeoutError');
  assert.ok(t instanceof Error);
});

test('the scheduler\'s enames become their own RemoteError subclasses (where replies are decoded); others stay RemoteError', () => {
  for (const [ename, Cls] of [
    ['TaskTimeout', TaskTimeout],
    ['ImpossibleDependency', ImpossibleDependency],
    ['UnmetDependency', UnmetDependency],
    ['EngineError', EngineError],
  ] as const) {
    const e = workFailure({ status: 'error', ename, evalue: 'why', traceback: ['tb'] }, -1, 'apply');
    assert.ok(e instanceof Cls && e instanceof RemoteError, ename);
    assert.equal(e.name, ename);
    assert.equal(e.ename, ename);
    assert.equal(e.evalue, 'why');
    assert.equal(e.engineId, -1);
    assert.deepEqual(e.traceback, ['tb']);
  }
  const plain = workFailure({ status: 'error', ename: 'toString', evalue: 'x', traceback: [] }, 2, 'apply');
  assert.equal(plain.constructor, RemoteError, 'an ename that is an Object.prototype key is not a class lookup');
  assert.ok(workFailure({ status: 'aborted' }, 0, 'apply') instanceof AbortError);
});

test('sourceKernel tells a function source\'s language (or does not guess)', () => {
  assert.equal(sourceKernel('(x) => x * 2'), 'node');
  assert.equal(sourceKernel('x => x'), 'node');
  assert.equal(sourceKernel('async function f() {}'), 'node');
  assert.equal(sourceKernel('function (a, b) {\n  return a + b;\n}'), 'node');
  assert.equal(sourceKernel('lambda x: x * 2'), 'python');
  assert.equal(sourceKernel('def f(x):\n    return x'), 'python');
  assert.equal(sourceKernel('import math\nmath.sqrt'), 'python');
  assert.equal(sourceKernel('abs'), undefined);
});
