// The dashboard's services: the CPU/memory rings (bounded, one column per tick, engines that
// come and go), the log store's caps and search, the controller's stderr split into sources,
// the timeline's comparisons, and all of it fed by a real cluster through ClusterService.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineInfo } from '../../../core/index.js';
import { isAlive } from '../../../core/util/processes.js';
import { compareLogSources, type AppSettings, type ClusterEvent, type EngineSet, type EventName, type EventTypes, type LogLine, type MetricsSample } from '../../../preload/contract.js';
import { ClusterEvents, EventList } from '../../../main/services/clusterEvents.js';
import { EngineLogs, LineSplitter } from '../../../main/services/engineLogs.js';
import { LogStore } from '../../../main/services/logStore.js';
import { MetricsRing, SLOTS } from '../../../main/services/metricsHistory.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';
import { invokeValidators } from '../../../main/ipc/validate.js';

function recorder() {
  const got: { [K in EventName]?: EventTypes[K][] } = {};
  const sink = {
    emit<K extends EventName>(name: K, payload: EventTypes[K]) {
      ((got[name] ??= []) as EventTypes[K][]).push(payload);
    },
  };
  return { sink, got };
}

describe('MetricsRing', () => {
  it('keeps one window of columns, totals and engines aligned to one time axis', () => {
    const ring = new MetricsRing(4);
    for (let i = 0; i < 6; i++) ring.add(1000 * i, [{ id: 0, cpu: i, rss: 100 }, { id: 1, cpu: 10 * i, rss: 200 }]);
    const h = ring.history(1000);
    expect(h.t).toEqual([2000, 3000, 4000, 5000]);
    expect(h.totalCpu).toEqual([22, 33, 44, 55]);
    expect(h.totalRss).toEqual([300, 300, 300, 300]);
    expect(h.engines.map((e) => e.id)).toEqual([0, 1]);
    expect(h.engines[1].cpu).toEqual([20, 30, 40, 50]);
    expect(h.windowMs).toBe(4000);
  });

  it('gives each tick as a column, marks what an engine missed as unknown, and forgets an engine gone for a window', () => {
    const ring = new MetricsRing(3);
    const s: MetricsSample = ring.add(0, [{ id: 0, cpu: 5, rss: 1 }, { id: 3, cpu: null, rss: 7 }]);
    expect(s).toEqual({ t: 0, totalCpu: 5, totalRss: 8, ids: [0, 3], cpu: [5, null], rss: [1, 7] });
    ring.add(1, [{ id: 0, cpu: 6, rss: 1 }]);
    ring.add(2, [{ id: 0, cpu: 7, rss: 1 }, { id: 3, cpu: 1, rss: 7 }]);
    expect(ring.history(1).engines[1]).toEqual({ id: 3, cpu: [null, null, 1], rss: [7, null, 7] });
    // A new engine has nothing before it came; engine 3 leaves.
    ring.add(3, [{ id: 0, cpu: 8, rss: 1 }, { id: 4, cpu: 2, rss: 2 }]);
    expect(ring.history(1).engines.find((e) => e.id === 4)?.cpu).toEqual([null, null, 2]);
    expect(ring.history(1).engines.find((e) => e.id === 3)?.cpu).toEqual([null, 1, null]);
    ring.add(4, [{ id: 0, cpu: 8, rss: 1 }]);
    ring.add(5, [{ id: 0, cpu: 8, rss: 1 }]);
    expect(ring.engineCount).toBe(2);
    expect(ring.history(1).engines.map((e) => e.id)).toEqual([0, 4]);
  });

  it('is bounded: 10 minutes at one sample a second, about 4.8 KB of rings per engine', () => {
    expect(SLOTS).toBe(600);
    const ring = new MetricsRing();
    const engines = Array.from({ length: 50 }, (_, id) => ({ id, cpu: 1, rss: 1 }));
    for (let i = 0; i < 2 * SLOTS + 7; i++) ring.add(i, engines);
    const h = ring.history(1000);
    expect(h.t.length).toBe(SLOTS);
    expect(h.t[0]).toBe(SLOTS + 7);
    expect(h.engines.every((e) => e.cpu.length === SLOTS)).toBe(true);
  });
});

