/**
 * Records every request the controller routes, without work on the request path: each hook is
 * a few pushes onto one flat array. Every FLUSH_MS the queue is read in order, records are
 * built (the request's fields, its engines' outputs and replies), finished ones go to the task
 * database in one batch, and those still running stay here (dbQuery shows them as 'pending').
 */
import type { Message, TaskFilter, TaskRecord } from '../../protocol/messages.js';
import { codeOf, labelOf, mapOf } from '../../protocol/taskText.js';
import { sizeOf, type StoredResult } from '../resultStore.js';
import type { DirectReport } from './directRecords.js';
import { matches, project } from './query.js';
import type { TaskWatcher } from '../taskEvents.js';
import type { TaskDb } from './taskDb.js';
import type { StoredRequest, StoredValue } from './taskStore.js';

/** How often the queue is written out. */
const FLUSH_MS = 20;
/** Kept of each of a request's stdout and stderr, per engine. */
const OUTPUT_CHARS = 64 * 1024;
/** Requests still running that are remembered at most (a task the scheduler failed before sending it leaves an entry). */
const MAX_IN_FLIGHT = 200_000;
/** Requests kept as they came, so resubmit can run them again. */
const RESUBMITTABLE: ReadonlySet<string> = new Set(['execute_request', 'apply_request']);

const enum Ev {
  Received,
  Sent,
  Output,
  Replied,
  Failed,
  Closed,
  Value,
  Reported,
  Settled,
}

interface InFlight {
  base: TaskRecord;
  /** Replies expected (a direct request's targets; 1 for a balanced task). */
  expected: number;
  replies: number;
  /** A balanced task's attempt failed: another attempt may follow (sent), or the router says it was the last (settled). */
  retrying?: true;
  /** Times it was sent to an engine. */
  attempts: number;
  /** Per engine, records waiting for their engine's reply. */
  engines: Map<number, TaskRecord>;
  /** Asked to be stored (metadata.store): the replies so far, kept as value when the request is over. */
  kept?: StoredValue;
}

