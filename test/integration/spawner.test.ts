/**
 * The spawner seam: Cluster.start({ spawner }) starts its controller through the given
 * spawner, the first time and on every restart, so the environment it adds reaches the
 * controller and its engines without touching process.env. The Electron spawner is checked
 * the same way (ELECTRON_RUN_AS_NODE=1 is harmless to a plain node).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { NodeSpawner, type ControllerEvent, type ProcessSpec, type SpawnedProcess } from 'multiengine';
import { ElectronSpawner } from '../../main/electron/spawner.js';
import { eventually, startTestCluster } from './fixture.js';

/** The environment of a live process, from /proc. */
function environOf(pid: number): Record<string, string> {
  const pairs = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

class CountingSpawner extends NodeSpawner {
  readonly started: ProcessSpec[] = [];
  override start(spec: ProcessSpec): SpawnedProcess {
    this.started.push(spec);
    return super.start(spec);
  }
}

test('a spawner passed to Cluster.start runs the controller, and runs it again when it is killed', async () => {
  assert.equal(process.env.MULTIENGINE_SPAWNER_MARK, undefined);
  const spawner = new CountingSpawner({ MULTIENGINE_SPAWNER_MARK: 'from the spawner' });
  const tc = await startTestCluster({ n: 1, spawner });
  const events: ControllerEvent[] = [];
  tc.cluster.onDidChangeController((e) => events.push(e));
  try {
    assert.deepEqual(spawner.started.map((s) => s.entry), ['core/controller/main']);
    const first = tc.cluster.controllerPid;
    assert.equal(environOf(first).MULTIENGINE_SPAWNER_MARK, 'from the spawner');
    // The engines inherit the controller's environment; ours stayed untouched.
    const seen = await tc.rc.view(0).execute('process.env.MULTIENGINE_SPAWNER_MARK', { block: true });
    assert.equal(seen.result, "'from the spawner'");
    assert.equal(process.env.MULTIENGINE_SPAWNER_MARK, undefined);

    process.kill(first, 'SIGKILL');
    assert.ok(await eventually(() => events.some((e) => e.event === 'restarted'), 20_000), `events: ${JSON.stringify(events)}`);
    assert.deepEqual(spawner.started.map((s) => s.entry), ['core/controller/main', 'core/controller/main']);
    assert.ok(spawner.started[1].args.includes('--reuse-key'));
    assert.notEqual(tc.cluster.controllerPid, first);
    assert.equal(environOf(tc.cluster.controllerPid).MULTIENGINE_SPAWNER_MARK, 'from the spawner');
    assert.ok(await tc.rc.waitConnected(20_000), 'the client reconnected to the new controller');
  } finally {
    await tc.stop();
  }
});

test('the Electron spawner runs the controller and engines with ELECTRON_RUN_AS_NODE=1 and the packaged Python engine path', async () => {
  const spawner = new ElectronSpawner({ pythonEngine: '/opt/multiengine/resources/engines/python/multiengine_engine.py' });
  const tc = await startTestCluster({ n: 1, spawner });
  try {
    const env = environOf(tc.cluster.controllerPid);
    assert.equal(env.ELECTRON_RUN_AS_NODE, '1');
    assert.equal(env.MULTIENGINE_PYTHON_ENGINE, '/opt/multiengine/resources/engines/python/multiengine_engine.py');
    const seen = await tc.rc.view(0).execute('process.env.ELECTRON_RUN_AS_NODE', { block: true });
    assert.equal(seen.result, "'1'");
    assert.equal(process.env.ELECTRON_RUN_AS_NODE, undefined);
  } finally {
    await tc.stop();
  }
});

test('a spawned process reports its state and exit, and stop() ends it', async () => {
  const child = new NodeSpawner().start({ command: process.execPath, args: ['-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1000)'] });
  const exits: string[] = [];
  child.onDidExit((e) => exits.push(e.reason));
  const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(String(d))));
  assert.equal(first, 'up\n');
  assert.equal(child.state, 'running');
  await child.stop(2000);
  assert.ok(await eventually(() => child.state === 'exited', 5000));
  assert.deepEqual(exits, ['killed by signal SIGTERM']);
  assert.equal(child.signal('SIGTERM'), false, 'no signal to a process that is gone');
  assert.throws(() => new NodeSpawner().start({ args: [] }), /either an entry or a command/);
});
