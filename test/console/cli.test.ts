/**
 * `multiengine console` without a cluster and with bad arguments: it says what to do and
 * exits non-zero, without starting anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { Cluster } from 'multiengine';
import { bin, tmpDir } from './pty.js';

function consoleRun(args: string[], dir: string, input = '') {
  return spawnSync(process.execPath, [bin, 'console', ...args], { env: { ...process.env, MULTIENGINE_DIR: dir }, encoding: 'utf8', input, timeout: 30_000 });
}

test('no cluster running: it says how to start one and exits non-zero', { timeout: 90_000 }, () => {
  const dir = tmpDir();
  try {
    const r = consoleRun([], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no cluster is running for profile "default"/);
    assert.match(r.stderr, /multiengine start -n 4/);
    assert.match(r.stderr, /multiengine console -n 4/);
    const p = consoleRun(['--profile', 'mpi'], dir);
    assert.equal(p.status, 1);
    assert.match(p.stderr, /multiengine start -n 4 --profile mpi/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad arguments are usage errors', { timeout: 90_000 }, () => {
  const dir = tmpDir();
  try {
    for (const args of [['--bogus'], ['-n', 'x'], ['-n', '2', '--file', 'c.json'], ['--engine', 'python'], ['-n', '1', '--engine', 'ruby']]) {
      const r = consoleRun(args, dir);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, /usage: multiengine console/, args.join(' '));
    }
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing was started or written');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("without options it connects to the default profile's cluster; piped lines run without prompts", { timeout: 90_000 }, async () => {
  const dir = tmpDir();
  const cluster = await Cluster.start({ n: 1, dir });
  try {
    const r = consoleRun([], dir, "%px 40 + 2\ndview.pull('nothing')\nlview.applySync((a, b) => a * b, 6, 7)\n'done'\n");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Multiengine console: 1 engine, profile "default"/);
    assert.match(r.stdout, /^\[0\] Out\[1\]: 42$/m);
    assert.match(r.stdout, /^\[0:pull\]: NameError: name 'nothing' is not defined$/m);
    assert.match(r.stdout, /^42$/m, 'lview runs a task');
    assert.match(r.stdout, /^'done'$/m);
    assert.doesNotMatch(r.stdout, /In \[\d+\]:/, 'no prompts when the input is not a terminal');
    assert.ok(!r.stdout.includes('\x1b['), 'no escape codes when the output is not a terminal');
    assert.deepEqual(cluster.ids, [0], 'the cluster it did not start still runs');

    const twice = consoleRun(['-n', '1'], dir);
    assert.equal(twice.status, 1);
    assert.match(twice.stderr, /a cluster is already running for profile "default"/);
  } finally {
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
