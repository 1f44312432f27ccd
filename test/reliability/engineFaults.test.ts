/**
 * Engine faults with real signals: an engine SIGKILLed in the middle of a task (with and
 * without restart 'always', and the restart limit), and an engine hung with SIGSTOP (continued
 * before the limit, or left past it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client, CompositeError, EngineError, RemoteError, type AsyncResult, type EngineChange, type EngineInfo } from 'multiengine';
import { eventually, isAlive, signal, sleep, startTestCluster, untilReached } from './faultKit.ts';

test('engine killed (SIGKILL) mid-task: its requests fail with EngineError within 1 s; the other engines are not disturbed', async () => {
  const tc = await startTestCluster({ n: 4 });
  try {
    await tc.rc.view().push({ mine: 'kept' }, { block: true });
    const victim = tc.rc.engine(2)!;
    const running = tc.rc.view(2).execute('await new Promise((r) => setTimeout(r, 60_000))') as AsyncResult<unknown>;
    const queued = tc.rc.view(2).apply(() => 'never') as AsyncResult<unknown>;
    const others = tc.rc.view([0, 1, 3]).execute('await new Promise((r) => setTimeout(r, 800)); 7') as AsyncResult<unknown>;
    await untilReached(tc.rc, 2, running.msgIds[0]);
    const t0 = performance.now();
    signal(victim.pid, 'SIGKILL');
    await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.engineId === 2 && /engine 2 is dead: process killed by signal SIGKILL/.test(e.evalue));
    const elapsed = performance.now() - t0;
    await assert.rejects(queued, EngineError);
    assert.ok(elapsed < 1000, `the request failed ${Math.round(elapsed)} ms after the kill`);
    // The others finish their work undisturbed, with their namespaces.
    assert.deepEqual(
      ((await others) as { result: string }[]).map((r) => r.result),
      ['7', '7', '7'],
    );
    assert.deepEqual(await tc.rc.view([0, 1, 3]).pull('mine', { block: true }), ['kept', 'kept', 'kept']);
    const info = (await tc.rc.status()).engines.find((e) => e.id === 2)!;
    assert.equal(info.state, 'dead');
    assert.match(info.reason ?? '', /killed by signal SIGKILL/);
  } finally {
    await tc.stop();
  }
});

test("restart 'always': a killed engine is replaced under the same id, with a new namespace, and EngineInfo says so", async () => {
  const tc = await startTestCluster({ n: 3, restart: 'always' });
  try {
    await tc.rc.view().push({ x: 41 }, { block: true });
    const old = tc.rc.engine(1)!;
    assert.equal(old.restarts, 0);
    const running = tc.rc.view(1).execute('await new Promise((r) => setTimeout(r, 60_000))') as AsyncResult<unknown>;
    await untilReached(tc.rc, 1, running.msgIds[0]);
    signal(old.pid, 'SIGKILL');
    await assert.rejects(running, (e: unknown) => e instanceof EngineError && /killed by signal SIGKILL/.test(e.evalue));
    assert.ok(await eventually(() => tc.rc.engine(1)?.state === 'idle' && tc.rc.engine(1)!.pid !== old.pid, 20_000), 'engine 1 is back');
    const now = tc.rc.engine(1)!;
    assert.equal(now.id, 1);
    assert.equal(now.restarts, 1);
    assert.equal(now.namespace_new, true);
    assert.match(now.last_restart?.reason ?? '', /killed by signal SIGKILL/);
    assert.ok(now.uuid !== old.uuid && isAlive(now.pid));
    // Its namespace is new: x is gone there, the other engines still have it.
    await assert.rejects(tc.rc.view(1).pull('x', { block: true }), (e: unknown) => e instanceof RemoteError && e.ename === 'NameError');
    assert.deepEqual(await tc.rc.view([0, 2]).pull('x', { block: true }), [41, 41]);
    assert.equal(await tc.rc.view(1).applySync((a: number) => a + 1, 1), 2);
    assert.deepEqual(tc.rc.ids, [0, 1, 2]);
    const others = (await tc.rc.status()).engines.filter((e) => e.id !== 1);
    assert.ok(others.every((e) => e.restarts === 0 && !e.namespace_new));
  } finally {
    await tc.stop();
  }
});

test("restart 'always' is bounded: past maxRestarts within the window it gives up, with the reason in EngineInfo and an engine_event", async () => {
  const tc = await startTestCluster({ n: 2, restart: 'always', maxRestarts: 2, restartWindowMs: 60_000 });
  const events: EngineInfo[] = [];
  const sub = tc.rc.onDidChangeEngines((c: EngineChange) => {
    if (c.engine?.id === 0) events.push(c.engine);
  });
  try {
    for (let round = 1; round <= 2; round++) {
      const pid = tc.rc.engine(0)!.pid;
      signal(pid, 'SIGKILL');
      assert.ok(await eventually(() => tc.rc.engine(0)?.state === 'idle' && tc.rc.engine(0)!.pid !== pid, 20_000), `restart ${round}`);
      assert.equal(tc.rc.engine(0)!.restarts, round);
    }
    signal(tc.rc.engine(0)!.pid, 'SIGKILL');
    const gaveUp = (r: string | undefined) => /not restarted: it was restarted 2 times within 60 s/.test(r ?? '');
    assert.ok(await eventually(() => gaveUp(tc.rc.engine(0)?.reason), 10_000), `reason: ${tc.rc.engine(0)?.reason}`);
    assert.equal(tc.rc.engine(0)!.state, 'dead');
    assert.ok(events.some((e) => e.state === 'dead' && gaveUp(e.reason)), 'an engine_event carried the reason');
    await sleep(1500); // a pause in which no restart may happen
    assert.equal((await tc.rc.status()).engines.find((e) => e.id === 0)!.state, 'dead', 'it stays dead');
    await assert.rejects(tc.rc.view(0).execute('1', { block: true }), (e: unknown) => e instanceof EngineError && /not restarted/.test(e.evalue));
    // The other engine was never touched.
    assert.equal(await tc.rc.view(1).applySync(() => 'fine'), 'fine');
    assert.equal(tc.rc.engine(1)!.restarts, 0);
    // An explicit restart still works.
    await tc.cluster.restartEngine(0);
    assert.equal(await tc.rc.view(0).applySync(() => 'back'), 'back');
  } finally {
    sub.dispose();
    await tc.stop();
  }
});

test("a python engine killed with restart 'always' comes back under the same id", async () => {
  const tc = await startTestCluster({ n: 0, restart: 'always' });
  try {
    const [id] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    const old = tc.rc.engine(id)!;
    await tc.rc.view(id).execute('y = 5', { block: true });
    signal(old.pid, 'SIGKILL');
    assert.ok(await eventually(() => tc.rc.engine(id)?.state === 'idle' && tc.rc.engine(id)!.pid !== old.pid, 20_000));
    assert.equal(tc.rc.engine(id)!.kernel, 'python');
    assert.equal(tc.rc.engine(id)!.restarts, 1);
    await assert.rejects(tc.rc.view(id).pull('y', { block: true }), (e: unknown) => e instanceof RemoteError && e.ename === 'NameError');
  } finally {
    await tc.stop();
  }
});

/** Polls the controller (status) until engine `id` is in `state`. */
async function waitState(rc: Client, id: number, state: EngineInfo['state'], timeoutMs: number): Promise<boolean> {
  return eventually(async () => (await rc.status()).engines.find((e) => e.id === id)?.state === state, timeoutMs);
}

