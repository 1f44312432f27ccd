/** The `multiengine` command line, run as a user would: start, status, stop, and Ctrl-C. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, connectionFilePath } from 'multiengine';
import { eventually } from './fixture.ts';
import { isAlive as alive } from '../../core/util/processes.ts';

const bin = path.resolve('bin/multiengine.js');

function cli(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
}


test('start --daemon, status, stop', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-cli-'));
  const env = { MULTIENGINE_DIR: dir };
  try {
    const started = cli(['start', '-n', '2', '--profile', 'cli', '--daemon'], env);
    assert.equal(started.status, 0, started.stderr);
    assert.match(started.stdout, /cluster "cli" up: controller pid \d+, 2 node engines/);

    const status = cli(['status', '--profile', 'cli'], env);
    assert.equal(status.status, 0, status.stderr);
    const rows = status.stdout.trim().split('\n').slice(1);
    assert.match(rows.shift()!, /^load balancing: 0 tasks unassigned, scheme leastload, (at most \d+ tasks? |no limit of tasks )per engine$/);
    assert.match(rows[0], /^id\s+state\s+kernel\s+pid\s+host\s+queue\s+balanced$/);
    assert.match(rows[1], /^0\s+idle\s+node\s+\d+\s+\S+\s+0\s+0$/);
    assert.match(rows[2], /^1\s+idle\s+node\s+\d+/);

    const rc = await Client.connect({ file: connectionFilePath('client', 'cli', dir) });
    const pids = [rc.controllerPid, ...rc.engines.map((e) => e.pid)];
    assert.deepEqual(await rc.view().applySync(() => 6 * 7), [42, 42]);
    rc.close();

    const stopped = cli(['stop', '--profile', 'cli'], env);
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.ok(await eventually(() => pids.every((p) => !alive(p)), 5000), 'every process is gone');
    const again = cli(['status', '--profile', 'cli'], env);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /no connection file at .* \(is a cluster running\? start one with: multiengine start\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--scheme, --hwm and --db saved in the profile reach the controller that start starts; a bad one is refused before anything starts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-cli-'));
  const env = { MULTIENGINE_DIR: dir };
  try {
    const bad = cli(['start', '-n', '1', '--profile', 'lb', '--daemon', '--scheme', 'fastest'], env);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--scheme must be one of leastload, lru, random, twobin, weighted, got "fastest"/);
    assert.equal(fs.existsSync(connectionFilePath('client', 'lb', dir)), false, 'no controller was started');

    const saved = cli(['profile', '--profile', 'lb', '-n', '1', '--scheme', 'lru', '--hwm', '3', '--db', 'memory'], env);
    assert.equal(saved.status, 0, saved.stderr);
    assert.match(saved.stdout, /"scheme": "lru",\s+"hwm": 3/);
    const started = cli(['start', '--profile', 'lb', '--daemon'], env);
    assert.equal(started.status, 0, started.stderr);
    const status = cli(['status', '--profile', 'lb'], env);
    assert.match(status.stdout, /^load balancing: 0 tasks unassigned, scheme lru, at most 3 tasks per engine$/m);
    assert.match(status.stdout, /^task database: memory, \d+ records?, [\d.]+ MiB of [\d.]+ MiB \(max \d+ records\), 0 evicted$/m);
    assert.equal(fs.existsSync(path.join(dir, 'profile_lb', 'tasks.db')), false, '--db memory writes no file');
    const stopped = cli(['stop', '--profile', 'lb'], env);
    assert.equal(stopped.status, 0, stopped.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** `multiengine start -n 2 --profile fg` in the foreground, up, with a client connected to it and its pids. */
