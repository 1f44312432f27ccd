/**
 * Smoke test of the client against the real controller and real engines, started by hand
 * (no Cluster): the controller from core/controller/main.ts, engines with --file. Node
 * engines run when engines/node/main.ts exists, python engines when python3 does.
 * Kills only the processes it started.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AbortError, Client, CompositeError, ConnectionError, RemoteError, type AsyncResult, type ExecuteResult } from '../../core/client/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nodeEngine = path.join(root, 'engines/node/main.ts');
const pythonEngine = path.join(root, 'engines/python/multiengine_engine.py');
const python = process.env.MULTIENGINE_PYTHON ?? 'python3';
const haveNode = fs.existsSync(nodeEngine);
const havePython = fs.existsSync(pythonEngine) && spawnSync(python, ['--version']).status === 0;

declare const a: number, b: number;

interface Ready {
  client_file: string;
  engine_file: string;
  pid: number;
}

class Procs {
  readonly children: ChildProcess[] = [];
  spawn(cmd: string, args: string[]): ChildProcess {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => {
      if (process.env.MULTIENGINE_DEBUG) process.stderr.write(d);
    });
    this.children.push(child);
    return child;
  }
  async killAll(): Promise<void> {
    for (const c of [...this.children].reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
  }
}

async function startController(procs: Procs, dir: string): Promise<Ready> {
  const child = procs.spawn(process.execPath, ['--import', 'tsx', path.join(root, 'core/controller/main.ts'), '--dir', dir, '--profile', 't', '--heartbeat-ms', '100', '--dead-after-ms', '3000']);
  const rl = readline.createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('controller gave no ready line in 20 s')), 20_000);
    rl.once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`controller exited with ${code}`)));
  });
  rl.close();
  const ready = JSON.parse(line) as Ready & { event: string };
  assert.equal(ready.event, 'ready');
  return ready;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const kind of ['node', 'python'] as const) {
  const skip = kind === 'node' ? (!haveNode && 'engines/node/main.ts does not exist yet') : (!havePython && `no ${python} or python engine`);
  describe(`client smoke test with ${kind} engines`, { skip }, () => {
    const procs = new Procs();
    let dir: string;
    let rc: Client;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `me-client-smoke-${kind}-`));
      const ready = await startController(procs, dir);
      rc = await Client.connect({ profile: 't', dir });
      assert.equal(rc.controllerPid, ready.pid);
      for (let i = 0; i < 3; i++) {
        if (kind === 'node') procs.spawn(process.execPath, ['--import', 'tsx', nodeEngine, '--file', ready.engine_file]);
        else procs.spawn(python, [pythonEngine, '--file', ready.engine_file]);
      }
      await until(() => rc.ids.length === 3, 30_000, '3 engines to register');
    });
    after(async () => {
      rc?.close();
      await procs.killAll();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('ids, engines and status', async () => {
      assert.deepEqual(rc.ids, [0, 1, 2]);
      assert.ok(rc.engines.every((e) => e.kernel === kind));
      const s = await rc.status();
      assert.equal(s.engines.length, 3);
    });

    test('execute with output, then push, pull and apply', async () => {
      const dview = rc.view();
      dview.block = true;
      const code = kind === 'node' ? 'console.log("hello", 1 + 1); 6 * 7' : 'print("hello", 1 + 1)\n6 * 7';
      const out = (await dview.execute(code)) as ExecuteResult[];
      assert.deepEqual(out.map((o) => o.engineId), [0, 1, 2]);
      assert.deepEqual(out.map((o) => o.stdout), Array(3).fill('hello 2\n'));
      assert.deepEqual(out.map((o) => o.result), Array(3).fill('42'));
      await dview.push({ a: 5, b: 10 });
      assert.deepEqual(await dview.pull('a'), [5, 5, 5]);
      assert.equal(await dview.pull('b', { targets: 0 }), 10);
      const f = kind === 'node' ? (x: number) => a + b + x : 'lambda x: a + b + x';
      assert.deepEqual(await dview.applySync(f, 27), [42, 42, 42]);
    });

    test('scatter, gather and map', async () => {
      const dview = rc.view();
      const x = Float64Array.from({ length: 10 }, (_, i) => i / 2);
      await dview.scatter('x', x, { block: true });
      const back = await dview.gather('x', { block: true });
      if (kind === 'node') assert.deepEqual(back, x);
      else assert.deepEqual(Array.from((back as { data: Float64Array }).data ?? (back as Float64Array)), Array.from(x));
      await dview.scatter('r', [1, 2, 3, 4, 5, 6, 7], { block: true });
      assert.deepEqual(await dview.pull('r', { block: true }), [[1, 2, 3], [4, 5], [6, 7]]);
      const range32 = Array.from({ length: 32 }, (_, i) => i);
      const sq = kind === 'node' ? (v: number) => v * v : 'lambda v: v * v';
      assert.deepEqual(await dview.mapSync(sq, range32), range32.map((v) => v * v));
      const big = Array.from({ length: 10_000 }, (_, i) => i);
      const t0 = performance.now();
      const got = await dview.mapSync(sq, big);
      const ms = performance.now() - t0;
      assert.deepEqual(got, big.map((v) => v * v));
      process.stderr.write(`mapSync of 10,000 items on 3 ${kind} engines: ${ms.toFixed(1)} ms\n`);
      assert.ok(ms < 3000, `mapSync of 10,000 items took ${ms} ms`);
    });

    test('errors: CompositeError and a bare RemoteError', async () => {
      const dview = rc.view();
      const code = kind === 'node' ? 'nope_undefined_x' : 'nope_undefined_x';
      const err = await (dview.execute(code) as AsyncResult<unknown>).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof CompositeError);
      const ename = kind === 'node' ? 'ReferenceError' : 'NameError';
      assert.equal(err.elist.length, 3);
      assert.ok(err.elist.every((e) => e.ename === ename));
      assert.match(err.message, new RegExp(`^one or more exceptions from call to method: execute\\n\\[0:execute\\]: ${ename}: `));
      await assert.rejects(dview.pull('nope_not_here', { targets: 1, block: true }), (e: unknown) => e instanceof RemoteError && e.engineId === 1 && /NameError/.test(e.ename));
    });

    test('interrupt stops running code; abort drops queued requests', async () => {
      const v = rc.view(0);
      const sleep = kind === 'node' ? 'await new Promise((r) => setTimeout(r, 20_000))' : 'import time\ntime.sleep(20)';
      const running = v.execute(sleep) as AsyncResult<unknown>;
      const queued = v.execute(sleep) as AsyncResult<unknown>;
      await new Promise((r) => setTimeout(r, 300));
      await v.abort({ results: queued });
      await assert.rejects(queued, (e: unknown) => e instanceof AbortError && e.engineId === 0);
      const t0 = Date.now();
      await v.interrupt();
      await assert.rejects(running, (e: unknown) => e instanceof RemoteError && /Interrupt/.test(e.ename));
      assert.ok(Date.now() - t0 < 5000);
      assert.equal(await v.applySync(kind === 'node' ? () => 'alive' : 'lambda: "alive"'), 'alive');
    });

    test('a client with the wrong key is refused within 2 s', async () => {
      const info = JSON.parse(fs.readFileSync(rc.connectionFile, 'utf8'));
      const wrong = path.join(dir, 'wrong-key.json');
      fs.writeFileSync(wrong, JSON.stringify({ ...info, key: 'wrong' }), { mode: 0o600 });
      const t0 = Date.now();
      await assert.rejects(Client.connect(wrong), (e: unknown) => e instanceof ConnectionError && e.message === 'connection refused: signature mismatch (is this the right connection file?)');
      assert.ok(Date.now() - t0 < 2000);
      assert.deepEqual(await rc.view().applySync(kind === 'node' ? () => 1 : 'lambda: 1'), [1, 1, 1], 'the controller keeps serving');
    });
  });
}
