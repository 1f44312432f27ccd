// Local engines launched by the controller (add_engines / stop / restart / death / shutdown),
// with the real engine runtimes when they are present in the checkout.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { findExecutable } from '../../../core/kernels/launch.js';
import { PYTHON_ENGINE_SCRIPT } from '../../../core/kernels/python.js';
import type { EngineInfo } from '../../../core/protocol/messages.js';
import { packageRoot } from '../../../core/util/entry.js';
import { content, fakeClient, isAlive, type Peer, startController, status, until, type RunningController } from './helpers.js';

type Err = { status: 'error'; ename: string; evalue: string };

const runtimes = [
  {
    kind: 'node' as const,
    present: fs.existsSync(path.join(packageRoot, 'engines/node/main.ts')),
    missing: 'engines/node/main.ts is not in the checkout yet',
    sleep: 'await new Promise((r) => setTimeout(r, 30_000))',
  },
  {
    kind: 'python' as const,
    present: fs.existsSync(PYTHON_ENGINE_SCRIPT) && findExecutable(process.env.MULTIENGINE_PYTHON || 'python3') !== null,
    missing: 'no python3 or no engines/python/multiengine_engine.py',
    sleep: 'import time\ntime.sleep(30)',
  },
];

async function engineList(client: Peer): Promise<EngineInfo[]> {
  return (await status(client)).engines;
}

/**
 * The engine list once engines `ids` are all in `state`. An engine's first heartbeat can come
 * 300-440 ms after it registers under load, longer than the 250 ms after which the controller
 * calls it unresponsive, so a list taken right after add/restart may say so for a moment.
 */
async function engineListWhen(client: Peer, ids: number[], state: EngineInfo['state']): Promise<EngineInfo[]> {
  let engines: EngineInfo[] = [];
  await until(
    async () => {
      engines = await engineList(client);
      return ids.every((id) => engines.find((e) => e.id === id)?.state === state);
    },
    10_000,
    `engines ${ids.join(', ')} to be ${state}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last list: ${JSON.stringify(engines.map((e) => [e.id, e.state]))}`);
  });
  return engines;
}

async function request<T>(client: Peer, type: 'add_engines_request' | 'stop_engine_request' | 'restart_engine_request', body: object, timeoutMs = 30_000): Promise<T> {
  const req = client.send(type, body as never);
  return content<T>(await client.replyTo(req, () => true, timeoutMs));
}

