/**
 * Between the recorder and the SQLite worker: when batches are posted, and back-pressure.
 * - Gathered until a lull: what comes waits here and is posted once nothing new has come for
 *   `quietMs`, at the latest `everyMs` after the first of it came, at once when `rows` wait, and
 *   when a query is about to read (flush: nothing reads stale). A burst of requests is recorded
 *   in the pause after it, so the worker's inserts do not take the cores from the engines and
 *   clients while it runs: on two cores they slowed direct async bursts by 8–17 % even at the
 *   lowest priority (docs/benchmarks.md, "Task database: the direct path"); traffic that never
 *   pauses is written every `everyMs`. The price: a SIGKILLed controller loses what waits, up to
 *   `everyMs` of records (docs/reliability.md).
 * - Bounded: records may arrive faster than the worker writes them (a burst of tiny tasks on a busy
 *   machine), and every batch posted waits in its message queue, in memory. So at most `inFlight`
 *   rows are posted and not yet written (exactly: a batch is cut to the room; an engine's report
 *   is one unit of up to 4,096 entries, and only one larger than the whole limit goes alone, with
 *   nothing else in flight); the rest wait here, within `held` records and `heldBytes`. Past
 *   those the oldest waiting are dropped, counted (`dropped`, in the status) and logged.
 * Records are final (one per request and engine, never updated), so what coalesces is stored
 * values: a later value of the same msg_id replaces the one waiting. Engines' task reports (unread,
 * see directRecords.ts) count as the records they hold.
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
  /** Rows (records, report entries, values, kept requests) posted to the worker and not yet written. */
  inFlight: number;
  /** Records waiting here at most. */
  held: number;
  /** Bytes of what waits here at most (records, values, requests). */
  heldBytes: number;
}

/** When what waits is posted: after `quietMs` with nothing new, `everyMs` after the first of it came, or at once when `rows` wait. */
export interface Gathering {
  quietMs: number;
  everyMs: number;
  rows: number;
}

export const WRITE_LIMITS: WriteLimits = { inFlight: 20_000, held: 100_000, heldBytes: 64 * 1024 * 1024 };
/**
 * A lull is 100 ms without a new record or an engine saying it has direct work (traffic(): the
 * recorder flushes every 20 ms while requests flow through the controller, and engines send
 * engine_activity every 20 ms while direct requests run, their reports only when idle); at most
 * 2 s or 16,384 rows (~3 MB of reports) wait. The worker writes a batch in transactions of ~512
 * records either way (sqliteWorker.ts).
 */
export const GATHERING: Gathering = { quietMs: 100, everyMs: 2000, rows: 16_384 };
/** Posted as it comes (the recorder's own 20 ms flush is the only gathering): tests of back-pressure alone. */
export const AT_ONCE: Gathering = { quietMs: 0, everyMs: 0, rows: 1 };

/** How often a drop is logged at most (the count is in the status all along). */
const WARN_EVERY_MS = 10_000;

export class WriteQueue {
  /** Rows of the batches posted and not yet written, oldest first. */
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
  /** What waits is to go as soon as there is room (its time came, enough of it came, or a query waits). */
  private due = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the first of what waits came, and the last (performance.now()). */
  private firstAt = 0;
  private lastAt = 0;
  private warnedAt = -Infinity;
  private droppedSinceWarn = 0;
  /** Records, values and requests dropped since the queue started. */
  dropped = 0;

  constructor(
    private readonly post: (b: WriteBatch) => void,
    private readonly warn: (text: string) => void,
    private readonly limits: WriteLimits = WRITE_LIMITS,
    private readonly gathering: Gathering = GATHERING,
  ) {}

  /** Records, values and requests to write: they wait here until their time, their number or a flush. */
  write(records: TaskRecord[], values: StoredValue[], requests: StoredRequest[], reports: DirectReport[] = []): void {
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
    if (this.waiting === 0) return;
    this.lastAt = performance.now();
    if (this.waiting >= this.gathering.rows) this.flush();
    else if (this.timer === null && !this.due) {
      this.firstAt = this.lastAt;
      this.arm(this.gathering.quietMs);
    }
  }

