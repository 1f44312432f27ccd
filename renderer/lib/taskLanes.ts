/**
 * The task stream's data, kept for drawing: one lane per engine, one bar per task on it.
 * Finished bars are immutable and kept sorted by start time, so the visible window of a lane
 * is found by binary search and a draw touches only what it shows, even at 100,000 tasks;
 * the few tasks still open (sent to an engine, not finished) are kept apart, drawn to "now".
 * Pure (no DOM): the component draws, this decides what and where.
 */
import type { StreamEvent } from '../../preload/contract.js';

export type BarStatus = 'open' | 'ok' | 'error' | 'aborted';

export interface Bar {
  msgId: string;
  engineId: number;
  /** Epoch ms: the engine started it (finished bars), or it was sent to the engine (open ones). */
  start: number;
  /** Epoch ms it completed; null while open. */
  end: number | null;
  /** Epoch ms the controller sent it to the engine, when before `start` (queued on the engine): drawn faint. */
  queued: number | null;
  kind: string;
  label: string | null;
  client: number;
  status: BarStatus;
  ename?: string;
  code?: string;
}

export interface Lane {
  engineId: number;
  /** Finished bars, sorted by start. */
  bars: Bar[];
  /** Open bars, by msg_id. */
  open: Map<string, Bar>;
  /** The longest finished bar, in ms: how far before a window a bar that reaches into it may start. */
  longest: number;
}

/** Bars kept at most; past it each lane gives up its oldest fifth. */
export const MAX_BARS = 250_000;
/** Submitted requests remembered for their code and time until their bars come (a request is mostly on its way within a second). */
const MAX_PENDING = 20_000;

/** The first index in `bars` whose start is ≥ t. */
export function firstAtOrAfter(bars: readonly Bar[], t: number): number {
  let lo = 0;
  let hi = bars.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bars[mid].start < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Finished bars of `lane` that show in [t0, t1): indices from..to, to check each against t0 (one may end before it). */
export function visibleRange(lane: Lane, t0: number, t1: number): { from: number; to: number } {
  return { from: firstAtOrAfter(lane.bars, t0 - lane.longest), to: firstAtOrAfter(lane.bars, t1) };
}

/** Calls `draw` for each bar of `lane` that shows in [t0, t1) (open bars end at `now`), finished ones in start order. */
export function forEachVisible(lane: Lane, t0: number, t1: number, now: number, draw: (b: Bar) => void): void {
  const { from, to } = visibleRange(lane, t0, t1);
  const bars = lane.bars;
  for (let i = from; i < to; i++) if ((bars[i].end as number) >= t0) draw(bars[i]);
  for (const b of lane.open.values()) if (b.start < t1 && now >= t0) draw(b);
}

/** The bar at time `t` on `lane`, within `slack` ms (a thin bar is still hit); the latest starting one wins, as it is drawn on top. */
export function hitTest(lane: Lane, t: number, slack: number, now: number): Bar | null {
  for (const b of lane.open.values()) if (b.start - slack <= t && t <= now + slack) return b;
  const { from, to } = visibleRange(lane, t - slack, t + slack);
  for (let i = to - 1; i >= from; i--) {
    const b = lane.bars[i];
    if (b.start - slack <= t && (b.end as number) + slack >= t) return b;
  }
  return null;
}

/** A colour per key (a label, or the kind when there is none), in order of first sight; errors are marked apart. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#86bcb6', '#bab0ac'];
export const ERROR_COLOUR = '#e15759';

export function colourKey(b: Pick<Bar, 'label' | 'kind'>): string {
  return b.label ?? b.kind;
}

export class Colours {
  private readonly byKey = new Map<string, string>();

  of(key: string): string {
    let c = this.byKey.get(key);
    if (c === undefined) {
      c = PALETTE[this.byKey.size % PALETTE.length];
      this.byKey.set(key, c);
    }
    return c;
  }

  /** The legend: each key seen, with its colour. */
  legend(): { key: string; colour: string }[] {
    return [...this.byKey].map(([key, colour]) => ({ key, colour }));
  }

  clear(): void {
    this.byKey.clear();
  }
}

interface Submitted {
  time: number;
  code?: string;
}

