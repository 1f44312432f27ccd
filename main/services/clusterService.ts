/**
 * ClusterService: owns the core Cluster (when the app started it) and a Client subscribed to
 * every engine event, and turns them into what the renderer shows: engine rows (with CPU and
 * memory of local engines), the namespace browser, pull/push/scatter/gather and the task
 * history. Rows are sent in batches (at most every FLUSH_MS), so 256 busy engines cost a few
 * messages a second, not thousands.
 */
import os from 'node:os';
import vm from 'node:vm';
import { AbortError, Client, Cluster, CompositeError, RemoteError, type AsyncResult, type EngineChange, type ExecuteResult } from '../../core/index.js';
import type { EngineInfo } from '../../core/protocol/messages.js';
import {
  engineRowOrder,
  type AppSettings,
  type ClusterSnapshot,
  type EngineRow,
  type EngineValue,
  type GatherResult,
  type KernelKind,
  type NamespaceEntry,
  type NamespaceListing,
  type PullResult,
  type TaskRecord,
  type ValueFormat,
} from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import { EngineSampler } from './engineSampler.js';
import { NODE_DESCRIBE, PYTHON_DESCRIBE } from './probes.js';
import type { SettingsStore } from './settings.js';
import { TaskLog, type Task, type TaskFailure } from './taskLog.js';
import { toValueView } from './valueView.js';

/** Engine rows go to the renderer at most this often. */
export const FLUSH_MS = 40;
/** Status is polled this often while any engine is busy (queue, tasks done, current task). */
export const BUSY_POLL_MS = 200;
/** ...and this often otherwise (a safety net; events carry the changes). */
export const IDLE_POLL_MS = 2000;
export const SAMPLE_MS = 1000;
const RSS_HISTORY = 30;
const MAX_NAMES = 2000;

export interface ClusterServiceOptions {
  events: EventSink;
  settings: SettingsStore;
  /** Overrides $MULTIENGINE_DIR for the cluster's connection files. */
  dir?: string;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /**
   * Environment the controller (and so the engines) must start with. In Electron,
   * ELECTRON_RUN_AS_NODE=1 makes process.execPath a plain node; it is set only while the
   * controller is spawned, never for Electron's own helper processes.
   */
  spawnEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Error';
  }
}

function failureOf(e: unknown): TaskFailure {
  if (e instanceof RemoteError) return { ename: e.ename, evalue: e.evalue, traceback: [...e.traceback] };
  const err = e as { name?: string; message?: string } | null;
  return { ename: err?.name ?? 'Error', evalue: err?.message ?? String(e), traceback: [] };
}

function epoch(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : Date.now();
}

function sameRow(a: EngineRow, b: EngineRow): boolean {
  return (
    a.state === b.state &&
    a.queue === b.queue &&
    a.tasksDone === b.tasksDone &&
    a.pid === b.pid &&
    a.restarts === b.restarts &&
    a.reason === b.reason &&
    a.currentTask?.started === b.currentTask?.started &&
    a.currentTask?.msgType === b.currentTask?.msgType &&
    a.registered === b.registered &&
    a.host === b.host
  );
}

/** Parses the value of the push and scatter inspectors: JSON, or a JavaScript expression. */
export function parseValue(source: string, format: ValueFormat): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(source);
    } catch (e) {
      throw new UserError(`the value is not valid JSON: ${(e as Error).message}`);
    }
  }
  try {
    // A fresh context with nothing of ours in it; a runaway expression is stopped after 2 s.
    return vm.runInNewContext(`(${source}\n)`, Object.create(null), { timeout: 2000, filename: 'value' });
  } catch (e) {
    throw new UserError(`the expression failed: ${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`);
  }
}

export class ClusterService {
  private cluster: Cluster | null = null;
  private rc: Client | null = null;
  private snap: ClusterSnapshot;
  private readonly rows = new Map<number, EngineRow>();
  private readonly dirty = new Set<number>();
  private readonly removed = new Set<number>();
  private resetPending = false;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private sampleTimer: ReturnType<typeof setInterval> | null = null;
  private readonly sampler = new EngineSampler();
  private readonly hostname = os.hostname();
  private op: Promise<unknown> = Promise.resolve();
  private connectionListeners: ((file: string | null) => void)[] = [];
  private disposed = false;
  private generation = 0;
  /** Rows for engines being started (negative ids), oldest first. */
  private placeholders: number[] = [];
  private placeholderSeq = 0;
  readonly tasks: TaskLog;

