// A cluster shut down by another client, against real clusters: the app's own (its controller
// exits 0) and an attached one (its connection file removed). Either is stopped, with why, not
// an error; the engines, the console's connection and every process go; Start brings a new
// cluster that runs code. The Events list tells the shutdown as ordinary news: the engines'
// deaths and the controller's exit are not errors. A controller killed without a shutdown is
// still a lost one, an error.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Cluster } from '../../../core/index.js';
import { isAlive } from '../../../core/util/processes.js';
import type { ClusterSnapshot, EventName, EventTypes } from '../../../preload/contract.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';
import { until } from './until.js';

describe('a cluster shut down by another client', () => {
  let dir: string;
  let svc: ClusterService;
  const snaps: ClusterSnapshot[] = [];
  const connections: (string | null)[] = [];
  const others: Cluster[] = [];
  const events = () => svc.monitor.events.list.list();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-shutdown-'));
    const settingsFile = path.join(dir, 'app-settings.json');
    fs.writeFileSync(settingsFile, JSON.stringify({ engineCount: 2, engineKind: 'node', attach: false, profile: 'mine' }));
    const sink = {
      emit<K extends EventName>(n: K, p: EventTypes[K]) {
        if (n === 'onClusterChanged') snaps.push(p as ClusterSnapshot);
      },
    };
    svc = new ClusterService({ events: sink, settings: new SettingsStore(settingsFile), dir, heartbeatMs: 200 });
    svc.connection.onDidChangeConnection((f) => connections.push(f));
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
  }, 60_000);

  afterAll(async () => {
    await svc?.dispose();
    for (const c of others) await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("the app's own cluster: stopped, shut down on request, nothing left; Start brings a working one", { timeout: 60_000 }, async () => {
    const pids = svc.connection.pids;
    const controller = pids[0];
    expect(pids).toHaveLength(3);
    const rc = await Client.connect({ file: svc.connection.connectionFile! });
    await rc.shutdownController();
    rc.close();
    const snap = await until('the app to show its cluster stopped', () => (svc.connection.snapshot().status === 'stopped' ? svc.connection.snapshot() : null));
    expect(snap).toMatchObject({ status: 'stopped', error: null, connectionFile: null, controllerPid: null });
    expect(snap.ended).toBe(`the cluster was shut down on request: its controller, pid ${controller}, stopped its engines and exited`);
    // Said while the controller stopped its engines, never as an error.
    expect(snaps.some((s) => s.status === 'error')).toBe(false);
    expect(svc.table.list()).toEqual([]);
    expect(connections.at(-1)).toBeNull();
    for (const p of pids) expect(isAlive(p), `pid ${p}`).toBe(false);
    const exited = events().filter((e) => e.kind === 'controller-exited');
    expect(exited).toMatchObject([{ text: `the controller (pid ${controller}) exited`, cause: 'it shut down on request' }]);
    expect(events().filter((e) => e.kind === 'controller-lost')).toEqual([]);
    // The controller stopped both engines before it exited: their deaths and its exit are part of the stop, not errors.
    const stop = events().filter((e) => e.kind === 'died' || e.kind === 'controller-exited');
    expect(stop.map((e) => `${e.kind}:${e.engine ?? ''}:${e.cause}:${e.requested}`).sort()).toEqual([
      'controller-exited::it shut down on request:true',
      'died:0:the controller is shutting down:true',
      'died:1:the controller is shutting down:true',
    ]);
    expect(() => svc.connection.client()).toThrow(/no cluster is running/);

    const again = await svc.connection.startCluster({ n: 2, kind: 'node' });
    expect(again).toMatchObject({ status: 'running', ended: null, error: null });
    expect(again.controllerPid).not.toBe(controller);
    const t = await svc.namespace.execute('6 * 7', []);
    await until('the new engines to answer', () => svc.tasks.list().find((x) => x.id === t.id && x.state === 'ok'));
  });

  it('an attached cluster: stopped, shut down, not lost', { timeout: 60_000 }, async () => {
    const other = await Cluster.start({ n: 1, profile: 'daemon', dir, heartbeatMs: 200 });
    others.push(other);
    expect((await svc.connection.attachCluster({ profile: 'daemon' })).status).toBe('running');
    const [controller, engine] = other.pids;
    snaps.length = 0;
    const seqBefore = events().at(-1)!.seq;
    const rc = await other.connect();
    await rc.shutdownController();
    rc.close();
    const snap = await until('the app to show the attached cluster stopped', () => (svc.connection.snapshot().status === 'stopped' ? svc.connection.snapshot() : null));
    expect(snap).toMatchObject({ status: 'stopped', mode: 'attached', error: null });
    expect(snap.ended).toBe(`the cluster of profile "daemon" was shut down: its controller, pid ${controller}, exited and removed its connection file`);
    expect(snaps.some((s) => s.status === 'error')).toBe(false);
    expect(svc.table.list()).toEqual([]);
    expect(connections.at(-1)).toBeNull();
    await until('the daemon to be gone', () => !isAlive(controller) && !isAlive(engine));
    const last = events().at(-1);
    expect(last).toMatchObject({ kind: 'controller-exited', text: `the controller (pid ${controller}) exited`, cause: 'it shut down and removed its connection file', requested: true });
    const died = events().filter((e) => e.kind === 'died' && e.engine === 0 && e.seq > seqBefore);
    expect(died.map((e) => `${e.cause}:${e.requested}`)).toEqual(['the controller is shutting down:true']);
  });

  it('an attached controller killed without a shutdown is lost, not shut down', { timeout: 60_000 }, async () => {
    const other = await Cluster.start({ n: 0, profile: 'killed', dir, heartbeatMs: 200, restartController: false, reconnectMs: 300 });
    others.push(other);
    expect((await svc.connection.attachCluster({ profile: 'killed' })).status).toBe('running');
    process.kill(other.controllerPid, 'SIGKILL');
    const snap = await until('the app to say it lost the controller', () => (svc.connection.snapshot().status === 'error' ? svc.connection.snapshot() : null));
    expect(snap.error).toMatch(/^lost the connection to the controller/);
    expect(snap.ended).toBeNull();
    expect(events().at(-1)).toMatchObject({ kind: 'controller-lost', requested: false });
  });
});
