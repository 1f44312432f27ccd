/**
 * The cluster fixtures of the launcher tests work on this machine: network-namespace hosts with
 * sshd, a real SLURM cluster with munge, and OpenMPI with mpi4py, each started and stopped by
 * the test, leaving nothing behind. Needs root and the apt packages in test/README.md.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { alive, collect, pidsWithEnv, runCommand } from '../harness/fixtureProcesses.ts';
import { requireExecutable } from '../harness/fixtureRequirements.ts';
import { mpiEnv, mpiPython, requireMpi, sshAgentArgs } from '../harness/mpi.ts';
import { REPO_ROOT, startHosts, type Hosts } from '../harness/netHosts.ts';
import { until } from '../harness/poll.ts';
import { startSlurm, startSlurmOnHosts, type SlurmCluster } from '../harness/slurmCluster.ts';
import { reapStaleFixtures } from '../harness/staleFixtures.ts';

// One write per rank: mpiexec forwards each rank's output as it comes, so a line printed in
// pieces (print's separate writes to the ranks' pty) can interleave with another rank's.
const ALLREDUCE = 'from mpi4py import MPI; import os, socket; c = MPI.COMM_WORLD; s = c.allreduce(c.Get_rank()); os.write(1, f"{c.Get_rank()} {socket.gethostname()} {s}\\n".encode())';

async function netnsList(): Promise<string> {
  return (await runCommand(['ip', 'netns', 'list'])).stdout;
}

describe('network-namespace hosts', () => {
  let hosts: Hosts;
  before(async () => {
    hosts = await startHosts({ names: ['hosta', 'hostb', 'hostc'] });
  });
  after(() => hosts?.stop());

  test('each host has its own hostname, address and /etc/hosts', async () => {
    for (const h of hosts.hosts) {
      assert.equal((await hosts.exec(h, ['hostname'])).stdout.trim(), h.name);
      assert.match((await hosts.exec(h, ['ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout, new RegExp(` ${h.address.replaceAll('.', '\\.')}/24 `));
    }
    assert.equal((await hosts.exec('hosta', ['getent', 'hosts', 'hostc'])).stdout.trim().split(/\s+/)[0], hosts.host('hostc').address);
    assert.notEqual(hosts.host('hosta').netns, hosts.host('hostb').netns);
  });

  test('ssh from hosta to hostb runs hostname on hostb', async () => {
    const r = await hosts.exec('hosta', ['ssh', '-F', hosts.sshConfig, 'hostb', 'hostname'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'hostb');
  });

  test('runNodeOn runs a TypeScript module with tsx on the host and parses its last line', async () => {
    const info = (await hosts.runNodeOn('hostb', 'test/harness/drivers/hostInfo.ts', ['x', 'y z'])) as Record<string, unknown>;
    assert.equal(info.hostname, 'hostb');
    assert.equal(info.cwd, REPO_ROOT);
    assert.equal(info.netns, hosts.host('hostb').netns);
    assert.deepEqual(info.args, ['x', 'y z']);
    assert.equal(info.ready, true);
  });

  test('runNodeOn rejects with what the module printed on stderr', async () => {
    await assert.rejects(hosts.runNodeOn('hosta', 'test/harness/drivers/noSuchDriver.ts'), /noSuchDriver\.ts on hosta failed \(exit 1\).*Cannot find module/s);
  });

  test('runNodeOn stops a driver that outlives its timeout, and says so', async () => {
    await assert.rejects(hosts.runNodeOn('hosta', 'test/harness/drivers/hostInfo.ts', ['hang'], { timeoutMs: 1500 }), /hostInfo\.ts on hosta failed \(timed out after 1500 ms\)/);
    await until(() => hosts.pidsOn('hosta').length === 1, 15_000, 'only sshd left on hosta');
  });

  test('pidsOn lists the processes of that host only', async () => {
    const child = hosts.spawnOn('hostb', ['sleep', '300']);
    const pid = child.pid!;
    await until(() => hosts.pidsOn('hostb').includes(pid), 15_000, `sleep ${pid} on hostb`);
    assert.ok(hosts.pidsOn('hostb').includes(hosts.host('hostb').sshdPid));
    assert.ok(!hosts.pidsOn('hosta').includes(pid));
    child.kill('SIGTERM');
    await until(() => !hosts.pidsOn('hostb').includes(pid), 15_000, `sleep ${pid} to end`);
  });

  test('mpiexec in hosta starts ranks on hosta and hostb over ssh; the allreduce crosses hosts', async () => {
    await requireMpi();
    const argv = ['mpiexec', '--host', 'hosta:2,hostb:2', '-n', '4', ...sshAgentArgs(hosts.sshConfig), mpiPython, '-c', ALLREDUCE];
    const r = await hosts.exec('hosta', argv, { env: mpiEnv(), timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').sort();
    assert.deepEqual(lines, ['0 hosta 6', '1 hosta 6', '2 hostb 6', '3 hostb 6']);
  });

  test('stop() ends every process of the hosts, even ones left by ssh sessions, and deletes the namespaces', async () => {
    // a process started through ssh is no child of ours: only the namespace sweep finds it
    const bg = await hosts.exec('hosta', ['ssh', '-F', hosts.sshConfig, 'hostc', 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!'], { timeoutMs: 30_000 });
    assert.equal(bg.code, 0, bg.stderr);
    const orphan = Number(bg.stdout.trim());
    await until(() => hosts.pidsOn('hostc').includes(orphan), 15_000, `the orphan ${orphan} on hostc`);
    const child = hosts.spawnOn('hosta', ['sleep', '300']).pid!;
    await until(() => hosts.pidsOn('hosta').includes(child), 15_000, `sleep ${child} on hosta`);
    const pids = hosts.hosts.flatMap((h) => hosts.pidsOn(h));
    assert.ok(pids.length >= 5, `sshd ×3, two sleeps: ${pids}`);
    const names = hosts.hosts.map((h) => h.netnsName);
    assert.ok(names.every((n) => fs.existsSync(`/run/netns/${n}`)));

    await hosts.stop();
    assert.deepEqual(
      pids.filter((p) => alive(p)),
      [],
    );
    const left = await netnsList();
    for (const n of names) assert.ok(!left.includes(n), `namespace ${n} still listed:\n${left}`);
    assert.ok(!left.includes(names[0].replace(/-hosta$/, '-sw')), 'the switch namespace is gone');
    assert.ok(!fs.existsSync(hosts.dir));
    await hosts.stop(); // idempotent
    await assert.rejects(hosts.exec('hosta', ['true']), /is stopped/);
  });
});

describe('a SLURM cluster of 3 nodes', () => {
  let slurm: SlurmCluster;
  before(async () => {
    slurm = await startSlurm({ nodes: 3, cpusPerNode: 4 });
  });
  after(() => slurm?.stop());

  test('sinfo shows the nodes idle in the partition', async () => {
    const r = await slurm.run(['sinfo', '-h', '-N', '-o', '%N %P %T %c']);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['n1 debug* idle 4', 'n2 debug* idle 4', 'n3 debug* idle 4']);
  });

  test('srun -n 4 runs 4 tasks, SLURM_PROCID 0 to 3', async () => {
    const r = await slurm.run(['srun', '-n', '4', 'sh', '-c', 'echo $SLURM_PROCID'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['0', '1', '2', '3']);
  });

  test('srun -N 3 spreads the tasks over the three nodes', async () => {
    const r = await slurm.run(['srun', '-N', '3', '-n', '6', 'sh', '-c', 'echo $SLURMD_NODENAME'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...new Set(r.stdout.trim().split('\n'))].sort(), ['n1', 'n2', 'n3']);
  });

  test('an sbatch --wrap job shows in squeue while it runs, and scancel removes it and its task', async () => {
    const sub = await slurm.run(['sbatch', '--parsable', '-o', '/dev/null', '--wrap', 'exec sleep 300']);
    assert.equal(sub.code, 0, sub.stderr);
    const job = sub.stdout.trim();
    await until(async () => (await slurm.squeue(job))[0]?.state === 'RUNNING', 30_000, `job ${job} running`);
    assert.deepEqual(
      (await slurm.squeue()).map((j) => j.jobId),
      [job],
    );
    const task = () => slurm.pids().filter((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\x00300'));
    await until(() => task().length === 1, 15_000, "the job's sleep");
    const [sleepPid] = task();

    const c = await slurm.run(['scancel', job]);
    assert.equal(c.code, 0, c.stderr);
    await until(async () => (await slurm.squeue(job)).length === 0, 30_000, `job ${job} gone from squeue`);
    assert.equal((await slurm.squeue(job, { all: true }))[0]?.state, 'CANCELLED');
    await until(() => !alive(sleepPid), 10_000, `the job's sleep ${sleepPid} to end`);
  });

  test("sbatch run through the fixture writes its output file in the fixture's folder", async () => {
    const sub = await slurm.run(['sbatch', '--parsable', '--wrap', 'echo job $SLURM_JOB_ID on $SLURMD_NODENAME']);
    assert.equal(sub.code, 0, sub.stderr);
    const job = sub.stdout.trim();
    const out = `${slurm.dir}/slurm-${job}.out`;
    await until(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('\n'), 30_000, `${out} written`);
    assert.match(fs.readFileSync(out, 'utf8'), new RegExp(`^job ${job} on n[123]\n$`));
  });

  test('stop() cancels running jobs and leaves no daemon, step or task behind', async () => {
    const sub = await slurm.run(['sbatch', '--parsable', '-N', '2', '-n', '2', '-o', '/dev/null', '--wrap', 'srun sleep 300']);
    assert.equal(sub.code, 0, sub.stderr);
    await until(async () => (await slurm.squeue(sub.stdout.trim()))[0]?.state === 'RUNNING', 30_000, 'the job running');
    // munged, slurmctld (and its slurmscriptd), 3 slurmd, the batch step, srun, the steps and 2 sleeps
    await until(() => slurm.pids().length >= 10, 10_000, 'the job steps and tasks');
    const pids = slurm.pids();
    await slurm.stop();
    assert.deepEqual(
      pids.filter((p) => alive(p)),
      [],
    );
    assert.ok(!fs.existsSync(slurm.dir));
    await slurm.stop(); // idempotent
  });
});

describe('SLURM across namespace hosts', () => {
  let hosts: Hosts;
  let slurm: SlurmCluster;
  before(async () => {
    hosts = await startHosts({ names: ['hosta', 'hostb', 'hostc'] });
    slurm = await startSlurmOnHosts(hosts, { cpusPerNode: 2 });
  });
  after(async () => {
    await slurm?.stop();
    await hosts?.stop();
  });

  test('the nodes are the hosts, and srun -N 3 runs a task on each of them', async () => {
    assert.deepEqual(slurm.nodes, ['hosta', 'hostb', 'hostc']);
    const r = await slurm.run(['srun', '-N', '3', '-n', '3', 'sh', '-c', 'echo $SLURMD_NODENAME $(hostname)'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['hosta hosta', 'hostb hostb', 'hostc hostc']);
  });

  test("a job's task lives on its node's host; sbatch works from another host; stop() leaves nothing", async () => {
    const sub = await hosts.exec('hostb', ['sbatch', '--parsable', '-w', 'hostc', '-o', '/dev/null', '--wrap', 'exec sleep 300'], { env: { ...process.env, ...slurm.env } });
    assert.equal(sub.code, 0, sub.stderr);
    const job = sub.stdout.trim();
    await until(async () => (await slurm.squeue(job))[0]?.state === 'RUNNING', 30_000, `job ${job} running`);
    const onC = () => hosts.pidsOn('hostc').filter((p) => slurm.pids().includes(p) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\x00300'));
    await until(() => onC().length === 1, 15_000, "the job's sleep on hostc");
    const pids = slurm.pids();
    assert.ok(pids.length >= 6, `munged, slurmctld, 3 slurmd, the job: ${pids}`);
    await slurm.stop();
    assert.deepEqual(
      pids.filter((p) => alive(p)),
      [],
    );
  });
});

describe('OpenMPI with mpi4py', () => {
  test('requireMpi finds OpenMPI and mpi4py', async () => {
    assert.match(await requireMpi(), /Open MPI|OpenRTE/);
  });

  test('mpiexec -n 4 python: every rank gets the allreduce of the ranks, 6', async () => {
    const r = await runCommand(['mpiexec', '-n', '4', mpiPython, '-c', ALLREDUCE], { env: mpiEnv(), timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.deepEqual(lines.map((l) => l.split(' ')[0]).sort(), ['0', '1', '2', '3']);
    assert.deepEqual(
      lines.map((l) => l.split(' ')[2]),
      ['6', '6', '6', '6'],
    );
  });
});

describe('a test process that ends without stop()', () => {
  // process.exit and SIGINT take the same paths as these two (the exit event, the signal handler)
  for (const how of ['throw', 'SIGTERM'] as const) {
    test(`leaves nothing behind when it ends by ${how}`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/harness/drivers/abandonFixtures.ts', how.startsWith('SIG') ? 'wait' : how], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      const done = collect(child, { timeoutMs: 60_000 });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d));
      await until(() => out.includes('\n') || child.exitCode !== null, 30_000, 'the fixtures to start');
      const started = JSON.parse(out.split('\n')[0]) as { pids: number[]; namespaces: string[]; dirs: string[] };
      if (how === 'SIGTERM') child.kill(how);
      const r = await done;
      assert.ok(how === 'throw' ? r.code === 1 : r.signal === how, `it ended by ${how}: ${r.code ?? r.signal} ${r.stderr}`);
      assert.ok(started.pids.length >= 8, `sshd ×2, a sleep, munged, slurmctld, slurmd, the job: ${started.pids}`);
      assert.deepEqual(
        started.pids.filter((p) => alive(p)),
        [],
      );
      const left = await netnsList();
      for (const n of started.namespaces) assert.ok(!left.includes(n), `namespace ${n} still listed`);
      for (const d of started.dirs) assert.ok(!fs.existsSync(d), `${d} still exists`);
    });
  }
});

describe('a test process killed with SIGKILL', () => {
  test('leaves its fixtures behind, and the next fixture to start ends them (their owner is dead)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/harness/drivers/abandonFixtures.ts', 'wait'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = collect(child, { timeoutMs: 60_000 });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    await until(() => out.includes('\n') || child.exitCode !== null, 30_000, 'the fixtures to start');
    const started = JSON.parse(out.split('\n')[0]) as { pids: number[]; namespaces: string[]; dirs: string[] };
    child.kill('SIGKILL');
    assert.equal((await done).signal, 'SIGKILL');
    // no hook runs on SIGKILL: all of it is still there
    assert.deepEqual(
      started.pids.filter((p) => !alive(p)),
      [],
    );
    assert.ok(started.dirs.every((d) => fs.existsSync(d)));

    reapStaleFixtures();
    await until(() => started.pids.every((p) => !alive(p)), 15_000, `the dead owner's processes ${started.pids} to end`);
    const left = await netnsList();
    for (const n of started.namespaces) assert.ok(!left.includes(n), `namespace ${n} still listed`);
    for (const d of started.dirs) assert.ok(!fs.existsSync(d), `${d} still exists`);
  });
});

describe('a fixture that cannot start says why', () => {
  test('a missing tool names its apt package', () => {
    assert.throws(() => requireExecutable('/usr/sbin/no-such-daemon', 'no-such-package', 'this test'), /this test needs \/usr\/sbin\/no-such-daemon, which is missing: install it with: apt-get install -y --no-install-recommends no-such-package/);
  });

  test('a fixture started by a user other than root says it needs root', async () => {
    requireExecutable('/usr/bin/setpriv', 'util-linux', 'this test');
    const script = "for (const [m, f] of [['netHosts', 'startHosts'], ['slurmCluster', 'startSlurm']]) { try { await (await import(`./test/harness/${m}.ts`))[f]({ names: ['hosta'] }); console.log(f, 'started'); } catch (e) { console.log(String(e)); } }";
    const r = await runCommand(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'Error: the network-namespace hosts fixture (test/harness/netHosts.ts) needs root (it creates network namespaces, mounts and an sshd per host); run the tests as root',
      'Error: the SLURM cluster fixture (test/harness/slurmCluster.ts) needs root (its daemons run as root, the SlurmUser of its slurm.conf); run the tests as root',
    ]);
  });

  test('a slurmctld that dies quotes its log, and what had started (munged) is stopped', async () => {
    const err: unknown = await startSlurm({ nodes: 1, extraConf: ['NoSuchKeyword=1'] }).then(
      () => assert.fail('startSlurm should have failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.match(err.message, /slurmctld \(pid \d+\) exited .*did not get ready/);
    assert.match(err.message, /unrecognized key: NoSuchKeyword/);
    const dir = /(\/\S+\/me-slurm-[^/\s]+)\//.exec(err.message)?.[1];
    assert.ok(dir, `the error names the fixture's folder: ${err.message}`);
    assert.deepEqual(pidsWithEnv('SLURM_CONF', `${dir}/slurm.conf`), []);
    assert.ok(!fs.existsSync(dir));
  });

  test('bad host names are refused before anything starts', async () => {
    await assert.rejects(startHosts({ names: ['hosta', 'hosta'] }), /host name hosta is given twice/);
    await assert.rejects(startHosts({ names: ['Host_A'] }), /host name "Host_A" must be lower-case/);
    await assert.rejects(startHosts({ names: ['hosta'], subnet: '10.0.0.0/16' }), /subnet must look like 10\.231\.77\.0\/24/);
  });
});