  constructor(private readonly opts: ClusterServiceOptions) {
    const s = opts.settings.get();
    this.snap = { status: 'stopped', mode: s.attach ? 'attached' : 'local', profile: s.profile, connectionFile: null, controllerPid: null, error: null, settings: s };
    this.tasks = new TaskLog((t) => opts.events.emit('onTaskChanged', t));
  }

  // ------------------------------------------------------------ lifecycle

  snapshot(): ClusterSnapshot {
    return { ...this.snap, settings: this.opts.settings.get() };
  }

  /** The client connection file of the current cluster, for the console. */
  get connectionFile(): string | null {
    return this.snap.status === 'running' ? this.snap.connectionFile : null;
  }

  /** Called with the new connection file whenever the app connects to another cluster (or null when none). */
  onDidChangeConnection(cb: (file: string | null) => void): () => void {
    this.connectionListeners.push(cb);
    return () => {
      this.connectionListeners = this.connectionListeners.filter((l) => l !== cb);
    };
  }

  /** Starts (or attaches) as the settings say. */
  start(): Promise<ClusterSnapshot> {
    return this.serial(() => this.bringUp());
  }

  startCluster(p: { n: number; kind: KernelKind }): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      this.opts.settings.update({ engineCount: p.n, engineKind: p.kind, attach: false });
      await this.tearDown(false);
      return this.bringUp();
    });
  }

  attachCluster(p: { profile: string }): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      this.opts.settings.update({ attach: true, profile: p.profile });
      await this.tearDown(false);
      return this.bringUp();
    });
  }

  stopCluster(): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      await this.tearDown(true);
      return this.snapshot();
    });
  }

  restartCluster(): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      if (this.snap.mode === 'attached' && this.rc && !this.rc.isClosed) {
        // Not ours to restart: give every engine a fresh process instead.
        for (const e of this.rc.engines) if (e.state !== 'dead') await this.rc.restartEngine(e.id);
        await this.refresh();
        return this.snapshot();
      }
      await this.tearDown(true);
      this.opts.settings.update({ attach: false });
      return this.bringUp();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.op.then(fn, fn);
    this.op = run.catch(() => {});
    return run;
  }

  private setSnap(patch: Partial<ClusterSnapshot>): void {
    this.snap = { ...this.snap, ...patch, settings: this.opts.settings.get() };
    this.opts.events.emit('onClusterChanged', this.snapshot());
  }

  private async bringUp(): Promise<ClusterSnapshot> {
    if (this.disposed) return this.snapshot();
    const s: AppSettings = this.opts.settings.get();
    const gen = ++this.generation;
    this.setSnap({ status: 'starting', mode: s.attach ? 'attached' : 'local', profile: s.profile, error: null, connectionFile: null, controllerPid: null });
    try {
      let file: string;
      if (s.attach) {
        this.rc = await Client.connect({ profile: s.profile, dir: this.opts.dir, subscribe: 'all' });
        file = this.rc.connectionFile;
      } else {
        // The controller first, then the engines: their rows show up as each registers.
        this.cluster = await this.withSpawnEnv(() =>
          Cluster.start({
            n: 0,
            profile: s.profile,
            dir: this.opts.dir,
            heartbeatMs: this.opts.heartbeatMs,
            deadAfterMs: this.opts.deadAfterMs,
            // A controller respawned later would not get spawnEnv (in Electron it would start
            // the app again instead of the controller): there, a lost controller is reported.
            ...(this.opts.spawnEnv ? { restartController: false } : {}),
          }),
        );
        file = this.cluster.connectionFile;
        this.rc = await Client.connect({ file, subscribe: 'all' });
      }
      if (gen !== this.generation || this.disposed) return this.snapshot();
      const rc = this.rc;
      rc.onDidChangeEngines((c) => {
        if (this.rc === rc) this.onEngineChange(rc, c);
      });
      this.replaceRows(rc.engines);
      this.setSnap({ controllerPid: rc.controllerPid || null });
      if (this.cluster && s.engineCount > 0) {
        const cluster = this.cluster;
        await this.whileStarting(s.engineCount, s.engineKind, () => cluster.addEngines(s.engineCount, { engine: s.engineKind }));
        if (gen !== this.generation || this.disposed) return this.snapshot();
      }
      this.setSnap({ status: 'running', connectionFile: file, controllerPid: rc.controllerPid || null });
      this.startTimers();
      this.notifyConnection(file);
    } catch (e) {
      this.opts.log?.(`cluster: ${(e as Error).message}`);
      const how = s.attach ? `cannot attach to profile "${s.profile}"` : `cannot start a local cluster of ${s.engineCount} ${s.engineKind} engines`;
      await this.tearDown(false, true);
      this.setSnap({ status: 'error', error: `${how}: ${(e as Error).message}` });
    }
    return this.snapshot();
  }

  /** Calls `start` (which spawns synchronously) with spawnEnv set, and restores the environment right after. */
  private withSpawnEnv<T>(start: () => Promise<T>): Promise<T> {
    const env = this.opts.spawnEnv;
    if (!env) return start();
    const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
    Object.assign(process.env, env);
    try {
      return start();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  /** Disconnects; stops the cluster when it is ours (or, with `stopAttached`, asks an attached one to shut down). */
  private async tearDown(stopAttached: boolean, quiet = false): Promise<void> {
    this.generation++;
    this.stopTimers();
    const rc = this.rc;
    const cluster = this.cluster;
    this.rc = null;
    this.cluster = null;
    if (!rc && !cluster) return;
    if (!quiet) this.setSnap({ status: 'stopping' });
    this.notifyConnection(null);
    try {
      if (cluster) await cluster.stop();
      else if (rc && stopAttached && !rc.isClosed) await rc.shutdownController(5000).catch(() => {});
    } finally {
      rc?.close();
      this.replaceRows([]);
      if (!quiet) this.setSnap({ status: 'stopped', connectionFile: null, controllerPid: null });
    }
  }

  private notifyConnection(file: string | null): void {
    for (const cb of this.connectionListeners) {
      try {
        cb(file);
      } catch (e) {
        this.opts.log?.(`connection listener failed: ${(e as Error).message}`);
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.op.catch(() => {});
    await this.tearDown(false, true);
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }

  /** Every pid the app's own cluster started (for tests and for the quit path). */
  get pids(): number[] {
    return this.cluster?.pids ?? [];
  }

  // ------------------------------------------------------------ engine rows

  listEngines(): EngineRow[] {
    return [...this.rows.values()].sort(engineRowOrder);
  }

  private toRow(e: EngineInfo, prev: EngineRow | undefined): EngineRow {
    const ct = e.current_task;
    const samePid = prev !== undefined && prev.pid === e.pid;
    return {
      id: e.id,
      kernel: e.kernel,
      languageVersion: e.language_version,
      host: e.host,
      pid: e.pid,
      state: e.state,
      queue: e.queue,
      tasksDone: e.tasks_done ?? 0,
      currentTask: ct ? { msgType: ct.msg_type, started: epoch(ct.started) } : null,
      registered: epoch(e.registered),
      restarts: e.restarts,
      reason: e.reason ?? null,
      cpu: samePid && e.state !== 'dead' ? prev.cpu : null,
      rss: samePid && e.state !== 'dead' ? prev.rss : null,
      rssHistory: samePid ? prev.rssHistory : [],
    };
  }

  private upsert(e: EngineInfo): void {
    const prev = this.rows.get(e.id);
    const row = this.toRow(e, prev);
    if (prev && sameRow(prev, row)) return;
    this.rows.set(e.id, row);
    this.removed.delete(e.id);
    this.markDirty(e.id);
  }

  private onEngineChange(rc: Client, c: EngineChange): void {
    if (c.event === 'refresh') {
      const seen = new Set<number>();
      for (const e of rc.engines) {
        seen.add(e.id);
        this.upsert(e);
      }
      for (const id of [...this.rows.keys()]) if (id >= 0 && !seen.has(id)) this.drop(id);
    } else if (c.event === 'unregistered' && c.engine) {
      this.drop(c.engine.id);
    } else if (c.engine) {
      if (c.event === 'registered' && this.placeholders.length > 0 && !this.rows.has(c.engine.id)) this.drop(this.placeholders.shift()!);
      this.upsert(c.engine);
    }
    if (c.event === 'state' && c.engine?.state === 'busy') this.schedulePoll(BUSY_POLL_MS);
  }

  /** Shows `n` rows in state 'starting' while `start` runs; each registration replaces one. */
  private async whileStarting<T>(n: number, kind: KernelKind, start: () => Promise<T>): Promise<T> {
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const id = -++this.placeholderSeq;
      this.placeholders.push(id);
      this.rows.set(id, {
        id,
        kernel: kind,
        languageVersion: '',
        host: this.hostname,
        pid: 0,
        state: 'starting',
        queue: 0,
        tasksDone: 0,
        currentTask: null,
        registered: now,
        restarts: 0,
        reason: null,
        cpu: null,
        rss: null,
        rssHistory: [],
      });
      this.markDirty(id);
    }
    try {
      return await start();
    } finally {
      for (const id of this.placeholders) this.drop(id);
      this.placeholders = [];
    }
  }

  private drop(id: number): void {
    if (!this.rows.delete(id)) return;
    this.dirty.delete(id);
    this.removed.add(id);
    this.scheduleFlush();
  }

  private replaceRows(engines: readonly EngineInfo[]): void {
    const old = this.rows;
    const next = new Map<number, EngineRow>();
    for (const e of engines) next.set(e.id, this.toRow(e, old.get(e.id)));
    for (const id of this.placeholders) {
      const r = old.get(id);
      if (r) next.set(id, r);
    }
    this.rows.clear();
    for (const [k, v] of next) this.rows.set(k, v);
    this.dirty.clear();
    this.removed.clear();
    this.resetPending = true;
    this.scheduleFlush();
  }

  private markDirty(id: number): void {
    this.dirty.add(id);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    this.flushTimer = null;
    if (this.resetPending) {
      this.resetPending = false;
      this.dirty.clear();
      this.removed.clear();
      this.opts.events.emit('onEnginesChanged', { rows: this.listEngines(), removed: [], reset: true });
      return;
    }
    if (this.dirty.size === 0 && this.removed.size === 0) return;
    const rows: EngineRow[] = [];
    for (const id of this.dirty) {
      const r = this.rows.get(id);
      if (r) rows.push(r);
    }
    const removed = [...this.removed];
    this.dirty.clear();
    this.removed.clear();
    this.opts.events.emit('onEnginesChanged', { rows, removed, reset: false });
  }

  // ------------------------------------------------------------ polling and sampling

  private startTimers(): void {
    this.stopTimers();
    this.schedulePoll(IDLE_POLL_MS);
    if (this.sampler.supported) this.sampleTimer = setInterval(() => void this.sample(), SAMPLE_MS);
    void this.sample();
  }

  private stopTimers(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    this.pollTimer = null;
    this.sampleTimer = null;
  }

  private schedulePoll(ms: number): void {
    if (!this.rc) return;
    if (this.pollTimer) {
      if (ms >= IDLE_POLL_MS) return;
      clearTimeout(this.pollTimer);
    }
    this.pollTimer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    this.pollTimer = null;
    const rc = this.rc;
    if (!rc) return;
    try {
      await rc.status();
    } catch (e) {
      if (this.rc !== rc) return;
      if (rc.isClosed) {
        this.opts.log?.(`lost the controller: ${(e as Error).message}`);
        this.setSnap({ status: 'error', error: `lost the connection to the controller: ${(e as Error).message}` });
        this.stopTimers();
        for (const r of this.rows.values()) if (r.state !== 'dead') this.upsertRow({ ...r, state: 'dead', reason: 'the controller is gone' });
        return;
      }
    }
    if (this.rc !== rc) return;
    let busy = false;
    for (const r of this.rows.values()) if (r.state === 'busy' || r.queue > 0) busy = true;
    this.schedulePoll(busy ? BUSY_POLL_MS : IDLE_POLL_MS);
  }

  private upsertRow(row: EngineRow): void {
    this.rows.set(row.id, row);
    this.markDirty(row.id);
  }

  async refresh(): Promise<void> {
    await this.rc?.status();
  }

  private async sample(): Promise<void> {
    const local = [...this.rows.values()].filter((r) => r.state !== 'dead' && r.pid > 0 && r.host === this.hostname);
    if (local.length === 0) return;
    const samples = await this.sampler.sample(local.map((r) => r.pid));
    for (const r of local) {
      const s = samples.get(r.pid);
      const cur = this.rows.get(r.id);
      if (!s || !cur || cur.pid !== r.pid) continue;
      const history = [...cur.rssHistory, s.rss].slice(-RSS_HISTORY);
      this.upsertRow({ ...cur, cpu: s.cpu === null ? cur.cpu : Math.round(s.cpu * 10) / 10, rss: s.rss, rssHistory: history });
    }
  }

  // ------------------------------------------------------------ engine and cluster actions

  private client(): Client {
    const rc = this.rc;
    if (!rc || rc.isClosed || this.snap.status !== 'running') {
      throw new UserError(this.snap.status === 'starting' ? 'the cluster is still starting' : 'no cluster is running: start one, or attach to a running profile');
    }
    return rc;
  }

  /** `[]` means every live engine; otherwise the ids as given (unknown ones are refused). */
  private targets(ids: readonly number[]): number[] {
    const rc = this.client();
    if (ids.length === 0) {
      const live = rc.ids;
      if (live.length === 0) throw new UserError('no engines are running');
      return live;
    }
    for (const id of ids) if (!rc.engine(id)) throw new UserError(`there is no engine ${id}`);
    return [...ids];
  }

  async addEngines(p: { n: number; kind: KernelKind }): Promise<number[]> {
    const rc = this.client();
    const cluster = this.cluster;
    const ids = await this.whileStarting(p.n, p.kind, async () =>
      cluster ? cluster.addEngines(p.n, { engine: p.kind }) : await rc.addEngines(p.n, { engine: p.kind }),
    );
    await this.refresh();
    return ids;
  }

  async stopEngine(id: number): Promise<void> {
    const rc = this.client();
    if (this.cluster) await this.cluster.stopEngine(id);
    else await rc.stopEngine(id);
    await this.refresh();
  }

  async restartEngine(id: number): Promise<void> {
    const rc = this.client();
    if (this.cluster) await this.cluster.restartEngine(id);
    else await rc.restartEngine(id);
    await this.refresh();
  }

  async interruptEngines(ids: readonly number[]): Promise<void> {
    const rc = this.client();
    await rc.view([...this.targets(ids)]).interrupt();
  }

  // ------------------------------------------------------------ inspectors

  async listNamespace(targets: readonly number[]): Promise<NamespaceListing> {
    const rc = this.client();
    const ids = this.targets(targets);
    const errors: NamespaceListing['errors'] = [];
    type Described = { name: string; type: string; shape: number[] | null; length: number | null; bytes: number | null; repr: string };
    const per = await Promise.all(
      ids.map(async (id): Promise<{ id: number; items: Described[] } | null> => {
        try {
          const names = (await rc.view(id).keys()).slice(0, MAX_NAMES);
          if (names.length === 0) return { id, items: [] };
          const probe = rc.engine(id)?.kernel === 'python' ? PYTHON_DESCRIBE : NODE_DESCRIBE;
          const items = (await rc.view(id).applySync(probe, names)) as Described[];
          return { id, items: Array.isArray(items) ? items : [] };
        } catch (e) {
          const f = failureOf(e);
          errors.push({ engineId: id, ename: f.ename, evalue: f.evalue });
          return null;
        }
      }),
    );
    const byName = new Map<string, NamespaceEntry>();
    for (const r of per) {
      if (!r) continue;
      for (const d of r.items) {
        if (!d || typeof d.name !== 'string') continue;
        const have = byName.get(d.name);
        if (!have) {
          byName.set(d.name, {
            name: d.name,
            type: String(d.type),
            shape: Array.isArray(d.shape) ? d.shape.map(Number) : null,
            length: typeof d.length === 'number' ? d.length : null,
            bytes: typeof d.bytes === 'number' ? d.bytes : null,
            repr: String(d.repr ?? ''),
            engines: [r.id],
            differs: false,
          });
        } else {
          have.engines.push(r.id);
          if (have.type !== String(d.type) || have.repr !== String(d.repr ?? '')) have.differs = true;
        }
      }
    }
    const entries = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) e.engines.sort((a, b) => a - b);
    errors.sort((a, b) => a.engineId - b.engineId);
    return { targets: ids, entries, errors };
  }

  async pull(name: string, targets: readonly number[]): Promise<PullResult> {
    const rc = this.client();
    const ids = this.targets(targets);
    const task = this.tasks.begin('pull', `pull ${name}`, ids);
    const values = await Promise.all(
      ids.map(async (id, i): Promise<EngineValue> => {
        const r = rc.view(id).pull(name) as AsyncResult<unknown>;
        try {
          const v = await r;
          task.settle(i, {}, r.metadata[0]);
          return { engineId: id, ok: true, value: toValueView(v) };
        } catch (e) {
          const f = failureOf(e);
          task.fail(i, f, r.metadata[0]);
          return { engineId: id, ok: false, error: { ename: f.ename, evalue: f.evalue } };
        }
      }),
    );
    return { name, values };
  }

  async push(p: { name: string; source: string; format: ValueFormat; targets: number[] }): Promise<TaskRecord> {
    const rc = this.client();
    const ids = this.targets(p.targets);
    const value = parseValue(p.source, p.format);
    const task = this.tasks.begin('push', `push ${p.name} = ${p.source.length > 200 ? `${p.source.slice(0, 197)}...` : p.source}`, ids);
    let r: AsyncResult<void>;
    try {
      r = rc.view(ids).push({ [p.name]: value }, { block: false });
    } catch (e) {
      task.failAll(failureOf(e));
      throw e;
    }
    await this.finishBroadcast(task, r);
    return task.snapshot();
  }

  async scatter(p: { name: string; source: string; format: ValueFormat; targets: number[] }): Promise<TaskRecord> {
    const rc = this.client();
    const ids = this.targets(p.targets);
    const value = parseValue(p.source, p.format);
    if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
      throw new UserError(`scatter needs a sequence (an array or a typed array) to split across the engines; the value is ${value === null ? 'null' : typeof value}`);
    }
    const task = this.tasks.begin('scatter', `scatter ${p.name} = ${p.source.length > 200 ? `${p.source.slice(0, 197)}...` : p.source}`, ids);
    let r: AsyncResult<void>;
    try {
      r = rc.view(ids).scatter(p.name, value as unknown[], { block: false });
    } catch (e) {
      task.failAll(failureOf(e));
      throw e;
    }
    await this.finishBroadcast(task, r);
    return task.snapshot();
  }

  async gather(name: string, targets: readonly number[]): Promise<GatherResult> {
    const rc = this.client();
    const ids = this.targets(targets);
    const task = this.tasks.begin('gather', `gather ${name}`, ids);
    const r = rc.view(ids).gather(name, { block: false });
    await this.finishBroadcast(task, r);
    const o = await r.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (!o.ok) throw new UserError(describeError(o.e));
    return { name, value: toValueView(o.v) };
  }

  /** Fills a task from a broadcast result: per-engine state and times, errors by engine. */
  private async finishBroadcast(task: Task, r: AsyncResult<unknown>): Promise<void> {
    await r.wait();
    const errors = new Map<number, RemoteError>();
    const err = r.error;
    if (err instanceof CompositeError) for (const x of err.elist) errors.set(x.engineId, x);
    else if (err instanceof RemoteError) errors.set(err.engineId, err);
    r.metadata.forEach((m, i) => {
      const e = errors.get(m.engineId);
      if (m.status === 'ok') task.settle(i, {}, m);
      else task.fail(i, e ? failureOf(e) : failureOf(err), m, m.status === 'aborted');
    });
    if (!r.successful() && errors.size === 0 && err !== undefined) task.failAll(failureOf(err));
  }

  execute(code: string, targets: readonly number[]): TaskRecord {
    const rc = this.client();
    const ids = this.targets(targets);
    const task = this.tasks.begin('execute', code, ids);
    ids.forEach((id, i) => {
      let r: AsyncResult<ExecuteResult>;
      try {
        r = rc.view(id).execute(code, { block: false });
      } catch (e) {
        task.fail(i, failureOf(e));
        return;
      }
      r.onOutput((ev) => task.output(i, ev.name, ev.text));
      r.then(
        (v) => task.settle(i, { executionCount: v.executionCount, result: v.result ?? null, stdout: v.stdout, stderr: v.stderr }, r.metadata[0]),
        (e: unknown) => task.fail(i, failureOf(e), r.metadata[0], e instanceof AbortError),
      );
    });
    return task.snapshot();
  }
}

export function describeError(e: unknown): string {
  if (e instanceof CompositeError) return e.message;
  if (e instanceof RemoteError) return `[${e.engineId}] ${e.ename}: ${e.evalue}`;
  return (e as Error)?.message ?? String(e);
}
