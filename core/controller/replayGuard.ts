/**
 * Remembers the msg_ids of recent messages so a captured, validly signed message that is
 * sent again (a replay) is dropped instead of run twice. Bounded: the oldest ids are forgotten
 * first, so memory stays flat however long the controller runs.
 */
export class ReplayGuard {
  private readonly seen = new Set<string>();
  private readonly ring: string[];
  private next = 0;

  constructor(private readonly capacity = 1 << 17) {
    this.ring = new Array<string>(capacity);
  }

  /** True the first time an id is offered; false for a replay of a remembered id. */
  admit(msgId: string): boolean {
    if (this.seen.has(msgId)) return false;
    const old = this.ring[this.next];
    if (old !== undefined) this.seen.delete(old);
    this.ring[this.next] = msgId;
    this.next = (this.next + 1) % this.capacity;
    this.seen.add(msgId);
    return true;
  }
}
