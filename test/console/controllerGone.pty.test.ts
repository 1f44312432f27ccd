/**
 * `multiengine console` when its controller goes away, in a real pty against real clusters:
 * shut down by another client (rc.shutdownController, `multiengine stop`) it says so in one
 * line and exits 0, dropping %autopx and lines typed ahead, and a cluster it started leaves no
 * process behind; a controller killed with no supervisor is "lost": the console says it waits
 * for it (Ctrl-D quits), says when it is back (a Cluster restarted it), and ends with code 1
 * when the client gives up.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Client, Cluster, connectionFilePath } from 'multiengine';
import { eventually, until } from '../harness/poll.js';
import { bin, ConsoleSession, KEY, tmpDir } from './pty.js';
import { isAlive } from '../../core/util/processes.ts';

/** The console's exit code, or a failure naming the screen when it is still running after `ms`. */
async function exitWithin(s: ConsoleSession, ms: number): Promise<number> {
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  const r = await Promise.race([s.exited, timeout]);
  assert.notEqual(r, 'timeout', `the console still runs ${ms} ms later; screen:\n${s.text()}`);
  return (r as { exitCode: number }).exitCode;
}

/** The screen from row `from` once it shows `pattern`: node-pty may report the exit before the last output. */
async function finalScreen(s: ConsoleSession, from: number, pattern: RegExp): Promise<string> {
  await eventually(() => pattern.test(s.text(from)), 2000);
  return s.text(from);
}

function multiengine(args: string[], dir: string): Promise<number> {
  const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, MULTIENGINE_DIR: dir }, stdio: 'ignore' });
  return new Promise((resolve) => p.on('exit', (code) => resolve(code ?? -1)));
}

describe('multiengine console when its controller goes away', { timeout: 180_000 }, () => {
  let dir: string;
  let s: ConsoleSession | undefined;
  let cluster: Cluster | undefined;

  afterEach(async () => {
    await s?.kill();
    s?.dispose();
    s = undefined;
    await cluster?.stop();
    cluster = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('shut down by another client: one line, the running %px fails, a pending %autopx cell is dropped, exit 0', async () => {
    dir = tmpDir();
    cluster = await Cluster.start({ n: 1, dir });
    const pid = cluster.controllerPid;
    s = new ConsoleSession(['--file', cluster.connectionFile], { dir });
    await s.waitForPrompt({ timeoutMs: 60_000 });
    await s.run('%autopx');
    const from = s.mark();
    s.line('await new Promise((r) => setTimeout(r, 60_000))');
    // Typed while it runs: a block that waits for its blank line.
    s.line('if (true) {');
    s.line("  'in the cell'");
    const other = await Client.connect({ file: cluster.connectionFile });
    try {
      await until(async () => (await other.status()).engines[0]?.queue === 1, 10_000, 'the line to run on engine 0');
      await other.shutdownController(5000);
    } finally {
      other.close();
    }
    const code = await exitWithin(s, 8000);
    const said = new RegExp(`^the controller \\(profile default, pid ${pid}\\) was shut down on request; the console ends$`, 'm');
    const screen = await finalScreen(s, from, said);
    assert.match(screen, /\[0:execute\]: EngineError: engine 0 is dead: the controller is shutting down$/m);
    assert.match(screen, said);
    assert.equal(code, 0, screen);
    assert.doesNotMatch(screen, /Out\[\d+\]: 'in the cell'|no engines are registered|client is closed/, 'the unfinished cell did not run');
  });

  test('a cluster the console started, stopped by `multiengine stop`: the same line, exit 0, no process left', async () => {
    dir = tmpDir();
    s = new ConsoleSession(['-n', '2'], { dir });
    await s.waitForPrompt({ timeoutMs: 60_000 });
    const file = connectionFilePath('client', 'default', dir);
    const rc = await Client.connect({ file });
    const pids = [rc.controllerPid, ...rc.engines.map((e) => e.pid)];
    rc.close();
    assert.equal(pids.length, 3);
    const from = s.mark();
    assert.equal(await multiengine(['stop'], dir), 0);
    const code = await exitWithin(s, 8000);
    const said = new RegExp(`^the controller \\(profile default, pid ${pids[0]}\\) was shut down on request; the console ends$`, 'm');
    const screen = await finalScreen(s, from, said);
    assert.match(screen, said);
    assert.equal(code, 0, screen);
    for (const p of pids) assert.ok(await eventually(() => !isAlive(p), 5000), `pid ${p} is still running`);
  });

  /** A console on a cluster with no supervisor whose controller is then SIGKILLed: its pid, and the screen mark before. */
  async function killUnderConsole(reconnectMs: number): Promise<{ console: ConsoleSession; pid: number; from: number }> {
    dir = tmpDir();
    cluster = await Cluster.start({ n: 1, dir, restartController: false, reconnectMs });
    const pid = cluster.controllerPid;
    const con = (s = new ConsoleSession(['--file', cluster.connectionFile], { dir }));
    await con.waitForPrompt({ timeoutMs: 60_000 });
    const from = con.mark();
    process.kill(pid, 'SIGKILL');
    return { console: con, pid, from };
  }

  test('a controller killed with no supervisor: the console says it waits for it; Ctrl-D quits', async () => {
    const { console: con, pid, from } = await killUnderConsole(60_000);
    await con.waitFor(new RegExp(`^lost the controller \\(profile default, pid ${pid}\\): waiting up to 60 s for it to come back; Ctrl-D quits$`, 'm'), { from, timeoutMs: 5000 });
    await con.waitForPrompt({ from });
    con.type(KEY.ctrlD);
    assert.equal(await exitWithin(con, 5000), 0);
  });

  test('a controller killed under the Cluster the console started: lost, then back, and %px works again', async () => {
    dir = tmpDir();
    s = new ConsoleSession(['-n', '1'], { dir });
    await s.waitForPrompt({ timeoutMs: 60_000 });
    const pid = Number(/controller pid (\d+)/.exec(s.text())![1]);
    await s.run('%px a = 21');
    const from = s.mark();
    process.kill(pid, 'SIGKILL');
    await s.waitFor(new RegExp(`^lost the controller \\(profile default, pid ${pid}\\): waiting up to 10 s for it to come back; Ctrl-D quits$`, 'm'), { from, timeoutMs: 5000 });
    const back = await s.waitFor(/^the controller \(profile default, pid (\d+)\) is back; work that was running when it went failed and was not sent again$/m, { from, timeoutMs: 15_000 });
    assert.doesNotMatch(back, new RegExp(`pid ${pid}\\) is back`), 'the new controller has a new pid');
    await s.waitForPrompt({ from });
    // The engine re-registers with the new controller, its namespace kept.
    await until(async () => /\[0\] Out\[\d+\]: 42/.test(await s!.run('%px a * 2')), 15_000, '%px on the engine again');
    s.type(KEY.ctrlD);
    assert.equal(await exitWithin(s, 10_000), 0);
  });

  test('a controller killed that does not come back in time: the console ends with code 1', async () => {
    const { console: con, pid, from } = await killUnderConsole(1000);
    const code = await exitWithin(con, 8000);
    const said = new RegExp(`^lost the controller \\(profile default, pid ${pid}\\): it did not come back within 1 s; the console ends$`, 'm');
    const screen = await finalScreen(con, from, said);
    assert.match(screen, said);
    assert.equal(code, 1, screen);
  });
});