export class TaskLanes {
  private readonly byEngine = new Map<number, Lane>();
  private readonly submitted = new Map<string, Submitted>();
  private sortedLanes: Lane[] = [];
  readonly colours = new Colours();
  /** Bars kept (finished and open). */
  size = 0;
  /** The earliest and latest times seen (epoch ms), for "show everything". */
  first = Infinity;
  last = -Infinity;

  /** Lanes by engine id. */
  get lanes(): readonly Lane[] {
    return this.sortedLanes;
  }

  clear(): void {
    this.byEngine.clear();
    this.submitted.clear();
    this.sortedLanes = [];
    this.colours.clear();
    this.size = 0;
    this.first = Infinity;
    this.last = -Infinity;
  }

  add(events: readonly StreamEvent[]): void {
    for (const e of events) {
      if (e.event === 'submitted') {
        if (this.submitted.size >= MAX_PENDING) this.submitted.delete(this.submitted.keys().next().value as string);
        this.submitted.set(e.msgId, { time: e.time, code: e.code });
        continue;
      }
      if (e.engineId === null) continue; // answered by the scheduler: no engine, no bar
      const lane = this.lane(e.engineId);
      if (e.event === 'started') this.open(lane, e);
      else this.finish(lane, e);
    }
    if (this.size > MAX_BARS) this.trim();
  }

  /** The bar of `msgId` on `engineId`, if kept. */
  find(msgId: string, engineId: number): Bar | undefined {
    const lane = this.byEngine.get(engineId);
    return lane?.open.get(msgId) ?? lane?.bars.find((b) => b.msgId === msgId);
  }

  private lane(engineId: number): Lane {
    let lane = this.byEngine.get(engineId);
    if (lane === undefined) {
      lane = { engineId, bars: [], open: new Map(), longest: 0 };
      this.byEngine.set(engineId, lane);
      this.sortedLanes = [...this.byEngine.values()].sort((a, b) => a.engineId - b.engineId);
    }
    return lane;
  }

  private open(lane: Lane, e: StreamEvent): void {
    if (lane.open.has(e.msgId)) return;
    const s = this.submitted.get(e.msgId);
    const bar: Bar = { msgId: e.msgId, engineId: lane.engineId, start: e.time, end: null, queued: null, kind: e.kind, label: e.label, client: e.client, status: 'open' };
    if (s?.code !== undefined) bar.code = s.code;
    lane.open.set(e.msgId, bar);
    this.colours.of(colourKey(bar));
    this.size++;
    this.seen(e.time);
  }

  private finish(lane: Lane, e: StreamEvent): void {
    const opened = lane.open.get(e.msgId);
    if (opened !== undefined) {
      lane.open.delete(e.msgId);
      this.size--;
    }
    const sent = opened?.start ?? null;
    const start = e.start ?? sent ?? e.time;
    const bar: Bar = {
      msgId: e.msgId,
      engineId: lane.engineId,
      start,
      end: Math.max(start, e.time),
      queued: sent !== null && sent < start ? sent : null,
      kind: e.kind,
      label: e.label,
      client: e.client,
      status: e.status ?? 'ok',
    };
    if (e.ename !== undefined) bar.ename = e.ename;
    const code = opened?.code ?? this.submitted.get(e.msgId)?.code;
    if (code !== undefined) bar.code = code;
    this.submitted.delete(e.msgId);
    // Mostly in order: an append; otherwise a binary insert.
    const bars = lane.bars;
    if (bars.length === 0 || bars[bars.length - 1].start <= start) bars.push(bar);
    else bars.splice(firstAtOrAfter(bars, start), 0, bar);
    lane.longest = Math.max(lane.longest, (bar.end as number) - start);
    this.colours.of(colourKey(bar));
    this.size++;
    this.seen(start);
    this.seen(bar.end as number);
  }

  private seen(t: number): void {
    if (t < this.first) this.first = t;
    if (t > this.last) this.last = t;
  }

  private trim(): void {
    for (const lane of this.sortedLanes) {
      const drop = Math.ceil(lane.bars.length / 5);
      lane.bars.splice(0, drop);
      this.size -= drop;
    }
    this.first = Math.min(...this.sortedLanes.map((l) => l.bars[0]?.start ?? Infinity));
  }
}