export class Recorder {
  /** Events as [kind, a, b, c] runs: no object per event. */
  private queue: unknown[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly inFlight = new Map<string, InFlight>();
  /** Direct requests engines reported (status_reply.task_db.reported). */
  reportedCount = 0;
  readonly enabled: boolean;

  constructor(
    private readonly db: TaskDb,
    /** Task events for subscribed clients: told what each tick saw, in order per request. */
    private readonly watcher: TaskWatcher | null = null,
  ) {
    this.enabled = db.enabled;
  }

  private push(kind: Ev, a: unknown, b: unknown, c: unknown): void {
    if (this.queue.length === 0) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
    this.queue.push(kind, a, b, c);
  }

  /** A work request from client number `client`, as it arrived. */
  received(client: number, msg: Message): void {
    if (this.enabled) this.push(Ev.Received, client, msg, Date.now());
  }

  /** Client number `client` connected with this session. */
  connected(client: number, session: string): void {
    if (!this.enabled) return;
    this.db.client(session, client);
  }

  /** Reports go to the database thread as they came: it reads them, and no task events need their records here now. */
  private get reportsUnread(): boolean {
    return this.db.readsReports && this.watcher?.active !== true;
  }

  /** An engine's task_report: `n` direct requests it answered, their entries unread in `bytes` (protocol section 13). */
  reported(engineId: number, n: number, bytes: Uint8Array): void {
    // Counted even when nothing is recorded: engines should not report then (registration_reply.report_tasks).
    this.reportedCount += n;
    if (!this.enabled) return;
    // Bytes of its own, which can move to the worker: a part that spanned reads already has its
    // own buffer (frame.ts); one that is a view into a larger read is copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
    // Unread to the database thread when nobody needs its records now: straight to the write
    // queue, without this recorder's tick (a wake-up of the controller per report, in a burst
    // of direct requests where nothing else arms it).
    if (this.reportsUnread) this.db.write([], [], [], [{ engine: engineId, n, bytes: own }]);
    else this.push(Ev.Reported, engineId, own, n);
  }

  /** An engine has direct requests running or queued (engine_activity): the database's writes wait for the lull. */
  directWork(): void {
    if (this.enabled) this.db.traffic();
  }

  /** Sent to an engine (a balanced task gets its engine here). */
  sent(engineId: number, msgId: string): void {
    if (this.enabled) this.push(Ev.Sent, engineId, msgId, 0);
  }

  /** A stream message of a request (`parts`: as signed, kept when the request is to be stored). */
  output(engineId: number, msg: Message, parts: readonly Uint8Array[]): void {
    if (this.enabled) this.push(Ev.Output, engineId, msg, parts);
  }

  /** An engine's reply: its parts, or (a reply streamed through) its length in bytes. */
  replied(engineId: number, msg: Message, size: readonly Uint8Array[] | number): void {
    if (this.enabled) this.push(Ev.Replied, engineId, msg, size);
  }

  /** The controller answered for an engine that will not (dead, missing). */
  failed(engineId: number, msgId: string, evalue: string): void {
    if (this.enabled) this.push(Ev.Failed, engineId, msgId, evalue);
  }

  /** A balanced task's reply went on as its outcome (a failed attempt is not sent again): the task is over. */
  settled(msgId: string): void {
    if (this.enabled) this.push(Ev.Settled, msgId, 0, 0);
  }

  /** The scheduler answered a balanced task itself (`parts`: its signed reply): the task is over. */
  closed(msgId: string, parts: readonly Uint8Array[]): void {
    if (this.enabled) this.push(Ev.Closed, msgId, parts, 0);
  }

  /** A stored result (its client went away) is complete: kept in the database too, when it keeps values. */
  completed(r: StoredResult): void {
    if (this.db.keepsValues) this.push(Ev.Value, r, 0, 0);
  }

  /** Writes out what is queued now (also called at shutdown). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = [];
    const done: TaskRecord[] = [];
    const values: StoredValue[] = [];
    const requests: StoredRequest[] = [];
    const reports: DirectReport[] = [];
    // Reports go to the database thread unread, unless task events need their records now.
    const readReports = !this.reportsUnread;
    for (let i = 0; i < q.length; i += 4) {
      const a = q[i + 1], b = q[i + 2], c = q[i + 3];
      switch (q[i] as Ev) {
        case Ev.Received:
          this.onReceived(a as number, b as Message, c as number, requests);
          break;
        case Ev.Sent:
          this.onSent(a as number, b as string);
          break;
        case Ev.Output:
          this.onOutput(a as number, b as Message, c as readonly Uint8Array[]);
          break;
        case Ev.Replied: {
          const m = b as Message;
          const c0 = m.content as { status?: string; ename?: string; evalue?: string; traceback?: unknown };
          const meta = m.metadata as { started?: unknown; completed?: unknown };
          this.finish(done, values, a as number, m.parent_header.msg_id as string, {
            status: c0.status === 'ok' || c0.status === 'aborted' ? c0.status : 'error',
            ename: typeof c0.ename === 'string' ? c0.ename : null,
            evalue: typeof c0.evalue === 'string' ? c0.evalue : null,
            traceback: Array.isArray(c0.traceback) ? c0.traceback.map(String) : null,
            started: typeof meta.started === 'string' ? meta.started : null,
            completed: typeof meta.completed === 'string' ? meta.completed : null,
            result_bytes: typeof c === 'number' ? c : sizeOf(c as readonly Uint8Array[]),
          }, typeof c === 'number' ? undefined : (c as readonly Uint8Array[]));
          break;
        }
        case Ev.Failed:
          this.finish(done, values, a as number, b as string, { status: 'error', ename: 'EngineError', evalue: c as string });
          break;
        case Ev.Closed:
          this.close(done, a as string, b as readonly Uint8Array[]);
          break;
        case Ev.Settled: {
          const f = this.inFlight.get(a as string);
          if (f?.retrying && f.engines.size === 0) this.end(a as string, f, values);
          break;
        }
        case Ev.Reported: {
          const r: DirectReport = { engine: a as number, n: c as number, bytes: b as Uint8Array };
          if (!readReports) reports.push(r);
          else for (const t of this.db.directRecords(r)) done.push(t);
          break;
        }
        case Ev.Value: {
          const r = a as StoredResult;
          if (!r.evicted) values.push({ msg_id: r.msgId, msg_type: r.header.msg_type, engine_ids: [...r.engineIds], messages: r.messages.map((m) => [...m]) });
          break;
        }
      }
    }
    if (done.length > 0 && this.watcher?.active) this.watcher.finished(done);
    this.db.write(done, values, requests, reports);
  }

  private onReceived(client: number, msg: Message, at: number, requests: StoredRequest[]): void {
    const h = msg.header;
    if (RESUBMITTABLE.has(h.msg_type)) requests.push({ msg_id: h.msg_id, msg_type: h.msg_type, metadata: JSON.stringify(msg.metadata), content: JSON.stringify(msg.content), buffers: msg.buffers });
    const md = msg.metadata as { targets?: unknown; balanced?: unknown; label?: unknown };
    const balanced = md.balanced !== undefined;
    const base: TaskRecord = {
      msg_id: h.msg_id,
      engine_id: null,
      client,
      msg_type: h.msg_type,
      label: labelOf(md),
      code: codeOf(msg),
      balanced,
      status: 'pending',
      submitted: h.date,
      received: new Date(at).toISOString(),
      started: null,
      completed: null,
      ename: null,
      evalue: null,
      traceback: null,
      result_bytes: null,
      stdout: '',
      stderr: '',
    };
    if (balanced) {
      const map = mapOf(md);
      if (map !== undefined) base.map = map;
    }
    const f: InFlight = { base, expected: 1, replies: 0, attempts: 0, engines: new Map() };
    const store = balanced ? (md.balanced as { store?: unknown }).store : (md as { store?: unknown }).store;
    if (store === true) f.kept = { msg_id: h.msg_id, msg_type: h.msg_type, engine_ids: [], messages: [] };
    if (!balanced && Array.isArray(md.targets)) {
      f.expected = md.targets.length;
      for (const id of md.targets) if (typeof id === 'number') f.engines.set(id, { ...base, engine_id: id });
    }
    if (this.inFlight.size >= MAX_IN_FLIGHT) this.inFlight.delete(this.inFlight.keys().next().value as string);
    this.inFlight.set(h.msg_id, f);
    if (this.watcher?.active) this.watcher.submitted(base);
  }

  private onSent(engineId: number, msgId: string): void {
    const f = this.inFlight.get(msgId);
    if (f === undefined) return;
    f.attempts++;
    if (f.retrying) {
      // The failed attempt is recorded; the value kept is the new attempt's.
      f.retrying = undefined;
      if (f.kept !== undefined) {
        f.kept.messages = [];
        f.kept.engine_ids = [];
      }
    }
    if (this.watcher?.active) this.watcher.started(engineId, f.base);
    if (!f.engines.has(engineId)) f.engines.set(engineId, { ...f.base, engine_id: engineId });
  }

  private onOutput(engineId: number, msg: Message, parts: readonly Uint8Array[]): void {
    const f = this.inFlight.get(msg.parent_header.msg_id as string);
    const r = f?.engines.get(engineId);
    if (r === undefined) return;
    f!.kept?.messages.push([...parts]);
    const { name, text } = msg.content as { name: 'stdout' | 'stderr'; text: string };
    if (r[name].length < OUTPUT_CHARS) r[name] += text.length > OUTPUT_CHARS - r[name].length ? text.slice(0, OUTPUT_CHARS - r[name].length) : text;
  }

  /** An engine's answer (`parts`: its reply as signed, when it was held whole). */
  private finish(done: TaskRecord[], values: StoredValue[], engineId: number, msgId: string, outcome: Partial<TaskRecord>, parts?: readonly Uint8Array[]): void {
    const f = this.inFlight.get(msgId);
    if (f === undefined) return;
    const r = f.engines.get(engineId);
    if (r === undefined) return;
    f.engines.delete(engineId);
    done.push(Object.assign(r, outcome));
    // A reply streamed through (too big to hold whole) or made by the controller is not kept, and
    // without every reply the value is not stored at all (getResult would wait for the missing one).
    if (parts === undefined) f.kept = undefined;
    const kept = f.kept;
    if (kept !== undefined) {
      kept.messages.push([...parts!]);
      kept.engine_ids.push(engineId);
    }
    // A failed attempt of a balanced task: the scheduler may send it again (sent) or forward this
    // reply as the task's outcome (settled), which only the router knows.
    if (f.base.balanced && outcome.status === 'error') {
      f.retrying = true;
      return;
    }
    if (++f.replies < f.expected || f.engines.size > 0) return;
    this.end(msgId, f, values);
  }

  private end(msgId: string, f: InFlight, values: StoredValue[]): void {
    this.inFlight.delete(msgId);
    if (f.kept !== undefined && f.kept.messages.length > 0) values.push(f.kept);
  }

  /** The scheduler's own outcome: attempts still open take it, or (never sent) the task's one record does. */
  private close(done: TaskRecord[], msgId: string, parts: readonly Uint8Array[]): void {
    const f = this.inFlight.get(msgId);
    if (f === undefined) return;
    this.inFlight.delete(msgId);
    let c: { status?: string; ename?: string; evalue?: string };
    try {
      c = JSON.parse(Buffer.from(parts[4].buffer, parts[4].byteOffset, parts[4].byteLength).toString('utf8')) as typeof c;
    } catch {
      c = {};
    }
    const outcome: Partial<TaskRecord> = { status: c.status === 'aborted' ? 'aborted' : 'error', ename: c.ename ?? null, evalue: c.evalue ?? null };
    if (f.attempts === 0) done.push({ ...f.base, ...outcome });
    for (const r of f.engines.values()) done.push(Object.assign(r, outcome));
  }

  /** Records of requests still running that match the filter (dbQuery adds them to the database's). */
  pending(filter: TaskFilter, keys?: readonly string[]): Partial<TaskRecord>[] {
    const out: Partial<TaskRecord>[] = [];
    for (const f of this.inFlight.values()) {
      const rs = f.engines.size > 0 ? f.engines.values() : [f.base];
      for (const r of rs) if (matches(r, filter)) out.push(project(r, keys));
    }
    return out;
  }

  /** msg_ids of requests still running, oldest first. */
  pendingIds(): string[] {
    return [...this.inFlight.keys()];
  }
}
