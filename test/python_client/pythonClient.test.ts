/**
 * The Python client's own suite (test/python_client/*.py, Python's unittest) as one step of
 * node's test runner, so `npm test` runs it: real clusters from `multiengine start`, Python and
 * node engines, the install for both Pythons.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.MULTIENGINE_PYTHON || 'python3';

test('the Python client passes its unittest suite against real clusters', { timeout: 600_000 }, () => {
  const r = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', here, '-p', 'test_*.py', '-v'], { encoding: 'utf8', timeout: 590_000 });
  process.stderr.write(r.stderr);
  assert.equal(r.status, 0, `python unittest failed:\n${r.stderr.slice(-4000)}`);
  assert.match(r.stderr, /\nOK\b/);
});