async function startForeground(dir: string) {
  const child = spawn(process.execPath, [bin, 'start', '-n', '2', '--profile', 'fg'], { env: { ...process.env, MULTIENGINE_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  assert.ok(await eventually(() => out.includes('press Ctrl-C to stop'), 30_000), out);
  const rc = await Client.connect({ file: connectionFilePath('client', 'fg', dir) });
  const pids = [rc.controllerPid, ...rc.engines.map((e) => e.pid)];
  assert.equal(pids.length, 3);
  return { child, rc, pids, exited, output: () => out };
}

test('start in the foreground stops every process it started on Ctrl-C (SIGINT)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-cli-'));
  try {
    const { child, rc, pids, exited } = await startForeground(dir);
    rc.close();
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.deepEqual(pids.filter(alive), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('start in the foreground exits 0 when a client shuts the controller down, its engines stopped and its files removed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-cli-'));
  try {
    const { rc, pids, exited, output } = await startForeground(dir);
    const file = connectionFilePath('client', 'fg', dir);
    await rc.shutdownController();
    rc.close();
    assert.equal(await exited, 0, output());
    assert.match(output(), /the controller was shut down by a client; stopping/);
    assert.deepEqual(pids.filter(alive), []);
    assert.equal(fs.existsSync(file), false, 'the client connection file is removed');
    assert.equal(fs.existsSync(connectionFilePath('engine', 'fg', dir)), false, 'the engine connection file is removed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad usage names the problem', () => {
  const r = cli(['start', '-n', 'lots'], {});
  assert.equal(r.status, 2);
  assert.match(r.stderr, /-n must be a whole number, got "lots"/);
  const u = cli(['frobnicate'], {});
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
});

/** A fresh HOME and MULTIENGINE_DIR, so anything a command writes shows up there. */
function privateHome(): { env: NodeJS.ProcessEnv; home: string; files(): string[] } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-home-'));
  const env = { HOME: home, MULTIENGINE_DIR: path.join(home, 'me'), XDG_CONFIG_HOME: path.join(home, 'config') };
  return { env, home, files: () => fs.readdirSync(home, { recursive: true }).map(String) };
}

const COMMANDS = ['start', 'stop', 'status', 'engines', 'tasks', 'profile', 'controller', 'engine', 'console', 'app', 'help'];

test('every command answers --help and -h with its usage, exits 0, and starts and writes nothing', () => {
  const h = privateHome();
  try {
    for (const command of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const r = spawnSync(process.execPath, [bin, command, flag], { env: { ...process.env, ...h.env }, encoding: 'utf8', timeout: 20_000 });
        assert.equal(r.status, 0, `${command} ${flag}: exit ${r.status}, stderr: ${r.stderr}`);
        const expected = command === 'help' ? 'usage: multiengine <command>' : `usage: multiengine ${command}`;
        assert.ok(r.stdout.startsWith(expected), `${command} ${flag} printed: ${r.stdout}${r.stderr}`);
        assert.deepEqual(h.files(), [], `${command} ${flag} wrote files`);
      }
    }
    const one = cli(['help', 'start'], h.env);
    assert.equal(one.status, 0);
    assert.match(one.stdout, /^usage: multiengine start .*\n[\s\S]*--daemon/);
    // The flag after a value is still help, and nothing starts.
    const late = cli(['start', '-n', '2', '--profile', 'p', '--help'], h.env);
    assert.equal(late.status, 0, late.stderr);
    assert.deepEqual(h.files(), []);
  } finally {
    fs.rmSync(h.home, { recursive: true, force: true });
  }
});

test('an unknown flag is a usage error (exit 2) that names it, for every command', () => {
  const h = privateHome();
  try {
    for (const command of COMMANDS.filter((c) => c !== 'help')) {
      const r = cli([command, '--frobnicate'], h.env);
      assert.equal(r.status, 2, `${command} --frobnicate: exit ${r.status}, stderr: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^multiengine ${command}: .*--frobnicate`), `${command}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`usage: multiengine ${command}`), `${command}: ${r.stderr}`);
      assert.deepEqual(h.files(), [], `${command} --frobnicate wrote files`);
    }
    const r = cli(['help', 'frobnicate'], h.env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no help for "frobnicate": not a command/);
  } finally {
    fs.rmSync(h.home, { recursive: true, force: true });
  }
});
