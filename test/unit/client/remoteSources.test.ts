/**
 * The source the client makes for engines: the Python map helper around a lambda or a def
 * block, the name a source string gives a function, and the functions that read and set
 * dotted attribute paths. Each one is also run on real engines in test/integration/clientInputs.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNameOrPath, isAttributePath, readerSource, writerSource } from '../../../core/client/attributePaths.js';
import { sourceName } from '../../../core/client/remoteFunction.js';
import { pythonLanguage } from '../../../core/kernels/python.js';

const HELPER = '(lambda f: lambda *seqs: [f(*a) for a in zip(*seqs)])';

test('the Python map helper wraps a lambda, and keeps a def block a block that ends with the helper applied to the def', () => {
  const py = (src: string) => pythonLanguage.mapFunction(src);
  assert.equal(py('  lambda x: x * 2\n'), `${HELPER}(lambda x: x * 2)`);
  assert.equal(py('lambda x: (\n  x + 1\n)'), `${HELPER}(lambda x: (\n  x + 1\n))`, 'a closing bracket in column 0 does not make a block');
  assert.equal(py('def sq(x):\n    return x * x\n'), `def sq(x):\n    return x * x\n${HELPER}(sq)`);
  assert.equal(py('@cache\ndef f(n):\n    return n\n# done\n'), `@cache\ndef f(n):\n    return n\n# done\n${HELPER}(f)`, 'decorators and trailing comments');
  assert.equal(py('def a(x):\n  return x\ndef b(x):\n  return a(x)\n'), `def a(x):\n  return x\ndef b(x):\n  return a(x)\n${HELPER}(b)`, 'the last def is the function');
  assert.equal(py('import math\nk = 2\nlambda x: math.sqrt(x) * k'), `import math\nk = 2\n${HELPER}(lambda x: math.sqrt(x) * k)`);
});

test('a source string names its function: the last Python def, or a named JavaScript function', () => {
  assert.equal(sourceName('def getpid():\n    return 1\n'), 'getpid');
  assert.equal(sourceName('async def fetch(u):\n    return u\n'), 'fetch');
  assert.equal(sourceName('class Point:\n    pass\n'), 'Point');
  assert.equal(sourceName('function triple(x) { return 3 * x }'), 'triple');
  assert.equal(sourceName('async function* gen() {}'), 'gen');
  assert.equal(sourceName('lambda x: x'), '');
  assert.equal(sourceName('(x) => {\n  return x;\n}'), '');
});

test('attribute paths: which names are paths, and the functions that read and set them', () => {
  assert.equal(isAttributePath('a.b.c'), true);
  assert.equal(isAttributePath('a'), false);
  for (const bad of ['a..b', '.a', 'a.', 'a.1b', 'a.b c', 'a.b-c']) {
    assert.equal(isAttributePath(bad), false, bad);
    assert.throws(() => checkNameOrPath('pull', bad), /pull: ".*" is not a valid name/, bad);
  }
  assert.equal(readerSource('node', ['a.b'], true), '() => (a.b)');
  assert.equal(readerSource('node', ['x', 'a.b'], false), '() => ([x, a.b])');
  assert.equal(readerSource('python', ['a.b'], true), 'lambda: a.b');
  assert.equal(readerSource('python', ['x', 'a.b'], false), 'lambda: [x, a.b]');
  assert.equal(writerSource('node', ['a.b', 'c.d.e']), '(...v) => { a.b = v[0]; c.d.e = v[1]; }');
  assert.equal(writerSource('python', ['a.b', 'c.d.e']), "lambda *v: [setattr(a, 'b', v[0]), setattr(c.d, 'e', v[1])] and None");
  assert.equal(writerSource('node', ['v.x', 'v_.y']), '(...v__) => { v.x = v__[0]; v_.y = v__[1]; }', 'the parameter never hides an object a path names');
});
