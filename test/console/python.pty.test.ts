/**
 * The console on a Python engine of a cluster it did not start (`--file`), in a real
 * pseudo-terminal with NO_COLOR: %px in Python, a Python CompositeError, %autopx with a
 * block, Ctrl-C stopping `while True: pass`, and Ctrl-D leaving the cluster running.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Cluster, type Client } from 'multiengine';
import { ConsoleSession, KEY, tmpDir } from './pty.js';

describe('multiengine console --file on a python engine', { timeout: 180_000 }, () => {
  let dir: string;
  let cluster: Cluster;
  let s: ConsoleSession;

  before(async () => {
    dir = tmpDir();
    cluster = await Cluster.start({ n: 1, dir, profile: 'py', engine: 'python' });
    s = new ConsoleSession(['--file', cluster.connectionFile], { dir, env: { NO_COLOR: '1' } });
    await s.waitForPrompt({ timeoutMs: 60_000 });
  });

  after(async () => {
    await s?.kill();
    s?.dispose();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the banner names the python engine; NO_COLOR means no colour codes', () => {
    const screen = s.text();
    assert.match(screen, /Multiengine console: 1 engine, profile "py"/);
    assert.match(screen, /engine 0: python 3\.\d+/);
    const sgr = new RegExp(String.raw`\x1b\[[0-9;]*m`);
    assert.doesNotMatch(s.raw, sgr, 'no SGR (colour) sequence in the output');
  });

  test('%px runs Python: stdout and Out lines', async () => {
    await s.run('%px x = 6 * 7');
    assert.match(await s.run('%px print(x)'), /^\[stdout:0\] 42$/m);
    assert.match(await s.run('%px x'), /^\[0\] Out\[3\]: 42$/m);
    assert.match(await s.run("dview.pull('x')"), /^\[ 42 \]$/m);
  });

  test('a Python exception is a one-line CompositeError; %tb shows the Python traceback', async () => {
    const err = await s.run('%px 1/0');
    assert.match(err, /^CompositeError: one or more exceptions from call to method: execute$/m);
    assert.match(err, /^\[0:execute\]: ZeroDivisionError: division by zero$/m);
    const tb = await s.run('%tb');
    assert.match(tb, /^Traceback \(most recent call last\):$/m);
  });

  test('%autopx sends Python lines, a block until a blank line', async () => {
    assert.match(await s.run('%autopx'), /^Auto Parallel Enabled$/m);
    const from = s.mark();
    s.line('for i in range(2):');
    await s.waitFor(/\.\.\.:\s*$/, { from });
    s.line('    print("row", i * x)');
    s.line('');
    await s.waitForPrompt({ from: from + 2 });
    assert.match(s.text(from), /^\[stdout:0\] row 0\n\[stdout:0\] row 42$/m);
    assert.match(await s.run('%autopx'), /^Auto Parallel Disabled$/m);
  });

  test('Ctrl-C interrupts %px while True: pass; the engine still answers', async () => {
    const from = s.mark();
    s.line('%px while True: pass');
    await s.waitFor(/engines done\]/, { from });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: from + 1, timeoutMs: 15_000 });
    assert.match(s.text(from), /^\[0:execute\]: KeyboardInterrupt$/m);
    assert.match(await s.run('%px x + 1'), /^\[0\] Out\[\d+\]: 43$/m);
  });

  test('Ctrl-D exits and leaves a cluster it did not start running', async () => {
    s.type(KEY.ctrlD);
    assert.equal((await s.exited).exitCode, 0);
    let rc: Client | undefined;
    try {
      rc = await cluster.connect();
      assert.deepEqual(await rc.view().pull('x', { block: true }), [42]);
    } finally {
      rc?.close();
    }
  });
});
