// The load-balanced queue in the app's services, against a real local cluster of 2 node engines:
// a user's client runs load-balanced tasks that wait on a file (no sleeps), and the engine rows
// show each engine's balanced tasks and the cluster snapshot the scheduler's unassigned count and
// scheme, pushed to the renderer, then 0 once they are done; and what a status says of it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ClusterSnapshot, EnginesChange, EngineRow, EventName, EventTypes } from '../../../preload/contract.js';
import { Client } from '../../../core/index.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { balancingOf, sameBalancing } from '../../../main/services/loadBalancing.js';
import { SettingsStore } from '../../../main/services/settings.js';

declare const require: (m: string) => typeof fs;

/** Runs on a node engine: waits until `file` exists, then returns `x`. */
async function held(file: string, x: number): Promise<number> {
  const { existsSync } = require('node:fs');
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 5));
  return x;
}

describe('balancingOf', () => {
  it("reads the scheduler's numbers from a status, and nothing from a controller without a scheduler", () => {
    expect(balancingOf({ unassigned: 3, scheme: 'lru', hwm: 0 })).toEqual({ scheme: 'lru', hwm: 0, unassigned: 3 });
    expect(balancingOf({ unassigned: 1 })).toEqual({ scheme: null, hwm: null, unassigned: 1 });
    expect(balancingOf({})).toBeNull();
    expect(sameBalancing({ scheme: 'lru', hwm: 2, unassigned: 1 }, { scheme: 'lru', hwm: 2, unassigned: 1 })).toBe(true);
    expect(sameBalancing({ scheme: 'lru', hwm: 2, unassigned: 1 }, { scheme: 'lru', hwm: 2, unassigned: 0 })).toBe(false);
    expect(sameBalancing(null, { scheme: 'lru', hwm: 2, unassigned: 0 })).toBe(false);
    expect(sameBalancing(null, null)).toBe(true);
  });
});

describe('the load-balanced queue in the engine table and the cluster snapshot', () => {
  let dir: string;
  let svc: ClusterService;
  let rc: Client;
  const snapshots: ClusterSnapshot[] = [];
  const rows = new Map<number, EngineRow>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-lb-'));
    const sink = {
      emit<K extends EventName>(name: K, payload: EventTypes[K]) {
        if (name === 'onClusterChanged') snapshots.push(payload as ClusterSnapshot);
        if (name === 'onEnginesChanged') {
          const c = payload as EnginesChange;
          if (c.reset) rows.clear();
          for (const id of c.removed) rows.delete(id);
          for (const r of c.rows) rows.set(r.id, r);
        }
      },
    };
    svc = new ClusterService({ events: sink, settings: new SettingsStore(null, { engineCount: 2, engineKind: 'node', attach: false, profile: 'lb' }), dir, heartbeatMs: 200 });
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
    rc = await Client.connect({ file: svc.connection.connectionFile! });
  }, 60_000);

  afterAll(async () => {
    rc?.close();
    await svc?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("shows the scheme and 0 unassigned once running; each engine's balanced tasks and the unassigned count while tasks wait; 0 when done", async () => {
    await vi.waitFor(() => expect(snapshots.at(-1)?.balancing).toMatchObject({ scheme: 'leastload', unassigned: 0 }), { timeout: 5000, interval: 20 });
    expect(snapshots.at(-1)!.balancing!.hwm).toBe((await rc.status()).hwm);
    expect([...rows.values()].map((r) => r.balanced)).toEqual([0, 0]);

    const gate = path.join(dir, 'gate');
    const lview = rc.loadBalancedView();
    // One held task per engine (leastload spreads them), then three that wait for those: unassigned.
    const first = lview.mapAsync(held, [gate, gate], [0, 1]);
    await vi.waitFor(() => expect([...rows.values()].map((r) => [r.state, r.balanced])).toEqual([['busy', 1], ['busy', 1]]), { timeout: 10_000, interval: 20 });
    const second = lview.mapAsync((x: number) => x * 2, [1, 2, 3], { after: first });
    await vi.waitFor(() => expect(snapshots.at(-1)?.balancing?.unassigned).toBe(3), { timeout: 10_000, interval: 20 });
    expect(svc.connection.snapshot().balancing).toMatchObject({ scheme: 'leastload', unassigned: 3 });
    expect(svc.table.list().map((r) => r.balanced)).toEqual([1, 1]);

    fs.writeFileSync(gate, '');
    expect(await first).toEqual([0, 1]);
    expect(await second).toEqual([2, 4, 6]);
    await vi.waitFor(() => expect(snapshots.at(-1)?.balancing?.unassigned).toBe(0), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect([...rows.values()].map((r) => [r.state, r.balanced])).toEqual([['idle', 0], ['idle', 0]]), { timeout: 10_000, interval: 20 });
  }, 60_000);

  it('a stopped cluster has no load balancing to show', async () => {
    const snap = await svc.connection.stopCluster();
    expect(snap.status).toBe('stopped');
    expect(snap.balancing).toBeNull();
    expect(snapshots.at(-1)!.balancing).toBeNull();
  }, 30_000);
});
