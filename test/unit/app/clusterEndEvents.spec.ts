// Stop, Restart and another cluster in the app's place are in the Events list, against real
// clusters: one ordinary event each (not an error), saying what ended and why, before the
// connection goes; a restarted cluster is connected again after it. An attached cluster the
// app only leaves keeps running, and the event says so.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../../core/index.js';
import { isAlive } from '../../../core/util/processes.js';
import type { ClusterEvent, EventName, EventTypes } from '../../../preload/contract.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';
import { until } from './until.js';

describe('the app ending its connection to a cluster', () => {
  let dir: string;
  let svc: ClusterService;
  const others: Cluster[] = [];
  const pushed: ClusterEvent[] = [];
  const events = () => svc.monitor.events.list.list();
  const since = (seq: number) => events().filter((e) => e.seq > seq);
  const brief = (e: ClusterEvent) => `${e.kind}: ${e.text} [${e.cause}]`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-endevents-'));
    const sink = {
      emit<K extends EventName>(n: K, p: EventTypes[K]) {
        if (n === 'onClusterEvents') pushed.push(...(p as ClusterEvent[]));
      },
    };
    svc = new ClusterService({ events: sink, settings: new SettingsStore(null, { engineCount: 2, engineKind: 'node', attach: false, profile: 'ends' }), dir, heartbeatMs: 200 });
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
  }, 60_000);

  afterAll(async () => {
    await svc?.dispose();
    for (const c of others) await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('Restart: the stop is one event with its cause, then the new cluster is connected', { timeout: 60_000 }, async () => {
    const old = svc.connection.ownCluster!.controllerPid;
    const before = events().at(-1)!.seq;
    const snap = await svc.connection.restartCluster();
    expect(snap.status, snap.error ?? '').toBe('running');
    await until('the new cluster connected', () => since(before).some((e) => e.kind === 'connected'));
    const got = since(before);
    expect(brief(got[0])).toBe(`stopped: stopped the cluster of profile "ends": its controller (pid ${old}) and 2 engines [Restart in the app]`);
    expect(got[0]).toMatchObject({ requested: true });
    // Nothing of the old cluster's end reads as a failure (the Events view's red: eventSeverity.spec).
    expect(got.filter((e) => ['died', 'controller-exited', 'controller-lost'].includes(e.kind) && !e.requested)).toEqual([]);
    expect(got.some((e) => e.kind === 'connected' && e.text.includes(`pid ${svc.connection.ownCluster!.controllerPid}`))).toBe(true);
    // The new cluster's engines and set are news again.
    await until('the new engines and set', () => since(before).filter((e) => e.kind === 'registered').length === 2 && since(before).some((e) => e.kind === 'set-started'));
    // The renderer got it too.
    await until('the event pushed', () => pushed.some((e) => e.seq === got[0].seq));
  });

  it('attaching elsewhere stops the own cluster; Stop of an attached one asks it to shut down', { timeout: 60_000 }, async () => {
    const own = svc.connection.ownCluster!;
    const ownPids = own.pids;
    const other = await Cluster.start({ n: 1, profile: 'elsewhere', dir, heartbeatMs: 200 });
    others.push(other);
    let before = events().at(-1)!.seq;
    expect((await svc.connection.attachCluster({ profile: 'elsewhere' })).status).toBe('running');
    expect(brief(since(before)[0])).toBe(`stopped: stopped the cluster of profile "ends": its controller (pid ${own.controllerPid}) and 2 engines [the app attached to profile "elsewhere" instead]`);
    for (const p of ownPids) expect(isAlive(p), `pid ${p}`).toBe(false);

    before = events().at(-1)!.seq;
    const [controller, engine] = other.pids;
    expect((await svc.connection.stopCluster()).status).toBe('stopped');
    const got = since(before);
    expect(got.map(brief)).toEqual([`stopped: asked the controller (pid ${controller}) of profile "elsewhere" to shut down, with its 1 engine [Stop in the app]`]);
    await until('the attached cluster gone', () => !isAlive(controller) && !isAlive(engine));
  });

  it('starting a cluster in place of an attached one leaves that one running', { timeout: 60_000 }, async () => {
    const other = await Cluster.start({ n: 1, profile: 'stays', dir, heartbeatMs: 200 });
    others.push(other);
    expect((await svc.connection.attachCluster({ profile: 'stays' })).status).toBe('running');
    const before = events().at(-1)!.seq;
    expect((await svc.connection.startCluster({ n: 1, kind: 'node' })).status).toBe('running');
    expect(brief(since(before)[0])).toBe(`disconnected: disconnected from the controller (pid ${other.controllerPid}) of profile "stays", which keeps running with its 1 engine [a new cluster was started in its place]`);
    expect(isAlive(other.controllerPid)).toBe(true);
    const rc = await other.connect();
    expect(rc.ids).toEqual([0]);
    rc.close();
  });
});
