// ClusterService against a real local cluster (2 node engines, and a python one when python3
// is there): engine rows with task counters and process samples, the inspectors, the history.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EngineRow, EnginesChange, EventName, EventTypes } from '../../../preload/contract.js';
import { isAlive } from '../../../core/util/processes.js';
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
    const snap = await svc.start();
    expect(snap.status, snap.error ?? '').toBe('running');
  }, 60_000);

  afterAll(async () => {
    const pids = svc.pids;
    await svc.dispose();
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const p of pids) expect(isAlive(p), `pid ${p} is gone`).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('lists the engines and pushes their rows in batches', async () => {
    await vi.waitFor(() => expect([...rows.keys()].sort()).toEqual([0, 1]), { timeout: 5000 });
    expect(svc.listEngines().map((r) => [r.id, r.kernel, r.state])).toEqual([
      [0, 'node', 'idle'],
      [1, 'node', 'idle'],
    ]);
    expect(svc.snapshot()).toMatchObject({ status: 'running', mode: 'local', profile: 'svc' });
    // While the engines started, the table had a row 'starting' for each, replaced as each registered.
    const changes = events.filter((e) => e.name === 'onEnginesChanged').map((e) => e.payload as EnginesChange);
    expect(changes.flatMap((c) => c.rows).filter((r) => r.state === 'starting' && r.id < 0).length).toBe(2);
    expect(svc.listEngines().some((r) => r.id < 0)).toBe(false);
    expect(svc.connectionFile).toMatch(/profile_svc/);
  });

  it('samples CPU and memory of local engines', async () => {
    if (process.platform === 'win32') return;
    await vi.waitFor(() => expect(rows.get(0)?.rss).toBeGreaterThan(1_000_000), { timeout: 5000 });
    await vi.waitFor(() => expect(rows.get(0)?.cpu).not.toBeNull(), { timeout: 5000 });
    expect(rows.get(0)!.rssHistory.length).toBeGreaterThan(0);
  });

  it('runs code as a task, and the controller reports the current task and tasks done', async () => {
    const before = svc.listEngines()[0].tasksDone;
    const t = svc.execute('await new Promise((r) => setTimeout(r, 600)); console.log("hi"); 6 * 7', [0]);
    expect(t).toMatchObject({ kind: 'execute', targets: [0], state: 'running' });
    await vi.waitFor(() => expect(rows.get(0)?.state).toBe('busy'), { timeout: 5000, interval: 20 });
    expect(rows.get(0)?.currentTask?.msgType).toBe('execute_request');
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
    expect((await svc.push({ name: 'v', source: '[1, 2, 3]', format: 'json', targets: [1] })).state).toBe('ok');
    const ns = await svc.listNamespace([]);
    expect(ns.entries.find((e) => e.name === 'v')).toMatchObject({ type: 'Array', shape: [3], engines: [1], repr: '[ 1, 2, 3 ]' });
    const pulled = await svc.pull('v', []);
    expect(pulled.values[0]).toMatchObject({ engineId: 0, ok: false, error: { ename: 'NameError' } });
    expect(pulled.values[1]).toMatchObject({ engineId: 1, ok: true, value: { kind: 'list', length: 3 } });
    await svc.scatter({ name: 'sc', source: 'Array.from({ length: 5 }, (_, i) => i * 10)', format: 'expr', targets: [] });
    const g = await svc.gather('sc', []);
    expect(g.value).toMatchObject({ kind: 'list', length: 5 });
    expect(g.value.kind === 'list' && g.value.items.map((i) => (i.kind === 'scalar' ? i.text : '?'))).toEqual(['0', '10', '20', '30', '40']);
    await expect(svc.scatter({ name: 'x', source: '5', format: 'json', targets: [] })).rejects.toThrow(/needs a sequence/);
    await expect(svc.pull('v', [7])).rejects.toThrow(/no engine 7/);
  });

  it('describes python values too', { skip: !hasPython(), timeout: 60_000 }, async () => {
    const [id] = await svc.addEngines({ n: 1, kind: 'python' });
    const t = svc.execute('xs = [1, 2, 3]\nname = "py"', [id]);
    await vi.waitFor(() => expect(svc.tasks.get(t.id).state).toBe('ok'), { timeout: 10_000 });
    const ns = await svc.listNamespace([id]);
    expect(ns.entries.map((e) => [e.name, e.type, e.length])).toEqual([
      ['name', 'str', 2],
      ['xs', 'list', 3],
    ]);
    await svc.stopEngine(id);
  });

  it('interrupts a busy engine', async () => {
    const t = svc.execute('while (true) {}', [1]);
    await vi.waitFor(() => expect(rows.get(1)?.state).toBe('busy'), { timeout: 5000, interval: 20 });
    await svc.interruptEngines([1]);
    await vi.waitFor(() => expect(svc.tasks.get(t.id).state).toBe('error'), { timeout: 10_000 });
    expect(svc.tasks.get(t.id).engines[0].error?.ename).toMatch(/Interrupt/);
    await vi.waitFor(() => expect(rows.get(1)?.state).toBe('idle'), { timeout: 5000 });
  });
});
