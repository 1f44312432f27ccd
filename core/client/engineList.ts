/**
 * The engines a client knows, kept current from the controller's engine_event pushes and
 * status replies, with the change event views and the app listen to.
 */
import { ENGINE_STOPPED_REASONS, type EngineInfo } from '../protocol/messages.js';
import { Emitter, type Event } from '../events/emitter.js';

export interface EngineChange {
  event: 'registered' | 'state' | 'unregistered' | 'refresh';
  /** The engine concerned; absent for 'refresh' (a whole new list from status). */
  engine?: EngineInfo;
  /** Live engine ids after the change. */
  ids: number[];
}

/** A change as listeners get it: `ids` is copied only when read (1,000 engines going busy and idle are 2,000 events a broadcast). */
class Change implements EngineChange {
  private copy: number[] | null = null;

  constructor(
    readonly event: EngineChange['event'],
    readonly engine: EngineInfo | undefined,
    /** The list's sorted live ids at the change (never changed in place). */
    private readonly live: readonly number[],
  ) {}

  get ids(): number[] {
    return (this.copy ??= [...this.live]);
  }
}

/** Index of the first element of sorted `a` that is ≥ `id`. */
function lowerBound(a: readonly number[], id: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class EngineList {
  private readonly byId = new Map<number, EngineInfo>();
  /**
   * Sorted ids of the live engines, kept in order as engines come and go (re-sorting all of them
   * on every registration was O(n² log n) for a storm of 1,000). Replaced, never changed in
   * place, so a Change can hold it; a state change that keeps the engine alive leaves it as it is.
   */
  private live: readonly number[] = [];
  private readonly changes = new Emitter<EngineChange>();
  readonly onDidChange: Event<EngineChange> = this.changes.event;

  /** Sorted ids of the live engines (not dead). */
  get ids(): number[] {
    return [...this.live];
  }

  /** Copies of every engine's info, dead ones included, by id. */
  all(): EngineInfo[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id).map((e) => ({ ...e }));
  }

  /** The live record (not a copy; callers inside the client only read it). */
  get(id: number): EngineInfo | undefined {
    return this.byId.get(id);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  /** An engine stopped because the controller is shutting down (until a new list comes). */
  shuttingDown = false;

  /** Applies one engine_event; the change is announced separately (`announce`), after the caller's own bookkeeping. */
  update(event: EngineChange['event'], e: EngineInfo): void {
    if (e.reason === ENGINE_STOPPED_REASONS.shutdown) this.shuttingDown = true;
    if (event === 'unregistered') this.byId.delete(e.id);
    else this.byId.set(e.id, { ...e });
    this.setLive(e.id, event !== 'unregistered' && e.state !== 'dead');
  }

  private setLive(id: number, alive: boolean): void {
    const a = this.live;
    const i = a.length > 0 && a[a.length - 1] < id ? a.length : lowerBound(a, id);
    const listed = a[i] === id;
    if (alive === listed) return;
    this.live = alive ? [...a.slice(0, i), id, ...a.slice(i)] : [...a.slice(0, i), ...a.slice(i + 1)];
  }

  announce(event: EngineChange['event'], e: EngineInfo): void {
    this.changes.fire(new Change(event, { ...e }, this.live));
  }

  /** A whole new list (connect_reply, status). */
  replace(engines: readonly EngineInfo[]): void {
    this.shuttingDown = false;
    this.byId.clear();
    for (const e of engines) this.byId.set(e.id, { ...e });
    this.live = [...this.byId.values()]
      .filter((e) => e.state !== 'dead')
      .map((e) => e.id)
      .sort((a, b) => a - b);
    this.changes.fire(new Change('refresh', undefined, this.live));
  }
}
