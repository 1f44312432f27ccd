// The task stream's feed in main against a real local cluster: a script's requests reach the
// renderer as pushes in the contract's shape, a second app attaching later gets the earlier
// requests from the task database as events (with the engines' start and completion), and a
// stream task's record comes with its output.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StreamEvent, TaskStreamBatch } from '../../../preload/contract.js';
import { Client, type AsyncResult } from '../../../core/index.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';

function service(dir: string, attach: boolean, pushed: TaskStreamBatch[]): ClusterService {
  const events = { emit: (name: string, payload: unknown) => void (name === 'onTaskStream' && pushed.push(payload as TaskStreamBatch)) };
  return new ClusterService({ events, settings: new SettingsStore(null, { engineCount: 2, engineKind: 'node', attach, profile: 'stream' }), dir, heartbeatMs: 200 });
}

const finished = (batches: TaskStreamBatch[], msgId: string): StreamEvent[] => batches.flatMap((b) => b.events).filter((e) => e.msgId === msgId && e.event === 'finished');

describe('the task stream feed, from task events and the task database', () => {
  let dir: string;
  let svc: ClusterService;
  let script: Client;
  const pushed: TaskStreamBatch[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-stream-'));
    svc = service(dir, false, pushed);
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
    script = await Client.connect({ file: snap.connectionFile!, direct: false });
  }, 60_000);

  afterAll(async () => {
    script?.close();
    await svc.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("pushes a script's requests per engine, numbered; a second app attaching gets them from the database", async () => {
    const both = script.view([0, 1]).execute('console.log("streamed"); 5') as AsyncResult<unknown>;
    await both;
    const id = both.msgIds[0];
    await vi.waitFor(() => expect(finished(pushed, id).map((e) => e.engineId).sort()).toEqual([0, 1]), { timeout: 10_000 });
    const e = finished(pushed, id)[0];
    expect(e).toMatchObject({ kind: 'execute', status: 'ok', client: script.clientNumber });
    expect(e.start).toBeLessThanOrEqual(e.time);
    const seqs = pushed.map((b) => b.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(svc.stream.list().events.some((x) => x.msgId === id)).toBe(true);

    const record = await svc.stream.record(id);
    expect(record.engines.map((x) => [x.engineId, x.state, x.stdout])).toEqual([
      [0, 'ok', 'streamed\n'],
      [1, 'ok', 'streamed\n'],
    ]);
    await expect(svc.stream.record('no-such-task')).rejects.toThrow(/no record of task no-such-task/);

    const later: TaskStreamBatch[] = [];
    const second = service(dir, true, later);
    try {
      const snap = await second.connection.start();
      expect(snap.status, snap.error ?? '').toBe('running');
      await vi.waitFor(() => expect(finished(later, id).map((x) => x.engineId).sort()).toEqual([0, 1]), { timeout: 10_000 });
      const seeded = finished(later, id)[0];
      expect(seeded).toMatchObject({ kind: 'execute', status: 'ok', client: script.clientNumber });
      expect(typeof seeded.start).toBe('number');
      expect(later.flatMap((b) => b.events).find((x) => x.msgId === id && x.event === 'submitted')?.code).toContain('streamed');
      expect(second.stream.list().events.filter((x) => x.msgId === id && x.event === 'finished')).toHaveLength(2);
    } finally {
      await second.dispose();
    }
  }, 60_000);
});
