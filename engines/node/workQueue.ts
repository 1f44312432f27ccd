/**
 * The engine's queue of requests not yet started, from the main connection and from direct
 * connections alike (protocol section 13), in arrival order. Taking the next one is O(1) and
 * the number of direct ones is kept as they come and go: both happen once per request, and a
 * burst queues thousands.
 */
import type { Message } from '../../core/protocol/messages.js';
import type { Connection } from '../../core/transport/connection.js';

/** A request waiting to run, and the connection it came on (null: the main one, from the controller). */
export interface Queued {
  msg: Message;
  origin: Connection | null;
  /** Date.now() when it reached the engine (reply metadata.received). */
  received: number;
}

export class WorkQueue {
  private items: Queued[] = [];
  private head = 0;
  /** Queued requests that came on direct connections. */
  direct = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(q: Queued): void {
    this.items.push(q);
    if (q.origin !== null) this.direct++;
  }

  shift(): Queued | undefined {
    if (this.head === this.items.length) return undefined;
    const q = this.items[this.head];
    this.items[this.head++] = undefined as unknown as Queued; // let it be collected
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (q.origin !== null) this.direct--;
    return q;
  }

  /** The queued requests, oldest first. */
  list(): Queued[] {
    return this.items.slice(this.head);
  }

  /** Takes out (and returns, in order) the queued requests that `drop` selects. */
  remove(drop: (q: Queued) => boolean): Queued[] {
    const kept: Queued[] = [];
    const dropped: Queued[] = [];
    for (const q of this.list()) (drop(q) ? dropped : kept).push(q);
    if (dropped.length === 0) return dropped;
    this.items = kept;
    this.head = 0;
    this.direct = 0;
    for (const q of kept) if (q.origin !== null) this.direct++;
    return dropped;
  }
}
