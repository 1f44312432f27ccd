/**
 * What a task database backend does (memory, sqlite), synchronously: the controller's TaskDb
 * calls a memory store directly and the sqlite store through its worker thread.
 */
import type { TaskFilter, TaskRecord } from '../../protocol/messages.js';

/** A finished request's answers as the engines sent them: its raw signed messages (streams and replies). */
export interface StoredValue {
  msg_id: string;
  msg_type: string;
  engine_ids: number[];
  messages: Uint8Array[][];
}

/** An execute or apply request as it came, kept so it can be run again (resubmit). JSON parts as text. */
export interface StoredRequest {
  msg_id: string;
  msg_type: string;
  metadata: string;
  content: string;
  buffers: Uint8Array[];
}

export interface StoreCounts {
  rows: number;
  bytes: number;
  /** Rows dropped to keep the caps, since the store opened. */
  evicted: number;
}

export interface Caps {
  maxRows: number;
  maxBytes: number;
}

export interface TaskStore {
  /** Adds finished records, stored values and requests in one go; then the oldest go until both caps hold. */
  write(records: readonly TaskRecord[], values: readonly StoredValue[], requests?: readonly StoredRequest[]): void;
  /** Matching records oldest first; `last`: only the newest that many. */
  query(filter: TaskFilter, keys?: readonly string[], last?: number): Partial<TaskRecord>[];
  /** msg_ids in the order they were submitted (as ipyparallel's hub orders them), each once. */
  history(): string[];
  value(msgId: string): StoredValue | undefined;
  request(msgId: string): StoredRequest | undefined;
  /** Removes records (and values) of these msg_ids, or all; with targets, only records of those engines. Returns records removed. */
  purge(msgIds: readonly string[] | 'all', targets?: readonly number[]): number;
  counts(): StoreCounts;
  close(): void;
}

export function requestBytes(r: StoredRequest): number {
  let n = 64 + r.metadata.length + r.content.length;
  for (const b of r.buffers) n += b.byteLength;
  return n;
}

export function valueBytes(v: StoredValue): number {
  let n = 64;
  for (const m of v.messages) for (const p of m) n += p.byteLength;
  return n;
}
