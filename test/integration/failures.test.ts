/** Failures a cluster must survive: a killed engine, forged messages, and a clean stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { CompositeError, EngineError, type AsyncResult } from 'multiengine';
import { createMessage } from '../../core/protocol/messages.ts';
import { encodeMessage, Signer } from '../../core/transport/codec.ts';
import { encodeFrame } from '../../core/transport/frame.ts';
import { eventually, startTestCluster, untilReached } from './fixture.ts';
import { isAlive } from '../../core/util/processes.ts';


test('SIGKILL of an engine fails its outstanding request with EngineError; the others still answer', async () => {
  const tc = await startTestCluster({ n: 4 });
  try {
    const victim = tc.rc.engines.find((e) => e.id === 1)!;
    const running = tc.rc.view(1).execute('await new Promise((r) => setTimeout(r, 60_000))') as AsyncResult<unknown>;
    const everywhere = tc.rc.view().execute('await new Promise((r) => setTimeout(r, 300)); 1') as AsyncResult<unknown>;
    await untilReached(tc.rc, 1, running.msgIds[0]);
    process.kill(victim.pid, 'SIGKILL');
    await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.engineId === 1);
    await assert.rejects(everywhere, (e: unknown) => e instanceof CompositeError && e.elist.length === 1 && e.elist[0] instanceof EngineError);
    assert.ok(await eventually(() => !tc.rc.ids.includes(1) || tc.rc.engines.find((e) => e.id === 1)?.state === 'dead'));
    assert.deepEqual(await tc.rc.view([0, 2, 3]).applySync(() => 'still here'), ['still here', 'still here', 'still here']);
    await assert.rejects(tc.rc.view(1).execute('1', { block: true }), (e: unknown) => e instanceof Error && /engine 1/.test(e.message));
  } finally {
    await tc.stop();
  }
});

test('a message with a wrong signature is dropped and counted; the controller keeps serving', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const info = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as { ip: string; port: number };
    const before = (await tc.rc.status()).dropped_messages;
    const forged = createMessage('execute_request', { code: 'process.exit(1)' }, { session: 'intruder', metadata: { targets: [0, 1] } });
    const socket = net.connect(info.port, info.ip);
    await new Promise((r) => socket.once('connect', r));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write(encodeFrame(encodeMessage(forged, new Signer('not-the-key'))));
    await closed; // a stranger that opens with a bad signature is hung up on
    assert.ok(await eventually(async () => (await tc.rc.status()).dropped_messages === before + 1));
    assert.deepEqual(await tc.rc.view().applySync(() => 40 + 2), [42, 42]);
    assert.equal((await tc.rc.status()).engines.filter((e) => e.state !== 'dead').length, 2);
  } finally {
    await tc.stop();
  }
});

test('cluster.stop() leaves no process behind', async () => {
  const tc = await startTestCluster({ n: 3 });
  const pids = [tc.cluster.controllerPid, ...tc.rc.engines.map((e) => e.pid)];
  assert.equal(pids.length, 4);
  assert.ok(pids.every(isAlive));
  const files = [tc.cluster.connectionFile, tc.cluster.engineConnectionFile];
  assert.ok(files.every((f) => (fs.statSync(f).mode & 0o777) === 0o600), 'connection files are 0600');
  await tc.stop();
  assert.deepEqual(pids.filter(isAlive), []);
  assert.deepEqual(files.filter((f) => fs.existsSync(f)), []);
});

test('work asked for while another client shuts the controller down says so, not only "no engines"', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    // The moment this client hears its last engine stopped, while its connection is still open.
    const refused = new Promise<string>((resolve) => {
      const sub = tc.rc.onDidChangeEngines(() => {
        if (tc.rc.ids.length > 0) return;
        sub.dispose();
        try {
          void (tc.rc.view().execute('1') as Promise<unknown>).then(
            () => resolve('it ran'),
            (e: Error) => resolve(e.message),
          );
        } catch (e) {
          resolve((e as Error).message);
        }
      });
    });
    const other = await tc.cluster.connect();
    await other.shutdownController(5000);
    other.close();
    assert.equal(await refused, 'execute: no engines are registered: the controller is shutting down and has stopped its engines');
  } finally {
    await tc.stop();
  }
});
