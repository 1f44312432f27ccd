/**
 * The mpi launcher on a real mpiexec (OpenMPI): engine ids are the MPI ranks, Python engines use
 * mpi4py's COMM_WORLD (the reason people start engines this way), the key is on no command line,
 * a set whose mpiexec goes away fails its running requests with EngineError, and stop leaves nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { EngineError, readConnectionFile } from 'multiengine';
import { controllerLogFile } from '../../../core/controller/logFile.js';
import { startTestCluster, until, type TestCluster } from '../fixture.ts';
import { requireExecutable } from '../../harness/fixtureRequirements.ts';

/** MPICH's mpiexec (Debian's mpich package; installing it leaves `mpiexec` pointing at OpenMPI's). */
const MPICH_MPIEXEC = '/usr/bin/mpiexec.mpich';
import { MPI_ENV, mpiPython, requireMpi } from '../../harness/mpi.ts';

/** Pids of live processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Running (a zombie waiting for its parent to reap it counts as ended). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('mpi launcher: 4 python engines under mpiexec', () => {
  let t: TestCluster;
  before(async () => {
    await requireMpi();
    // The controller starts mpiexec, so it needs OpenMPI's variables (root, oversubscription).
    Object.assign(process.env, MPI_ENV);
    t = await startTestCluster({ n: 4, engine: 'python', python: mpiPython, launcher: 'mpi', engineTimeoutMs: 60_000 });
  });
  after(async () => {
    await t?.stop();
  });

  it('gives the engines ids equal to their MPI ranks, and mpi4py allreduce gives the same sum on every engine', async () => {
    assert.deepEqual(t.rc.ids, [0, 1, 2, 3]);
    const v = t.rc.view();
    await v.execute('from mpi4py import MPI\nrank = MPI.COMM_WORLD.Get_rank()\nsize = MPI.COMM_WORLD.Get_size()\ntotal = MPI.COMM_WORLD.allreduce(rank)', { block: true });
    assert.deepEqual(await v.pull('rank', { block: true }), [0, 1, 2, 3]);
    assert.deepEqual(await v.pull('size', { block: true }), [4, 4, 4, 4]);
    assert.deepEqual(await v.pull('total', { block: true }), [6, 6, 6, 6]);
    const [set] = await t.cluster.engineSets();
    assert.equal(set.launcher, 'mpi');
    assert.equal(set.state, 'running');
    assert.deepEqual(set.engines, [0, 1, 2, 3]);
  });

  it('puts the key on no command line (mpiexec, engines)', async () => {
    const key = readConnectionFile(t.cluster.connectionFile).key;
    const mpiexec = childrenOf(t.cluster.controllerPid).filter((p) => /mpiexec|mpirun|orterun/.test(cmdline(p)));
    assert.equal(mpiexec.length, 1, 'one mpiexec under the controller');
    assert.match(cmdline(mpiexec[0]), /-n 4 -x MULTIENGINE_CONNECTION .*--engine-set set-1 --id-base 0/);
    const pids = [t.cluster.controllerPid, mpiexec[0], ...(await t.rc.status()).engines.map((e) => e.pid)];
    for (const pid of pids) assert.ok(!cmdline(pid).includes(key), `the key is on the command line of ${pid}: ${cmdline(pid)}`);
  });

  it('cannot restart one rank, and says why', async () => {
    await assert.rejects(t.cluster.restartEngine(2), /engine 2 is part of set-1, started by the mpi launcher: its engines are the ranks of one mpiexec job/);
  });

  it('shows what mpiexec printed', async () => {
    const out = await t.cluster.output('set-1');
    assert.match(out, /^\$ mpiexec -n 4 -x MULTIENGINE_CONNECTION/m);
  });
});

describe('mpi launcher: a set whose mpiexec goes away', () => {
  let t: TestCluster;
  before(async () => {
    await requireMpi({ python: false });
    requireExecutable(MPICH_MPIEXEC, 'mpich', 'the MPICH case of the mpi launcher test');
    Object.assign(process.env, MPI_ENV);
    t = await startTestCluster({ n: 1 });
  });
  after(async () => {
    await t?.stop();
  });

  it('node engines take ids after the local one, by rank', async () => {
    const ids = await t.cluster.addEngines(2, { launcher: 'mpi' });
    assert.deepEqual(ids, [1, 2]);
    assert.deepEqual(await t.rc.view([1, 2]).applySync(() => Number(process.env.OMPI_COMM_WORLD_RANK)), [0, 1]);
  });

  it('fails a running request with EngineError and ends the set with mpiexec\'s reason; the other engines stay', async () => {
    const ar = t.rc.view(1).applyAsync(() => new Promise((r) => setTimeout(r, 30_000)));
    const [mpiexec] = childrenOf(t.cluster.controllerPid).filter((p) => /mpiexec/.test(cmdline(p)));
    assert.ok(mpiexec, 'mpiexec runs under the controller');
    const ranks = (await t.rc.status()).engines.filter((e) => e.engine_set === 'set-2').map((e) => e.pid);
    process.kill(mpiexec, 'SIGTERM');
    await assert.rejects(ar.get(), (e: Error) => {
      assert.ok(e instanceof EngineError || (e as { errors?: unknown[] }).errors?.some((x) => x instanceof EngineError), `${e.name}: ${e.message}`);
      return true;
    });
    await until(async () => (await t.cluster.engineSets()).find((s) => s.id === 'set-2')?.state === 'ended', 10_000, 'set-2 to end');
    const set = (await t.cluster.engineSets()).find((s) => s.id === 'set-2')!;
    assert.match(set.reason ?? '', /mpiexec (exited with code|killed by signal)/);
    for (const pid of ranks) await until(() => !alive(pid), 10_000, `rank process ${pid} to end`);
    assert.deepEqual(await t.rc.view(0).applySync(() => 'fine'), 'fine');
  });

  it("runs under MPICH's mpiexec too (ranks from PMI_RANK; hydra passes the environment on by itself)", async () => {
    const ids = await t.cluster.addEngines(2, { launcher: 'mpi', launcherOptions: { mpiexec: MPICH_MPIEXEC } });
    assert.deepEqual(await t.rc.view(ids).applySync(() => [Number(process.env.PMI_RANK), Number(process.env.PMI_SIZE)]), [
      [0, 2],
      [1, 2],
    ]);
    const set = (await t.cluster.engineSets()).at(-1)!;
    // -prepend-rank: each line says its rank, so the controller's log (and the app's Logs) files it under its engine.
    assert.match(await t.cluster.output(set.id), /^\$ \/usr\/bin\/mpiexec\.mpich -n 2 -prepend-rank \/\S+node /m);
    await t.rc.view(ids[1]).execute('require("fs").writeSync(2, "an MPICH rank wrote this\\n")', { block: true });
    const logFile = controllerLogFile('test', t.dir);
    await until(() => fs.readFileSync(logFile, 'utf8').includes(`[engine ${ids[1]}] an MPICH rank wrote this\n`), 10_000, "the rank's line in the controller's log");
    await t.cluster.stopEngineSet(set.id);
  });

  it('a missing mpiexec is named', async () => {
    await assert.rejects(t.cluster.addEngines(1, { launcher: 'mpi', launcherOptions: { mpiexec: '/nonexistent/mpiexec' } }), /"\/nonexistent\/mpiexec" was not found \(ENOENT\): install OpenMPI/);
  });

  it('stop leaves no mpiexec and no rank behind', async () => {
    await t.cluster.addEngines(2, { launcher: 'mpi' });
    const pids = (await t.rc.status()).engines.filter((e) => e.engine_set === 'set-5').map((e) => e.pid);
    assert.equal(pids.length, 2);
    const mpiexec = childrenOf(t.cluster.controllerPid).filter((p) => /mpiexec/.test(cmdline(p)));
    await t.stop();
    for (const pid of [...pids, ...mpiexec]) assert.equal(alive(pid), false, `process ${pid} is left: ${cmdline(pid)}`);
    t = undefined as unknown as TestCluster;
  });
});

describe('mpi launcher: the controller is killed and restarted under a running set', () => {
  let t: TestCluster;
  before(async () => {
    await requireMpi({ python: false });
    Object.assign(process.env, MPI_ENV);
    t = await startTestCluster({ n: 2, launcher: 'mpi' });
  });
  after(async () => {
    await t?.stop();
  });

  it('lists the set again from its engines, never gives its id to a new set, and can still stop it', async () => {
    const [mpiexec] = childrenOf(t.cluster.controllerPid).filter((p) => /mpiexec/.test(cmdline(p)));
    assert.ok(mpiexec, 'mpiexec runs under the controller');
    const old = t.cluster.controllerPid;
    const restarted = new Promise((r) => t.cluster.onDidChangeController((e) => e.event === 'restarted' && r(e)));
    process.kill(old, 'SIGKILL');
    await restarted;
    await until(async () => (await t.rc.status().catch(() => ({ engines: [] }))).engines.filter((e) => e.state === 'idle').length === 2, 15_000, 'both ranks to register with the new controller');
    const [adopted] = await t.cluster.engineSets();
    assert.equal(adopted.id, 'set-1');
    assert.equal(adopted.launcher, 'unknown');
    assert.deepEqual(adopted.engines, [0, 1]);
    assert.match(adopted.reason ?? '', /^adopted: the controller that started this set was restarted/);
    assert.deepEqual(await t.rc.view([0, 1]).applySync(() => process.env.OMPI_COMM_WORLD_RANK), ['0', '1']);
    assert.deepEqual(await t.cluster.addEngines(1, { launcher: 'mpi' }), [2]);
    assert.deepEqual((await t.cluster.engineSets()).map((s) => [s.id, s.launcher, s.engines]), [
      ['set-1', 'unknown', [0, 1]],
      ['set-2', 'mpi', [2]],
    ]);
    await t.cluster.stopEngineSet('set-1');
    // Its engines were the last ranks of the old mpiexec, which then ends by itself.
    await until(() => !alive(mpiexec), 15_000, `the old mpiexec ${mpiexec} to end`);
    assert.deepEqual(await t.rc.view(2).applySync(() => 'set-2 works'), 'set-2 works');
  });
});
