/**
 * `multiengine console -n 2` in a real pseudo-terminal, driven with keys and read through a
 * headless xterm: the banner, %px and pull, streaming output and the progress line, %autopx,
 * %result, %%px cells, CompositeError and %tb, Ctrl-C on a node engine's infinite loop,
 * line editing, history (also across a restart), Tab completion and Ctrl-D.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { eventually } from '../harness/poll.js';
import { ConsoleSession, KEY, tmpDir } from './pty.js';
import { isAlive } from '../../core/util/processes.ts';


describe('multiengine console -n 2 (node engines)', { timeout: 180_000 }, () => {
  let dir: string;
  let s: ConsoleSession;
  let controllerPid = 0;

  before(async () => {
    dir = tmpDir();
    s = new ConsoleSession(['-n', '2'], { dir });
    await s.waitForPrompt({ timeoutMs: 60_000 });
  });

  after(async () => {
    await s?.kill();
    s?.dispose();
    if (controllerPid) await eventually(() => !isAlive(controllerPid), 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a banner shows the engines and their kernels, in the terminal colours', () => {
    const screen = s.text();
    assert.match(screen, /Multiengine console: 2 engines, profile "default", controller pid (\d+)/);
    controllerPid = Number(/controller pid (\d+)/.exec(screen)![1]);
    assert.match(screen, /engines 0-1: node \d+\.\d+/);
    assert.match(screen, /rc \(the Client\), dview \(all engines/);
    assert.match(s.cursorLine(), /^In \[1\]:\s*$/);
    assert.ok(s.raw.includes('\x1b[32mIn ['), 'the prompt is green');
  });

  test("%px a = 5, then dview.pull('a')", async () => {
    const px = await s.run('%px a = 5');
    assert.match(px, /^\[0\] Out\[1\]: 5$/m);
    assert.match(px, /^\[1\] Out\[1\]: 5$/m);
    const pulled = await s.run("dview.pull('a')");
    assert.match(pulled, /^\[ 5, 5 \]$/m);
  });

  test('output streams while %px runs, under a progress line once it has lasted a second', async () => {
    const from = s.mark();
    s.line("%px for (let i = 0; i < 3; i++) { console.log('tick', i); await new Promise((r) => setTimeout(r, 700)); }");
    const early = await s.waitFor('[stdout:0] tick 0', { from });
    assert.ok(!early.includes('tick 2'), 'the first line shows before the run ends');
    await s.waitFor(/\[[01]\/2 engines done\] \d+\.\ds/, { from });
    await s.waitForPrompt({ from: from + 1 });
    const screen = s.text(from);
    for (const id of [0, 1]) for (const i of [0, 1, 2]) assert.match(screen, new RegExp(`^\\[stdout:${id}\\] tick ${i}$`, 'm'));
    assert.ok(!screen.includes('engines done'), 'the progress line is gone once the run is done');
  });

  test('%autopx on and off, with lines in between running on the engines', async () => {
    const on = await s.run('%autopx');
    assert.match(on, /^Auto Parallel Enabled$/m);
    assert.match(s.cursorLine(), /^\[autopx\] In \[\d+\]:\s*$/);
    const b = await s.run('b = a * 3');
    assert.match(b, /^\[0\] Out\[\d+\]: 15$/m);
    assert.match(b, /^\[1\] Out\[\d+\]: 15$/m);
    const off = await s.run('%autopx');
    assert.match(off, /^Auto Parallel Disabled$/m);
    assert.match(s.cursorLine(), /^In \[\d+\]:\s*$/);
    assert.match(await s.run("dview.pull('b')"), /^\[ 15, 15 \]$/m);
  });

  test('%result shows the last %px again, and %result N the one typed at In [N]', async () => {
    const last = await s.run('%result');
    assert.match(last, /^\[0\] Out\[\d+\]: 15$/m);
    assert.match(last, /^\[1\] Out\[\d+\]: 15$/m);
    const first = await s.run('%result 1');
    assert.match(first, /^\[0\] Out\[1\]: 5$/m);
    const streamed = await s.run('%result -2');
    assert.match(streamed, /^\[stdout:1\] tick 2$/m);
  });

  test('%%px --targets 0 runs a cell ended by a blank line', async () => {
    const from = s.mark();
    s.line('%%px --targets 0');
    await s.waitFor(/\.\.\.:\s*$/, { from });
    s.line('c = a * 2');
    s.line('c + 1');
    s.line('');
    await s.waitForPrompt({ from: from + 3 });
    const screen = s.text(from);
    assert.match(screen, /^\[0\] Out\[\d+\]: 11$/m);
    assert.doesNotMatch(screen, /^\[1\] Out/m);
  });

  test('the prompt names the targets of dview when they are not all engines', async () => {
    await s.run('dview.targets = [1]');
    assert.match(s.cursorLine(), /^In \[\d+\] px\[1\]:\s*$/);
    const out = await s.run('%px 3 * 3');
    assert.match(out, /^\[1\] Out\[\d+\]: 9$/m);
    assert.doesNotMatch(out, /^\[0\] Out/m);
    await s.run("dview.targets = 'all'");
    assert.match(s.cursorLine(), /^In \[\d+\]:\s*$/, 'no tag for all engines outside the app');
  });

  test('a CompositeError prints one line per failing engine; %tb the tracebacks', async () => {
    const err = await s.run('%px nope + 1');
    assert.match(err, /^CompositeError: one or more exceptions from call to method: execute$/m);
    assert.match(err, /^\[0:execute\]: ReferenceError: nope is not defined$/m);
    assert.match(err, /^\[1:execute\]: ReferenceError: nope is not defined$/m);
    const tb = await s.run('%tb');
    assert.match(tb, /^\[0:execute\]:$/m);
    assert.match(tb, /^\[1:execute\]:$/m);
    assert.match(tb, /^\s+at /m);
  });

  test('when only some engines fail, the others still show their Out lines', async () => {
    await s.run("dview.scatter('part', [0, 1])");
    const out = await s.run("%px if (part[0] === 1) throw new Error('only on one'); part[0] + 40");
    assert.match(out, /^\[0\] Out\[\d+\]: 40$/m);
    assert.match(out, /^\[1:execute\]: Error: only on one$/m);
    assert.doesNotMatch(out, /^\[1\] Out/m);
  });

  test('local TypeScript with top-level await; an AsyncResult is awaited', async () => {
    await s.run('const t: number = await Promise.resolve(7)');
    assert.match(await s.run('t * 6'), /^42$/m);
    assert.match(await s.run("dview.execute('a * 4', { targets: 1 }).then((r) => r.result)"), /^'20'$/m);
  });

  test('Ctrl-C interrupts %px while(true){} on node engines, which still answer afterwards', async () => {
    const from = s.mark();
    s.line('%px while(true){}');
    await s.waitFor(/engines done\]/, { from });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: from + 1, timeoutMs: 15_000 });
    const screen = s.text(from);
    assert.match(screen, /^\[0:execute\]: InterruptError/m);
    assert.match(screen, /^\[1:execute\]: InterruptError/m);
    const again = await s.run('%px a + 1');
    assert.match(again, /^\[0\] Out\[\d+\]: 6$/m);
    assert.match(again, /^\[1\] Out\[\d+\]: 6$/m);
  });

  test('Ctrl-C at the prompt clears the line', async () => {
    const from = s.mark();
    s.type('half typed');
    await s.waitFor('half typed', { from });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: from + 1 });
    assert.match(s.cursorLine(), /^In \[\d+\]:\s*$/);
  });

  test('the up arrow recalls earlier lines', async () => {
    s.type(KEY.up);
    await s.waitFor(/In \[\d+\]: %px a \+ 1$/, { from: s.mark() });
    s.type(KEY.up);
    await s.waitFor(/In \[\d+\]: %px while\(true\)\{\}$/, { from: s.mark() });
    s.type(KEY.down);
    await s.waitFor(/In \[\d+\]: %px a \+ 1$/, { from: s.mark() });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: s.mark() });
  });

  test('Tab completes JavaScript names, and engine names after %px and in dview[', async () => {
    await s.run('%px unusual_name = 1');
    const row = s.mark();
    s.type('%px unus' + KEY.tab);
    await s.waitFor(/In \[\d+\]: %px unusual_name$/, { from: row });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: row + 1 });
    const row2 = s.mark();
    s.type("dview['unu" + KEY.tab);
    await s.waitFor(/In \[\d+\]: dview\['unusual_name'\]$/, { from: row2 });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: row2 + 1 });
    const row3 = s.mark();
    s.type('dvie' + KEY.tab);
    await s.waitFor(/In \[\d+\]: dview$/, { from: row3 });
    s.type('.interr' + KEY.tab);
    await s.waitFor(/In \[\d+\]: dview\.interrupt$/, { from: row3 });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: row3 + 1 });
  });

  test('Ctrl-C stops local synchronous code too', async () => {
    const from = s.mark();
    s.line("console.log('looping'); while (true) {}");
    await s.waitFor(/^looping$/m, { from });
    s.type(KEY.ctrlC);
    await s.waitForPrompt({ from: from + 1, timeoutMs: 15_000 });
    assert.match(s.text(from), /^Interrupted$/m);
    assert.match(await s.run('1 + 1'), /^2$/m);
  });

  test('%px --noblock gives the prompt back at once; %result waits for the output', async () => {
    const sent = await s.run("%px --noblock await new Promise((r) => setTimeout(r, 1000)); 'late'");
    assert.match(sent, /^\[noblock\] running on engines 0, 1/m);
    assert.doesNotMatch(sent, /Out\[/);
    const shown = await s.run('%result');
    assert.match(shown, /^\[0\] Out\[\d+\]: 'late'$/m);
    assert.match(shown, /^\[1\] Out\[\d+\]: 'late'$/m);
  });

  test('Ctrl-D at an empty prompt exits and stops the cluster the console started', async () => {
    await s.run("'last line of the first session'");
    s.type(KEY.ctrlD);
    const { exitCode } = await s.exited;
    assert.equal(exitCode, 0);
    assert.ok(controllerPid > 0);
    assert.ok(await eventually(() => !isAlive(controllerPid), 15_000), `controller ${controllerPid} is still running`);
    assert.ok(fs.existsSync(`${dir}/profile_default/console_history`));
  });

  test('history persists in the profile directory across a restart', async () => {
    const again = new ConsoleSession(['-n', '1'], { dir });
    try {
      await again.waitForPrompt({ timeoutMs: 60_000 });
      const row = again.mark();
      again.type(KEY.up);
      await again.waitFor(/In \[1\]: 'last line of the first session'$/, { from: row });
      again.type(KEY.up);
      await again.waitFor(/In \[1\]: %result$/, { from: row });
      again.type(KEY.ctrlC);
      await again.waitForPrompt({ from: row + 1 });
      again.type(KEY.ctrlD);
      assert.equal((await again.exited).exitCode, 0);
    } finally {
      await again.kill();
      again.dispose();
    }
  });
});
