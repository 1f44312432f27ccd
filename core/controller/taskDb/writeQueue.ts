/**
 * Back-pressure between the recorder and the SQLite worker: records may arrive faster than the
 * worker writes them (a burst of tiny tasks on a busy machine), and every batch posted to it
 * waits in its message queue, in memory. So at most `inFlight` records are posted and not yet
 * written; the rest wait here, within `held` records and `heldBytes`. Records are final (one per
 * request and engine, never updated), so what coalesces is stored values: a later value of the
 * same msg_id replaces the one waiting. Engines' task reports (unread, see directRecords.ts) count
 * as the records they hold. Past the limits the oldest waiting records are dropped,
 * counted (`dropped`, in the status) and logged: memory stays bounded whatever the rate.
 */
import type { TaskRecord } from '../../protocol/messages.js';
import type { DirectReport } from './directRecords.js';
import { recordBytes } from './query.js';
import type { StoredRequest, StoredValue } from './taskStore.js';
import { requestBytes, valueBytes } from './taskStore.js';

export interface WriteBatch {
  records: TaskRecord[];
  values: StoredValue[];
  requests: StoredRequest[];
  reports: DirectReport[];
}

export interface WriteLimits {
  /** Records posted to the worker and not yet written. */
  inFlight: number;
  /** Records waiting here at most. */
  held: number;
  /** Bytes of what waits here at most (records, values, requests). */
  heldBytes: number;
}

export const WRITE_LIMITS: WriteLimits = { inFlight: 20_000, held: 100_000, heldBytes: 64 * 1024 * 1024 };

/** How often a drop is logged at most (the count is in the status all along). */
const WARN_EVERY_MS = 10_000;

export class WriteQueue {
  /** Sizes (records + 1) of the batches posted and not yet written, oldest first. */
  private readonly posted: number[] = [];
  private postedHead = 0;
  private postedRows = 0;
  private records: TaskRecord[] = [];
  private recordsHead = 0;
  private readonly values = new Map<string, StoredValue>();
  private requests: StoredRequest[] = [];
  private reports: DirectReport[] = [];
  /** Records in the waiting reports. */
  private reported = 0;
  private bytes = 0;
  private warnedAt = -Infinity;
  private droppedSinceWarn = 0;
  /** Records, values and requests dropped since the queue started. */
  dropped = 0;

  constructor(
    private readonly post: (b: WriteBatch) => void,
    private readonly warn: (text: string) => void,
    private readonly limits: WriteLimits = WRITE_LIMITS,
  ) {}

  /** Records, values and requests to write: posted now if the worker keeps up, else held. */
  write(records: TaskRecord[], values: StoredValue[], requests: StoredRequest[], reports: DirectReport[] = []): void {
    if (this.waiting === 0 && this.postedRows < this.limits.inFlight) {
      this.send({ records, values, requests, reports });
      return;
    }
    for (const r of reports) {
      this.reports.push(r);
      this.reported += r.n;
      this.bytes += r.bytes.byteLength;
    }
    for (const r of records) {
      this.records.push(r);
      this.bytes += recordBytes(r);
    }
    for (const v of values) {
      const old = this.values.get(v.msg_id);
      if (old !== undefined) this.bytes -= valueBytes(old);
      this.values.set(v.msg_id, v);
      this.bytes += valueBytes(v);
    }
    for (const q of requests) {
      this.requests.push(q);
      this.bytes += requestBytes(q);
    }
    this.trim();
  }

  /** The worker wrote the oldest batch posted: post what waits, if there is room now. */
  written(): void {
    if (this.postedHead < this.posted.length) this.postedRows -= this.posted[this.postedHead++];
    if (this.postedHead > 1024) {
      this.posted.splice(0, this.postedHead);
      this.postedHead = 0;
    }
    if (this.waiting > 0 && this.postedRows < this.limits.inFlight) this.release();
  }

  /** Records waiting here (not yet posted). */
  get waiting(): number {
    return this.records.length - this.recordsHead + this.values.size + this.requests.length + this.reported;
  }

  /** Bytes waiting here. */
  get heldBytes(): number {
    return this.bytes;
  }

  private send(b: WriteBatch): void {
    let n = b.records.length + 1;
    for (const r of b.reports) n += r.n;
    this.posted.push(n);
    this.postedRows += n;
    this.post(b);
  }

  /** Posts everything waiting, whatever the room (the database is closing). */
  drain(): void {
    if (this.waiting > 0) this.release(Infinity);
  }

  /** Posts up to the in-flight room, oldest first. */
  private release(room = Math.max(1, this.limits.inFlight - this.postedRows)): void {
    const end = Math.min(this.records.length, this.recordsHead + room);
    const records = this.records.slice(this.recordsHead, end);
    this.recordsHead = end;
    if (this.recordsHead === this.records.length) {
      this.records = [];
      this.recordsHead = 0;
    }
    const values = [...this.values.values()];
    this.values.clear();
    const requests = this.requests;
    this.requests = [];
    for (const r of records) this.bytes -= recordBytes(r);
    for (const v of values) this.bytes -= valueBytes(v);
    for (const q of requests) this.bytes -= requestBytes(q);
    // Reports go whole, with the records (their entries are read in the worker).
    const reports = this.reports;
    this.reports = [];
    this.reported = 0;
    for (const r of reports) this.bytes -= r.bytes.byteLength;
    this.send({ records, values, requests, reports });
  }

  /** The oldest waiting go (values first: the bulk of the bytes; then reports, records, kept requests), until both limits hold. */
  private trim(): void {
    let n = 0;
    for (const [id, v] of this.values) {
      if (this.bytes <= this.limits.heldBytes) break;
      this.values.delete(id);
      this.bytes -= valueBytes(v);
      n++;
    }
    // Engines' reports next, oldest first: each holds many entries, so a few make the room.
    while (this.reports.length > 0 && (this.records.length - this.recordsHead + this.reported > this.limits.held || this.bytes > this.limits.heldBytes)) {
      const r = this.reports.shift()!;
      this.reported -= r.n;
      this.bytes -= r.bytes.byteLength;
      n += r.n;
    }
    while (this.recordsHead < this.records.length && (this.records.length - this.recordsHead + this.reported > this.limits.held || this.bytes > this.limits.heldBytes)) {
      this.bytes -= recordBytes(this.records[this.recordsHead++]);
      n++;
    }
    while (this.requests.length > 0 && this.bytes > this.limits.heldBytes) {
      this.bytes -= requestBytes(this.requests.shift()!);
      n++;
    }
    if (this.recordsHead > 65_536 && this.recordsHead * 2 > this.records.length) {
      this.records = this.records.slice(this.recordsHead);
      this.recordsHead = 0;
    }
    if (n === 0) return;
    this.dropped += n;
    this.droppedSinceWarn += n;
    const now = performance.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.warn(`task database: records arrive faster than they are written; dropped the oldest ${this.droppedSinceWarn} waiting (records, stored values, kept requests; ${this.dropped} since start) to keep memory bounded (${this.limits.held} records, ${this.limits.heldBytes} bytes held at most)`);
    this.warnedAt = now;
    this.droppedSinceWarn = 0;
  }
}
