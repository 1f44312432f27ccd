/**
 * The console's pure parts: magic parsing, the local compiler (TypeScript, unfinished
 * statements), what is printed, the history file and completion. No processes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompositeError, RemoteError } from '../../core/client/errors.js';
import type { DirectView } from '../../core/client/directView.js';
import { complete } from '../../core/console/complete.js';
import { compile, runCompiled } from '../../core/console/evaluate.js';
import { parseApplied, parseTargetsMessage } from '../../core/console/control.js';
import { History } from '../../core/console/history.js';
import { formatTargets, opensBlock, parseLine, parsePxArgs, parseTargets } from '../../core/console/magics.js';
import { colorEnabled, describeEngines, formatError, formatOut, formatProgress, formatTraceback, labelLines, localStack, makeStyle } from '../../core/console/render.js';
import { packageRoot } from '../../core/util/entry.js';
import type { EngineInfo } from '../../core/protocol/messages.js';

const plain = makeStyle(false);

describe('magics', () => {
  test('%px takes code, with --targets/--block/--noblock in front', () => {
    assert.deepEqual(parseLine('%px a = 5'), { kind: 'px', code: 'a = 5', opts: { block: true } });
    assert.deepEqual(parseLine('%px --targets 0,2 --noblock x += 1'), { kind: 'px', code: 'x += 1', opts: { block: false, targets: [0, 2] } });
    assert.deepEqual(parseLine('%px --targets=1-3 print(1)'), { kind: 'px', code: 'print(1)', opts: { block: true, targets: [1, 2, 3] } });
    assert.equal(parseLine('%px').kind, 'error');
    assert.match((parseLine('%px --targets x 1') as { message: string }).message, /not an engine id/);
  });

  test('%%px takes only options; %autopx, %result, %tb, %help', () => {
    assert.deepEqual(parseLine('%%px --targets 0,2 --block'), { kind: 'pxCell', opts: { block: true, targets: [0, 2] } });
    assert.equal(parseLine('%%px a = 1').kind, 'error');
    assert.deepEqual(parseLine('%autopx'), { kind: 'autopx' });
    assert.deepEqual(parseLine('  %result '), { kind: 'result' });
    assert.deepEqual(parseLine('%result 4'), { kind: 'result', index: 4 });
    assert.deepEqual(parseLine('%result -2'), { kind: 'result', index: -2 });
    assert.equal(parseLine('%result x').kind, 'error');
    assert.deepEqual(parseLine('%tb'), { kind: 'tb' });
    assert.deepEqual(parseLine('%help'), { kind: 'help' });
    assert.match((parseLine('%timeit 1') as { message: string }).message, /unknown magic %timeit/);
    assert.deepEqual(parseLine('a % 2'), { kind: 'code', code: 'a % 2' });
  });

  test('targets: ids, ranges, all; options stop at the first non-option', () => {
    assert.deepEqual(parseTargets('0, 2,2 ,5-6'), [0, 2, 5, 6]);
    assert.equal(parseTargets('all'), 'all');
    assert.throws(() => parseTargets('3-1'), /backwards/);
    assert.deepEqual(parsePxArgs('--blocky = 1'), { opts: { block: true }, code: '--blocky = 1' });
  });

  test('the prompt writes targets back in the form --targets reads: runs of three or more as ranges', () => {
    assert.equal(formatTargets(undefined), 'all');
    assert.equal(formatTargets('all'), 'all');
    assert.equal(formatTargets(3), '3');
    assert.equal(formatTargets([0, 2]), '0,2');
    assert.equal(formatTargets([0, 1, 2, 3, 5, 6, 9]), '0-3,5,6,9');
    for (const t of [[0, 2], [0, 1, 2, 3, 5, 6, 9], [4, 3, 2]]) assert.deepEqual(parseTargets(formatTargets(t)), t);
  });

  test("the app's side-channel messages are checked once, with a message that says what is wrong", () => {
    assert.deepEqual(parseTargetsMessage('{"type":"targets","targets":[0,2],"seq":4}'), { type: 'targets', targets: [0, 2], seq: 4 });
    assert.deepEqual(parseTargetsMessage('{"type":"targets","targets":"all"}'), { type: 'targets', targets: 'all' });
    const bad: [string, RegExp][] = [
      ['{"type":"targets","targets":[]}', /non-empty list/],
      ['{"type":"targets","targets":[1,1]}', /distinct engine ids/],
      ['{"type":"targets","targets":[-1]}', /engine ids/],
      ['{"type":"targets","targets":[0.5]}', /engine ids/],
      ['{"type":"targets","targets":[0],"seq":"1"}', /seq must be a whole number/],
      ['{"type":"exec","code":"x"}', /unknown type "exec"/],
      ['[1]', /not an object/],
      ['{oops', /not JSON: "\{oops"/],
    ];
    for (const [line, why] of bad) assert.throws(() => parseTargetsMessage(line), why, line);
    assert.equal(parseApplied('{"type":"applied","seq":4}'), 4);
    assert.equal(parseApplied('{"type":"applied"}'), undefined);
    assert.equal(parseApplied('nonsense'), undefined);
  });

  test('a line that opens a block starts an autopx cell', () => {
    for (const l of ['for i in range(3):', 'if (x) {', 'f(1,', 'x = [', 'a = 1 + \\']) assert.ok(opensBlock(l), l);
    for (const l of ['x = 1', "print('(')", 'f(1)', 'd = {"a": 1}']) assert.ok(!opensBlock(l), l);
  });
});

describe('local code', () => {
  test('JavaScript, TypeScript, object literals and top-level await compile', () => {
    assert.deepEqual(compile('1 + 1'), { kind: 'ok', code: '1 + 1', isAsync: false });
    const ts = compile('const n: number = 6 * 7');
    assert.equal(ts.kind, 'ok');
    assert.equal(runCompiled(ts as { code: string }, 'test'), undefined);
    assert.equal((globalThis as Record<string, unknown>).n, 42);
    assert.deepEqual(runCompiled(compile('{ a: 1 }') as { code: string }, 'test'), { a: 1 });
    const aw = compile('await Promise.resolve(5)');
    assert.ok(aw.kind === 'ok' && aw.isAsync);
  });

  test('an unfinished statement asks for more lines; force makes it an error', () => {
    for (const src of ['function f() {', 'x = `abc', 'foo(', 'function g(x: number) {']) assert.equal(compile(src).kind, 'incomplete', src);
    assert.equal(compile('foo(', { force: true }).kind, 'error');
    const bad = compile('a b');
    assert.ok(bad.kind === 'error' && bad.error instanceof SyntaxError);
  });
});

describe('rendering', () => {
  test('output lines are labelled per engine, results as [id] Out[n]', () => {
    assert.equal(labelLines('stdout', 0, 'hello\nworld\n', plain), '[stdout:0] hello\n[stdout:0] world\n');
    assert.equal(labelLines('stderr', 3, 'oops', plain), '[stderr:3] oops\n');
    assert.equal(formatOut({ engineId: 0, executionCount: 4, stdout: '', stderr: '', result: '15' }, plain), '[0] Out[4]: 15\n');
    assert.equal(formatOut({ engineId: 1, executionCount: 2, stdout: '', stderr: '', result: 'a\nb' }, plain), '[1] Out[2]:\na\nb\n');
    assert.equal(formatOut({ engineId: 1, executionCount: 2, stdout: '', stderr: '' }, plain), '');
  });

  test('a CompositeError is one heading and one line per failing engine; %tb has the tracebacks', () => {
    const e = new CompositeError('execute', [
      new RemoteError(0, 'execute', 'ReferenceError', 'x is not defined', ['ReferenceError: x is not defined', '    at [execute 1]:1:1']),
      new RemoteError(2, 'execute', 'KeyboardInterrupt', '', ['Traceback (most recent call last):\n', 'KeyboardInterrupt\n']),
    ]);
    assert.equal(
      formatError(e, plain),
      'CompositeError: one or more exceptions from call to method: execute\n[0:execute]: ReferenceError: x is not defined\n[2:execute]: KeyboardInterrupt\n',
    );
    assert.equal(formatTraceback(e, plain), '[0:execute]:\nReferenceError: x is not defined\n    at [execute 1]:1:1\n\n[2:execute]:\nTraceback (most recent call last):\nKeyboardInterrupt\n');
    assert.equal(formatError(new TypeError('bad'), plain), 'TypeError: bad\n');
  });

  test("a local error's stack keeps the user's frames only", () => {
    const e = new Error('boom');
    e.stack = [
      'Error: boom',
      '    at g (In[3]:1:22)',
      '    at In[3]:1:30',
      '    at Script.runInThisContext (node:vm:137:12)',
      `    at runCompiled (file://${packageRoot}/dist/core/console/evaluate.js:80:19)`,
      `    at Console.pump (${packageRoot}/core/console/repl.ts:86:32)`,
    ].join('\n');
    assert.equal(localStack(e), 'Error: boom\n    at g (In[3]:1:22)\n    at In[3]:1:30');
  });

  test('progress, engine groups and colours', () => {
    assert.equal(formatProgress(2, 4, 1299, plain), '[2/4 engines done] 1.3s');
    const eng = (id: number, kernel: 'node' | 'python', v: string): EngineInfo => ({ id, uuid: '', kernel, language_version: v, host: 'h', pid: 1, state: 'idle', queue: 0, restarts: 0, registered: '' });
    assert.deepEqual(describeEngines([eng(0, 'node', '20'), eng(1, 'node', '20'), eng(2, 'python', '3.11'), eng(4, 'python', '3.11')]), [
      'engines 0-1: node 20',
      'engine 2: python 3.11',
      'engine 4: python 3.11',
    ]);
    assert.equal(colorEnabled({ isTTY: true }, { TERM: 'xterm' }), true);
    assert.equal(colorEnabled({ isTTY: true }, { TERM: 'xterm', NO_COLOR: '1' }), false);
    assert.equal(colorEnabled({ isTTY: false }, {}), false);
    assert.equal(makeStyle(true).green('x'), '\x1b[32mx\x1b[39m');
    assert.equal(makeStyle(false).green('x'), 'x');
  });
});

describe('history', () => {
  test('persists entries, newest first on load, without blanks or repeats', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-history-'));
    try {
      const file = path.join(dir, 'profile_default', 'console_history');
      const h = new History(file, 3);
      assert.deepEqual(h.load(), []);
      for (const e of ['a', 'b', 'b', '  ', 'c']) h.add(e);
      assert.equal(fs.readFileSync(file, 'utf8'), 'a\nb\nc\n');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(new History(file, 3).load(), ['c', 'b', 'a']);
      for (const e of ['d', 'e', 'f', 'g']) h.add(e);
      assert.deepEqual(new History(file, 3).load(), ['g', 'f', 'e']);
      assert.equal(fs.readFileSync(file, 'utf8'), 'e\nf\ng\n', 'trimmed once past twice the limit');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('completion', () => {
  const view = { keys: async () => [['alpha', 'beta'], ['alpha', 'gamma']] } as unknown as DirectView;
  const ctx = { engineLine: false, view: () => view };

  test('engine names after %px and on engine lines', async () => {
    assert.deepEqual(await complete('%px al', ctx), [['alpha'], 'al']);
    assert.deepEqual(await complete('%px --targets 0,1 x = g', ctx), [['gamma'], 'g']);
    assert.deepEqual(await complete('print(b', { ...ctx, engineLine: true }), [['beta'], 'b']);
  });

  test("engine names inside view['", async () => {
    (globalThis as Record<string, unknown>).fakeView = Object.setPrototypeOf({ keys: view.keys }, (await import('../../core/client/directView.js')).DirectView.prototype);
    try {
      assert.deepEqual(await complete("fakeView['", ctx), [["alpha']", "beta']", "gamma']"], '']);
    } finally {
      delete (globalThis as Record<string, unknown>).fakeView;
    }
  });

  test('magics and JavaScript names', async () => {
    assert.deepEqual(await complete('%au', ctx), [['%autopx'], '%au']);
    assert.deepEqual(await complete('Math.fl', ctx), [['floor'], 'fl']);
    assert.ok((await complete('setTim', ctx))[0].includes('setTimeout'));
  });
});
