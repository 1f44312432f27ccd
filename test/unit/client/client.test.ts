/**
 * The client against an in-process fake controller that speaks the real wire protocol:
 * connecting, routing replies and streams, result shapes, errors, and the view methods. The
 * tutorial's value checks that need only the protocol (seedScenarios.ts) run on this scripted
 * controller from test/integration/seeds.test.ts; here are what they do not check.
 */
import { afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AbortError, AsyncResult, Client, CompositeError, ConnectionError, EngineError, NDArray, RemoteError, requireModules, TimeoutError, type DirectView, type ExecuteResult } from '../../../core/client/index.js';
import type { Message } from '../../../core/protocol/messages.js';
import { scriptedSession, startScriptedController, type ScriptedController } from './scriptedController.js';

declare const a: number, b: number;

function workSent(fc: ScriptedController, since = 0): Message[] {
  return fc.received.slice(since).filter((m) => /^(execute|apply|push|pull|keys|clear)_request$/.test(m.header.msg_type));
}

describe('connecting', () => {
  test('reads the connection file, learns the engines and closes cleanly', async () => {
    const fc = await startScriptedController({ n: 3 });
    try {
      const rc = await Client.connect(fc.file);
      assert.deepEqual(rc.ids, [0, 1, 2]);
      assert.equal(rc.engines.length, 3);
      assert.equal(rc.controllerPid, process.pid);
      const connect = fc.received.find((m) => m.header.msg_type === 'connect_request')!;
      assert.deepEqual(connect.content, { subscribe: 'registration' });
      rc.close();
      assert.equal(rc.isClosed, true);
    } finally {
      await fc.close();
    }
  });

  test('{ profile, dir } finds the profile file', async () => {
    const fc = await startScriptedController({ n: 1 });
    try {
      const dir = path.join(fc.dir, 'home');
      const target = path.join(dir, 'profile_mpi', 'security', 'multiengine-client.json');
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(fc.file, target);
      fs.chmodSync(target, 0o600);
      const rc = await Client.connect({ profile: 'mpi', dir });
      assert.deepEqual(rc.ids, [0]);
      rc.close();
      await assert.rejects(Client.connect({ profile: 'nope', dir }), /no connection file at .*profile_nope/);
    } finally {
      await fc.close();
    }
  });

  test('a wrong key is refused quickly with a message that says so', async () => {
    const fc = await startScriptedController({ n: 1 });
    try {
      const info = JSON.parse(fs.readFileSync(fc.file, 'utf8'));
      const wrong = path.join(fc.dir, 'wrong.json');
      fs.writeFileSync(wrong, JSON.stringify({ ...info, key: 'not-the-key' }), { mode: 0o600 });
      const t0 = Date.now();
      await assert.rejects(Client.connect(wrong), (e: unknown) => e instanceof ConnectionError && e.message === 'connection refused: signature mismatch (is this the right connection file?)');
      assert.ok(Date.now() - t0 < 2000, 'within 2 s');
    } finally {
      await fc.close();
    }
  });

  test('a controller that is not running is named', async () => {
    const fc = await startScriptedController({ n: 1 });
    const text = fs.readFileSync(fc.file, 'utf8');
    await fc.close();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-client-gone-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, text, { mode: 0o600 });
    try {
      await assert.rejects(Client.connect(file), (e: unknown) => e instanceof ConnectionError && /ECONNREFUSED/.test(e.message) && /is the cluster running/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('connect takes a path or options, nothing else', async () => {
    await assert.rejects(Client.connect(42 as unknown as string), TypeError);
  });
});

describe('a view on four engines', () => {
  const s = scriptedSession(4);
  let dview: DirectView<false>;

  before(() => {
    dview = s.rc.view();
  });
  afterEach(() => {
    dview.block = false;
    dview.targets = undefined;
  });

  test('execute: one message for all targets, per-engine results with output', async () => {
    const before = s.fc.received.length;
    const ar = dview.execute('console.log("hi", 7); 1 + 1') as AsyncResult<ExecuteResult[]>;
    assert.ok(ar instanceof AsyncResult);
    const out = await ar;
    const sent = workSent(s.fc, before);
    assert.equal(sent.length, 1, 'one message');
    assert.deepEqual(sent[0].metadata.targets, [0, 1, 2, 3]);
    assert.deepEqual(out.map((o) => o.engineId), [0, 1, 2, 3]);
    assert.deepEqual(out.map((o) => o.stdout), Array(4).fill('hi 7\n'));
    assert.deepEqual(out.map((o) => o.result), Array(4).fill('2'));
    assert.ok(out.every((o) => o.executionCount >= 1));
    assert.deepEqual(ar.stdout, Array(4).fill('hi 7\n'));
    assert.deepEqual(ar.stderr, Array(4).fill(''));
    assert.deepEqual(ar.engineIds, [0, 1, 2, 3]);
    assert.equal(ar.msgIds.length, 4);
    assert.equal(new Set(ar.msgIds).size, 1);
    assert.equal(ar.progress, 4);
    assert.ok(ar.ready() && ar.successful());
    assert.ok(ar.elapsedMs >= 0);
  });

  test('block: true gives a Promise of values; a single target gives the bare value', async () => {
    dview.block = true;
    const p = dview.push({ a: 5, b: 10 });
    assert.ok(p instanceof Promise);
    await p;
    assert.deepEqual(await dview.applySync((x: number) => a + b + x, 27), [42, 42, 42, 42]);
    assert.equal(await dview.pull('a', { targets: 0 }), 5);
    assert.deepEqual(await s.rc.view(2).applySync(() => 'bare'), 'bare');
    assert.deepEqual(await dview.pull(['a', 'b'], { targets: [1, 3] }), [[5, 10], [5, 10]]);
    assert.deepEqual(await dview.zipPull(['a', 'b']), [[5, 5, 5, 5], [10, 10, 10, 10]]);
    assert.ok(dview.execute('1', { block: false }) instanceof AsyncResult, 'per-call block overrides');
    assert.equal(dview.block, true);
  });

  test('apply accepts a string of source, and awaits a promise result', async () => {
    assert.deepEqual(await dview.applySync('(x, y) => x * y', 6, 7), [42, 42, 42, 42]);
    assert.deepEqual(await dview.applySync(async (x: number) => x + 1, 1), [2, 2, 2, 2]);
    const ar = dview.applyAsync(() => 3);
    assert.ok(ar instanceof AsyncResult);
    assert.deepEqual(await ar, [3, 3, 3, 3]);
  });

  test('remote(opts)(fn) runs on the view and returns per-engine values', async () => {
    const f = dview.remote({ block: true })((x: number) => x * 2);
    assert.deepEqual(await f(21), [42, 42, 42, 42]);
    const g = dview.remote({ targets: 1, block: true })(() => 'one');
    assert.equal(await g(), 'one');
  });

  test('map: element-wise over several sequences, in order, one message per engine', async () => {
    const before = s.fc.received.length;
    const n = 10_000;
    const xs = Array.from({ length: n }, (_, i) => i);
    const ys = Float64Array.from(xs, (x) => x / 2);
    const got = await dview.mapSync((x: number, y: number) => x + y, xs, ys);
    assert.deepEqual(got, xs.map((x) => x + x / 2));
    assert.equal(workSent(s.fc, before).length, 4, 'one apply_request per engine');
    const ar = dview.mapAsync((x: number) => -x, [1, 2, 3]);
    assert.ok(ar instanceof AsyncResult);
    assert.deepEqual(await ar, [-1, -2, -3]);
    assert.deepEqual(await dview.mapSync(async (x: number) => x * 3, [1, 2]), [3, 6], 'async functions are awaited');
  });

  test('parallel hands each engine its blocks and concatenates', async () => {
    const n = 1001;
    const x = Float64Array.from({ length: n }, (_, i) => i * 0.5);
    const y = Float64Array.from({ length: n }, (_, i) => n - i);
    const pmul = dview.parallel({ block: true })((p: Float64Array, q: Float64Array) => p.map((v, i) => v * q[i]));
    const got = await pmul(x, y);
    assert.ok(got instanceof Float64Array);
    assert.deepEqual(got, x.map((v, i) => v * y[i]));
    const scale = dview.parallel({ block: true })((p: number[], k: number) => p.map((v) => v * k));
    assert.deepEqual(await scale([1, 2, 3, 4, 5], 10), [10, 20, 30, 40, 50], 'non-sequence arguments are passed whole');
    const mul = dview.parallel({ block: true })((p: number, q: number) => p * q);
    assert.deepEqual(await mul.map([1, 2, 3], [4, 5, 6]), [4, 10, 18], '.map is element-wise');
  });

  test('scatter: one push per engine; gather from some targets; an NDArray keeps its shape', async () => {
    dview.block = true;
    const range16 = Array.from({ length: 16 }, (_, i) => i);
    const before = s.fc.received.length;
    await dview.scatter('a', range16);
    const pushes = workSent(s.fc, before);
    assert.equal(pushes.length, 4);
    assert.deepEqual(pushes.map((m) => m.metadata.targets), [[0], [1], [2], [3]]);
    const nd = new NDArray(Int32Array.from({ length: 8 }, (_, i) => i), [4, 2]);
    await dview.scatter('nd', nd);
    const g = (await dview.gather('nd')) as NDArray;
    assert.deepEqual(g.shape, [4, 2]);
    assert.deepEqual(g.toArray(), nd.toArray());
    assert.deepEqual(await dview.gather('a', { targets: [2, 3] }), [8, 9, 10, 11, 12, 13, 14, 15]);
  });

  test('keys with a single target gives that engine\'s names alone', async () => {
    await dview.update({ k1: 1 });
    const keys = (await dview.keys({ targets: 0 })) as string[];
    assert.ok(keys.every((k) => typeof k === 'string'), `a flat list: ${JSON.stringify(keys)}`);
    assert.ok(keys.includes('k1'));
  });

  test('clear empties the namespace', async () => {
    const v = s.rc.view(3);
    await v.push({ gone: 1 }, { block: true });
    await v.clear({ block: true });
    assert.deepEqual(await v.keys(), []);
  });

  test('several failures reject with CompositeError, in target order', async () => {
    let err: unknown;
    try {
      await dview.execute('nope_undefined_x', { block: true });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CompositeError);
    const lines = [0, 1, 2, 3].map((i) => `[${i}:execute]: ReferenceError: nope_undefined_x is not defined`);
    assert.equal(err.message, ['one or more exceptions from call to method: execute', ...lines].join('\n'));
    assert.throws(() => err.raiseException(), (e: unknown) => e instanceof RemoteError && e.ename === 'ReferenceError' && e.engineId === 0);
    assert.throws(() => err.raiseException(2), (e: unknown) => e instanceof RemoteError && e.engineId === 2);
    assert.ok(err.elist[0].traceback.length > 0);
  });

  test('one failing engine among several is still a CompositeError; a single target rejects with the RemoteError itself', async () => {
    await dview.push({ only2: 1 }, { block: true, targets: [2] });
    await assert.rejects(dview.pull('only2', { block: true }), (e: unknown) => e instanceof CompositeError && e.elist.length === 3 && e.elist.map((x) => x.engineId).join() === '0,1,3');
    await assert.rejects(dview.pull('nope_not_here', { targets: 2, block: true }), (e: unknown) => e instanceof RemoteError && !(e instanceof CompositeError) && e.engineId === 2 && e.ename === 'NameError' && e.method === 'pull');
  });

  test('requireModules sends require; a missing module fails with UnmetDependencyError', async () => {
    const before = s.fc.received.length;
    const f = requireModules('node:os')('() => typeof os.cpus');
    assert.equal(typeof f, 'function');
    assert.deepEqual(await dview.applySync(f), Array(4).fill('function'));
    const sent = workSent(s.fc, before)[0];
    assert.deepEqual((sent.content as { require?: string[] }).require, ['node:os']);
    assert.match((sent.content as { fn: string }).fn, /typeof os\.cpus/);
    const g = requireModules('missing_mod')(() => 1);
    await assert.rejects(s.rc.view(0).applySync(g), (e: unknown) => e instanceof RemoteError && e.ename === 'UnmetDependencyError');
  });

  test('syncImports sends apply_request with no function and require', async () => {
    const before = s.fc.received.length;
    await dview.syncImports('node:path');
    assert.equal(await dview.wait(undefined, 2000), true);
    const sent = workSent(s.fc, before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].header.msg_type, 'apply_request');
    assert.deepEqual(sent[0].content, { fn: '', args: [], require: ['node:path'] });
    assert.deepEqual(sent[0].metadata.targets, [0, 1, 2, 3]);
  });

  test('run(path) executes a local file', async () => {
    const file = path.join(s.fc.dir, 'script.js');
    fs.writeFileSync(file, 'ran = 40 + 2');
    await dview.run(file, { block: true });
    assert.deepEqual(await dview.pull('ran', { block: true }), [42, 42, 42, 42]);
    assert.throws(() => dview.run(path.join(s.fc.dir, 'missing.js')), /run: cannot read .*missing\.js: ENOENT/);
  });
});

describe('AsyncResult', () => {
  const s = scriptedSession(2);

  test('get(timeout) rejects with TimeoutError and the work goes on; wait resolves a boolean', async () => {
    s.fc.engines.get(0)!.handler = () => ({ content: { status: 'ok', result: 'late' }, delayMs: 300 });
    try {
      const ar = s.rc.view(0).apply(() => 'x') as AsyncResult<unknown>;
      await assert.rejects(ar.get(50), (e: unknown) => e instanceof TimeoutError && e.message === 'Result not ready.');
      assert.equal(ar.ready(), false);
      assert.equal(ar.successful(), false);
      assert.equal(ar.progress, 0);
      assert.equal(await ar.wait(20), false);
      assert.equal(await ar.wait(2000), true);
      assert.equal(await ar.get(10), 'late');
      assert.equal(await s.rc.wait([ar], 10), true);
    } finally {
      delete s.fc.engines.get(0)!.handler;
    }
  });

  test('s.rc.wait with no results waits for everything outstanding', async () => {
    s.fc.engines.get(1)!.handler = () => ({ content: { status: 'ok', result: 1 }, delayMs: 150 });
    try {
      const ar = s.rc.view(1).apply(() => 1) as AsyncResult<unknown>;
      assert.equal(s.rc.outstandingResults.length, 1);
      assert.equal(await s.rc.wait(undefined, 10), false);
      assert.equal(await s.rc.wait(), true);
      assert.ok(ar.ready());
      assert.equal(s.rc.outstandingResults.length, 0);
    } finally {
      delete s.fc.engines.get(1)!.handler;
    }
  });

  test('output streams grow per engine and reach onOutput listeners', async () => {
    s.fc.engines.get(0)!.handler = () => ({ content: { status: 'ok', execution_count: 1 }, streams: [{ name: 'stdout', text: 'zero ' }, { name: 'stderr', text: 'warn' }, { name: 'stdout', text: 'again' }] });
    s.fc.engines.get(1)!.handler = () => ({ content: { status: 'ok', execution_count: 1 }, streams: [{ name: 'stdout', text: 'one' }] });
    try {
      const ar = s.rc.view().execute('x') as AsyncResult<ExecuteResult[]>;
      const seen: string[] = [];
      ar.onDidReceiveOutput((ev) => seen.push(`${ev.engineId}:${ev.name}:${ev.text}`));
      const out = await ar;
      assert.deepEqual(out.map((o) => o.stdout), ['zero again', 'one']);
      assert.deepEqual(out.map((o) => o.stderr), ['warn', '']);
      assert.deepEqual(seen.sort(), ['0:stderr:warn', '0:stdout:again', '0:stdout:zero ', '1:stdout:one']);
    } finally {
      delete s.fc.engines.get(0)!.handler;
      delete s.fc.engines.get(1)!.handler;
    }
  });

  test('streams without engine_id are attributed by the sender session', async () => {
    for (const e of s.fc.engines.values()) e.streamEngineId = false;
    try {
      const out = (await s.rc.view().execute('console.log("who")', { block: true })) as ExecuteResult[];
      assert.deepEqual(out.map((o) => o.stdout), ['who\n', 'who\n']);
      const again = (await s.rc.view().execute('console.log("again")', { block: true })) as ExecuteResult[];
      assert.deepEqual(again.map((o) => o.stdout), ['again\n', 'again\n']);
    } finally {
      for (const e of s.fc.engines.values()) e.streamEngineId = true;
    }
  });

  test('a failure nobody awaits does not crash the process', async () => {
    let unhandled = 0;
    const onUnhandled = () => unhandled++;
    process.on('unhandledRejection', onUnhandled);
    try {
      const ar = s.rc.view().execute('throw new Error("ignored")');
      assert.equal(await s.rc.wait([ar as AsyncResult<unknown>], 2000), true);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(unhandled, 0);
      assert.equal((ar as AsyncResult<unknown>).successful(), false);
      assert.ok((ar as AsyncResult<unknown>).error instanceof CompositeError);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('abort: queued requests reject with AbortError', async () => {
    s.fc.engines.get(0)!.handler = () => ({ content: { status: 'ok', result: 1 }, delayMs: 5000 });
    try {
      const v = s.rc.view(0);
      const ar = v.apply(() => 1) as AsyncResult<unknown>;
      await v.abort();
      await assert.rejects(ar, (e: unknown) => e instanceof AbortError && e.engineId === 0);
      const sent = s.fc.received.filter((m) => m.header.msg_type === 'abort_request').at(-1)!;
      assert.deepEqual(sent.metadata.targets, [0]);
      const ar2 = v.apply(() => 2) as AsyncResult<unknown>;
      await ar2.abort();
      await assert.rejects(ar2, AbortError);
      const sent2 = s.fc.received.filter((m) => m.header.msg_type === 'abort_request').at(-1)!;
      // It names the requests and their engines, so an engine can drop one that reaches it (directly) after the abort.
      assert.deepEqual((sent2.content as { msg_ids: string[] }).msg_ids, ar2.msgIds);
      assert.deepEqual(sent2.metadata.targets, [0]);
    } finally {
      delete s.fc.engines.get(0)!.handler;
    }
  });

  test('interrupt sends interrupt_request with the targets', async () => {
    await s.rc.view([1]).interrupt();
    const sent = s.fc.received.filter((m) => m.header.msg_type === 'interrupt_request').at(-1)!;
    assert.deepEqual(sent.metadata.targets, [1]);
  });
});

describe('engines coming and going', () => {
  test('engine events keep ids current; a dead engine fails its requests with EngineError', async () => {
    const fc = await startScriptedController({ n: 3 });
    const rc = await Client.connect(fc.file);
    try {
      const changes: string[] = [];
      const sub = rc.onDidChangeEngines((c) => changes.push(`${c.event}:${c.engine?.id}:${c.ids.join(',')}`));
      const e3 = fc.addEngine();
      fc.publish('registered', e3.info);
      await waitFor(() => rc.ids.length === 4);
      assert.deepEqual(rc.ids, [0, 1, 2, 3]);
      assert.deepEqual(await rc.view().applySync(() => 1), [1, 1, 1, 1], 'a view with no targets follows the engine list');

      fc.engines.get(1)!.handler = () => ({ content: { status: 'ok', result: 1 }, delayMs: 10_000 });
      const running = rc.view(1).apply(() => 1) as AsyncResult<unknown>;
      const everywhere = rc.view().apply(() => 1) as AsyncResult<unknown>;
      await new Promise((r) => setTimeout(r, 30));
      fc.kill(1, 'exited with signal SIGKILL');
      await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.engineId === 1 && /engine 1 is dead/.test(e.message));
      await assert.rejects(everywhere, (e: unknown) => e instanceof CompositeError && e.elist.length === 1 && e.elist[0] instanceof EngineError);
      await waitFor(() => !rc.ids.includes(1));
      assert.equal(rc.engines.find((e) => e.id === 1)?.state, 'dead');
      assert.deepEqual(await rc.view().applySync(() => 'still here'), ['still here', 'still here', 'still here']);
      // A dead engine named explicitly is sent to; the controller answers for it.
      await assert.rejects(rc.view(1).execute('1', { block: true }), (e: unknown) => e instanceof EngineError && /engine 1/.test(e.message));

      fc.publish('unregistered', fc.engines.get(2)!.info);
      await waitFor(() => rc.engines.length === 3);
      assert.throws(() => rc.view(2).execute('1'), /^RangeError: no engine with id 2 \(engines: 0, 3\)$/);
      sub.dispose();
      assert.ok(changes.includes('registered:3:0,1,2,3'));
      assert.ok(changes.includes('state:1:0,2,3'));
      const s = await rc.status();
      assert.equal(s.engines.length, 4);
      assert.equal(typeof s.dropped_messages, 'number');
    } finally {
      rc.close();
      await fc.close();
    }
  });

  test('losing the controller fails outstanding results with EngineError and control requests with ConnectionError', async () => {
    const fc = await startScriptedController({ n: 2 });
    const rc = await Client.connect(fc.file);
    try {
      for (const e of fc.engines.values()) e.handler = () => ({ content: { status: 'ok', result: 1 }, delayMs: 10_000 });
      const ar = rc.view().apply(() => 1) as AsyncResult<unknown>;
      await new Promise((r) => setTimeout(r, 30));
      fc.dropClients();
      await assert.rejects(ar, (e: unknown) => e instanceof CompositeError && e.elist.every((x) => x instanceof EngineError && /lost the connection/.test(x.evalue)));
      assert.equal(rc.isClosed, true);
      assert.throws(() => rc.view().execute('1'), ConnectionError);
      await assert.rejects(rc.status(), ConnectionError);
    } finally {
      rc.close();
      await fc.close();
    }
  });

  test('map to a python engine sends the python helper', async () => {
    const fc = await startScriptedController({ n: 2, kernels: ['node', 'python'] });
    const rc = await Client.connect(fc.file);
    try {
      const py = fc.engines.get(1)!;
      let seen: Message | undefined;
      py.handler = (msg) => {
        seen = msg;
        return { content: { status: 'ok', result: [4, 9] } };
      };
      // Engine 0 (node) cannot run python source, so give it a handler too.
      fc.engines.get(0)!.handler = () => ({ content: { status: 'ok', result: [0, 1] } });
      assert.deepEqual(await rc.view().mapSync('lambda x: x * x', [0, 1, 2, 3]), [0, 1, 4, 9]);
      const c = seen!.content as { fn: string; args: unknown[] };
      assert.equal(c.fn, '(lambda f: lambda *seqs: [f(*a) for a in zip(*seqs)])(lambda x: x * x)');
      assert.deepEqual(c.args, [[2, 3]]);
    } finally {
      rc.close();
      await fc.close();
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

