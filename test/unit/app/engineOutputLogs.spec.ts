// The Logs view's engine process output and controller log where the app does not hold the
// controller's stderr itself: engines started by mpiexec (real OpenMPI, through the profile's
// cluster.json as a user sets it), and a controller started by `multiengine start --daemon` in
// another process that the app attaches to (its log is read from the profile's log file).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../../core/util/processes.js';
import type { AppSettings, EventName, EventTypes } from '../../../preload/contract.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';
import { MPI_ENV, requireMpi } from '../../harness/mpi.js';

const BIN = path.resolve(__dirname, '../../../bin/multiengine.js');
const sink = { emit<K extends EventName>(_name: K, _payload: EventTypes[K]) {} };

async function pollFor<T>(fn: () => T | undefined | null | false, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function service(dir: string, settings: AppSettings): ClusterService {
  return new ClusterService({ events: sink, settings: new SettingsStore(null, settings), dir, heartbeatMs: 200 });
}

/** The Logs' lines with `text`, as `source/stream: text`. */
function found(svc: ClusterService, text: string): string[] {
  return svc.monitor.logs.search({ from: null, text }).lines.map((l) => `${l.source}/${l.stream}: ${l.text}`);
}

describe('Logs: engines started through mpiexec', () => {
  let dir: string;
  let svc: ClusterService;
  const saved = { ...process.env };

  beforeAll(async () => {
    await requireMpi({ python: false });
    Object.assign(process.env, MPI_ENV);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-mpilogs-'));
    fs.mkdirSync(path.join(dir, 'profile_mpilogs'));
    fs.writeFileSync(path.join(dir, 'profile_mpilogs', 'cluster.json'), JSON.stringify({ n: 2, engine: 'node', launcher: 'mpi' }));
    svc = service(dir, { engineCount: 2, engineKind: 'node', attach: false, profile: 'mpilogs' });
    const snap = await svc.connection.start();
    expect(snap.error).toBeNull();
  }, 90_000);

  afterAll(async () => {
    const pids = svc?.connection.pids ?? [];
    await svc?.dispose();
    for (const p of pids) expect(isAlive(p), `pid ${p} is gone`).toBe(false);
    process.env = saved;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("each rank's own stdout and stderr, past the engine's capture, is its engine's process output", async () => {
    const rc = svc.connection.client();
    expect((await rc.engineSets()).map((s) => s.launcher)).toEqual(['mpi']);
    // Straight to the process's file descriptors: what a native library or a stray thread prints.
    await rc.view(1).execute('require("fs").writeSync(1, "rank line of engine 1\\n"); require("fs").writeSync(2, "rank warning of engine 1\\n")');
    await rc.view(0).execute('require("fs").writeSync(1, "rank line of engine 0\\n")');
    await pollFor(() => found(svc, 'rank ').length === 3, 'the three lines in the Logs');
    expect(found(svc, 'rank ').sort()).toEqual([
      'engine 0/process: rank line of engine 0',
      'engine 1/process: rank line of engine 1',
      'engine 1/process: rank warning of engine 1',
    ]);
  }, 60_000);
});

describe('Logs: a controller started in a terminal, the app attached', () => {
  let dir: string;
  let svc: ClusterService;

  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--profile', 'term', '--dir', dir], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, `multiengine ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-attachlogs-'));
    cli('start', '--daemon', '-n', '1');
    svc = service(dir, { engineCount: 1, engineKind: 'node', attach: true, profile: 'term' });
    const snap = await svc.connection.start();
    expect(snap.error).toBeNull();
    expect(snap.mode).toBe('attached');
  }, 90_000);

  afterAll(async () => {
    await svc?.dispose();
    if (dir) cli('stop');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("shows what the controller logged before and after the app came, and its engine's own output", async () => {
    // Before: the controller's start-up lines, read from the end of its log file.
    const file = path.join(dir, 'profile_term', 'log', 'controller.log');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    await pollFor(() => svc.monitor.logs.search({ from: 'controller', text: 'engine 0 registered' }).lines.length > 0, "the controller's 'engine 0 registered' line");
    // After: the engine writes past its capture; the controller relays it to its log file, the app follows the file.
    const rc = svc.connection.client();
    await rc.view(0).execute('require("fs").writeSync(2, "engine 0 said this outside its requests\\n")');
    await pollFor(() => found(svc, 'outside its requests').length > 0, "the engine's line");
    expect(found(svc, 'outside its requests')).toEqual(['engine 0/process: engine 0 said this outside its requests']);
    // An engine the app adds is registered in the controller's log too, as it happens.
    await svc.engines.addEngines({ n: 1, kind: 'node' });
    await pollFor(() => svc.monitor.logs.search({ from: 'controller', text: 'engine 1 registered' }).lines.length > 0, "the controller's line about engine 1");
  }, 60_000);
});
