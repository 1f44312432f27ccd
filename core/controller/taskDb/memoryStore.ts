/**
 * The in-memory task store (--db memory, and the fallback when the database file cannot be
 * used): records in insertion order, the oldest dropped first once a cap is passed. Results of
 * clients that went away stay in the controller's ResultStore (core/controller/resultStore.ts);
 * values kept here are those asked for ({ store: true }), in the byte cap, dropped first.
 */
import type { TaskFilter, TaskRecord } from '../../protocol/messages.js';
import { matches, project, recordBytes } from './query.js';
import { requestBytes, valueBytes, type Caps, type StoreCounts, type StoredRequest, type StoredValue, type TaskStore } from './taskStore.js';

interface Row {
  record: TaskRecord;
  bytes: number;
}

export class MemoryStore implements TaskStore {
  /** Insertion order is age order; the key is a counter, so a msg_id may have a row per engine and attempt. */
  private readonly rows = new Map<number, Row>();
  /** Requests kept for resubmit, oldest first; they count in the byte cap and go before records. */
  private readonly requests = new Map<string, { req: StoredRequest; bytes: number }>();
  /** Values asked to be stored, oldest first. */
  private readonly values = new Map<string, { value: StoredValue; bytes: number }>();
  private seq = 0;
  private bytes = 0;
  private evicted = 0;

  constructor(private readonly caps: Caps) {}

  write(records: readonly TaskRecord[], values: readonly StoredValue[], requests: readonly StoredRequest[] = []): void {
    for (const value of values) {
      const bytes = valueBytes(value);
      this.dropValue(value.msg_id);
      this.values.set(value.msg_id, { value, bytes });
      this.bytes += bytes;
    }
    for (const req of requests) {
      const bytes = requestBytes(req);
      this.dropRequest(req.msg_id);
      this.requests.set(req.msg_id, { req, bytes });
      this.bytes += bytes;
    }
    for (const record of records) {
      const bytes = recordBytes(record);
      this.rows.set(++this.seq, { record, bytes });
      this.bytes += bytes;
    }
    this.trim();
  }

  private dropRequest(msgId: string): void {
    const r = this.requests.get(msgId);
    if (r === undefined) return;
    this.requests.delete(msgId);
    this.bytes -= r.bytes;
  }

  private dropValue(msgId: string): void {
    const v = this.values.get(msgId);
    if (v === undefined) return;
    this.values.delete(msgId);
    this.bytes -= v.bytes;
  }

  private trim(): void {
    for (const id of this.values.keys()) {
      if (this.bytes <= this.caps.maxBytes) break;
      this.dropValue(id);
    }
    for (const id of this.requests.keys()) {
      if (this.requests.size <= this.caps.maxRows && this.bytes <= this.caps.maxBytes) break;
      this.dropRequest(id);
    }
    for (const [k, row] of this.rows) {
      if (this.rows.size <= this.caps.maxRows && this.bytes <= this.caps.maxBytes) break;
      this.rows.delete(k);
      this.bytes -= row.bytes;
      this.evicted++;
    }
  }

  query(filter: TaskFilter, keys?: readonly string[], last?: number): Partial<TaskRecord>[] {
    const out: Partial<TaskRecord>[] = [];
    for (const { record } of this.rows.values()) if (matches(record, filter)) out.push(project(record, keys));
    return last === undefined ? out : out.slice(-last);
  }

  history(): string[] {
    const first = new Map<string, string>();
    for (const { record: r } of this.rows.values()) {
      const t = r.submitted ?? r.received ?? r.started ?? r.completed ?? '';
      const had = first.get(r.msg_id);
      if (had === undefined || t < had) first.set(r.msg_id, t);
    }
    // A stable sort: requests submitted at the same time stay in the order they were recorded.
    return [...first].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)).map(([id]) => id);
  }

  value(msgId: string): StoredValue | undefined {
    return this.values.get(msgId)?.value;
  }

  request(msgId: string): StoredRequest | undefined {
    return this.requests.get(msgId)?.req;
  }

  purge(msgIds: readonly string[] | 'all', targets?: readonly number[]): number {
    const ids = msgIds === 'all' ? null : new Set(msgIds);
    if (targets === undefined) {
      for (const id of ids ?? [...this.requests.keys()]) this.dropRequest(id);
      for (const id of ids ?? [...this.values.keys()]) this.dropValue(id);
    }
    let n = 0;
    for (const [k, { record, bytes }] of this.rows) {
      if (ids !== null && !ids.has(record.msg_id)) continue;
      if (targets !== undefined && (record.engine_id === null || !targets.includes(record.engine_id))) continue;
      this.rows.delete(k);
      this.bytes -= bytes;
      n++;
    }
    return n;
  }

  counts(): StoreCounts {
    return { rows: this.rows.size, bytes: this.bytes, evicted: this.evicted };
  }

  close(): void {
    this.rows.clear();
    this.requests.clear();
    this.values.clear();
    this.bytes = 0;
  }
}
