/**
 * Results whose client went away before they were answered. When a client disconnects,
 * each of its unanswered requests gets an entry here, and the engines' streams and replies
 * for it are kept (as their raw signed parts) instead of being sent to a closed connection.
 * A client fetches them later with result_request (rc.getResult(msgId)).
 *
 * The store is bounded by bytes and by entries; the least recently used entry goes first.
 * A Map's insertion order is the recency order: touching an entry re-inserts it.
 */
import type { Header, ResultStoreStatus } from '../protocol/messages.js';

/** Who may follow an entry as it fills (a client's session): where to send, and what it follows. */
export interface ResultWatcher {
  readonly conn: { sendParts(parts: readonly Uint8Array[]): void };
  watching?: Set<StoredResult>;
}

export interface StoredResult {
  readonly msgId: string;
  /** The request's header (its msg_type says how to decode the replies). */
  readonly header: Header;
  /** Engines whose answers this entry holds or waits for, in the order they were added. */
  readonly engineIds: number[];
  /** Engines that have not replied yet. */
  readonly pending: Set<number>;
  /** Streams and replies, raw, in arrival order. */
  readonly messages: (readonly Uint8Array[])[];
  bytes: number;
  /** Dropped from the store: later messages for it are not kept. */
  evicted: boolean;
  /** Clients that asked for it while engines still ran it: they get the rest as it comes. */
  readonly watchers: Set<ResultWatcher>;
}

/** Bytes of a message's parts. */
export function sizeOf(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  return n;
}

export class ResultStore {
  private readonly entries = new Map<string, StoredResult>();
  private totalBytes = 0;
  private evictedCount = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries: number,
    /** Every engine has answered: the entry is whole (the task database may keep it beyond this store). */
    private readonly onComplete?: (r: StoredResult) => void,
  ) {}

  /** The entry for a request whose client went away (made when missing), now expecting `engineId`'s answer. */
  open(msgId: string, header: Header, engineId: number, targets?: readonly number[]): StoredResult {
    let r = this.entries.get(msgId);
    if (r === undefined || r.evicted) {
      r = { msgId, header, engineIds: [], pending: new Set(), messages: [], bytes: 0, evicted: false, watchers: new Set() };
      this.entries.set(msgId, r);
    } else {
      this.touch(r);
    }
    if (!r.engineIds.includes(engineId)) {
      r.engineIds.push(engineId);
      // In the order of the request's targets.
      if (targets && r.engineIds.length > 1) r.engineIds.sort((a, b) => targets.indexOf(a) - targets.indexOf(b));
    }
    r.pending.add(engineId);
    this.trim();
    return r;
  }

  /** Keeps a stream or reply of `engineId` for the entry (unless it was evicted) and passes it on to watchers. */
  add(r: StoredResult, parts: readonly Uint8Array[], engineId: number, isReply: boolean): void {
    for (const c of r.watchers) c.conn.sendParts(parts);
    if (isReply) {
      r.pending.delete(engineId);
      if (r.pending.size === 0) {
        for (const c of r.watchers) c.watching?.delete(r);
        r.watchers.clear();
      }
    }
    if (r.evicted) return;
    const n = sizeOf(parts);
    r.messages.push(parts);
    r.bytes += n;
    this.totalBytes += n;
    this.touch(r);
    if (isReply && r.pending.size === 0) this.onComplete?.(r);
    this.trim();
  }

  /** Forgets finished entries: these msg_ids, or all. Entries engines still fill stay. Returns how many went. */
  purge(msgIds: readonly string[] | 'all'): number {
    let n = 0;
    for (const id of msgIds === 'all' ? [...this.entries.keys()] : msgIds) {
      const r = this.entries.get(id);
      if (r === undefined || r.pending.size > 0) continue;
      this.entries.delete(id);
      this.totalBytes -= r.bytes;
      r.evicted = true;
      r.messages.length = 0;
      r.bytes = 0;
      n++;
    }
    return n;
  }

  /** The entry for msgId, marked as just used; undefined when the store does not hold it. */
  get(msgId: string): StoredResult | undefined {
    const r = this.entries.get(msgId);
    if (r !== undefined) this.touch(r);
    return r;
  }

  /** `client` gets the rest of the entry's messages as they come. */
  watch(r: StoredResult, client: ResultWatcher): void {
    if (r.pending.size === 0) return;
    r.watchers.add(client);
    (client.watching ??= new Set()).add(r);
  }

  /** A client went away: it watches nothing any more. */
  unwatch(client: ResultWatcher): void {
    if (!client.watching) return;
    for (const r of client.watching) r.watchers.delete(client);
    client.watching.clear();
  }

  status(): ResultStoreStatus {
    return { entries: this.entries.size, bytes: this.totalBytes, max_entries: this.maxEntries, max_bytes: this.maxBytes, evicted: this.evictedCount };
  }

  private touch(r: StoredResult): void {
    this.entries.delete(r.msgId);
    this.entries.set(r.msgId, r);
  }

  /** Evicts least recently used entries until both caps hold. */
  private trim(): void {
    while (this.entries.size > 0 && (this.totalBytes > this.maxBytes || this.entries.size > this.maxEntries)) {
      const oldest = this.entries.values().next().value as StoredResult;
      this.entries.delete(oldest.msgId);
      oldest.evicted = true;
      this.totalBytes -= oldest.bytes;
      oldest.messages.length = 0;
      oldest.bytes = 0;
      this.evictedCount++;
    }
  }
}
