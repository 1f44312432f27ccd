/**
 * msg_ids aborted before their request arrived. A single-engine request may come straight
 * from the client on a direct connection (protocol section 13) while its abort travels
 * through the controller, so the abort can come first; the request is then answered
 * 'aborted' when it arrives, and never runs. Bounded: past MAX_EARLY_ABORTS the oldest are
 * forgotten (a request that late was never coming).
 */
export const MAX_EARLY_ABORTS = 4096;

export class EarlyAborts {
  /** Insertion-ordered, so the first entry is the oldest. */
  private readonly ids = new Set<string>();

  get size(): number {
    return this.ids.size;
  }

  add(msgId: string): void {
    this.ids.delete(msgId); // refreshed: it is the newest again
    if (this.ids.size >= MAX_EARLY_ABORTS) this.ids.delete(this.ids.values().next().value as string);
    this.ids.add(msgId);
  }

  /** True (once) when `msgId` was aborted before it arrived. */
  take(msgId: string): boolean {
    return this.ids.size > 0 && this.ids.delete(msgId);
  }
}
