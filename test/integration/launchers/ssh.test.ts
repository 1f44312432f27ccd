/**
 * The ssh launcher on real hosts: network namespaces with sshd (test/harness/netHosts.ts). The
 * controller runs in hosta, listening on hosta's address; engines run on hostb and hostc
 * through ssh. Needs root and openssh-server (test/README.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EngineInfo, EngineSetInfo, ExecuteResult } from 'multiengine';
import { startHosts, type Hosts } from '../../harness/netHosts.ts';
import { until } from '../../harness/poll.ts';
import { startClusterDriver, type ClusterDriver } from './clusterDriver.ts';
import { enginePids } from './processes.ts';

let hosts: Hosts;
let driver: ClusterDriver;
let controllerPid: number;

before(async () => {
  hosts = await startHosts({ names: ['hosta', 'hostb', 'hostc'], subnet: '10.231.81.0/24' });
  driver = startClusterDriver(hosts, 'hosta');
  ({ controllerPid } = await driver.start({ n: 0, ip: hosts.host('hosta').address }));
});
after(async () => {
  await driver?.stop().catch(() => {});
  await hosts?.stop();
});

/** The ssh launcher's options for these hosts. */
function sshOptions(hostsOption: unknown, more: Record<string, unknown> = {}) {
  return { hosts: hostsOption, sshArgs: ['-F', hosts.sshConfig], ...more };
}

/** Engines of the cluster, by id. */
async function engines(ids: number[]): Promise<EngineInfo[]> {
  const all = await driver.cluster<EngineInfo[]>('engines');
  return ids.map((id) => {
    const e = all.find((x) => x.id === id);
    assert.ok(e, `engine ${id} is listed`);
    return e;
  });
}

/** The last expression's display text, without a string's quotes. */
const shown = (r: ExecuteResult) => (r.result ?? '').replace(/^(['"])(.*)\1$/, '$2');

describe('an ssh set of node engines on hostb and hostc', () => {
  let ids: number[];
  let set: string;

  test('starts 2 engines on each host; each runs where ssh put it', async () => {
    ({ ids, set } = await driver.client<{ ids: number[]; set: string }>('addEngineSet', 4, { launcher: 'ssh', launcherOptions: sshOptions({ hostb: 2, hostc: 2 }, { program: process.execPath }) }));
    assert.deepEqual(ids, [0, 1, 2, 3]);
    const results = await driver.view<ExecuteResult[]>(ids, 'execute', 'require("os").hostname()');
    assert.deepEqual(results.map(shown), ['hostb', 'hostb', 'hostc', 'hostc']);
    const infos = await engines(ids);
    assert.deepEqual(infos.map((e) => e.host), ['hostb', 'hostb', 'hostc', 'hostc']);
    const onB = hosts.pidsOn('hostb');
    const onC = hosts.pidsOn('hostc');
    assert.ok(infos.slice(0, 2).every((e) => onB.includes(e.pid)), `pids ${infos.map((e) => e.pid)} of engines 0, 1 live on hostb (${onB})`);
    assert.ok(infos.slice(2).every((e) => onC.includes(e.pid)), `pids of engines 2, 3 live on hostc (${onC})`);
    assert.ok(!hosts.pidsOn('hosta').some((p) => infos.some((e) => e.pid === p)), 'no engine runs on hosta');
  });

  test('engineSets lists the set with its launcher and hosts; output() has what ssh printed, by host', async () => {
    const sets = await driver.cluster<EngineSetInfo[]>('engineSets');
    const info = sets.find((s) => s.id === set);
    assert.ok(info, `${set} is listed in ${JSON.stringify(sets)}`);
    assert.equal(info.launcher, 'ssh');
    assert.equal(info.state, 'running');
    assert.deepEqual(info.engines, ids);
    assert.deepEqual(info.hosts, ['hostb', 'hostc']);
    const output = await driver.cluster<string>('output', set);
    assert.match(output, /^\[hostb\] \$ .*ssh -F \S+ hostb -- /m);
    assert.match(output, /^\[hostc\] \$ .*ssh -F \S+ hostc -- /m);
  });

  test('restartEngine starts a new process for the engine, on the same host', async () => {
    const [before0] = await engines([1]);
    await driver.cluster('restartEngine', 1);
    const [after0] = await engines([1]);
    assert.notEqual(after0.pid, before0.pid);
    assert.equal(after0.host, 'hostb');
    assert.ok(hosts.pidsOn('hostb').includes(after0.pid), `the new pid ${after0.pid} lives on hostb`);
    await until(() => !hosts.pidsOn('hostb').includes(before0.pid), 10_000, `the old engine ${before0.pid} to end`);
    const again = await driver.view<ExecuteResult[]>(1, 'execute', 'require("os").hostname()');
    assert.equal(shown(again as unknown as ExecuteResult), 'hostb');
  });

  test('stopping the set leaves no engine process on hostb or hostc', async () => {
    await driver.cluster('stopEngineSet', set);
    await until(() => enginePids([...hosts.pidsOn('hostb'), ...hosts.pidsOn('hostc')]).length === 0, 15_000, 'the engines on hostb and hostc to end');
    const info = (await driver.cluster<EngineSetInfo[]>('engineSets')).find((s) => s.id === set);
    assert.equal(info?.state, 'ended');
    const status = await driver.client<{ engines: EngineInfo[] }>('status');
    assert.ok(ids.every((id) => status.engines.find((e) => e.id === id)?.state !== 'idle'), 'the stopped engines are not idle');
  });
});
