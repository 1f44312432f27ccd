/**
 * The controller on a network: it runs in hosta and listens on hosta's address, engines run on
 * hostb and hostc (through ssh, or as ranks of an mpiexec across hosts), and a client in hostd
 * replays the portable seeds. Every host is a network namespace with sshd
 * (test/harness/netHosts.ts); nothing here connects from the root namespace. Needs root,
 * openssh-server, openmpi-bin and python3-mpi4py (test/README.md).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { ConnectionInfo, EngineInfo, ExecuteResult } from 'multiengine';
import { alive } from '../../harness/fixtureProcesses.ts';
import { MPI_ENV, mpiPython, requireMpi, sshAgentArgs } from '../../harness/mpi.ts';
import { startHosts, type Hosts } from '../../harness/netHosts.ts';
import { until } from '../../harness/poll.ts';
import { portableSeeds } from '../seedScenarios.ts';
import { startClusterDriver, type ClusterDriver, type StartedCluster } from './clusterDriver.ts';
import { childrenOf, cmdline, enginePids } from './processes.ts';

let hosts: Hosts;

before(async () => {
  hosts = await startHosts({ names: ['hosta', 'hostb', 'hostc', 'hostd'], subnet: '10.231.82.0/24' });
});
after(() => hosts?.stop());

/** Only sshd is left on every host. */
async function untilOnlySshd(): Promise<void> {
  await until(() => hosts.hosts.every((h) => hosts.pidsOn(h).every((p) => p === h.sshdPid)), 15_000, 'nothing but sshd on every host');
}

/** The cluster's key, from its client connection file. */
function keyOf(started: StartedCluster): string {
  const { key } = JSON.parse(fs.readFileSync(started.clientFile, 'utf8')) as ConnectionInfo;
  assert.ok(key.length >= 32, 'a real key to look for');
  return key;
}

/** `key` is on the command line of none of `pids` (each must be there) nor of any process on the hosts. */
function assertKeyOnNoCommandLine(key: string, pids: number[]): void {
  for (const pid of [...pids, ...hosts.hosts.flatMap((h) => hosts.pidsOn(h))]) {
    const argv = cmdline(pid);
    assert.ok(argv !== null, `process ${pid} is there to look at`);
    assert.ok(!argv.join(' ').includes(key), `the key is on the command line of ${pid}: ${argv.join(' ')}`);
  }
}

interface SeedRun {
  hostname: string;
  netns: string;
  seeds: { name: string; error?: string }[];
  allDirect: boolean;
  directEngines: number[];
  engines: { id: number; host: string; pid: number; direct?: { ip: string; port: number } }[];
  pids: number[];
}

