// The task history fed by the controller's task events, against a real local cluster: a
// script's requests (another client) show up with their engines and outcome, once each; the
// app's own runs are not listed twice; selecting one fetches its record (output, error); a
// second app attaching later lists the earlier requests from the task database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TaskRecord } from '../../../preload/contract.js';
import { Client, type AsyncResult } from '../../../core/index.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';

const sink = { emit() {} };

function service(dir: string, attach: boolean): ClusterService {
  return new ClusterService({ events: sink, settings: new SettingsStore(null, { engineCount: 2, engineKind: 'node', attach, profile: 'hist' }), dir, heartbeatMs: 200 });
}

describe('the task history of every client, from task events and the task database', () => {
  let dir: string;
  let svc: ClusterService;
  let script: Client;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-hist-'));
    svc = service(dir, false);
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
    script = await Client.connect({ file: snap.connectionFile!, direct: false });
  }, 60_000);

  afterAll(async () => {
    script?.close();
    await svc.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  let retried: AsyncResult<string> | undefined;
  const byMsgId = (s: ClusterService, msgId: string): TaskRecord | undefined => s.tasks.list().find((t) => t.msgId === msgId);

  it("lists a script's requests with their engines and outcome, and the app's own runs once", async () => {
    const both = script.view([0, 1]).execute('console.log("hello " + 2); 5') as AsyncResult<unknown>;
    await both;
    const bad = script.view(1).execute('throw new TypeError("nope")') as AsyncResult<unknown>;
    await expect(bad).rejects.toThrow(/nope/);
    const lb = script.loadBalancedView();
    lb.label = 'halving';
    const task = lb.apply((x: number) => x / 2, 8) as AsyncResult<number>;
    expect(await task.get()).toBe(4);
    const own = svc.namespace.execute('6 * 7', [0, 1]);

    await vi.waitFor(() => expect(byMsgId(svc, task.msgIds[0])?.state).toBe('ok'), { timeout: 10_000 });
    await vi.waitFor(() => expect(byMsgId(svc, bad.msgIds[0])?.state).toBe('error'), { timeout: 10_000 });
    const t1 = byMsgId(svc, both.msgIds[0])!;
    expect([t1.kind, t1.code, t1.state, t1.client, t1.targets.sort()]).toEqual(['execute', 'console.log("hello " + 2); 5', 'ok', script.clientNumber, [0, 1]]);
    expect(t1.engines.map((e) => [e.engineId, e.state, typeof e.durationMs])).toEqual([
      [0, 'ok', 'number'],
      [1, 'ok', 'number'],
    ]);
    const t2 = byMsgId(svc, bad.msgIds[0])!;
    expect(t2.engines.map((e) => [e.engineId, e.state, e.error?.ename])).toEqual([[1, 'error', 'TypeError']]);
    const t3 = byMsgId(svc, task.msgIds[0])!;
    expect([t3.kind, t3.label, t3.client]).toEqual(['apply', 'halving', script.clientNumber]);

    await vi.waitFor(() => expect(svc.tasks.get(own.id).state).toBe('ok'), { timeout: 10_000 });
    expect(svc.tasks.list().filter((t) => t.code === '6 * 7').map((t) => [t.id, t.client])).toEqual([[own.id, undefined]]);
  });

  it('selecting one gives its record: output and error from the task database', async () => {
    const r = script.view(0).execute('console.log("detail out"); console.error("detail err"); throw new RangeError("far")') as AsyncResult<unknown>;
    await expect(r).rejects.toThrow(/far/);
    await vi.waitFor(() => expect(byMsgId(svc, r.msgIds[0])?.state).toBe('error'), { timeout: 10_000 });
    const listed = byMsgId(svc, r.msgIds[0])!;
    expect(listed.engines[0].stdout).toBe('');
    const full = await svc.clusterTasks.detail(listed.id);
    expect(full.engines.map((e) => [e.engineId, e.stdout, e.stderr, e.error?.ename, e.error?.evalue])).toEqual([[0, 'detail out\n', 'detail err\n', 'RangeError', expect.stringMatching(/far/)]]);
  });

  it('a load-balanced task retried after a failed first attempt shows as finished (ok), with its failed attempt', async () => {
    const marker = path.join(dir, 'first-attempt');
    // Fails wherever it runs first (the marker is not there yet), then succeeds on the other engine.
    const firstFails = (m: string) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- runs in the engine, whose namespace has require
      const fs = require('node:fs') as typeof import('node:fs');
      if (!fs.existsSync(m)) {
        fs.writeFileSync(m, '');
        throw new Error('first attempt');
      }
      return 'retried';
    };
    retried = script.loadBalancedView().withFlags({ retries: 1 }).apply(firstFails, marker) as AsyncResult<string>;
    expect(await retried.get()).toBe('retried');
    await vi.waitFor(() => expect(byMsgId(svc, retried!.msgIds[0])?.state).toBe('ok'), { timeout: 10_000 });
    expect(byMsgId(svc, retried.msgIds[0])!.engines.map((e) => e.state).sort()).toEqual(['error', 'ok']);
  });

  it('an app attaching later lists the earlier requests from the task database', async () => {
    const r = script.view([0, 1]).execute('console.log("before attach")') as AsyncResult<unknown>;
    await r;
    const later = service(dir, true);
    try {
      const snap = await later.connection.start();
      expect(snap.status, snap.error ?? '').toBe('running');
      await vi.waitFor(() => expect(byMsgId(later, r.msgIds[0])?.state).toBe('ok'), { timeout: 10_000 });
      // The retried task's two records (failed, then ok): ok from the database as from the events.
      await vi.waitFor(() => expect(byMsgId(later, retried!.msgIds[0])?.state).toBe('ok'), { timeout: 10_000 });
      // Its output comes with its record, as when it is selected (a request still finishing as the app attached is settled by the events).
      const t = await later.clusterTasks.detail(byMsgId(later, r.msgIds[0])!.id);
      expect([t.client, t.code, t.engines.map((e) => [e.engineId, e.state, e.stdout]).sort()]).toEqual([
        script.clientNumber,
        'console.log("before attach")',
        [
          [0, 'ok', 'before attach\n'],
          [1, 'ok', 'before attach\n'],
        ],
      ]);
    } finally {
      await later.dispose();
    }
  });
});
