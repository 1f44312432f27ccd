/**
 * The result of a load-balanced map: an AsyncResult over one slot per task (a chunk of items)
 * that is also async-iterable, in input order or, with `ordered: false`, as tasks finish, and
 * whose `progress` counts finished items rather than tasks. A ResultSink wrapper notes the
 * order in which slots finish; the dispatcher fills it like any result.
 */
import { AsyncResult, type ReplyTimes, type ResultTracker, type Slot, type StreamName } from './asyncResult.js';
import type { RemoteError } from './errors.js';
import { flattenOnce } from './partition.js';
import type { ResultSink } from './viewHost.js';

/** Forwards to the tracker and records which slots finished, in the order they did. */
export class FinishOrder implements ResultSink {
  /** Slot indices in the order they finished. */
  readonly finished: number[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly tracker: ResultTracker<unknown>) {}

  get slots(): readonly Readonly<Slot>[] {
    return this.tracker.slots;
  }

  assign(index: number, msgId: string, submitted?: string): void {
    this.tracker.assign(index, msgId, submitted);
  }

  slotsDone(indices: readonly number[]): Promise<void> {
    return this.tracker.slotsDone(indices);
  }

  ranOn(index: number, engineId: number): void {
    this.tracker.ranOn(index, engineId);
  }

  output(index: number, name: StreamName, text: string): void {
    this.tracker.output(index, name, text);
  }

  settle(index: number, value: unknown, meta?: ReplyTimes): void {
    if (this.tracker.slots[index].done) return;
    this.tracker.settle(index, value, meta);
    this.finished.push(index);
    this.wake();
  }

  fail(index: number, error: RemoteError, meta?: ReplyTimes): void {
    if (this.tracker.slots[index].done) return;
    this.tracker.fail(index, error, meta);
    this.finished.push(index);
    this.wake();
  }

  failPending(makeError: (engineId: number) => RemoteError): void {
    this.noting(() => this.tracker.failPending(makeError));
  }

  expire(error: Error): void {
    this.noting(() => this.tracker.expire(error));
  }

  /** Resolves when another slot has finished (or at once when all have). */
  next(): Promise<void> {
    if (this.tracker.done) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Runs `change`, which may end many slots at once, and records the slots it finished. */
  private noting(change: () => void): void {
    const slots = this.tracker.slots;
    const before = slots.map((s) => s.done);
    change();
    for (let i = 0; i < slots.length; i++) if (!before[i] && slots[i].done) this.finished.push(i);
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export class MapResult<T> extends AsyncResult<T[]> {
  /** @internal Made by LoadBalancedView. `sizes[i]`: how many items slot i holds. */
  constructor(
    private readonly slotsOf: ResultTracker<T[]>,
    private readonly order: FinishOrder,
    private readonly sizes: readonly number[],
    /** Iteration order: input order (true) or as tasks finish (false). */
    readonly ordered: boolean,
  ) {
    super(slotsOf);
  }

  /** How many items are finished (succeeded or failed). */
  override get progress(): number {
    let n = 0;
    for (const i of this.order.finished) n += this.sizes[i];
    return n;
  }

  /** The number of items mapped. */
  get length(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  /** Yields each item's result, in input order or as tasks finish (`ordered`); throws a failed task's error when it comes to it. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    const slots = this.slotsOf.slots;
    for (let k = 0; k < slots.length; k++) {
      let i = k;
      if (this.ordered) {
        while (!slots[i].done) await this.order.next();
      } else {
        while (this.order.finished.length <= k) await this.order.next();
        i = this.order.finished[k];
      }
      const slot = slots[i];
      if (slot.error !== undefined) throw slot.error;
      yield* flattenOnce([slot.value]) as T[];
    }
  }
}