for (const rt of runtimes) {
  describe(`local ${rt.kind} engines`, { skip: rt.present ? false : rt.missing }, () => {
    test('add_engines launches 2 engines; they work; SIGKILL, stop and restart behave', async () => {
      const ctl: RunningController = await startController([], { heartbeatMs: 100, deadAfterMs: 1500 });
      const pids: number[] = [];
      try {
        const client = await fakeClient(ctl, 'registration');
        const t0 = Date.now();
        const added = await request<{ status: string; ids: number[] }>(client, 'add_engines_request', { n: 2, engine: rt.kind });
        assert.deepEqual(added, { status: 'ok', ids: [0, 1], set: 'set-1' });
        const startMs = Date.now() - t0;
        let engines = await engineListWhen(client, [0, 1], 'idle');
        assert.deepEqual(
          engines.map((e) => [e.id, e.kernel, e.state]),
          [
            [0, rt.kind, 'idle'],
            [1, rt.kind, 'idle'],
          ],
        );
        pids.push(...engines.map((e) => e.pid));
        assert.ok(pids.every(isAlive) && pids[0] !== pids[1]);

        const ex = client.send('execute_request', { code: '6*7' }, { metadata: { targets: [0, 1] } });
        for (const id of [0, 1]) {
          const r = await client.replyTo(ex, (m) => m.metadata.engine_id === id, 10_000);
          assert.equal(content<{ status: string; result?: string }>(r).status, 'ok');
          assert.equal(content<{ result?: string }>(r).result, '42');
        }

        // SIGKILL with a request running: EngineError within 1 s, reason from the process exit.
        const slow = client.send('execute_request', { code: rt.sleep }, { metadata: { targets: [1] } });
        await engineListWhen(client, [1], 'busy');
        const tKill = Date.now();
        process.kill(pids[1], 'SIGKILL');
        const dead = content<Err>(await client.replyTo(slow, () => true, 3000));
        assert.ok(Date.now() - tKill < 1000, `failed after ${Date.now() - tKill} ms`);
        assert.equal(dead.ename, 'EngineError');
        assert.match(dead.evalue, /^engine 1 is dead: process killed by signal SIGKILL/);
        const ok = client.send('execute_request', { code: '1' }, { metadata: { targets: [0] } });
        assert.equal(content<{ status: string }>(await client.replyTo(ok, () => true, 10_000)).status, 'ok');

        // A dead local engine can be restarted: same id, fresh process, restarts + 1.
        const re = await request<{ status: string; id: number }>(client, 'restart_engine_request', { id: 1 });
        assert.deepEqual(re, { status: 'ok', id: 1 });
        engines = await engineListWhen(client, [1], 'idle');
        const e1 = engines.find((e) => e.id === 1)!;
        assert.equal(e1.state, 'idle');
        assert.equal(e1.restarts, 1);
        assert.notEqual(e1.pid, pids[1]);
        pids.push(e1.pid);

        // Restarting a live one stops the old process first.
        const re0 = await request<{ status: string; id: number }>(client, 'restart_engine_request', { id: 0 });
        assert.deepEqual(re0, { status: 'ok', id: 0 });
        assert.equal(isAlive(pids[0]), false, 'the old process of engine 0 is gone');
        engines = await engineList(client);
        pids.push(engines.find((e) => e.id === 0)!.pid);

        // stop_engine: process gone, engine unlisted.
        const stopped = await request<{ status: string }>(client, 'stop_engine_request', { id: 1 });
        assert.deepEqual(stopped, { status: 'ok' });
        assert.equal(isAlive(e1.pid), false);
        engines = await engineList(client);
        assert.deepEqual(
          engines.map((e) => e.id),
          [0],
        );
        // The ids are not reused by the next add.
        const more = await request<{ status: string; ids: number[] }>(client, 'add_engines_request', { n: 1, engine: rt.kind });
        assert.deepEqual(more.ids, [2]);
        pids.push((await engineList(client)).find((e) => e.id === 2)!.pid);

        const bye = client.send('controller_shutdown_request', {});
        await client.replyTo(bye);
        assert.deepEqual(await ctl.exited, { code: 0, signal: null });
        await until(() => !pids.some(isAlive), 3000, 'every engine process to be gone');
        process.stderr.write(`# ${rt.kind}: 2 engines registered in ${startMs} ms\n`);
      } finally {
        for (const p of pids) if (isAlive(p)) process.kill(p, 'SIGKILL');
        await ctl.stop();
      }
    });
  });
}

describe('local python engines that fail to start', { skip: fs.existsSync(PYTHON_ENGINE_SCRIPT) ? false : 'no engines/python/multiengine_engine.py' }, () => {
  test('an engine that exits before registering fails add_engines with its exit code and last stderr lines', async () => {
    const ctl = await startController();
    const fake = path.join(ctl.dir, 'fakepython');
    fs.writeFileSync(fake, '#!/bin/sh\necho "starting" >&2\necho "ImportError: no module named numpy" >&2\nexit 3\n', { mode: 0o755 });
    try {
      const client = await fakeClient(ctl);
      const r = await request<Err>(client, 'add_engines_request', { n: 2, engine: 'python', python: fake }, 10_000);
      assert.equal(r.status, 'error');
      assert.equal(r.ename, 'LaunchError');
      assert.match(r.evalue, /python engine \d \(pid \d+\) exited with code 3 before registering; last stderr lines:\nstarting\nImportError: no module named numpy/);
      assert.deepEqual(await engineList(client), []);
    } finally {
      await ctl.stop();
    }
  });
});
