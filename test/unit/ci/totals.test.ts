/**
 * .ci/totals.mjs over the output of each runner: node's test runner (run for real through
 * scripts/test.mjs, with its skipped-test reporter), Python's unittest -v (run for real, through
 * `npm run test:python`, the step of `npm test` that runs the Python engine's suite), and
 * vitest's verbose reporter (a sample of vitest 4.1.12's output, colours included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const E = '\u001b';

const NODE_SAMPLE = `import { describe, test } from 'node:test';
test('adds', () => {});
test('needs a gpu', { skip: 'no gpu here' }, () => {});
test('breaks', () => { throw new Error('boom'); });
describe('group', () => {
  test('inner skip', { skip: true }, () => {});
  test('inner todo', { todo: 'later' }, () => {});
  test('inner ok', () => {});
});
`;

const PYTHON_SAMPLE = `import unittest

class Sample(unittest.TestCase):
    def test_ok(self):
        pass

    @unittest.skip('no numpy')
    def test_numpy(self):
        pass

    @unittest.skip('later')
    def test_documented(self):
        """A docstring puts the result on the next line."""

    def test_fails(self):
        self.assertEqual(1, 2)
`;

// vitest run --reporter=verbose: one skipped, one todo, two passed, one failed.
const VITEST_SAMPLE = [
  ` ${E}[2m${E}[90m↓${E}[39m${E}[22m ${E}[30m${E}[43m app ${E}[49m${E}[39m test/unit/app/demo.spec.ts${E}[2m > ${E}[22mgrp${E}[2m > ${E}[22mskipped in vitest`,
  ` ${E}[2m${E}[90m□${E}[39m${E}[22m ${E}[30m${E}[43m app ${E}[49m${E}[39m test/unit/app/demo.spec.ts${E}[2m > ${E}[22mgrp${E}[2m > ${E}[22mtodo in vitest`,
  ` ${E}[32m✓${E}[39m ${E}[30m${E}[43m app ${E}[49m${E}[39m test/unit/app/demo.spec.ts${E}[2m > ${E}[22mgrp${E}[2m > ${E}[22mruns${E}[32m 3${E}[2mms${E}[22m${E}[39m`,
  ` ↓ |ui| test/unit/app/ui/Panel.spec.ts > Panel > no colours here`,
  `${E}[2m      Tests ${E}[22m ${E}[1m${E}[31m1 failed${E}[39m${E}[22m${E}[2m | ${E}[22m${E}[1m${E}[32m2 passed${E}[39m${E}[22m${E}[2m | ${E}[22m${E}[33m2 skipped${E}[39m${E}[2m | ${E}[22m${E}[90m1 todo${E}[39m${E}[90m (6)${E}[39m`,
].join('\n');

function totals(log: string, code: number): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-totals-'));
  try {
    fs.writeFileSync(path.join(dir, 'ci.log'), log);
    const r = spawnSync(process.execPath, [path.join(ROOT, '.ci', 'totals.mjs'), path.join(dir, 'ci.log'), String(code)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The sample run by node's runner as CI runs it; returns its output and the sample's path as reported. */
function runNodeSample(): { log: string; file: string } {
  // Inside the repository, so tsx resolves (scripts/test.mjs skips dot folders when collecting).
  const dir = fs.mkdtempSync(path.join(ROOT, 'test', 'unit', 'ci', '.sample-'));
  try {
    fs.writeFileSync(path.join(dir, 'sample.test.ts'), NODE_SAMPLE);
    // Not as a subtest of this runner: a child run of its own, as CI has.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'test.mjs'), dir], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, `the sample has one failing test:\n${r.stdout}\n${r.stderr}`);
    return { log: r.stdout, file: path.relative(ROOT, path.join(dir, 'sample.test.ts')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The sample run by `npm run test:python` (its `-s` names the sample's folder instead of the suite's). */
function runPythonSample(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-totals-py-'));
  try {
    fs.writeFileSync(path.join(dir, 'test_sample.py'), PYTHON_SAMPLE);
    const r = spawnSync('npm', ['run', 'test:python', '--', '-s', dir], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, `the sample has one failing test, so the step fails:\n${r.stdout}\n${r.stderr}`);
    return r.stdout + r.stderr;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("node's test runner: passed, failed, and every skipped or todo test named with its file", () => {
  const { log, file } = runNodeSample();
  assert.deepEqual(totals(log, 1), [
    `skipped: needs a gpu (${file}) — no gpu here`,
    `skipped: group > inner skip (${file})`,
    `skipped: group > inner todo (${file}) — todo: later`,
    '2 passed, 1 failed, 3 skipped',
  ]);
});

test('npm test runs each runner once through scripts/test-runners.mjs (node, vitest, Python unittest for the engine and for the client)', async () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.equal(scripts.test.split(' && ').at(-1), 'node scripts/test-runners.mjs');
  const { RUNNERS } = (await import(path.join(ROOT, 'scripts', 'test-runners.mjs'))) as { RUNNERS: [string, string[], number?][] };
  assert.deepEqual(RUNNERS.map(([c, a]) => [c, ...a].join(' ')), ['node scripts/test.mjs', 'npm run test:ui', 'npm run test:python', 'npm run test:python-client']);
  assert.match(scripts['test:python'], / -m unittest discover -s test\/conformance\/python -v$/);
  // Each of the client's Python tests is counted in the closing line, not one node test for all of them.
  assert.match(scripts['test:python-client'], / -m unittest discover -s test\/python_client -p "test_\*\.py" -v$/);
  assert.deepEqual(fs.readdirSync(path.join(ROOT, 'test', 'python_client')).filter((f) => f.endsWith('.ts')), [], 'no node test runs the suite a second time');
  assert.doesNotMatch(fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8'), /-m unittest/, '.ci/run counts the suite from npm test\'s output');
});

test("Python's unittest -v: its tests are counted, and skipped ones named (a docstring too)", () => {
  assert.deepEqual(totals(runPythonSample(), 1), [
    'skipped: Sample.test_documented (test_sample.py) — later',
    'skipped: Sample.test_numpy (test_sample.py) — no numpy',
    '1 passed, 1 failed, 2 skipped',
  ]);
});

test("vitest's verbose reporter: the summary is counted and skipped and todo tests named", () => {
  assert.deepEqual(totals(VITEST_SAMPLE, 1), [
    'skipped: grp > skipped in vitest (test/unit/app/demo.spec.ts)',
    'skipped: grp > todo in vitest (test/unit/app/demo.spec.ts) — todo',
    'skipped: Panel > no colours here (test/unit/app/ui/Panel.spec.ts)',
    '2 passed, 1 failed, 3 skipped',
  ]);
});

test('every runner in one log adds up; a failing step outside them counts as one failure', () => {
  const all = totals([runNodeSample().log, VITEST_SAMPLE, runPythonSample()].join('\n'), 1);
  assert.equal(all.at(-1), '5 passed, 3 failed, 8 skipped');
  assert.equal(all.filter((l) => l.startsWith('skipped: ')).length, 8);
  assert.deepEqual(totals('> tsc -p tsconfig.json\nerror TS2322: nope\n', 2), ['(the run exited with code 2 outside the test runners: counted as 1 failure)', '0 passed, 1 failed, 0 skipped']);
});
