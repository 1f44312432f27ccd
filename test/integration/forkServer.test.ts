/**
 * Local Python engines forked from one server per interpreter (core/launch/forkServer.ts,
 * engines/python/multiengine_python/fork_server.py): each is still a process of its own, with
 * its own pid, output, end, signals and random state, and nothing outlives the cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { RemoteError, type AsyncResult } from 'multiengine';
import { PYTHON_ENGINE_SCRIPT } from '../../core/kernels/python.ts';
import { ForkServerSpawner } from '../../core/launch/forkServer.ts';
import { NodeSpawner, type ProcessExit, type SpawnedProcess } from '../../core/launch/spawner.ts';
import { isAlive, parentPid } from '../../core/util/processes.ts';
import { engineInfo, startTestCluster, until } from './fixture.ts';

const PYTHON = process.env.MULTIENGINE_PYTHON ?? 'python3';

/** Our own children that are fork servers. */
function forkServersOf(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return parentPid(p) === pid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--fork-server');
      } catch {
        return false;
      }
    });
}

function collect(stream: Readable): () => string {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (t: string) => (text += t));
  return () => text;
}

const exitOf = (p: SpawnedProcess) => new Promise<ProcessExit>((r) => (p.exit ? r(p.exit) : p.onDidExit(r)));

test('forked engines: each has its own pid, output and end; the server goes once they have ended', async () => {
  const spawner = new ForkServerSpawner(new NodeSpawner());
  const a = spawner.start({ command: PYTHON, args: [PYTHON_ENGINE_SCRIPT, '--file', '/nonexistent/a.json'] });
  const b = spawner.start({ command: PYTHON, args: [PYTHON_ENGINE_SCRIPT, '--id', 'x', '--file', '/nonexistent/b.json'] });
  const outA = collect(a.stderr);
  const outB = collect(b.stderr);
  const [endA, endB] = await Promise.all([exitOf(a), exitOf(b)]);
  assert.deepEqual([endA.code, endA.signal, endB.code, endB.signal], [1, null, 1, null]);
  assert.ok(a.pid > 0 && b.pid > 0 && a.pid !== b.pid, `two pids: ${a.pid}, ${b.pid}`);
  assert.match(outA(), /no connection file at \/nonexistent\/a\.json/);
  assert.doesNotMatch(outA(), /--id must be an integer/, "b's output is not a's");
  assert.match(outB(), /--id must be an integer, got 'x'/);
  await until(() => forkServersOf(process.pid).length === 0, 10_000, 'the fork server to exit after its last engine');
});

