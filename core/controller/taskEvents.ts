/**
 * Task events for the clients that asked for them (connect_request task_events: true). The
 * recorder hands over what its 20 ms tick saw; this feed sends them on at most once per
 * INTERVAL_MS as one task_events message, encoded once, the same parts to every subscriber.
 * Coalescing: an interval lists its first CAP events; those past the cap are only counted
 * (overflow: submitted, started, finished by status, and the same per map for map tasks), so 20,000 tasks a second cost a
 * subscriber a bounded message per interval. A subscriber whose socket is still backed up past
 * BACKLOG_BYTES gets the interval's counts alone, never a growing queue.
 */
import type { TaskEvent, TaskEventOverflow, TaskMapOverflow, TaskRecord } from '../protocol/messages.js';
import type { Connection } from '../transport/connection.js';
import type { Replier } from './replies.js';

/** How often a subscriber gets a task_events message at most. */
const INTERVAL_MS = 50;
/** Events listed per interval; past it they are counted. */
export const TASK_EVENTS_CAP = 2000;
/** Of a request's code, in its submitted event (the task database keeps more). */
const CODE_CHARS = 200;
/** A subscriber with more than this unsent gets counts instead of events. */
const BACKLOG_BYTES = 4 * 1024 * 1024;

/** What the recorder tells the feed (nothing is built while `active` is false). */
export interface TaskWatcher {
  readonly active: boolean;
  submitted(r: TaskRecord): void;
  started(engineId: number, r: TaskRecord): void;
  finished(done: readonly TaskRecord[]): void;
}

function emptyOverflow(): TaskEventOverflow {
  return { submitted: 0, started: 0, finished: { ok: 0, error: 0, aborted: 0 } };
}

function event(kind: TaskEvent['event'], r: TaskRecord, engineId: number | null, time: string): TaskEvent {
  const e: TaskEvent = { event: kind, msg_id: r.msg_id, client: r.client, msg_type: r.msg_type, engine_id: engineId, balanced: r.balanced, label: r.label, time };
  if (r.map !== undefined) e.map = r.map;
  return e;
}

/** The overflow's counts for a map task's map (made on its first overflowed event). */
function mapCounts(o: TaskEventOverflow, r: Pick<TaskRecord, 'map'>): TaskMapOverflow | undefined {
  if (r.map === undefined) return undefined;
  o.maps ??= {};
  return (o.maps[r.map.id] ??= { map: r.map, submitted: 0, started: 0, finished: { ok: 0, error: 0, aborted: 0 } });
}

function durationMs(r: TaskRecord): number | null {
  if (r.started === null || r.completed === null) return null;
  const d = Date.parse(r.completed) - Date.parse(r.started);
  return Number.isFinite(d) ? Math.max(0, d) : null;
}

export class TaskEventFeed implements TaskWatcher {
  private readonly subscribers = new Set<{ conn: Connection }>();
  private events: TaskEvent[] = [];
  private overflow = emptyOverflow();
  private overflowed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly replier: Pick<Replier, 'encode'>,
    private readonly cap = TASK_EVENTS_CAP,
    private readonly intervalMs = INTERVAL_MS,
  ) {}

  get active(): boolean {
    return this.subscribers.size > 0;
  }

  subscribe(client: { conn: Connection }): void {
    this.subscribers.add(client);
  }

  unsubscribe(client: { conn: Connection }): void {
    this.subscribers.delete(client);
  }

  submitted(r: TaskRecord): void {
    if (!this.room()) {
      this.overflow.submitted++;
      const m = mapCounts(this.overflow, r);
      if (m) m.submitted++;
      return;
    }
    const e = event('submitted', r, null, r.received);
    e.code = r.code !== null && r.code.length > CODE_CHARS ? r.code.slice(0, CODE_CHARS) : r.code;
    this.events.push(e);
  }

  started(engineId: number, r: TaskRecord): void {
    if (this.room()) this.events.push(event('started', r, engineId, new Date().toISOString()));
    else {
      this.overflow.started++;
      const m = mapCounts(this.overflow, r);
      if (m) m.started++;
    }
  }

  finished(done: readonly TaskRecord[]): void {
    for (const r of done) {
      const status = r.status === 'ok' || r.status === 'aborted' ? r.status : 'error';
      if (!this.room()) {
        this.overflow.finished[status]++;
        const m = mapCounts(this.overflow, r);
        if (m) m.finished[status]++;
        continue;
      }
      const e = event('finished', r, r.engine_id, r.completed ?? new Date().toISOString());
      e.status = status;
      e.duration_ms = durationMs(r);
      if (r.ename !== null) e.ename = r.ename;
      this.events.push(e);
    }
  }

  /** Room for one more listed event in this interval (and the interval's send is scheduled). */
  private room(): boolean {
    this.timer ??= setTimeout(() => this.send(), this.intervalMs);
    if (!this.overflowed && this.events.length < this.cap) return true;
    this.overflowed = true;
    return false;
  }

  /** The interval's message to every subscriber; counts alone to those still backed up. */
  send(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const events = this.events;
    const overflow = this.overflow;
    const overflowed = this.overflowed;
    this.events = [];
    this.overflow = emptyOverflow();
    this.overflowed = false;
    if (this.subscribers.size === 0 || (events.length === 0 && !overflowed)) return;
    let full: Uint8Array[] | null = null;
    let counts: Uint8Array[] | null = null;
    for (const s of this.subscribers) {
      if (s.conn.isClosed) continue;
      if (s.conn.writableLength > BACKLOG_BYTES) {
        counts ??= this.replier.encode('task_events', { events: [], overflow: countAll(events, overflow) });
        s.conn.sendParts(counts);
      } else {
        full ??= this.replier.encode('task_events', overflowed ? { events, overflow } : { events });
        s.conn.sendParts(full);
      }
    }
  }
}

/** The listed events counted into the overflow: the whole interval as counts. */
function countAll(events: readonly TaskEvent[], overflow: TaskEventOverflow): TaskEventOverflow {
  const o: TaskEventOverflow = { submitted: overflow.submitted, started: overflow.started, finished: { ...overflow.finished } };
  if (overflow.maps) o.maps = Object.fromEntries(Object.entries(overflow.maps).map(([id, m]) => [id, { ...m, finished: { ...m.finished } }]));
  for (const e of events) {
    const m = mapCounts(o, e);
    if (e.event === 'finished') {
      const status = e.status === 'ok' || e.status === 'aborted' ? e.status : 'error';
      o.finished[status]++;
      if (m) m.finished[status]++;
    } else {
      o[e.event]++;
      if (m) m[e.event]++;
    }
  }
  return o;
}
