// Each engine language is described once (core/kernels): the registry names them, refuses
// others with the choices, and every descriptor supplies every part the rest of Multiengine asks for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineLanguage, isLanguageName, languageNames, languageOrDefault } from '../../core/kernels/index.js';
import { LaunchError } from '../../core/kernels/launch.js';

test('the registry lists node (the default) and python, and refuses other names with the choices', () => {
  assert.deepEqual(languageNames, ['node', 'python']);
  assert.ok(isLanguageName('python'));
  assert.ok(!isLanguageName('ruby'));
  assert.ok(!isLanguageName(undefined));
  assert.throws(() => engineLanguage('ruby', '--engine'), { message: '--engine must be one of node, python; got "ruby"' });
  assert.equal(languageOrDefault('julia').name, 'node', 'an engine of a language this process does not describe is driven as the default');
});

test('every descriptor launches its own engine and phrases map, paths and the namespace probe in its language', () => {
  for (const name of languageNames) {
    const l = engineLanguage(name);
    const { command, args } = l.local.command(l.local.interpreter?.(undefined, undefined), ['--file', '/tmp/e.json', '--id', '3']);
    assert.ok(command.length > 0);
    assert.deepEqual(args.slice(-4), ['--file', '/tmp/e.json', '--id', '3'], name);
    assert.match(l.mapFunction(name === 'python' ? 'lambda x: x' : '(x) => x'), name === 'python' ? /lambda f:/ : /=>/);
    assert.match(l.readerSource(['a.b'], true), /a\.b/);
    assert.match(l.writerSource(['a.b'], 'v'), /a\.b|setattr\(a, 'b'/);
    assert.ok(l.describeNames.length > 100);
  }
  const python = engineLanguage('python').local;
  assert.throws(() => python.command('/nonexistent/python9', []), (e: unknown) => e instanceof LaunchError && /python interpreter "\/nonexistent\/python9" not found/.test(e.message));
  const env: NodeJS.ProcessEnv = {};
  python.prepareEnv(env);
  assert.equal(env.PYTHONUNBUFFERED, '1');
});
