// The app's engine sets and new-cluster form against real clusters: a local set listed and
// stopped; the form saving cluster.json and starting 2 node engines under real mpiexec
// (OpenMPI); the app's start reading a profile's cluster.json (flags winning); a bad field or a
// bad file refused in the user's words without touching what runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clusterSettingsPath, readClusterSettings } from '../../../core/cluster/profileSettings.js';
import { Cluster } from '../../../core/index.js';
import { isAlive } from '../../../core/util/processes.js';
import type { AppSettings, ClusterForm, EngineSet, EventName, EventTypes } from '../../../preload/contract.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';
import { UserError } from '../../../main/services/userError.js';

// OpenMPI as root, and more ranks than cores (this machine has 2).
const MPI_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

const blankForm = (patch: Partial<ClusterForm>): ClusterForm => ({ profile: 'sets', n: 2, kind: 'node', launcher: 'local', mpiArgs: '', sshHosts: '', sshCommand: '', slurmPartition: '', slurmTime: '', slurmAccount: '', ...patch });

function service(dir: string, settings: AppSettings, flags?: Partial<AppSettings>) {
  const sets: EngineSet[][] = [];
  const sink = {
    emit<K extends EventName>(name: K, payload: EventTypes[K]) {
      if (name === 'onEngineSetsChanged') sets.push(payload as EngineSet[]);
    },
  };
  const svc = new ClusterService({ events: sink, settings: new SettingsStore(null, settings), dir, heartbeatMs: 200, flags });
  return { svc, sets, lastSets: () => sets.at(-1) ?? [] };
}

async function disposeAll(svc: ClusterService): Promise<void> {
  const pids = svc.connection.pids;
  await svc.dispose();
  for (const p of pids) expect(isAlive(p), `pid ${p} is gone`).toBe(false);
}

