/**
 * The engine table as the renderer shows it: one row per engine (and one per engine being
 * started), kept current from the Client's engine events and sent in batches (at most every
 * FLUSH_MS), so 256 busy engines cost a few messages a second, not thousands.
 *
 * It also tells the rest of the app what the events mean: an engine started a request
 * (the task history marks it running), and the engines' namespaces may have changed (a
 * request of any client finished, engines came or went), debounced.
 */
import os from 'node:os';
import type { Client, EngineChange } from '../../core/index.js';
import { Emitter, type Disposable } from '../../core/events/emitter.js';
import type { EngineInfo } from '../../core/protocol/messages.js';
import { engineRowOrder, type EngineRow, type KernelKind } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';

/** Engine rows go to the renderer at most this often. */
export const FLUSH_MS = 40;
/** "Namespaces may have changed" is told at most this often. */
export const NAMESPACE_DEBOUNCE_MS = 300;

/** Engines of one language, as asked for when starting or restarting a cluster. */
export interface EngineGroup {
  n: number;
  kind: KernelKind;
}

function epoch(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : Date.now();
}

function sameRow(a: EngineRow, b: EngineRow): boolean {
  return (
    a.state === b.state &&
    a.queue === b.queue &&
    a.balanced === b.balanced &&
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

/** Live engines by language, in the order languages first appear: what a restart brings back. */
export function groupsOf(engines: readonly { id: number; kernel: KernelKind; state: string }[]): EngineGroup[] {
  const groups: EngineGroup[] = [];
  for (const e of engines) {
    if (e.id < 0 || e.state === 'dead') continue;
    const g = groups.find((x) => x.kind === e.kernel);
    if (g) g.n++;
    else groups.push({ n: 1, kind: e.kernel });
  }
  return groups;
}

export class EngineTable {
  private readonly rows = new Map<number, EngineRow>();
  private readonly dirty = new Set<number>();
  private readonly removed = new Set<number>();
  private resetPending = false;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  /** Rows for engines being started (negative ids), oldest first. */
  private placeholders: number[] = [];
  private placeholderSeq = 0;
  /** Requests the app sent for itself (namespace probes), per engine process: not the user's tasks. */
  private readonly ownRequests = new Map<number, { pid: number; sent: number; raw: number }>();
  /** Engines being restarted: their id goes away and comes back, so their row stays (as 'starting'). */
  private readonly restarting = new Set<number>();
  private rc: Client | null = null;
  private sub: Disposable | null = null;
  private nsTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly nsChanged = new Set<number>();
  private readonly namespacesChanged = new Emitter<number[]>();
  private readonly requestStarted = new Emitter<string>();
  private readonly busySeen = new Emitter<void>();
  readonly hostname = os.hostname();

  /** Engines whose namespaces may have changed (debounced). */
  readonly onDidChangeNamespaces = this.namespacesChanged.event;
  /** An engine started running the request with this msg_id. */
  readonly onDidStartRequest = this.requestStarted.event;
  /** An engine turned busy (status is then polled more often). */
  readonly onDidSeeBusyEngine = this.busySeen.event;

  constructor(private readonly events: EventSink) {}

  /** Follows `rc`'s engines from now on (null: none). */
  follow(rc: Client | null): void {
    this.sub?.dispose();
    this.sub = null;
    this.ownRequests.clear();
    this.restarting.clear();
    this.rc = rc;
    if (rc) this.sub = rc.onDidChangeEngines((c) => this.onEngineChange(rc, c));
    this.replaceRows(rc?.engines ?? []);
  }

  list(): EngineRow[] {
    return [...this.rows.values()].sort(engineRowOrder);
  }

  /** The rows of engines with an id (for polling and sampling). */
  engineRows(): EngineRow[] {
    return [...this.rows.values()].filter((r) => r.id >= 0);
  }

  row(id: number): EngineRow | undefined {
    return this.rows.get(id);
  }

  get anyBusy(): boolean {
    for (const r of this.rows.values()) if (r.state === 'busy' || r.queue > 0) return true;
    return false;
  }

  /** Counts `n` requests the app sends engine `id` for itself, so its "done" shows the user's tasks only. */
  countOwnRequests(id: number, n: number): void {
    const pid = this.rows.get(id)?.pid ?? 0;
    const o = this.ownRequests.get(id);
    if (o && o.pid === pid) o.sent += n;
    else this.ownRequests.set(id, { pid, sent: n, raw: 0 });
  }

  /** Replaces a row as is (process samples, or the controller lost). */
  setRow(row: EngineRow): void {
    this.rows.set(row.id, row);
    this.markDirty(row.id);
  }

  markAllDead(reason: string): void {
    for (const r of this.rows.values()) if (r.state !== 'dead') this.setRow({ ...r, state: 'dead', reason });
  }

  /** Shows a row in state 'starting' for each engine of `groups` while `start` runs; each registration replaces one. */
  async whileStarting<T>(groups: readonly EngineGroup[], start: () => Promise<T>): Promise<T> {
    const now = Date.now();
    for (const g of groups) {
      for (let i = 0; i < g.n; i++) {
        const id = -++this.placeholderSeq;
        this.placeholders.push(id);
        this.rows.set(id, { ...this.blankRow(id, g.kind), registered: now });
        this.markDirty(id);
      }
    }
    try {
      return await start();
    } finally {
      for (const id of this.placeholders) this.drop(id);
      this.placeholders = [];
    }
  }

  /** Keeps engine `id`'s row (and so the user's selection of it) while `restart` gives it a new process. */
  async whileRestarting<T>(id: number, restart: () => Promise<T>): Promise<T> {
    this.restarting.add(id);
    try {
      return await restart();
    } finally {
      this.restarting.delete(id);
      if (this.rows.has(id) && !this.rc?.engine(id)) this.drop(id);
    }
  }

  dispose(): void {
    this.sub?.dispose();
    this.sub = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.nsTimer) clearTimeout(this.nsTimer);
    this.namespacesChanged.dispose();
    this.requestStarted.dispose();
    this.busySeen.dispose();
  }

  private blankRow(id: number, kind: KernelKind): EngineRow {
    return { id, kernel: kind, languageVersion: '', host: this.hostname, pid: 0, state: 'starting', queue: 0, balanced: 0, tasksDone: 0, currentTask: null, registered: Date.now(), restarts: 0, reason: null, cpu: null, rss: null, rssHistory: [] };
  }

  private toRow(e: EngineInfo, prev: EngineRow | undefined): EngineRow {
    const ct = e.current_task;
    const samePid = prev !== undefined && prev.pid === e.pid;
    const raw = e.tasks_done ?? 0;
    let own = this.ownRequests.get(e.id);
    if (own && (own.pid !== e.pid || raw < own.raw)) {
      // Another process, or a restarted controller counting from 0: start over.
      this.ownRequests.delete(e.id);
      own = undefined;
    }
    if (own) own.raw = raw;
    const fresh = !own && raw < (prev?.tasksDone ?? 0);
    // The app's own requests are counted when sent, before the controller counts them
    // answered, so the user's count never jumps up and down while a probe runs.
    const done = raw - (own ? own.sent : 0);
    return {
      id: e.id,
      kernel: e.kernel,
      languageVersion: e.language_version,
      // The engine's own report names its host best (a launcher elsewhere may register it otherwise).
      host: e.stats?.host ?? e.host,
      pid: e.pid,
      state: e.state,
      queue: e.queue,
      balanced: e.balanced ?? 0,
      tasksDone: Math.max(0, samePid && !fresh ? Math.max(prev.tasksDone, done) : done),
      currentTask: ct ? { msgType: ct.msg_type.replace(/_request$/, ''), started: epoch(ct.started) } : null,
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
    if (e.current_task && e.current_task.msg_id) this.requestStarted.fire(e.current_task.msg_id);
    if (!prev || prev.pid !== row.pid || row.tasksDone > prev.tasksDone || (row.state === 'dead') !== (prev.state === 'dead')) this.namespaceMayHaveChanged(e.id);
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
      for (const id of [...this.rows.keys()]) if (id >= 0 && !seen.has(id)) this.dropOrHold(id);
    } else if (c.event === 'unregistered' && c.engine) {
      this.dropOrHold(c.engine.id);
    } else if (c.engine) {
      if (c.event === 'registered' && this.placeholders.length > 0 && !this.rows.has(c.engine.id)) this.drop(this.placeholders.shift()!);
      this.upsert(c.engine);
    }
    if (c.event === 'state' && c.engine?.state === 'busy') this.busySeen.fire();
  }

  private namespaceMayHaveChanged(id: number): void {
    this.nsChanged.add(id);
    this.nsTimer ??= setTimeout(() => {
      this.nsTimer = null;
      const ids = [...this.nsChanged].sort((a, b) => a - b);
      this.nsChanged.clear();
      this.namespacesChanged.fire(ids);
    }, NAMESPACE_DEBOUNCE_MS);
  }

  private dropOrHold(id: number): void {
    const row = this.rows.get(id);
    if (!row || !this.restarting.has(id)) return this.drop(id);
    if (row.state !== 'starting') this.setRow({ ...row, state: 'starting', pid: 0, currentTask: null, cpu: null, rss: null, rssHistory: [] });
    this.namespaceMayHaveChanged(id);
  }

  private drop(id: number): void {
    if (!this.rows.delete(id)) return;
    if (id >= 0) this.namespaceMayHaveChanged(id);
    this.dirty.delete(id);
    this.removed.add(id);
    this.scheduleFlush();
  }

  private replaceRows(engines: readonly EngineInfo[]): void {
    const old = new Map(this.rows);
    this.rows.clear();
    for (const e of engines) this.rows.set(e.id, this.toRow(e, old.get(e.id)));
    for (const id of this.placeholders) {
      const r = old.get(id);
      if (r) this.rows.set(id, r);
    }
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
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    this.flushTimer = null;
    if (this.resetPending) {
      this.resetPending = false;
      this.dirty.clear();
      this.removed.clear();
      this.events.emit('onEnginesChanged', { rows: this.list(), removed: [], reset: true });
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
    this.events.emit('onEnginesChanged', { rows, removed, reset: false });
  }
}
