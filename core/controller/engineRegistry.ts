/**
 * The engines the controller lists, by id, and the id policy: ids are handed out in order,
 * never reused for a different engine except by a restart of the same id, and ids held for
 * launches not registered yet are kept free. Dead engines stay listed (with their reason)
 * until replaced or stopped, at most MAX_DEAD_ENGINES of them.
 */
import type { EngineInfo, EngineState } from '../protocol/messages.js';
import type { EngineRecord } from './engineRecord.js';

/** Dead engines stay listed (with their reason) until replaced or stopped; at most this many. */
const MAX_DEAD_ENGINES = 256;

export type EngineEventKind = 'registered' | 'state' | 'unregistered';

/** Where changes to the list go (the client hub publishes them). */
export interface EngineEvents {
  /** `from`: the state a 'state' event left, when it was a transition. */
  publish(event: EngineEventKind, e: EngineRecord, from?: EngineState): void;
}

export class EngineRegistry {
  /** All listed engines by id (live and dead). */
  private readonly engines = new Map<number, EngineRecord>();
  /** Live engines by uuid, to attach hearts. */
  private readonly byUuid = new Map<string, EngineRecord>();
  private nextId = 0;
  /** Highest id ever given to a registered engine; ids at or below it are never handed out again. */
  private highestUsed = -1;
  /** Ids held for launches that have not registered yet (and for restarts in progress). */
  private readonly reserved = new Set<number>();
  private readonly deadOrder: number[] = [];

  constructor(private readonly events: EngineEvents) {}

  get(id: number): EngineRecord | undefined {
    return this.engines.get(id);
  }

  values(): IterableIterator<EngineRecord> {
    return this.engines.values();
  }

  /** The live engine registered with `uuid`. */
  live(uuid: string): EngineRecord | undefined {
    return this.byUuid.get(uuid);
  }

  /** May a registration with requested_id `id` take it? Yes when nobody alive has it and no launch holds it. */
  idFreeFor(id: number): boolean {
    if (this.reserved.has(id)) return false;
    const e = this.engines.get(id);
    return !e || !e.alive;
  }

  /** The next id nobody has or holds. */
  freshId(): number {
    while (this.engines.has(this.nextId) || this.reserved.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  /** The first of `n` consecutive ids nobody has or holds (an engine set's: first id + rank). */
  freshBlock(n: number): number {
    let first = this.nextId;
    for (let i = 0; i < n; i++) {
      if (this.engines.has(first + i) || this.reserved.has(first + i)) {
        first += i + 1;
        i = -1;
      }
    }
    return first;
  }

  /** Holds `id` for a launch (or a restart) so nobody else takes it meanwhile. */
  reserve(id: number): void {
    this.reserved.add(id);
  }

  /** The hold on `id` is over: the engine registered, or the caller holds it otherwise. */
  unreserve(id: number): void {
    this.reserved.delete(id);
  }

  /** Gives back a reserved id that was never used, so a failed launch does not leave a gap. */
  release(id: number): void {
    this.reserved.delete(id);
    while (this.nextId - 1 > this.highestUsed && !this.reserved.has(this.nextId - 1) && !this.engines.has(this.nextId - 1)) this.nextId--;
  }

  /** Lists a newly registered engine (any engine listed under its id must have been removed). */
  add(e: EngineRecord): void {
    if (e.id > this.highestUsed) this.highestUsed = e.id;
    if (e.id >= this.nextId) this.nextId = e.id + 1;
    this.engines.set(e.id, e);
    this.byUuid.set(e.reg.uuid, e);
    this.events.publish('registered', e);
  }

  /** `e` was just marked dead: it no longer answers to its uuid, and the oldest dead beyond the limit go. */
  died(e: EngineRecord): void {
    if (this.byUuid.get(e.reg.uuid) === e) this.byUuid.delete(e.reg.uuid);
    this.deadOrder.push(e.id);
    while (this.deadOrder.length > MAX_DEAD_ENGINES) {
      const id = this.deadOrder.shift()!;
      const old = this.engines.get(id);
      if (old && !old.alive && !old.stopping && !this.reserved.has(id)) this.remove(old);
    }
  }

  /** Takes an engine off the list (it must be dead) and tells subscribers. */
  remove(e: EngineRecord): void {
    if (this.engines.get(e.id) !== e) return;
    this.engines.delete(e.id);
    this.events.publish('unregistered', e);
  }

  /** Recomputes busy/idle/unresponsive from heart and queue and publishes a change. */
  refresh(e: EngineRecord): void {
    const s = e.computeState();
    const from = e.state;
    if (s === from) return;
    e.state = s;
    this.events.publish('state', e, from);
  }

  /** Publishes the engine as it is now (its reason changed, or it died). */
  changed(e: EngineRecord): void {
    this.events.publish('state', e);
  }

  list(): EngineInfo[] {
    return [...this.engines.values()].sort((a, b) => a.id - b.id).map((e) => e.info());
  }
}
