// The connection lifecycle against real clusters: an attach that cannot work leaves the running
// cluster alone and is not remembered; one that works replaces it; a restart brings back the
// engines that were there (languages and counts), not the ones first asked for.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Cluster, connectionFilePath } from '../../../core/index.js';
import { isAlive } from '../../../core/util/processes.js';
import type { EventName, EventTypes } from '../../../preload/contract.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('ClusterConnection with real clusters', () => {
  let dir: string;
  let settingsFile: string;
  let svc: ClusterService;
  let other: Cluster | null = null;
  const stored = () => JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
  const kinds = () =>
    svc.table
      .list()
      .filter((r) => r.state !== 'dead')
      .map((r) => r.kernel)
      .sort();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-conn-'));
    settingsFile = path.join(dir, 'app-settings.json');
    fs.writeFileSync(settingsFile, JSON.stringify({ engineCount: 2, engineKind: 'node', attach: false, profile: 'mine' }));
    const sink = { emit<K extends EventName>(_n: K, _p: EventTypes[K]) {} };
    svc = new ClusterService({ events: sink, settings: new SettingsStore(settingsFile), dir, heartbeatMs: 200 });
    const snap = await svc.connection.start();
    expect(snap.status, snap.error ?? '').toBe('running');
  }, 60_000);

  afterAll(async () => {
    await svc?.dispose();
    await other?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('attaching to a profile with no cluster keeps the running cluster and remembers nothing', async () => {
    const before = stored();
    const pids = svc.connection.pids;
    await expect(svc.connection.attachCluster({ profile: 'nope' })).rejects.toMatchObject({ field: 'profile', message: expect.stringMatching(/^no cluster is running with profile "nope"/) });
    expect(svc.connection.snapshot()).toMatchObject({ status: 'running', mode: 'local', profile: 'mine', error: null });
    expect(kinds()).toEqual(['node', 'node']);
    for (const p of pids) expect(isAlive(p), `pid ${p}`).toBe(true);
    expect(stored()).toEqual(before);
    // The cluster still works.
    expect((await svc.namespace.pull('nothing', [])).values).toHaveLength(2);
  });

  it('a profile whose controller is gone is refused the same way', async () => {
    const info = JSON.parse(fs.readFileSync(svc.connection.connectionFile!, 'utf8')) as Record<string, unknown>;
    const file = connectionFilePath('client', 'stale', dir);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, JSON.stringify({ ...info, profile: 'stale', port: await freePort() }), { mode: 0o600 });
    await expect(svc.connection.attachCluster({ profile: 'stale' })).rejects.toMatchObject({ field: 'profile', message: expect.stringMatching(/controller of profile "stale" does not answer/) });
    expect(svc.connection.snapshot().status).toBe('running');
    expect(stored().attach).toBe(false);
  });

  it('refuses to attach to its own cluster (that would stop it)', async () => {
    await expect(svc.connection.attachCluster({ profile: 'mine' })).rejects.toMatchObject({ field: 'profile' });
    expect(svc.connection.snapshot().status).toBe('running');
  });

  it('restarts the engines that are there: the same languages and counts', { timeout: 60_000 }, async () => {
    await svc.engines.addEngines({ n: 1, kind: 'python' });
    await svc.engines.addEngines({ n: 1, kind: 'node' });
    expect(kinds()).toEqual(['node', 'node', 'node', 'python']);
    const oldPids = svc.connection.pids;
    const snap = await svc.connection.restartCluster();
    expect(snap.status, snap.error ?? '').toBe('running');
    expect(kinds()).toEqual(['node', 'node', 'node', 'python']);
    for (const p of oldPids) expect(isAlive(p), `old pid ${p}`).toBe(false);
    // The remembered choice for a fresh start is unchanged.
    expect(stored()).toMatchObject({ engineCount: 2, engineKind: 'node', attach: false });
  });

  it('attaches to another running cluster, stopping its own, and remembers that choice', { timeout: 60_000 }, async () => {
    other = await Cluster.start({ n: 1, profile: 'other', dir, heartbeatMs: 200 });
    const ownPids = svc.connection.pids;
    const snap = await svc.connection.attachCluster({ profile: 'other' });
    expect(snap).toMatchObject({ status: 'running', mode: 'attached', profile: 'other', error: null });
    await vi.waitFor(() => expect(svc.table.list().map((r) => r.id)).toEqual([0]));
    for (const p of ownPids) expect(isAlive(p), `own pid ${p}`).toBe(false);
    expect(stored()).toMatchObject({ attach: true, profile: 'other' });
  });
});
