/**
 * The in-memory task store (--db memory, and the fallback when the database file cannot be
 * used): records in insertion order, the oldest dropped first once a cap is passed. Stored
 * values stay in the controller's ResultStore (core/controller/resultStore.ts), as before.
 */
import type { TaskFilter, TaskRecord } from '../../protocol/messages.js';
import { matches, project, recordBytes } from './query.js';
import type { Caps, StoreCounts, StoredValue, TaskStore } from './taskStore.js';

interface Row {
  record: TaskRecord;
  bytes: number;
}

export class MemoryStore implements TaskStore {
  /** Insertion order is age order; the key is a counter, so a msg_id may have a row per engine and attempt. */
  private readonly rows = new Map<number, Row>();
  private seq = 0;
  private bytes = 0;
  private evicted = 0;

  constructor(private readonly caps: Caps) {}

  write(records: readonly TaskRecord[], _values: readonly StoredValue[]): void {
    for (const record of records) {
      const bytes = recordBytes(record);
      this.rows.set(++this.seq, { record, bytes });
      this.bytes += bytes;
    }
    this.trim();
  }

  private trim(): void {
    for (const [k, row] of this.rows) {
      if (this.rows.size <= this.caps.maxRows && this.bytes <= this.caps.maxBytes) break;
      this.rows.delete(k);
      this.bytes -= row.bytes;
      this.evicted++;
    }
  }

  query(filter: TaskFilter, keys?: readonly string[]): Partial<TaskRecord>[] {
    const out: Partial<TaskRecord>[] = [];
    for (const { record } of this.rows.values()) if (matches(record, filter)) out.push(project(record, keys));
    return out;
  }

  history(): string[] {
    const ids = new Set<string>();
    for (const { record } of this.rows.values()) ids.add(record.msg_id);
    return [...ids];
  }

  value(): StoredValue | undefined {
    return undefined;
  }

  purge(msgIds: readonly string[] | 'all', targets?: readonly number[]): number {
    const ids = msgIds === 'all' ? null : new Set(msgIds);
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
    this.bytes = 0;
  }
}