describe('LogStore', () => {
  it('keeps each source within its line and byte caps, oldest dropped and counted', () => {
    const store = new LogStore({ lines: 3, bytes: 1000, totalBytes: 1e6, lineChars: 100 });
    for (let i = 0; i < 5; i++) store.add('engine 0', 'stdout', `line ${i}`);
    store.add('engine 1', 'stderr', 'x'.repeat(150));
    expect(store.search({ from: 'engine 0', text: '' }).lines.map((l) => l.text)).toEqual(['line 2', 'line 3', 'line 4']);
    expect(store.source('engine 0')).toEqual({ source: 'engine 0', lines: 3, bytes: 18, dropped: 2 });
    // A long line is cut, and says by how much.
    expect(store.search({ from: 'engine 1', text: '' }).lines[0].text).toBe(`${'x'.repeat(100)} … [50 more characters]`);
    const bytes = new LogStore({ lines: 100, bytes: 10, totalBytes: 1e6, lineChars: 100 });
    for (const t of ['aaaa', 'bbbb', 'cccc']) bytes.add('controller', 'log', t);
    expect(bytes.source('controller')).toMatchObject({ lines: 2, bytes: 8, dropped: 1 });
  });

  it('keeps all sources within a total: the largest one gives up its oldest quarter', () => {
    const store = new LogStore({ lines: 1000, bytes: 1000, totalBytes: 100, lineChars: 100 });
    for (let i = 0; i < 8; i++) store.add('engine 0', 'stdout', '0123456789');
    for (let i = 0; i < 3; i++) store.add('engine 1', 'stdout', '0123456789');
    expect(store.bytes).toBeLessThanOrEqual(100);
    expect(store.source('engine 0')!.dropped).toBeGreaterThan(0);
    expect(store.source('engine 1')!.dropped).toBe(0);
  });

  it('finds text case-insensitively, in one source or all, in order, newest kept past the limit', () => {
    const store = new LogStore();
    store.add('engine 1', 'stdout', 'Needle one');
    store.add('controller', 'log', 'engine 1 registered');
    store.add('engine 0', 'stderr', 'a needle two');
    store.add('engine 1', 'stdout', 'hay');
    const all = store.search({ from: null, text: 'NEEDLE' });
    expect(all.lines.map((l) => `${l.source}: ${l.text}`)).toEqual(['engine 1: Needle one', 'engine 0: a needle two']);
    expect(store.search({ from: 'engine 0', text: 'needle' }).lines.map((l) => l.text)).toEqual(['a needle two']);
    expect(store.search({ from: 'engine 7', text: '' }).lines).toEqual([]);
    const limited = store.search({ from: null, text: '' }, 2);
    expect(limited.lines.map((l) => l.text)).toEqual(['a needle two', 'hay']);
    expect(limited.more).toBe(2);
    expect(limited.sources.map((s) => s.source)).toEqual(['controller', 'engine 0', 'engine 1']);
  });
});

describe('EngineLogs', () => {
  it("splits the controller's stderr into its log and each engine process's output, across chunks", async () => {
    const { sink, got } = recorder();
    const logs = new EngineLogs(sink);
    const w = logs.controllerStderr();
    w.write('[controller] listening on 127.0.0.1:5\n[engine 3] Traceback (most');
    w.write(' recent call last):\r\n\n[engine 12] hello\n');
    w.write('[controller] warning: half a line\n[set-2] mpiexec noticed that process rank 1 exited');
    w.end();
    logs.requestOutput(2, 'stdout', 'a\nb\n');
    const lines = (await pollFor(() => got.onLogLines?.flatMap((b) => b.lines))) as LogLine[];
    expect(lines.map((l) => `${l.source}/${l.stream}: ${l.text}`)).toEqual([
      'controller/log: listening on 127.0.0.1:5',
      'engine 3/process: Traceback (most recent call last):',
      'engine 12/process: hello',
      'controller/log: warning: half a line',
      'set-2/process: mpiexec noticed that process rank 1 exited',
      'engine 2/stdout: a',
      'engine 2/stdout: b',
    ]);
    expect(logs.search({ from: 'engine 12', text: 'HELLO' }).lines).toHaveLength(1);
    // The controller first, engines by id, sets last.
    expect(logs.search({ from: null, text: '' }).sources.map((s) => s.source).sort(compareLogSources)).toEqual(['controller', 'engine 2', 'engine 3', 'engine 12', 'set-2']);
    logs.dispose();
  });

  it('LineSplitter keeps a partial line until its end', () => {
    const out: string[] = [];
    const s = new LineSplitter((l) => out.push(l));
    s.write('ab');
    expect(out).toEqual([]);
    s.write('c\nd');
    s.end();
    expect(out).toEqual(['abc', 'd']);
  });

  it('a search in words the user can act on when the source is not one', () => {
    expect(() => invokeValidators.searchLogs({ from: 'engine x', text: '' })).toThrow(/The log source must be "controller" or "engine <id>", got "engine x"/);
    expect(() => invokeValidators.searchLogs({ from: null, text: 3 })).toThrow(/must be text/);
    expect(invokeValidators.searchLogs({ from: 'engine 4', text: 'err' })).toEqual({ from: 'engine 4', text: 'err' });
  });
});