  /**
   * Requests still flow (an engine said it has direct work: its report waits for it to go idle,
   * protocol section 13): what waits keeps waiting for the lull, within `everyMs`.
   */
  traffic(): void {
    if (this.waiting > 0) this.lastAt = performance.now();
  }

  /** One timer at a time, moved on while writes keep coming (not one per write). */
  private arm(ms: number): void {
    // Not what keeps a process alive: close() drains what waits.
    this.timer = setTimeout(() => this.tick(), Math.max(0, ms));
    this.timer.unref?.();
  }

  private tick(): void {
    this.timer = null;
    const now = performance.now();
    const { quietMs, everyMs } = this.gathering;
    if (now - this.lastAt >= quietMs || now - this.firstAt >= everyMs) this.flush();
    else this.arm(Math.min(this.lastAt + quietMs, this.firstAt + everyMs) - now);
  }

  /** Posts what waits now, as far as the in-flight room goes (the rest as the worker writes): a query is about to read. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.due = true;
    this.release();
  }

  /** The worker wrote the oldest batch posted: post what is due, if there is room now. */
  written(): void {
    if (this.postedHead < this.posted.length) this.postedRows -= this.posted[this.postedHead++];
    if (this.postedHead > 1024) {
      this.posted.splice(0, this.postedHead);
      this.postedHead = 0;
    }
    if (this.due) this.release();
  }

  /** Rows waiting here (not yet posted). */
  get waiting(): number {
    return this.records.length - this.recordsHead + this.values.size + this.requests.length + this.reported;
  }

  /** Rows posted and not yet written. */
  get inFlight(): number {
    return this.postedRows;
  }

  /** Bytes waiting here. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Posts everything waiting, whatever the room (the database is closing). */
  drain(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.release(Infinity);
  }

  /** Posts, oldest first within each kind, what fits in `room` rows: reports whole, then records, values, requests. */
  private release(room = this.limits.inFlight - this.postedRows): void {
    if (this.waiting === 0) {
      this.due = false;
      return;
    }
    let left = room;
    let taken = 0;
    // A report larger than the whole limit could never fit: it goes alone, when nothing is in flight.
    while (taken < this.reports.length && (this.reports[taken].n <= left || (taken === 0 && this.postedRows === 0))) left -= this.reports[taken++].n;
    const reports = this.reports.splice(0, taken);
    const records = this.take(Math.max(0, left));
    left -= records.length;
    const values: StoredValue[] = [];
    for (const [id, v] of this.values) {
      if (left <= 0) break;
      values.push(v);
      this.values.delete(id);
      left--;
    }
    const requests = this.requests.splice(0, Math.max(0, Math.min(left, this.requests.length)));
    let rows = records.length + values.length + requests.length;
    for (const r of reports) {
      rows += r.n;
      this.reported -= r.n;
      this.bytes -= r.bytes.byteLength;
    }
    for (const r of records) this.bytes -= recordBytes(r);
    for (const v of values) this.bytes -= valueBytes(v);
    for (const q of requests) this.bytes -= requestBytes(q);
    if (records.length + values.length + requests.length + reports.length > 0) {
      this.posted.push(rows);
      this.postedRows += rows;
      this.post({ records, values, requests, reports });
    }
    if (this.waiting === 0) this.due = false;
  }

  /** Up to `n` of the oldest waiting records. */
  private take(n: number): TaskRecord[] {
    const end = Math.min(this.records.length, this.recordsHead + n);
    const out = this.records.slice(this.recordsHead, end);
    this.recordsHead = end;
    if (this.recordsHead === this.records.length) {
      this.records = [];
      this.recordsHead = 0;
    }
    return out;
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