describe('engine sets and the new-cluster form with real clusters', () => {
  let dir: string;
  const saved: Record<string, string | undefined> = {};

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-sets-'));
    // The controller inherits this process's environment, and mpiexec the controller's.
    for (const [k, v] of Object.entries(MPI_ENV)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists the local set, shows its output, and stopping it stops its engines', { timeout: 60_000 }, async () => {
    const { svc, lastSets } = service(dir, { engineCount: 2, engineKind: 'node', attach: false, profile: 'local1' });
    try {
      const snap = await svc.connection.start();
      expect(snap.status, snap.error ?? '').toBe('running');
      await vi.waitFor(() => expect(lastSets().map((s) => [s.id, s.launcher, s.state, s.engines])).toEqual([['set-1', 'local', 'running', [0, 1]]]), { timeout: 10_000 });
      expect(svc.sets.list()).toEqual(lastSets());
      const out = await svc.sets.output(svc.connection.client(), 'set-1');
      expect(out.set).toBe('set-1');
      expect(out.output).toMatch(/local launcher/);
      await svc.sets.stop(svc.connection.client(), 'set-1');
      await vi.waitFor(() => expect(lastSets()[0]?.state).toBe('ended'), { timeout: 10_000 });
      await vi.waitFor(() => expect(svc.table.list().filter((r) => r.state !== 'dead')).toEqual([]), { timeout: 10_000 });
      await expect(svc.sets.stop(svc.connection.client(), 'set-9')).rejects.toThrow(/set-9/);
    } finally {
      await disposeAll(svc);
    }
  });

  it('the form saves cluster.json and starts 2 engines through real mpiexec; a bad field changes nothing', { timeout: 120_000 }, async () => {
    const { svc, lastSets } = service(dir, { engineCount: 1, engineKind: 'node', attach: false, profile: 'sets' });
    try {
      expect((await svc.connection.start()).status).toBe('running');
      const before = svc.connection.snapshot().controllerPid;

      // A bad field: the error names the field, nothing is written and the running cluster stays.
      const bad = svc.connection.startNewCluster(blankForm({ launcher: 'mpi', mpiArgs: '--host "a,b' }));
      await expect(bad).rejects.toBeInstanceOf(UserError);
      await expect(bad).rejects.toMatchObject({ field: 'mpiArgs', message: expect.stringMatching(/mpiexec arguments: a " is opened and never closed/) });
      expect(fs.existsSync(clusterSettingsPath('sets', dir))).toBe(false);
      expect(svc.connection.snapshot()).toMatchObject({ status: 'running', controllerPid: before });

      const snap = await svc.connection.startNewCluster(blankForm({ launcher: 'mpi', mpiArgs: '--bind-to none' }));
      expect(snap.status, snap.error ?? '').toBe('running');
      expect(snap.controllerPid).not.toBe(before);
      expect(readClusterSettings('sets', dir)).toEqual({ n: 2, engine: 'node', launcher: 'mpi', launcherOptions: { args: ['--bind-to', 'none'] } });
      expect((fs.statSync(clusterSettingsPath('sets', dir)).mode & 0o777).toString(8)).toBe('600');
      await vi.waitFor(() => expect(lastSets().map((s) => [s.launcher, s.state, s.engines, s.hosts])).toEqual([['mpi', 'running', [0, 1], [os.hostname()]]]), { timeout: 10_000 });
      // The engines are ranks 0 and 1 of one mpiexec job.
      const ranks = await svc.connection.client().view([0, 1]).execute('process.env.OMPI_COMM_WORLD_RANK').then((r) => r.map((x) => x.result));
      expect(ranks).toEqual(["'0'", "'1'"]);
      expect(svc.connection.snapshot().settings).toMatchObject({ engineCount: 2, engineKind: 'node', profile: 'sets' });

      // The form reads back what was saved.
      const { readForm } = await import('../../../main/services/clusterForm.js');
      expect(readForm('sets', { n: 1, kind: 'node' }, dir)).toMatchObject({ exists: true, note: null, form: { launcher: 'mpi', n: 2, mpiArgs: '--bind-to none' } });

      // Stopping the mpi set ends mpiexec and its engines.
      await svc.sets.stop(svc.connection.client(), lastSets()[0].id);
      await vi.waitFor(() => expect(lastSets()[0].state).toBe('ended'), { timeout: 20_000 });
      await vi.waitFor(() => expect(svc.table.list().filter((r) => r.state !== 'dead')).toEqual([]), { timeout: 20_000 });
    } finally {
      await disposeAll(svc);
    }
  });

  it("the app's start uses the profile's cluster.json (launcher and all), -n and --engine winning", { timeout: 120_000 }, async () => {
    fs.mkdirSync(path.dirname(clusterSettingsPath('fromfile', dir)), { recursive: true });
    fs.writeFileSync(clusterSettingsPath('fromfile', dir), JSON.stringify({ n: 3, engine: 'python', launcher: 'mpi' }));
    const { svc, lastSets } = service(dir, { engineCount: 2, engineKind: 'node', attach: false, profile: 'fromfile' }, { engineCount: 2, engineKind: 'node' });
    try {
      const snap = await svc.connection.start();
      expect(snap.status, snap.error ?? '').toBe('running');
      await vi.waitFor(() => expect(lastSets().map((s) => [s.launcher, s.kind, s.engines])).toEqual([['mpi', 'node', [0, 1]]]), { timeout: 10_000 });
      // A restart brings the cluster back the way it was started: through mpiexec.
      const again = await svc.connection.restartCluster();
      expect(again.status, again.error ?? '').toBe('running');
      await vi.waitFor(() => expect(lastSets().map((s) => [s.launcher, s.engines])).toEqual([['mpi', [0, 1]]]), { timeout: 10_000 });
      // "Add engines" grows it the same way: another mpiexec job.
      expect(await svc.engines.addEngines({ n: 1, kind: 'node' })).toEqual([2]);
      await vi.waitFor(() => expect(lastSets().map((s) => [s.launcher, s.engines])).toEqual([['mpi', [0, 1]], ['mpi', [2]]]), { timeout: 10_000 });
    } finally {
      await disposeAll(svc);
    }
  });

  it("the form refuses a profile where a cluster the app did not start runs, and what runs keeps running", { timeout: 60_000 }, async () => {
    const other = await Cluster.start({ n: 0, profile: 'taken', dir, heartbeatMs: 200 });
    const { svc } = service(dir, { engineCount: 1, engineKind: 'node', attach: false, profile: 'mine' });
    try {
      expect((await svc.connection.start()).status).toBe('running');
      const pid = svc.connection.snapshot().controllerPid;
      await expect(svc.connection.startNewCluster(blankForm({ profile: 'taken' }))).rejects.toMatchObject({
        field: 'profile',
        message: 'a cluster started elsewhere runs in profile "taken": choose another profile (or stop that cluster first)',
      });
      expect(fs.existsSync(clusterSettingsPath('taken', dir))).toBe(false);
      expect(svc.connection.snapshot()).toMatchObject({ status: 'running', profile: 'mine', controllerPid: pid });
      expect(isAlive(other.controllerPid)).toBe(true);
      // Its own profile is the app's to replace.
      const again = await svc.connection.startNewCluster(blankForm({ profile: 'mine', n: 1 }));
      expect(again.status, again.error ?? '').toBe('running');
      expect(again.controllerPid).not.toBe(pid);
    } finally {
      await disposeAll(svc);
      await other.stop();
    }
  });

  it('a bad cluster.json is an error naming the file, at start and for the form', { timeout: 30_000 }, async () => {
    const file = clusterSettingsPath('broken', dir);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ n: 'many' }));
    const { svc } = service(dir, { engineCount: 1, engineKind: 'node', attach: false, profile: 'broken' });
    try {
      const snap = await svc.connection.start();
      expect(snap.status).toBe('error');
      expect(snap.error).toContain(file);
      expect(snap.error).toMatch(/n must be a whole number of engines, got "many"/);
      await expect(svc.connection.startCluster({ n: 1, kind: 'node' })).rejects.toMatchObject({ field: 'profile', message: expect.stringContaining(file) });
      const { readForm } = await import('../../../main/services/clusterForm.js');
      expect(() => readForm('broken', { n: 1, kind: 'node' }, dir)).toThrow(file);
    } finally {
      await disposeAll(svc);
    }
  });
});
