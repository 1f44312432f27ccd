/**
 * Engines ranked by load for the leastload scheme, so that handing out a burst of tasks costs
 * O(log n) per task rather than a scan of every engine with room (at 1,000 engines × --hwm 4,
 * the first 4,000 tasks of a map each scanned up to 1,000 engines).
 *
 * A binary heap of (load, id) entries, checked lazily: an engine is filed again whenever the
 * scheduler changes its load (a task sent, an answer), and an entry is dropped when it reaches
 * the top and is no longer the engine's latest, or the engine has no room. Load the scheduler
 * does not see change (direct requests) is caught at the top: an engine busier than its entry
 * says is filed again under its real load before it can be chosen; one whose direct work
 * finished rises at its next balanced answer.
 */
import type { EngineRecord } from './engineRecord.js';

interface Entry {
  readonly load: number;
  readonly id: number;
  readonly e: EngineRecord;
}

/** (load, id) order: the least loaded first, of equals the lowest id (as schemes.ts's leastload). */
const before = (a: Entry, b: Entry): boolean => a.load < b.load || (a.load === b.load && a.id < b.id);

export class LoadRanking {
  private heap: Entry[] = [];
  /** Each filed engine's latest entry: older ones in the heap are stale. */
  private readonly latest = new Map<EngineRecord, Entry>();

  /** Files `e` under its load now (a new engine, or one whose load the scheduler changed). */
  file(e: EngineRecord): void {
    const entry: Entry = { load: e.load, id: e.id, e };
    this.latest.set(e, entry);
    this.push(entry);
    // Stale entries sink out of sight when loads fall; rebuild before they outnumber the engines.
    if (this.heap.length > 4 * this.latest.size + 64) this.rebuild();
  }

  /** The least loaded engine with room (of equals, the lowest id), or undefined when none has room. */
  best(hasRoom: (e: EngineRecord) => boolean): EngineRecord | undefined {
    const heap = this.heap;
    while (heap.length > 0) {
      const top = heap[0];
      const e = top.e;
      if (this.latest.get(e) !== top) this.pop();
      else if (!hasRoom(e)) {
        this.pop();
        this.latest.delete(e);
      } else if (e.load !== top.load) {
        this.pop();
        this.file(e);
      } else return e;
    }
    return undefined;
  }

  private rebuild(): void {
    this.heap = [];
    for (const entry of this.latest.values()) this.push(entry);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && before(heap[r], heap[l]) ? r : l;
      if (!before(heap[c], last)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
  }
}
