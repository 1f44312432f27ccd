/**
 * `npm start` (main/start.mjs) as a user runs it where there is no Electron binary: it says
 * why and how to get the desktop window, serves web mode, and Ctrl-C stops what it started.
 * ELECTRON_OVERRIDE_DIST_PATH at an empty folder makes "no binary" true on every machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, connectionFilePath } from 'multiengine';
import { isAlive } from '../../core/util/processes.ts';
import { eventually } from './fixture.ts';

test('npm start without the Electron binary explains, runs web mode, and stops everything on Ctrl-C', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-start-'));
  const noBinary = path.join(home, 'no-electron-here');
  fs.mkdirSync(noBinary);
  const env = { ...process.env, HOME: home, MULTIENGINE_DIR: path.join(home, 'me'), ELECTRON_OVERRIDE_DIST_PATH: noBinary, MULTIENGINE_NO_BROWSER: '1' };
  const child = spawn(process.execPath, ['main/start.mjs', '-n', '1', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    assert.ok(await eventually(() => /web mode: http/.test(out), 30_000), `stdout: ${out}\nstderr: ${err}`);
    const lines = out.split('\n');
    assert.equal(lines[0], `No desktop window: ELECTRON_OVERRIDE_DIST_PATH is set, but there is no ${path.join(noBinary, 'electron')}.`);
    assert.equal(lines[1], 'For the desktop window:');
    assert.match(out, /\nThe app runs in web mode: open the URL below in your browser\. Ctrl-C stops the cluster\.\nmultiengine web mode: http:\/\/127\.0\.0\.1:\d+\/\S*\n/);
    const url = /multiengine web mode: (\S+)/.exec(out)![1];
    assert.equal((await fetch(url)).status, 200, 'the app is served');

    const file = connectionFilePath('client', 'app', path.join(home, 'me'));
    assert.ok(await eventually(() => fs.existsSync(file), 30_000), 'the app started its cluster');
    const rc = await Client.connect({ file });
    assert.ok(await eventually(() => rc.engines.length === 1, 30_000), 'one engine');
    const pids = [rc.controllerPid, ...rc.engines.map((e) => e.pid)];
    rc.close();

    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
    assert.ok(await eventually(() => pids.every((p) => !isAlive(p)), 10_000), `left running: ${pids.filter(isAlive).join(', ')}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  }
});