describe('controller in hosta, ssh engines in hostb and hostc, client in hostd', () => {
  let driver: ClusterDriver;
  let started: StartedCluster;

  before(async () => {
    driver = startClusterDriver(hosts, 'hosta');
    started = await driver.start({
      n: 4,
      launcher: 'ssh',
      launcherOptions: { hosts: { hostb: 2, hostc: 2 }, sshArgs: ['-F', hosts.sshConfig], program: process.execPath },
      ip: hosts.host('hosta').address,
    });
  });
  after(() => driver?.stop());

  test('the controller listens on hosta\'s address and writes it into the connection file', async () => {
    const info = JSON.parse(fs.readFileSync(started.clientFile, 'utf8')) as ConnectionInfo;
    assert.equal(info.ip, hosts.host('hosta').address);
    const status = await driver.client<{ listen?: { ip: string; location: string; loopback: boolean } }>('status');
    assert.deepEqual([status.listen?.ip, status.listen?.location, status.listen?.loopback], [hosts.host('hosta').address, hosts.host('hosta').address, false]);
  });

  test('the whole portable seed replay passes from hostd, with direct connections to the engines on their hosts', async () => {
    const run = (await hosts.runNodeOn('hostd', 'test/integration/launchers/drivers/seedClient.ts', [started.clientFile], { timeoutMs: 120_000 })) as SeedRun;
    assert.equal(run.hostname, 'hostd');
    assert.equal(run.netns, hosts.host('hostd').netns);
    assert.deepEqual(
      run.seeds.filter((s) => s.error),
      [],
    );
    assert.equal(run.seeds.length, portableSeeds.length);
    // The engines' direct listeners are on the addresses they reached the controller from: their own hosts'.
    assert.deepEqual(
      run.engines.map((e) => [e.id, e.host, e.direct?.ip]),
      [
        [0, 'hostb', hosts.host('hostb').address],
        [1, 'hostb', hosts.host('hostb').address],
        [2, 'hostc', hosts.host('hostc').address],
        [3, 'hostc', hosts.host('hostc').address],
      ],
    );
    assert.equal(run.allDirect, true, `direct connections from hostd to every engine (open: ${run.directEngines})`);
    assert.deepEqual(run.pids, run.engines.map((e) => e.pid));
  });

  test('the key is on no command line: not the controller\'s, the ssh processes\', the engines\' nor any other on the hosts', async () => {
    const key = keyOf(started);
    const ssh = childrenOf(started.controllerPid).filter((p) => cmdline(p)?.[0] === 'ssh');
    assert.equal(ssh.length, 4, `the controller's four ssh processes: ${ssh.map((p) => cmdline(p)?.join(' '))}`);
    const engines = await driver.cluster<EngineInfo[]>('engines');
    assert.deepEqual(enginePids(engines.map((e) => e.pid)).length, 4, 'the engines are found by their command lines');
    assertKeyOnNoCommandLine(key, [started.controllerPid, ...ssh, ...engines.map((e) => e.pid)]);
  });

  test('stopping the cluster leaves nothing on any host', async () => {
    const pid = started.controllerPid;
    await driver.stop();
    assert.equal(alive(pid), false);
    await untilOnlySshd();
  });
});

describe('mpiexec across hosts through the mpi launcher, controller in hosta', () => {
  let driver: ClusterDriver;

  before(async () => {
    await requireMpi();
    driver = startClusterDriver(hosts, 'hosta');
  });
  after(() => driver?.stop());

  test('4 python engines on hosta and hostb: ids are the ranks, and an allreduce crosses hosts', async () => {
    const started = await driver.start(
      {
        n: 4,
        engine: 'python',
        python: mpiPython,
        launcher: 'mpi',
        launcherOptions: { args: ['--host', 'hosta:2,hostb:2', ...sshAgentArgs(hosts.sshConfig)] },
        ip: hosts.host('hosta').address,
      },
      MPI_ENV,
    );
    assert.deepEqual(started.ids, [0, 1, 2, 3]);
    await driver.view(undefined, 'execute', 'from mpi4py import MPI; import socket; rank = MPI.COMM_WORLD.Get_rank(); host = socket.gethostname(); total = MPI.COMM_WORLD.allreduce(rank)');
    assert.deepEqual(await driver.view(undefined, 'pull', 'rank'), [0, 1, 2, 3]);
    assert.deepEqual(await driver.view(undefined, 'pull', 'host'), ['hosta', 'hosta', 'hostb', 'hostb']);
    assert.deepEqual(await driver.view(undefined, 'pull', 'total'), [6, 6, 6, 6]);
    const engines = await driver.cluster<EngineInfo[]>('engines');
    assert.ok(engines.slice(2).every((e) => hosts.pidsOn('hostb').includes(e.pid)), 'ranks 2 and 3 live on hostb');
    const results = await driver.view<ExecuteResult[]>(undefined, 'execute', 'print(rank)');
    assert.deepEqual(results.map((r) => r.stdout), ['0\n', '1\n', '2\n', '3\n']);
    const orted = hosts.pidsOn('hostb').filter((p) => (cmdline(p) ?? []).some((w) => w.endsWith('orted')));
    assert.equal(orted.length, 1, 'the OpenMPI daemon mpiexec started on hostb over ssh');
    assertKeyOnNoCommandLine(keyOf(started), [started.controllerPid, ...orted, ...engines.map((e) => e.pid)]);
  });

  test('stopping the cluster ends mpiexec and its ranks on both hosts', async () => {
    await driver.stop();
    await untilOnlySshd();
  });
});
