// ClusterService against a real local cluster (2 node engines, and a python one when python3
// is there): engine rows with task counters and process samples, the inspectors, the history.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EngineRow, EnginesChange, EventName, EventTypes } from '../../../preload/contract.js';
import { isAlive } from '../../../core/util/processes.js';
import { Client } from '../../../core/index.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import sys'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ClusterService with a real cluster', () => {
  let dir: string;
  let svc: ClusterService;
  const events: { name: EventName; payload: unknown }[] = [];
  const rows = new Map<number, EngineRow>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-svc-'));
    const sink = {
      emit<K extends EventName>(name: K, payload: EventTypes[K]) {
        events.push({ name, payload });
        if (name === 'onEnginesChanged') {
          const c = payload as EnginesChange;
          if (c.reset) rows.clear();
          for (const id of c.removed) rows.delete(id);
          for (const r of c.rows) rows.set(r.id, r);
        }
      },
    };
    svc = new ClusterService({ events: sink, settings: new SettingsStore(null, { engineCount: 2, engineKind: 'node', attach: false, profile: 'svc' }), dir, heartbeatMs: 200 });
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
  }, 60_000);

  afterAll(async () => {
    const pids = svc.connection.pids;
    await svc.dispose();
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const p of pids) expect(isAlive(p), `pid ${p} is gone`).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('lists the engines and pushes their rows in batches', async () => {
    await vi.waitFor(() => expect([...rows.keys()].sort()).toEqual([0, 1]), { timeout: 5000 });
    expect(svc.table.list().map((r) => [r.id, r.kernel, r.state])).toEqual([
      [0, 'node', 'idle'],
      [1, 'node', 'idle'],
    ]);
    expect(svc.connection.snapshot()).toMatchObject({ status: 'running', mode: 'local', profile: 'svc' });
    // While the engines started, the table had a row 'starting' for each, replaced as each registered.
    const changes = events.filter((e) => e.name === 'onEnginesChanged').map((e) => e.payload as EnginesChange);
    expect(changes.flatMap((c) => c.rows).filter((r) => r.state === 'starting' && r.id < 0).length).toBe(2);
    expect(svc.table.list().some((r) => r.id < 0)).toBe(false);
    expect(svc.connection.connectionFile).toMatch(/profile_svc/);
  });

  it('samples CPU and memory of local engines', async () => {
    if (process.platform === 'win32') return;
    await vi.waitFor(() => expect(rows.get(0)?.rss).toBeGreaterThan(1_000_000), { timeout: 5000 });
    await vi.waitFor(() => expect(rows.get(0)?.cpu).not.toBeNull(), { timeout: 5000 });
    expect(rows.get(0)!.rssHistory.length).toBeGreaterThan(0);
  });

  it('runs code as a task, and the controller reports the current task and tasks done', async () => {
    const before = svc.table.list()[0].tasksDone;
    const t = svc.namespace.execute('await new Promise((r) => setTimeout(r, 600)); console.log("hi"); 6 * 7', [0]);
    expect(t).toMatchObject({ kind: 'execute', targets: [0], state: 'running' });
    await vi.waitFor(() => expect(rows.get(0)?.state).toBe('busy'), { timeout: 5000, interval: 20 });
    expect(rows.get(0)?.currentTask?.msgType).toBe('execute');
    expect(Date.now() - rows.get(0)!.currentTask!.started).toBeLessThan(5000);
    await vi.waitFor(() => expect(svc.tasks.get(t.id).state).toBe('ok'), { timeout: 10_000 });
    const done = svc.tasks.get(t.id).engines[0];
    expect(done).toMatchObject({ engineId: 0, state: 'ok', stdout: 'hi\n', result: '42' });
    expect(done.durationMs).toBeGreaterThanOrEqual(500);
    await vi.waitFor(() => expect(rows.get(0)?.state).toBe('idle'), { timeout: 5000 });
    expect(rows.get(0)!.tasksDone).toBeGreaterThan(before);
    expect(rows.get(0)!.currentTask).toBeNull();
    expect(events.some((e) => e.name === 'onTaskChanged')).toBe(true);
  });

  it('pushes, lists, pulls, scatters and gathers', async () => {
    expect((await svc.namespace.push({ name: 'v', source: '[1, 2, 3]', format: 'json', targets: [1] })).state).toBe('ok');
    const ns = await svc.namespace.listNamespace([]);
    expect(ns.entries.find((e) => e.name === 'v')).toMatchObject({ type: 'Array', shape: [3], engines: [1], repr: '[ 1, 2, 3 ]' });
    const pulled = await svc.namespace.pull('v', []);
    expect(pulled.values[0]).toMatchObject({ engineId: 0, ok: false, error: { ename: 'NameError' } });
    expect(pulled.values[1]).toMatchObject({ engineId: 1, ok: true, value: { kind: 'list', length: 3 } });
    await svc.namespace.scatter({ name: 'sc', source: 'Array.from({ length: 5 }, (_, i) => i * 10)', format: 'expr', targets: [] });
    const g = await svc.namespace.gather('sc', []);
    expect(g.value).toMatchObject({ kind: 'list', length: 5 });
    expect(g.value.kind === 'list' && g.value.items.map((i) => (i.kind === 'scalar' ? i.text : '?'))).toEqual(['0', '10', '20', '30', '40']);
    await expect(svc.namespace.scatter({ name: 'x', source: '5', format: 'json', targets: [] })).rejects.toThrow(/needs a sequence/);
    await expect(svc.namespace.pull('v', [7])).rejects.toThrow(/no engine 7/);
  });

  it('describes python values too', { skip: !hasPython(), timeout: 60_000 }, async () => {
    const [id] = await svc.engines.addEngines({ n: 1, kind: 'python' });
    const t = svc.namespace.execute('xs = [1, 2, 3]\nname = "py"', [id]);
    await vi.waitFor(() => expect(svc.tasks.get(t.id).state).toBe('ok'), { timeout: 10_000 });
    const ns = await svc.namespace.listNamespace([id]);
    expect(ns.entries.map((e) => [e.name, e.type, e.length])).toEqual([
      ['name', 'str', 2],
      ['xs', 'list', 3],
    ]);
    await svc.engines.stopEngine(id);
  });

  it("compares values across languages, not their reprs ('(differs)' only when they differ)", { skip: !hasPython(), timeout: 60_000 }, async () => {
    const [py] = await svc.engines.addEngines({ n: 1, kind: 'python' });
    for (const [name, source] of [
      ['same', '{"b": [1, 2.5], "a": true}'],
      ['other', '[1, 2]'],
    ])
      expect((await svc.namespace.push({ name, source, format: 'json', targets: [0, py] })).state).toBe('ok');
    expect((await svc.namespace.push({ name: 'other', source: '[1, 3]', format: 'json', targets: [py] })).state).toBe('ok');
    const ns = await svc.namespace.listNamespace([0, py]);
    const entry = (n: string) => ns.entries.find((e) => e.name === n);
    expect(entry('same')).toMatchObject({ engines: [0, py], differs: false });
    expect(entry('same')?.repr).not.toBe(''); // node's repr and Python's differ, the values do not
    expect(entry('other')).toMatchObject({ engines: [0, py], differs: true });
    await svc.engines.stopEngine(py);
  });

  it("counts the user's tasks as done, not the app's own namespace probes", async () => {
    const rc = svc.connection.client();
    const raw = async () => (await rc.status()).engines.find((e) => e.id === 0)!.tasks_done ?? 0;
    // Engines report direct requests done in throttled activity reports: let the last test's settle.
    await vi.waitFor(async () => {
      const n = await raw();
      await new Promise((r) => setTimeout(r, 300)); // quiet: no report during this pause
      expect(await raw()).toBe(n);
    });
    const rawBefore = await raw();
    const before = svc.table.row(0)!.tasksDone;
    for (let i = 0; i < 3; i++) await svc.namespace.listNamespace([0]);
    // The controller counted the probes (two requests each: the names, then their descriptions)...
    await vi.waitFor(async () => expect(await raw()).toBe(rawBefore + 6), { timeout: 5000 });
    // ...the table does not.
    expect(svc.table.row(0)!.tasksDone).toBe(before);
    await svc.namespace.pull('v', [0]); // a user's request counts
    await vi.waitFor(async () => expect(await raw()).toBe(rawBefore + 7), { timeout: 5000 });
    expect(svc.table.row(0)!.tasksDone).toBe(before + 1);
  });

  it("tells the page when namespaces may have changed: another client's request finished", async () => {
    const other = await Client.connect({ file: svc.connection.connectionFile! });
    try {
      const seen = () => events.filter((e) => e.name === 'onNamespacesChanged').length;
      await vi.waitFor(async () => {
        const n = seen();
        await new Promise((r) => setTimeout(r, 300)); // quiet: no event during this pause
        expect(seen()).toBe(n); // quiet first
      });
      const n = seen();
      await other.view(1).execute('globalThis.fromConsole = 5');
      await vi.waitFor(() => expect(seen()).toBeGreaterThan(n), { timeout: 5000 });
      const last = events.filter((e) => e.name === 'onNamespacesChanged').at(-1)!.payload as EventTypes['onNamespacesChanged'];
      expect(last.engines).toContain(1);
      // Listing the namespace (the page's answer to that event) is no reason to list it again.
      const m = seen();
      await svc.namespace.listNamespace([]);
      await new Promise((r) => setTimeout(r, 600)); // a pause in which no new event may come
      expect(seen()).toBe(m);
    } finally {
      other.close();
    }
  });

  it("a task's engine is running while the engine runs it, pending while it waits in the queue", async () => {
    const first = svc.namespace.execute('await new Promise((r) => setTimeout(r, 800)); 1', [1]);
    const second = svc.namespace.execute('2', [1]);
    await vi.waitFor(() => expect(svc.tasks.get(first.id).engines[0].state).toBe('running'), { timeout: 5000, interval: 20 });
    expect(svc.table.row(1)?.state).toBe('busy');
    expect(svc.tasks.get(second.id).engines[0].state).toBe('pending');
    await vi.waitFor(() => expect(svc.tasks.get(second.id).state).toBe('ok'), { timeout: 10_000 });
    expect(svc.tasks.get(first.id).engines[0].state).toBe('ok');
  });

  it('restarting an engine keeps its row (so the page keeps it selected): it is starting, then idle with a new pid', async () => {
    const from = events.length;
    const pid = svc.table.row(0)!.pid;
    await svc.engines.restartEngine(0);
    await vi.waitFor(() => expect(rows.get(0)).toMatchObject({ state: 'idle' }), { timeout: 5000 });
    expect(rows.get(0)!.pid).not.toBe(pid);
    const changes = events.slice(from).filter((e) => e.name === 'onEnginesChanged').map((e) => e.payload as EnginesChange);
    expect(changes.flatMap((c) => c.removed)).not.toContain(0);
    expect(changes.some((c) => c.reset)).toBe(false);
  });

  it('interrupts a busy engine', async () => {
    const t = svc.namespace.execute('while (true) {}', [1]);
    await vi.waitFor(() => expect(rows.get(1)?.state).toBe('busy'), { timeout: 5000, interval: 20 });
    await svc.engines.interruptEngines([1]);
    await vi.waitFor(() => expect(svc.tasks.get(t.id).state).toBe('error'), { timeout: 10_000 });
    expect(svc.tasks.get(t.id).engines[0].error?.ename).toMatch(/Interrupt/);
    await vi.waitFor(() => expect(rows.get(1)?.state).toBe('idle'), { timeout: 5000 });
  });
});
