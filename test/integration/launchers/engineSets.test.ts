/**
 * Engine sets through launcher plugins, on real processes: a plugin named by its module path,
 * a launch that fails (quoting the tool's output) or times out, bad launcher names and options,
 * and what a set's engines look like (ids, sets, restart through the launcher).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestCluster, until, type TestCluster } from '../fixture.ts';

const PLUGIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'plugins', 'localProcesses.mjs');

describe('engine sets through a launcher plugin named by its module path', () => {
  let t: TestCluster;
  before(async () => {
    t = await startTestCluster({ n: 2, launcher: PLUGIN });
  });
  after(async () => {
    await t?.stop();
  });

  it('starts the first set with ids 0..n-1; its engines name their set and run code', async () => {
    assert.deepEqual(t.rc.ids, [0, 1]);
    const sets = await t.cluster.engineSets();
    assert.equal(sets.length, 1);
    assert.equal(sets[0].id, 'set-1');
    assert.equal(sets[0].launcher, PLUGIN);
    assert.equal(sets[0].state, 'running');
    assert.deepEqual(sets[0].engines, [0, 1]);
    assert.ok(sets[0].hosts.length === 1 && sets[0].hosts[0] !== '');
    const engines = (await t.rc.status()).engines;
    assert.deepEqual(engines.map((e) => e.engine_set), ['set-1', 'set-1']);
    assert.deepEqual(await t.rc.view().applySync((a: number) => a * 2, 21), [42, 42]);
  });

  it('a second set takes the next ids and a local set is listed too', async () => {
    const ids = await t.cluster.addEngines(2, { launcher: PLUGIN });
    assert.deepEqual(ids, [2, 3]);
    const local = await t.cluster.addEngines(1);
    assert.deepEqual(local, [4]);
    const sets = await t.cluster.engineSets();
    assert.deepEqual(
      sets.map((s) => [s.id, s.launcher === PLUGIN ? 'plugin' : s.launcher, s.engines]),
      [
        ['set-1', 'plugin', [0, 1]],
        ['set-2', 'plugin', [2, 3]],
        ['set-3', 'local', [4]],
      ],
    );
  });

  it('restarts one engine of the set through its launcher (a new process, same id)', async () => {
    const before = (await t.rc.status()).engines.find((e) => e.id === 3)!;
    await t.cluster.restartEngine(3);
    const now = (await t.rc.status()).engines.find((e) => e.id === 3)!;
    assert.equal(now.state === 'idle' || now.state === 'busy', true);
    assert.notEqual(now.pid, before.pid);
    assert.equal(now.engine_set, 'set-2');
    assert.deepEqual(await t.rc.view(3).applySync(() => 'back'), 'back');
  });

  it('stopping a set stops only its engines, and lists it as ended', async () => {
    const pids = (await t.rc.status()).engines.filter((e) => e.engine_set === 'set-2').map((e) => e.pid);
    assert.equal(pids.length, 2);
    await t.cluster.stopEngineSet('set-2');
    const sets = await t.cluster.engineSets();
    const s2 = sets.find((s) => s.id === 'set-2')!;
    assert.equal(s2.state, 'ended');
    assert.equal(s2.reason, 'stopped');
    assert.ok(s2.ended);
    for (const pid of pids) await until(() => !alive(pid), 5000, `engine process ${pid} to end`);
    assert.deepEqual(t.rc.ids, [0, 1, 4]);
    assert.deepEqual(await t.rc.view().applySync(() => 1), [1, 1, 1]);
  });

  it('a launcher that refuses fails the add with its own output, and the cluster carries on', async () => {
    await assert.rejects(t.cluster.addEngines(2, { launcher: PLUGIN, launcherOptions: { failWith: 'no nodes in partition gpu' } }), (e: Error) => {
      assert.match(e.message, /set-4 ended before all its engines registered/);
      assert.match(e.message, /no nodes in partition gpu/);
      return true;
    });
    const s4 = (await t.cluster.engineSets()).find((s) => s.id === 'set-4')!;
    assert.equal(s4.state, 'ended');
    assert.match(s4.reason ?? '', /launch failed/);
    assert.deepEqual(t.rc.ids, [0, 1, 4]);
    // The ids held for the failed set are free again.
    assert.deepEqual(await t.cluster.addEngines(1), [5]);
  });

  it('engines that never register fail the add after its timeout, and their processes are stopped', async () => {
    await assert.rejects(t.cluster.addEngines(2, { launcher: PLUGIN, launcherOptions: { neverRegister: true }, timeoutMs: 1500 }), /engines 6, 7 of set-\d did not register within 1.5 s \(the .* launcher says: running\)/);
    const out = await t.cluster.output((await t.cluster.engineSets()).at(-1)!.id);
    assert.match(out, /killed by signal SIGTERM|exited with code/);
  });

  it('names what was wrong: unknown launchers, missing modules, bad options, unknown sets', async () => {
    await assert.rejects(t.cluster.addEngines(1, { launcher: 'pbs' }), /unknown launcher "pbs": use local, mpi.*, or the path of a launcher module/);
    await assert.rejects(t.cluster.addEngines(1, { launcher: '/nonexistent/launcher.mjs' }), /cannot load the launcher module \/nonexistent\/launcher.mjs/);
    const bad = path.join(t.dir, 'notALauncher.mjs');
    fs.writeFileSync(bad, 'export const x = 1;\n');
    await assert.rejects(t.cluster.addEngines(1, { launcher: bad }), /must export default \{ name, create\(ctx, options\) \}/);
    await assert.rejects(t.cluster.addEngines(1, { launcher: PLUGIN, launcherOptions: { colour: 'blue' } }), /unknown option colour/);
    await assert.rejects(t.cluster.addEngines(1, { launcher: 'mpi', launcherOptions: { hosts: 'a' } }), /unknown option hosts for the mpi launcher; it takes mpiexec, args, program, root/);
    await assert.rejects(t.cluster.addEngines(1, { launcher: 'local', launcherOptions: { x: 1 } }), /the local launcher takes no options, got x/);
    await assert.rejects(t.cluster.stopEngineSet('set-99'), /no engine set "set-99"; the sets are set-1/);
    await assert.rejects(t.cluster.output('../x'), /set must name an engine set/);
    assert.deepEqual(await t.rc.view().applySync(() => 'still here'), ['still here', 'still here', 'still here', 'still here']);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