function engine(id: number, patch: Partial<EngineInfo> = {}): EngineInfo {
  return { id, uuid: `u${id}`, kernel: 'python', language_version: '3.11', host: 'h', pid: 100 + id, state: 'idle', queue: 0, restarts: 0, registered: '2026-01-01T00:00:00.000Z', ...patch };
}

describe('ClusterEvents', () => {
  it('turns what the controller says of engines into one event per change, with causes', () => {
    const ev = new ClusterEvents(recorder().sink);
    ev.observe(engine(0));
    ev.observe(engine(0, { state: 'busy' }));
    ev.observe(engine(0, { state: 'dead', reason: 'process killed by signal SIGKILL' }));
    ev.observe(engine(0, { state: 'dead', reason: 'process killed by signal SIGKILL' }));
    ev.observe(engine(0, { pid: 555, restarts: 1, last_restart: { at: '2026-01-01T00:01:00Z', reason: 'restarted by the user' } }));
    ev.observe(engine(0, { pid: 555, restarts: 1, resumed: '2026-01-01T00:02:00Z' }));
    const list = ev.list.list();
    expect(list.map((e) => `${e.kind}:${e.engine}:${e.cause}`)).toEqual(['registered:0:null', 'died:0:process killed by signal SIGKILL', 'restarted:0:restarted by the user', 'resumed:0:null']);
    expect(list[1].text).toBe('python engine 0 died (on h, pid 100)');
    ev.dispose();
  });

  it('engine sets: started, waiting with the reason, ended with the reason; once each', () => {
    const ev = new ClusterEvents(recorder().sink);
    const set = (patch: Partial<EngineSet>): EngineSet => ({ id: 'set-1', launcher: 'slurm', kind: 'python', n: 4, engines: [], hosts: [], state: 'pending', reason: 'Priority', jobId: '77', started: 1000, ended: null, ...patch });
    ev.observeSets([set({})]);
    ev.observeSets([set({})]);
    ev.observeSets([set({ state: 'running', reason: null })]);
    ev.observeSets([set({ state: 'ended', reason: 'job 77 ended: TIMEOUT', ended: 5000 })]);
    expect(ev.list.list().map((e: ClusterEvent) => `${e.kind}:${e.set}:${e.cause}`)).toEqual(['set-started:set-1:null', 'set-pending:set-1:Priority', 'set-ended:set-1:job 77 ended: TIMEOUT']);
    expect(ev.list.list()[0].text).toBe('set-1: 4 python engines through slurm (job 77) started');
    ev.dispose();
  });

  it('keeps a bounded list, the newest', () => {
    const list = new EventList(10);
    for (let i = 0; i < 25; i++) list.add('registered', `e${i}`);
    const kept = list.list();
    expect(kept).toHaveLength(10);
    expect(kept.at(-1)!.text).toBe('e24');
    expect(kept[0].text).toBe('e15');
  });
});

