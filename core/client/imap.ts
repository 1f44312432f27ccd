/**
 * imap: a load-balanced map over any iterable (sync or async, possibly endless) that keeps at
 * most `maxOutstanding` tasks in flight. Reading the source and submitting go on as tasks
 * finish, whether or not the consumer is reading yet; results come in input order or, with
 * `ordered: false`, as they finish. `cancel()` stops reading, drops the tasks not started and
 * ends the iteration.
 */
import type { AsyncResult } from './asyncResult.js';

export interface ImapSource<T> {
  /** Submits one task for `item`. */
  submit(item: unknown): AsyncResult<T>;
  /** Drops the given tasks that have not started. */
  abort(results: readonly AsyncResult<T>[]): Promise<void>;
}

export class ImapIterator<T> implements AsyncIterableIterator<T> {
  private readonly source: Iterator<unknown> | AsyncIterator<unknown>;
  private readonly inFlight = new Set<AsyncResult<T>>();
  /** Submitted and not yet yielded: in input order (ordered) or in the order they finished. */
  private readonly queue: AsyncResult<T>[] = [];
  private exhausted = false;
  private cancelled = false;
  private pumping = false;
  private sourceError: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  /** Items whose tasks finished. */
  progress = 0;

  constructor(
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    private readonly ordered: boolean,
    private readonly maxOutstanding: number,
    private readonly tasks: ImapSource<T>,
  ) {
    const asyncIt = (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator];
    this.source = typeof asyncIt === 'function' ? asyncIt.call(iterable) : (iterable as Iterable<unknown>)[Symbol.iterator]();
    void this.pump();
  }

  /** Tasks submitted and not finished. */
  get outstanding(): number {
    return this.inFlight.size;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.cancelled) return { done: true, value: undefined };
      const head = this.queue[0];
      if (head !== undefined && (!this.ordered || head.ready())) {
        this.queue.shift();
        try {
          return { done: false, value: await head };
        } catch (e) {
          await this.cancel();
          throw e;
        }
      }
      if (this.sourceError !== undefined) {
        const { error } = this.sourceError;
        await this.cancel();
        throw error;
      }
      if (head === undefined && this.exhausted && !this.pumping && this.inFlight.size === 0) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Stops reading the source and drops the tasks not started; the iteration ends. */
  async return(): Promise<IteratorResult<T, undefined>> {
    await this.cancel();
    return { done: true, value: undefined };
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.notify();
    const pending = [...this.inFlight];
    this.inFlight.clear();
    if (!this.exhausted) void Promise.resolve(this.source.return?.()).catch(() => {});
    if (pending.length > 0) await this.tasks.abort(pending).catch(() => {});
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Reads and submits while fewer than maxOutstanding tasks are in flight; runs again as each finishes. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.cancelled && !this.exhausted && this.inFlight.size < this.maxOutstanding) {
        let step = this.source.next();
        if (step instanceof Promise) step = await step;
        const r = step as IteratorResult<unknown>;
        if (r.done === true) {
          this.exhausted = true;
          break;
        }
        if (this.cancelled) break;
        const ar = this.tasks.submit(r.value);
        this.inFlight.add(ar);
        if (this.ordered) this.queue.push(ar);
        void ar.wait().then(() => this.finished(ar));
      }
    } catch (e) {
      this.sourceError = { error: e };
      this.exhausted = true;
    } finally {
      this.pumping = false;
      this.notify();
    }
  }

  private finished(ar: AsyncResult<T>): void {
    if (!this.inFlight.delete(ar)) return; // cancelled
    this.progress++;
    if (!this.ordered) this.queue.push(ar);
    this.notify();
    void this.pump();
  }
}
