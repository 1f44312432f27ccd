/**
 * The scheduler's queue of tasks ready to run: first in, first out, with tasks put back at the
 * front (retries) and removal from anywhere (aborts, timeouts) in O(1). Two insertion-ordered
 * Sets: the front one is scanned first.
 */
export type ScanVerdict = 'keep' | 'take' | 'take-stop' | 'stop';

export class TaskQueue<T> {
  private readonly front = new Set<T>();
  private readonly back = new Set<T>();

  get size(): number {
    return this.front.size + this.back.size;
  }

  push(t: T): void {
    this.back.add(t);
  }

  /** Ahead of every task pushed (a retried task goes before newer ones). */
  unshift(t: T): void {
    this.front.add(t);
  }

  remove(t: T): void {
    if (!this.front.delete(t)) this.back.delete(t);
  }

  /** Offers the tasks in order to `visit`: 'take' removes one, 'take-stop' removes it and ends the scan, 'stop' only ends it. */
  scan(visit: (t: T) => ScanVerdict): void {
    for (const set of [this.front, this.back]) {
      for (const t of set) {
        const v = visit(t);
        if (v === 'keep') continue;
        if (v === 'stop') return;
        set.delete(t);
        if (v === 'take-stop') return;
      }
    }
  }
}