/** An engine connection file naming a controller that accepts and never answers: its engines wait for their registration reply. */
async function silentController(): Promise<{ file: string; close(): void }> {
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-fork-'));
  const file = path.join(dir, 'engine.json');
  const port = (silent.address() as net.AddressInfo).port;
  fs.writeFileSync(file, JSON.stringify({ transport: 'tcp', ip: '127.0.0.1', port, key: 'k', signature_scheme: 'hmac-sha256' }), { mode: 0o600 });
  return {
    file,
    close() {
      silent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('a signal sent before the fork is done reaches the engine once it has a pid', async () => {
  const ctl = await silentController();
  try {
    const spawner = new ForkServerSpawner(new NodeSpawner());
    const p = spawner.start({ command: PYTHON, args: [PYTHON_ENGINE_SCRIPT, '--file', ctl.file] });
    assert.equal(p.pid, 0, 'no pid before the server answered');
    assert.equal(p.signal('SIGKILL'), true);
    const end = await exitOf(p);
    assert.ok(p.pid > 0);
    assert.equal(end.signal, 'SIGKILL', JSON.stringify(end));
    await until(() => forkServersOf(process.pid).length === 0, 10_000, 'the fork server to exit');
  } finally {
    ctl.close();
  }
});

test('an engine whose fork server was killed is still watched: its end is seen by its pid', async () => {
  const ctl = await silentController();
  try {
    const spawner = new ForkServerSpawner(new NodeSpawner());
    const p = spawner.start({ command: PYTHON, args: [PYTHON_ENGINE_SCRIPT, '--file', ctl.file] });
    await until(() => p.pid > 0, 10_000, 'the engine to be forked');
    const [server] = forkServersOf(process.pid);
    assert.equal(parentPid(p.pid), server);
    process.kill(server, 'SIGKILL');
    await until(() => !isAlive(server), 10_000, 'the fork server to be gone');
    assert.equal(p.state, 'running', 'the engine outlives its server');
    assert.ok(isAlive(p.pid));
    // A new engine gets a new server.
    const q = spawner.start({ command: PYTHON, args: [PYTHON_ENGINE_SCRIPT, '--file', ctl.file] });
    await until(() => q.pid > 0, 10_000, 'the second engine to be forked');
    assert.notEqual(parentPid(q.pid), server);
    process.kill(p.pid, 'SIGKILL');
    const end = await exitOf(p);
    assert.match(end.reason, /ended after its fork server/);
    q.signal('SIGKILL');
    assert.equal((await exitOf(q)).signal, 'SIGKILL');
    await until(() => forkServersOf(process.pid).length === 0, 10_000, 'the second fork server to exit');
  } finally {
    ctl.close();
  }
});

test('a missing interpreter fails each forked start with the not-found code', async () => {
  const spawner = new ForkServerSpawner(new NodeSpawner());
  const p = spawner.start({ command: '/nonexistent/python3', args: [PYTHON_ENGINE_SCRIPT, '--file', 'x.json'] });
  const end = await exitOf(p);
  assert.equal(end.errorCode, 'ENOENT');
});

test('a cluster of forked python engines: one server is their parent, SIGINT interrupts one engine only, a killed one is dead with its signal, nothing is left', { timeout: 120_000 }, async () => {
  const tc = await startTestCluster({ n: 3, engine: 'python' });
  let pids: number[] = [];
  let servers: number[] = [];
  try {
    const { rc, cluster } = tc;
    const status = await rc.status();
    pids = status.engines.map((e) => e.pid!);
    assert.equal(new Set(pids).size, 3, `three pids: ${pids}`);
    servers = forkServersOf(cluster.controllerPid);
    assert.equal(servers.length, 1, 'one fork server, a child of the controller');
    for (const pid of pids) assert.equal(parentPid(pid), servers[0], `engine pid ${pid} was forked by the server`);

    const fromEngines = (await rc.view().applySync('lambda: (__import__("os").getpid(), __import__("random").random())')) as [number, number][];
    assert.deepEqual(fromEngines.map((x) => x[0]), pids, 'each engine runs in the process the controller knows');
    assert.equal(new Set(fromEngines.map((x) => x[1])).size, 3, 'each engine has its own random state');

    const sleep = 'import time\ntime.sleep(30)\n"slept"';
    const r0 = rc.view(0).execute(sleep) as AsyncResult<unknown>;
    const r1 = rc.view(1).execute(sleep) as AsyncResult<unknown>;
    await until(async () => (await engineInfo(rc, 0)).state === 'busy' && (await engineInfo(rc, 1)).state === 'busy', 10_000, 'engines 0 and 1 to run');
    await rc.view(0).interrupt();
    await assert.rejects(r0, (e: unknown) => e instanceof RemoteError && /Interrupt/.test(e.ename));
    assert.equal((await engineInfo(rc, 1)).state, 'busy', 'engine 1 still runs its code');
    await rc.view(1).interrupt();
    await assert.rejects(r1, (e: unknown) => e instanceof RemoteError && /Interrupt/.test(e.ename));

    process.kill(pids[2], 'SIGKILL');
    await until(async () => (await engineInfo(rc, 2)).state === 'dead', 10_000, 'engine 2 to be dead');
    await until(async () => /SIGKILL/.test((await engineInfo(rc, 2)).reason ?? ''), 10_000, "engine 2's reason to name its signal");
    assert.deepEqual(await rc.view([0, 1]).applySync('lambda: "alive"'), ['alive', 'alive']);
  } finally {
    await tc.stop();
  }
  for (const pid of [...pids, ...servers, tc.cluster.controllerPid]) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
});
