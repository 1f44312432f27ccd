/**
 * Progress of calls and maps, in items, from the task stream's events: a load-balanced map
 * counts its items (metadata.balanced.map: every task names its map and size, and the
 * controller counts a map's overflowed events per map), a call on several engines counts one
 * item per engine. Pure: the Progress component shows what `list` returns.
 */
import type { StreamMap, TaskStreamBatch } from '../../preload/contract.js';

export interface ProgressEntry {
  /** The map's id, or the call's msg_id. */
  id: string;
  what: 'map' | 'call';
  /** The label, else the start of the code, else the kind. */
  title: string;
  kind: string;
  client: number;
  /** Items: a map's length; a call's engines (as many as it was sent to so far). */
  total: number;
  /** Items finished, ok or not. */
  done: number;
  failed: number;
  /** Epoch ms of its first event and (once done) its last. */
  first: number;
  last: number | null;
}

/** Entries kept; finished ones go first, oldest first. */
export const MAX_ENTRIES = 300;

interface MapState {
  entry: ProgressEntry;
  map: StreamMap;
  tasks: number;
  finishedTasks: number;
  failedTasks: number;
}

interface CallState {
  entry: ProgressEntry;
  engines: Set<number>;
  finished: number;
}

/** Items in `n` finished tasks of `map` (the last task may hold fewer than a chunk). */
function itemsIn(map: StreamMap, n: number, tasks: number): number {
  return n >= tasks ? map.items : Math.min(map.items, n * map.chunk);
}

export class ProgressBook {
  private readonly maps = new Map<string, MapState>();
  private readonly calls = new Map<string, CallState>();
  private readonly order = new Map<string, ProgressEntry>();

  clear(): void {
    this.maps.clear();
    this.calls.clear();
    this.order.clear();
  }

  /** One batch of the stream; `now` dates the counted-only events. */
  add(batch: TaskStreamBatch, now: number): void {
    for (const e of batch.events) {
      if (e.map !== undefined) {
        const m = this.mapState(e.map, e.time, e.label ?? e.code, e.kind, e.client);
        if (e.event === 'finished') this.mapFinished(m, e.status === 'ok' ? 1 : 0, e.status === 'ok' ? 0 : 1, e.time);
        continue;
      }
      let c = this.calls.get(e.msgId);
      if (c === undefined) {
        if (e.event !== 'submitted' && e.engineId === null) continue;
        c = { entry: this.entry(e.msgId, 'call', e.label ?? e.code, e.kind, e.client, e.time), engines: new Set(), finished: 0 };
        this.calls.set(e.msgId, c);
      }
      if (e.engineId === null) {
        // Finished without an engine: the scheduler failed it (a timeout, an impossible dependency).
        if (e.event === 'finished') {
          c.entry.total = c.entry.done = c.entry.failed = Math.max(1, c.entry.total);
          c.entry.last = e.time;
          if (c.entry.total <= 1) this.forget(e.msgId);
        }
        continue;
      }
      c.engines.add(e.engineId);
      c.entry.total = Math.max(c.engines.size, c.entry.total);
      if (e.event === 'finished') {
        c.entry.done++;
        if (e.status !== 'ok') c.entry.failed++;
        if (c.entry.done >= c.entry.total) c.entry.last = e.time;
      }
      // A finished call of one item is no progress to show (the app's own namespace listings are many of those).
      if (c.entry.last !== null && c.entry.total <= 1) this.forget(e.msgId);
    }
    for (const counted of batch.maps ?? []) {
      const m = this.mapState(counted.map, now, undefined, 'apply', 0);
      this.mapFinished(m, counted.ok, counted.failed, now);
    }
    this.bound();
  }

  /**
   * Running entries first (latest started first), then finished ones (latest finished first).
   * A call of one item shows while it runs only.
   */
  list(): ProgressEntry[] {
    const all = [...this.order.values()].reverse();
    return [...all.filter((e) => e.last === null), ...all.filter((e) => e.last !== null).sort((a, b) => (b.last as number) - (a.last as number))];
  }

  private forget(id: string): void {
    this.order.delete(id);
    this.maps.delete(id);
    this.calls.delete(id);
  }

  private mapState(map: StreamMap, time: number, title: string | null | undefined, kind: string, client: number): MapState {
    let m = this.maps.get(map.id);
    if (m === undefined) {
      const entry = this.entry(map.id, 'map', title, kind, client, time);
      entry.total = map.items;
      m = { entry, map, tasks: Math.ceil(map.items / Math.max(1, map.chunk)), finishedTasks: 0, failedTasks: 0 };
      this.maps.set(map.id, m);
    } else {
      // Counted-only events come first sometimes: the listed ones tell what it was.
      if (title && m.entry.title === m.entry.kind) m.entry.title = title;
      if (client > 0) m.entry.client = client;
      if (time < m.entry.first) m.entry.first = time;
    }
    return m;
  }

  private mapFinished(m: MapState, ok: number, failed: number, time: number): void {
    if (ok + failed === 0) return;
    m.finishedTasks += ok + failed;
    m.failedTasks += failed;
    m.entry.done = itemsIn(m.map, m.finishedTasks, m.tasks);
    m.entry.failed = Math.min(m.entry.done, m.failedTasks * m.map.chunk);
    if (m.entry.done >= m.entry.total) m.entry.last = time;
  }

  private entry(id: string, what: ProgressEntry['what'], title: string | null | undefined, kind: string, client: number, time: number): ProgressEntry {
    const e: ProgressEntry = { id, what, title: firstLine(title) || kind, kind, client, total: 0, done: 0, failed: 0, first: time, last: null };
    this.order.set(id, e);
    return e;
  }

  private bound(): void {
    if (this.order.size <= MAX_ENTRIES) return;
    for (const [id, e] of this.order) {
      if (this.order.size <= MAX_ENTRIES) break;
      if (e.last === null && this.order.size <= 2 * MAX_ENTRIES) continue; // running ones stay, unless there are very many
      this.forget(id);
    }
  }
}

function firstLine(s: string | null | undefined): string {
  if (!s) return '';
  const line = s.trim().split('\n')[0];
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}

/** Time left at the rate so far, in ms (null until an item is done, or once all are). */
export function timeLeft(e: ProgressEntry, now: number): number | null {
  if (e.done === 0 || e.done >= e.total || e.last !== null) return null;
  const elapsed = now - e.first;
  return (elapsed / e.done) * (e.total - e.done);
}

/** Elapsed ms: to now while running, to its last event once done. */
export function elapsed(e: ProgressEntry, now: number): number {
  return Math.max(0, (e.last ?? now) - e.first);
}
