// The engine monitor against a real controller with fake engines: an engine that reports its own
// stats is shown by them (host, CPU, memory) even when its pid means nothing on this host; an
// engine that reports none and runs here is sampled from /proc.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client } from '../../../core/index.js';
import { isAlive } from '../../../core/util/processes.js';
import type { EngineStats } from '../../../core/protocol/messages.js';
import { EngineMonitor } from '../../../main/services/engineMonitor.js';
import { EngineTable } from '../../../main/services/engineTable.js';
import { FakeEngine, startController, type RunningController } from '../controller/helpers.js';

/** A pid no process here has: what a pid on another host means to this one. */
function foreignPid(): number {
  for (let pid = 4_194_000; pid > 1; pid--) if (!isAlive(pid)) return pid;
  throw new Error('no free pid');
}

describe('EngineMonitor', () => {
  let ctl: RunningController;
  let rc: Client;
  let table: EngineTable;
  let monitor: EngineMonitor;
  const engines: FakeEngine[] = [];

  beforeAll(async () => {
    ctl = await startController([], { heartbeatMs: 100, deadAfterMs: 5000 });
  }, 30_000);

  afterAll(async () => {
    monitor?.dispose();
    table?.dispose();
    rc?.close();
    for (const e of engines) e.close();
    await ctl?.stop();
  });

  it("shows an engine's own report (host, CPU, memory, each report once in the history), and samples /proc only for a local engine that reports none", async () => {
    const pid = foreignPid();
    // Registered as if on this host, so only its report can tell the monitor where and how big it is.
    const remote = await FakeEngine.start(ctl, { pid, host: os.hostname() });
    const local = await FakeEngine.start(ctl); // this test process: it has a /proc entry
    engines.push(remote, local);
    const report = (stats: EngineStats) => remote.heart!.send('heartbeat', { uuid: remote.uuid, id: remote.id, stats });
    report({ host: 'hostb', cpu: 42.46, rss: 300_000_000, mem_total: 8_000_000_000, load: 0.5 });

    rc = await Client.connect(ctl.ready.client_file);
    table = new EngineTable({ emit() {} });
    table.follow(rc);
    monitor = new EngineMonitor(table, () => {});
    const polls = vi.spyOn(rc, 'status');
    monitor.start(rc);

    await vi.waitFor(() => expect(table.row(remote.id)).toMatchObject({ host: 'hostb', cpu: 42.5, rss: 300_000_000, rssHistory: [300_000_000] }), { timeout: 8000, interval: 50 });
    expect(isAlive(pid)).toBe(false);
    await vi.waitFor(() => expect(table.row(local.id)?.rss).toBeGreaterThan(1_000_000), { timeout: 8000, interval: 50 });
    expect(table.row(local.id)?.host).toBe(os.hostname());

    report({ host: 'hostb', cpu: 3, rss: 310_000_000 });
    await vi.waitFor(() => expect(table.row(remote.id)).toMatchObject({ cpu: 3, rss: 310_000_000, rssHistory: [300_000_000, 310_000_000] }), { timeout: 8000, interval: 50 });
    // Status is polled again and again meanwhile; a report joins the history once.
    const seen = polls.mock.calls.length;
    await vi.waitFor(() => expect(polls.mock.calls.length).toBeGreaterThanOrEqual(seen + 2), { timeout: 8000, interval: 50 });
    expect(table.row(remote.id)?.rssHistory).toEqual([300_000_000, 310_000_000]);
  }, 30_000);
});