test('engine hung (SIGSTOP): unresponsive after missed beats; continued (SIGCONT) before the limit it is idle again and keeps its namespace', async () => {
  const tc = await startTestCluster({ n: 2, heartbeatMs: 100, deadAfterMs: 4000 });
  try {
    await tc.rc.view(1).push({ z: 'still' }, { block: true });
    const pid = tc.rc.engine(1)!.pid;
    signal(pid, 'SIGSTOP');
    try {
      assert.ok(await waitState(tc.rc, 1, 'unresponsive', 3000), 'unresponsive');
    } finally {
      signal(pid, 'SIGCONT');
    }
    assert.ok(await waitState(tc.rc, 1, 'idle', 3000), 'idle again');
    assert.equal(await tc.rc.view(1).pull('z', { block: true }), 'still');
    assert.equal(tc.rc.engine(1)!.pid, pid);
    assert.equal(await tc.rc.view(0).applySync(() => 'unaffected'), 'unaffected');
  } finally {
    signal(tc.rc.engine(1)?.pid ?? 0, 'SIGCONT');
    await tc.stop();
  }
});

test('engine hung (SIGSTOP) past the limit: dead, its request fails with EngineError, the process is killed', async () => {
  const tc = await startTestCluster({ n: 2, heartbeatMs: 100, deadAfterMs: 1500 });
  const pid = tc.rc.engine(0)!.pid;
  try {
    const running = tc.rc.view([0, 1]).execute('await new Promise((r) => setTimeout(r, 400)); 1') as AsyncResult<unknown>;
    signal(pid, 'SIGSTOP');
    const t0 = performance.now();
    await assert.rejects(running, (e: unknown) => e instanceof CompositeError && e.elist.length === 1 && e.elist[0] instanceof EngineError && /no heartbeat/.test(e.elist[0].evalue));
    assert.ok(performance.now() - t0 < 1500 + 3000, 'failed within the heartbeat limit (with slack)');
    const info = (await tc.rc.status()).engines.find((e) => e.id === 0)!;
    assert.equal(info.state, 'dead');
    assert.match(info.reason ?? '', /no heartbeat for \d+ ms/);
    assert.ok(await eventually(() => !isAlive(pid), 5000), 'the hung local engine was killed');
    assert.equal(await tc.rc.view(1).applySync(() => 'unaffected'), 'unaffected');
  } finally {
    signal(pid, 'SIGCONT');
    await tc.stop();
  }
});