async function pollFor<T>(fn: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the dashboard fed by a real cluster', () => {
  let dir: string;
  let svc: ClusterService;
  let got: ReturnType<typeof recorder>['got'];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-monitor-'));
    const r = recorder();
    got = r.got;
    const settings: AppSettings = { engineCount: 2, engineKind: 'node', attach: false, profile: 'mon' };
    svc = new ClusterService({ events: r.sink, settings: new SettingsStore(null, settings), dir, heartbeatMs: 200 });
    const snap = await svc.connection.start();
    expect(snap.error).toBeNull();
  }, 60_000);

  afterAll(async () => {
    const pids = svc.connection.pids;
    await svc.dispose();
    for (const p of pids) expect(isAlive(p), `pid ${p} is gone`).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("samples both engines' CPU and memory each second, and the controller's log reaches the logs", async () => {
    const sample = await pollFor(() => got.onMetricsSample?.find((s) => s.ids.length === 2 && s.rss.every((r) => r !== null && r > 0)));
    expect(sample.ids).toEqual([0, 1]);
    expect(sample.totalRss).toBe(sample.rss.reduce((a, b) => a! + b!, 0));
    const h = svc.monitor.metrics.history();
    expect(h.engines.map((e) => e.id)).toEqual([0, 1]);
    expect(h.t.length).toBeGreaterThan(0);
    // The controller logs to stderr (its listening address at least) and the tap reads it.
    await pollFor(() => svc.monitor.logs.search({ from: 'controller', text: '' }).lines.length > 0);
  }, 30_000);

  it("a request's output is read from the task database into its engine's source", async () => {
    const rc = svc.connection.client();
    await rc.view([0, 1]).execute('console.log("printed by " + 6 * 7)');
    const found = await pollFor(() => {
      const r = svc.monitor.logs.search({ from: null, text: 'printed by 42' });
      return r.lines.length === 2 ? r.lines : null;
    });
    expect(found.map((l) => `${l.source}/${l.stream}`).sort()).toEqual(['engine 0/stdout', 'engine 1/stdout']);
  }, 30_000);

  it("a request whose engines finish apart shows each engine's output once", async () => {
    const rc = svc.connection.client();
    await rc.view([0]).push({ delay: 0 });
    await rc.view([1]).push({ delay: 1500 });
    await rc.view([0, 1]).execute('const t0 = Date.now(); while (Date.now() - t0 < delay); console.log("apart " + delay)');
    await pollFor(() => svc.monitor.logs.search({ from: 'engine 1', text: 'apart 1500' }).lines.length > 0);
    // Engine 1's part is read after engine 0's, in another query: a record read twice would show here now.
    const lines = svc.monitor.logs.search({ from: null, text: 'apart' }).lines.map((l) => `${l.source}: ${l.text}`);
    expect(lines).toEqual(['engine 0: apart 0', 'engine 1: apart 1500']);
  }, 30_000);

  it("what an engine prints once its request was answered (a timer) is its process's output, not dropped", async () => {
    const rc = svc.connection.client();
    // On both engines, so the request goes through the controller (a single engine's may go straight to it).
    await rc.view([0, 1]).execute('setTimeout(() => console.log("late from a timer"), 100)');
    const lines = await pollFor(() => {
      const l = svc.monitor.logs.search({ from: null, text: 'late from a timer' }).lines;
      return l.length === 2 ? l : null;
    });
    expect(lines.map((l) => `${l.source}/${l.stream}: ${l.text}`).sort()).toEqual(['engine 0/process: late from a timer', 'engine 1/process: late from a timer']);
  }, 30_000);

  it('a killed controller: the timeline says it exited (how) and was restarted, and the engines resumed', async () => {
    const old = svc.connection.ownCluster!.controllerPid;
    process.kill(old, 'SIGKILL');
    const events = await pollFor(() => {
      const l = svc.monitor.events.list.list();
      return l.some((e) => e.kind === 'controller-restarted') && l.some((e) => e.kind === 'resumed') ? l : null;
    }, 30_000);
    const exited = events.find((e) => e.kind === 'controller-exited')!;
    expect(exited.text).toBe(`the controller (pid ${old}) exited`);
    expect(exited.cause).toMatch(/SIGKILL/);
    // Nobody asked for it: an error in the Events list.
    expect(exited.requested).toBe(false);
    expect(events.find((e) => e.kind === 'controller-restarted')!.text).toBe(`the controller was restarted (pid ${svc.connection.ownCluster!.controllerPid})`);
    // The app's client is back and sees both engines before the next test asks anything of them.
    const rc = svc.connection.client();
    expect(await rc.waitConnected(20_000)).toBe(true);
    await pollFor(() => rc.ids.length === 2 && rc.engines.every((e) => e.state === 'idle'), 20_000);
  }, 40_000);

  it('a stopped engine leaves, a restarted one comes back, and the timeline says so', async () => {
    await svc.engines.restartEngine(1);
    await pollFor(() => svc.monitor.events.list.list().some((e) => e.kind === 'restarted' && e.engine === 1));
    await svc.engines.stopEngine(0);
    const kinds = await pollFor(() => {
      const k = svc.monitor.events.list.list().map((e) => `${e.kind}:${e.engine ?? e.set}`);
      return k.includes('unregistered:0') || k.includes('died:0') ? k : null;
    });
    expect(kinds.slice(0, 4)).toEqual(expect.arrayContaining(['registered:0', 'registered:1', 'set-started:set-1']));
    // Stopped on request: its end is not an error.
    const end = await pollFor(() => svc.monitor.events.list.list().find((e) => e.kind === 'died' && e.engine === 0));
    expect(end).toMatchObject({ cause: 'stopped', requested: true });
    expect(got.onClusterEvents?.flat().length).toBeGreaterThan(0);
  }, 30_000);

  it('engine sets added after a controller restart start, and end with a reason', async () => {
    // The restarted controller numbers its sets from 1 again: set-1 is a new set.
    await svc.engines.addEngines({ n: 1, kind: 'node' });
    const started = await pollFor(() => {
      const l = svc.monitor.events.list.list().filter((e) => e.kind === 'set-started' && e.set === 'set-1');
      return l.length === 2 ? l : null;
    });
    expect(started.map((e) => e.text)).toEqual(['set-1: 2 node engines through local started', 'set-1: 1 node engine through local started']);
    await svc.sets.stop(svc.connection.client(), 'set-1');
    const ended = await pollFor(() => svc.monitor.events.list.list().find((e) => e.kind === 'set-ended' && e.set === 'set-1'));
    expect(ended.text).toBe('set-1: 1 node engine through local ended');
    expect(ended.cause).toBeTruthy();
  }, 30_000);
});
