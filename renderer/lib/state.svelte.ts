/**
 * The renderer's state, as runes: the cluster, the engine rows (kept as one immutable array
 * so a change re-renders only the rows whose object changed), the selection, the task
 * history, the engine sets, the error messages and a counter of "the namespaces may have changed" events.
 */
import { engineRowOrder, type AppInfo, type ClusterSnapshot, type EngineRow, type EngineSet, type EnginesChange, type TaskRecord } from '../../preload/contract';
import { api, onConnectionState } from './api';
import { errorText } from './format';

/** How long a toast stays: short, errors a little longer. */
export const TOAST_MS = { info: 3500, error: 7000 } as const;
/** Toasts shown at once; older ones give way. */
const MAX_TOASTS = 3;

/** Errors of a form, by field ("name", "value", …), shown under the inputs. */
export type FieldErrors = Record<string, string>;

export interface Toast {
  id: number;
  message: string;
  kind: 'error' | 'info';
}

class AppStore {
  info = $state.raw<AppInfo | null>(null);
  cluster = $state.raw<ClusterSnapshot | null>(null);
  rows = $state.raw<EngineRow[]>([]);
  /** The engine sets of the cluster (launcher, state, job id, hosts), as main last listed them. */
  engineSets = $state.raw<EngineSet[]>([]);
  selected = $state.raw<ReadonlySet<number>>(new Set());
  tasks = $state.raw<TaskRecord[]>([]);
  activeTask = $state<number | null>(null);
  toasts = $state<Toast[]>([]);
  connection = $state<'connecting' | 'open' | 'closed'>('open');
  /** Ticks every 500 ms, for elapsed times and uptimes. */
  now = $state(Date.now());
  /** What the inspectors and actions run on: the selection, or [] for every engine. */
  targets = $derived([...this.selected].sort((a, b) => a - b));
  /** Ids of the engines alive now (what "all engines" means at this moment). */
  liveIds = $derived(this.rows.filter((r) => r.id >= 0 && r.state !== 'dead').map((r) => r.id));
  /** Counts "the engines' namespaces may have changed" (after any client's request, engines came or went). */
  namespaceChanges = $state(0);
  /** Asks the inspectors to show a name (from the namespace browser). */
  inspect = $state<{ name: string; tab: 'pull' | 'push' | 'scatter'; seq: number } | null>(null);

  private byId = new Map<number, EngineRow>();
  private taskMap = new Map<number, TaskRecord>();
  private toastSeq = 0;
  private started = false;
  private unsubs: (() => void)[] = [];
  private clock: ReturnType<typeof setInterval> | null = null;

  async init(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const a = api();
    this.unsubs.push(
      a.onClusterChanged((c) => this.applyCluster(c)),
      a.onEnginesChanged((c) => this.applyEngines(c)),
      a.onTaskChanged((t) => this.applyTask(t)),
      a.onEngineSetsChanged((sets) => {
        this.engineSets = sets ?? [];
      }),
      a.onNamespacesChanged(() => {
        this.namespaceChanges++;
      }),
      onConnectionState((s, reconnected) => {
        this.connection = s;
        if (s === 'open' && reconnected) void this.reload();
      }),
    );
    this.clock = setInterval(() => {
      this.now = Date.now();
    }, 500);
    await this.reload();
  }

  /** Reads everything afresh (start-up, and after web mode reconnects). */
  async reload(): Promise<void> {
    const a = api();
    await this.guard(async () => {
      const [info, cluster, rows, tasks, sets] = await Promise.all([a.getAppInfo(), a.getCluster(), a.listEngines(), a.listTasks(), a.listEngineSets()]);
      this.info = info;
      this.cluster = cluster;
      this.engineSets = sets ?? [];
      this.applyEngines({ rows, removed: [], reset: true });
      this.taskMap = new Map(tasks.map((t) => [t.id, t]));
      this.tasks = [...this.taskMap.values()].sort((x, y) => y.id - x.id);
    });
  }

  dispose(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
    if (this.clock) clearInterval(this.clock);
    this.started = false;
  }

  applyCluster(c: ClusterSnapshot): void {
    // Shut down by someone else (a client, `multiengine stop`): said once, in a toast too.
    if (c.ended && c.ended !== this.cluster?.ended) this.push(c.ended);
    this.cluster = c;
  }

  applyEngines(c: EnginesChange): void {
    if (c.reset) this.byId = new Map();
    for (const id of c.removed) this.byId.delete(id);
    for (const r of c.rows) this.byId.set(r.id, r);
    this.rows = [...this.byId.values()].sort(engineRowOrder);
    if (c.reset || c.removed.length) {
      const live = new Set(this.byId.keys());
      const kept = [...this.selected].filter((id) => live.has(id));
      if (kept.length !== this.selected.size) this.setSelection(kept);
    }
  }

  applyTask(t: TaskRecord): void {
    const isNew = !this.taskMap.has(t.id);
    this.taskMap.set(t.id, t);
    if (this.taskMap.size > 200) this.taskMap.delete(Math.min(...this.taskMap.keys()));
    this.tasks = [...this.taskMap.values()].sort((x, y) => y.id - x.id);
    // The app's own runs take the detail view; other clients' requests (t.client) only join the list.
    if (isNew && t.kind === 'execute' && t.client === undefined) this.activeTask = t.id;
  }

  setSelection(ids: Iterable<number>): void {
    this.selected = new Set(ids);
    const list = [...this.selected].sort((a, b) => a - b);
    void this.guard(() => api().setPxTargets({ ids: list }));
  }

  toggle(id: number): void {
    const next = new Set(this.selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    this.setSelection(next);
  }

  /** Runs an API call; a failure becomes a readable message instead of an exception. */
  async guard<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      this.error(e);
      return undefined;
    }
  }

  /**
   * Runs a form's API call. An error about one of `fields` goes under that field (returned
   * by field); any other error becomes a toast.
   */
  async submit<T>(fn: () => Promise<T>, fields: readonly string[]): Promise<{ value?: T; errors: FieldErrors }> {
    try {
      return { value: await fn(), errors: {} };
    } catch (e) {
      const field = (e as { field?: unknown } | null)?.field;
      if (typeof field === 'string' && fields.includes(field)) return { errors: { [field]: errorText(e) } };
      this.error(e);
      return { errors: {} };
    }
  }

  error(e: unknown): void {
    this.push(errorText(e), 'error');
  }

  push(message: string, kind: Toast['kind'] = 'info'): void {
    const id = ++this.toastSeq;
    this.toasts = [...this.toasts.slice(-(MAX_TOASTS - 1)), { id, message, kind }];
    setTimeout(() => this.dismiss(id), TOAST_MS[kind]);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }
}

export const store = new AppStore();