test('a remote engine (started by hand) hung past the limit fails its requests within the heartbeat limit; continued, it registers again with its id and namespace', async () => {
  const tc = await startTestCluster({ n: 1, heartbeatMs: 100, deadAfterMs: 1500 });
  const main = path.join(import.meta.dirname, '../../dist/engines/node/main.js');
  const child = spawn(process.execPath, [main, '--file', tc.cluster.engineConnectionFile], { stdio: 'ignore' });
  try {
    assert.ok(await eventually(() => tc.rc.ids.length === 2, 10_000), 'the remote engine registered');
    const id = tc.rc.ids.find((i) => tc.rc.engine(i)!.pid === child.pid)!;
    await tc.rc.view(id).push({ remote: 'state' }, { block: true });
    const running = tc.rc.view(id).execute('await new Promise((r) => setTimeout(r, 3000))') as AsyncResult<unknown>;
    await untilReached(tc.rc, id, running.msgIds[0]);
    signal(child.pid!, 'SIGSTOP');
    const t0 = performance.now();
    await assert.rejects(running, (e: unknown) => e instanceof EngineError && /no heartbeat for \d+ ms/.test(e.evalue));
    assert.ok(performance.now() - t0 < 1500 + 3000, 'within the heartbeat limit (with slack)');
    assert.equal((await tc.rc.status()).engines.find((e) => e.id === id)!.state, 'dead');
    assert.ok(isAlive(child.pid!), 'not ours to kill: a remote engine is only declared dead');
    signal(child.pid!, 'SIGCONT');
    assert.ok(await eventually(() => tc.rc.engine(id)?.state === 'idle', 10_000), 'it came back');
    const info = tc.rc.engine(id)!;
    assert.equal(info.pid, child.pid);
    assert.ok(info.resumed);
    assert.equal(info.restarts, 0);
    assert.equal(await tc.rc.view(id).pull('remote', { block: true }), 'state');
    assert.equal(await tc.rc.view(0).applySync(() => 'unaffected'), 'unaffected');
  } finally {
    signal(child.pid!, 'SIGCONT');
    await tc.stop();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
