/**
 * The ssh launcher on real hosts: network namespaces with sshd (test/harness/netHosts.ts). The
 * controller runs in hosta, listening on hosta's address; engines run on hostb and hostc
 * through ssh. Needs root and openssh-server (test/README.md).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EngineInfo, EngineSetInfo, ExecuteResult } from 'multiengine';
import { controllerLogPath } from '../../../core/controller/logFile.ts';
import { EngineLogs } from '../../../main/services/engineLogs.ts';
import { alive } from '../../harness/fixtureProcesses.ts';
import { startHosts, type Hosts } from '../../harness/netHosts.ts';
import { until } from '../../harness/poll.ts';
import { startClusterDriver, type ClusterDriver } from './clusterDriver.ts';
import { childrenOf, cmdline, enginePids } from './processes.ts';

let hosts: Hosts;
let driver: ClusterDriver;
let controllerPid: number;
let clientFile: string;

before(async () => {
  hosts = await startHosts({ names: ['hosta', 'hostb', 'hostc'], subnet: '10.231.81.0/24' });
  driver = startClusterDriver(hosts, 'hosta');
  ({ controllerPid, clientFile } = await driver.start({ n: 0, ip: hosts.host('hosta').address }));
});
after(async () => {
  await driver?.stop().catch(() => {});
  await hosts?.stop();
});

/** The ssh launcher's options for these hosts. */
function sshOptions(hostsOption: string | Record<string, number>, more: Record<string, string | string[]> = {}) {
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

/** The controller's ssh processes to `host`. */
function sshTo(host: string): number[] {
  return childrenOf(controllerPid).filter((p) => {
    const argv = cmdline(p) ?? [];
    return argv.includes(hosts.sshConfig) && argv.includes(host);
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

  test("what an engine on hostc prints outside its requests is in the controller's log as its own, and the app's Logs show it", async () => {
    // The controller's log file, where a terminal's `multiengine start` keeps it; the app follows it when attached.
    const logFile = controllerLogPath(path.dirname(path.dirname(clientFile)));
    const logs = new EngineLogs({ emit() {} });
    logs.followLogFile(logFile);
    try {
      await driver.view(3, 'execute', 'require("fs").writeSync(1, "engine 3 on " + require("os").hostname() + " wrote to its stdout\\n")');
      await until(() => logs.search({ from: 'engine 3', text: 'wrote to its stdout' }).lines.length > 0, 15_000, "engine 3's line in the Logs");
      assert.deepEqual(
        logs.search({ from: null, text: 'wrote to its stdout' }).lines.map((l) => `${l.source}/${l.stream}: ${l.text}`),
        ['engine 3/process: engine 3 on hostc wrote to its stdout'],
      );
      assert.match(fs.readFileSync(logFile, 'utf8'), /^\[engine 3\] engine 3 on hostc wrote to its stdout$/m);
    } finally {
      logs.dispose();
    }
  });

  test('restartEngine starts a new process for the engine, on the same host', async () => {
    const [before0] = await engines([1]);
    await driver.cluster('restartEngine', 1);
    const [after0] = await engines([1]);
    assert.notEqual(after0.pid, before0.pid);
    assert.equal(after0.host, 'hostb');
    assert.ok(hosts.pidsOn('hostb').includes(after0.pid), `the new pid ${after0.pid} lives on hostb`);
    await until(() => !hosts.pidsOn('hostb').includes(before0.pid), 10_000, `the old engine ${before0.pid} to end`);
    const again = await driver.view<ExecuteResult>(1, 'execute', 'require("os").hostname()');
    assert.equal(shown(again), 'hostb');
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

describe('an ssh set of python engines', () => {
  let ids: number[];

  test('hosts as a string, ssh arguments as one string: socket.gethostname() gives each host', async () => {
    ({ ids } = await driver.client<{ ids: number[] }>('addEngineSet', 4, { engine: 'python', launcher: 'ssh', launcherOptions: { hosts: 'hostb:2,hostc:2', sshArgs: `-F ${hosts.sshConfig}` } }));
    await driver.view(ids, 'execute', 'import socket; h = socket.gethostname()');
    assert.deepEqual(await driver.view(ids, 'pull', 'h'), ['hostb', 'hostb', 'hostc', 'hostc']);
    const infos = await engines(ids);
    assert.ok(infos.every((e, k) => hosts.pidsOn(k < 2 ? 'hostb' : 'hostc').includes(e.pid)), 'the python engines live on their hosts');
  });

  test('a host ssh cannot reach fails the add with ssh\'s own message; the other engines carry on', async () => {
    await driver.view(ids, 'execute', 'kept = 42');
    await assert.rejects(driver.client('addEngineSet', 1, { launcher: 'ssh', launcherOptions: sshOptions({ hostz: 1 }, { program: process.execPath }) }), (e: Error) => {
      assert.match(e.message, /ssh to hostz for engine \d+ exited with code 255: ssh: Could not resolve hostname hostz/);
      return true;
    });
    const failed = (await driver.cluster<EngineSetInfo[]>('engineSets')).at(-1)!;
    assert.equal(failed.state, 'ended');
    assert.match(failed.reason ?? '', /Could not resolve hostname hostz/);
    assert.match(await driver.cluster<string>('output', failed.id), /^\[hostz\] ssh: Could not resolve hostname hostz/m);
    assert.deepEqual(await driver.view(ids, 'pull', 'kept'), [42, 42, 42, 42]);
  });

  test('a remote program that is not there fails the add with what the remote shell said', async () => {
    await assert.rejects(driver.client('addEngineSet', 2, { launcher: 'ssh', launcherOptions: sshOptions('hostb,hostc', { program: '/no/such/node' }) }), (e: Error) => {
      assert.match(e.message, /ssh to host[bc] for engine \d+ exited with code 127: .*\/no\/such\/node: (No such file or directory|not found)/);
      return true;
    });
    assert.deepEqual(await driver.view(ids, 'pull', 'kept'), [42, 42, 42, 42]);
  });

  test('bad hosts entries and options are named in the error', async () => {
    const add = (n: number, options: Record<string, unknown>) => driver.client('addEngineSet', n, { launcher: 'ssh', launcherOptions: options });
    await assert.rejects(add(1, sshOptions('hostb:x')), /hosts option: "hostb:x": the count after ':' must be a whole number/);
    await assert.rejects(add(1, sshOptions({ hostb: 0 })), /hosts option: hostb must be a whole number of engines ≥ 1, got 0/);
    await assert.rejects(add(2, sshOptions('hostb:1')), /hosts hostb:1 make 1 engine, but 2 were asked for/);
    await assert.rejects(add(1, sshOptions('-oProxyCommand=touch /tmp/x:1')), /hosts option: "-oProxyCommand=touch \/tmp\/x" is not a host name/);
    await assert.rejects(add(1, sshOptions({ hostb: 1 }, { sshArgz: [] })), /unknown option sshArgz for the ssh launcher/);
    await assert.rejects(add(1, { sshArgs: ['-F', hosts.sshConfig] }), /the ssh launcher needs the hosts option/);
    assert.deepEqual(await driver.view(ids, 'pull', 'kept'), [42, 42, 42, 42]);
  });

  test('an engine whose ssh ends is lost alone: the set and its other engine carry on, and restartEngine brings it back', async () => {
    const [lost] = await engines([ids[2]]);
    // The failed sets' sessions end on their own after the add was refused.
    await until(() => sshTo('hostc').length === 2, 10_000, 'two ssh to hostc, the python engines\'');
    const ssh = sshTo('hostc').filter((p) => cmdline(p)!.some((w) => w.includes(`'--id' '${lost.id}'`)));
    assert.equal(ssh.length, 1, `engine ${lost.id}'s ssh`);
    process.kill(ssh[0], 'SIGTERM');
    await until(async () => (await engines([lost.id]))[0].state === 'dead', 15_000, `engine ${lost.id} to be dead`);
    await until(() => !hosts.pidsOn('hostc').includes(lost.pid), 10_000, `its process ${lost.pid} on hostc to end with its session`);
    const info = (await driver.cluster<EngineSetInfo[]>('engineSets')).find((s) => s.engines.includes(lost.id));
    assert.equal(info?.state, 'running');
    assert.deepEqual(await driver.view([ids[0], ids[1], ids[3]], 'pull', 'kept'), [42, 42, 42]);
    await driver.cluster('restartEngine', lost.id);
    const [back] = await engines([lost.id]);
    assert.ok(hosts.pidsOn('hostc').includes(back.pid), `the restarted engine ${back.pid} lives on hostc`);
    await driver.view(lost.id, 'execute', 'import socket; h = socket.gethostname()');
    assert.equal(await driver.view(lost.id, 'pull', 'h'), 'hostc');
  });

  test('a restart ssh cannot make fails at once with ssh\'s message; the set and its other engine carry on', async () => {
    const hostc = hosts.host('hostc');
    process.kill(hostc.sshdPid, 'SIGTERM'); // the sessions it started live on; new ones are refused
    await until(() => !alive(hostc.sshdPid), 5000, 'hostc\'s sshd to end');
    await assert.rejects(driver.cluster('restartEngine', ids[2]), /ssh to hostc for engine \d+ exited with code 255: ssh: connect to host hostc port \d+: Connection refused/);
    const info = (await driver.cluster<EngineSetInfo[]>('engineSets')).find((s) => s.engines.includes(ids[0]));
    assert.equal(info?.state, 'running');
    assert.deepEqual(await driver.view([ids[0], ids[1], ids[3]], 'pull', 'kept'), [42, 42, 42]);
  });
});

describe('cluster.stop()', () => {
  test('leaves no controller, ssh or engine process on any host', async () => {
    const sshPids = () => hosts.pidsOn('hosta').filter((p) => (cmdline(p) ?? []).includes(hosts.sshConfig));
    // hostb's two, and hostc's whose session outlived hostc's sshd
    await until(() => sshPids().length === 3, 5000, 'the python set\'s three ssh processes in hosta');
    await driver.stop();
    assert.equal(alive(controllerPid), false, 'the controller is gone');
    assert.deepEqual(sshPids(), []);
    assert.deepEqual(enginePids(hosts.hosts.flatMap((h) => hosts.pidsOn(h))), []);
    for (const h of hosts.hosts) assert.deepEqual(hosts.pidsOn(h), h.name === 'hostc' ? [] : [h.sshdPid], `nothing but sshd is left on ${h.name}`);
  });
});

describe('a controller killed with SIGKILL', () => {
  test('leaves nothing behind on the remote host: the ssh sessions see their stdin close, and so do the engines', async () => {
    const second = startClusterDriver(hosts, 'hosta');
    try {
      const started = await second.start({ n: 2, launcher: 'ssh', launcherOptions: sshOptions('hostb', { program: process.execPath }), ip: hosts.host('hosta').address, restartController: false });
      const pids = (await second.cluster<EngineInfo[]>('engines')).map((e) => e.pid);
      assert.equal(enginePids(hosts.pidsOn('hostb')).length, 2);
      assert.ok(pids.every((p) => hosts.pidsOn('hostb').includes(p)));
      const ssh = childrenOf(started.controllerPid).filter((p) => cmdline(p)?.[0] === 'ssh');
      assert.equal(ssh.length, 2);
      process.kill(started.controllerPid, 'SIGKILL');
      await until(() => ssh.every((p) => !alive(p)), 15_000, 'the ssh processes to end');
      await until(() => enginePids(hosts.pidsOn('hostb')).length === 0, 15_000, 'the engines on hostb to end');
    } finally {
      await second.stop();
    }
  });
});

describe('a controller on loopback', () => {
  test('an ssh set fails at once with what the engine said, and why: the controller is not reachable from other hosts', async () => {
    const local = startClusterDriver(hosts, 'hosta');
    try {
      await local.start({ n: 0 });
      await assert.rejects(
        local.client('addEngineSet', 1, { launcher: 'ssh', launcherOptions: sshOptions('hostb', { program: process.execPath }) }),
        /ssh to hostb for engine 0 exited with code 1: .*127\.0\.0\.1.*ECONNREFUSED.* \(the controller listens on 127\.0\.0\.1, which engines on other hosts cannot reach: start it with ip/s,
      );
    } finally {
      await local.stop();
    }
  });
});
