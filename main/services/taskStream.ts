/**
 * The task stream's feed: every client's task events (the controller's task_events pushes,
 * at most one per 50 ms), passed on to the renderer as one onTaskStream push per interval in
 * the contract's shape, with map counts for the events the controller only counted. On
 * connecting, the latest records of the controller's task database come first, as events, so
 * an app attaching to a busy cluster shows what ran before. The most recent events are kept so
 * that a renderer that (re)loads draws them too.
 */
import type { Disposable } from '../../core/events/emitter.js';
import type { Client, TaskEvent, TaskEventBatch, TaskRecord as DbRecord } from '../../core/index.js';
import type { EventSink } from '../ipc/router.js';
import type { StreamEvent, StreamMapCounts, TaskEngine, TaskKind, TaskRecord, TaskStreamBatch } from '../../preload/contract.js';

/** Events kept for a renderer that (re)loads (about a third as many tasks), so a reload stays a few MB. */
export const STREAM_KEPT = 60_000;
/** Of a request's code, what a bar's tooltip shows. */
const CODE_CHARS = 120;
/** Requests read from the task database on connecting (the latest ones). */
export const SEEDED = 5_000;

const KIND = /^(\w+?)_request$/;

/** A task event in the contract's shape (times as epoch ms). */
export function streamEvent(e: TaskEvent): StreamEvent {
  const time = Date.parse(e.time);
  const out: StreamEvent = {
    event: e.event,
    msgId: e.msg_id,
    engineId: e.engine_id,
    client: e.client,
    kind: KIND.exec(e.msg_type)?.[1] ?? e.msg_type,
    label: e.label,
    time,
  };
  if (e.event === 'finished') {
    out.status = e.status === 'ok' || e.status === 'aborted' ? e.status : 'error';
    if (typeof e.duration_ms === 'number') out.start = time - e.duration_ms;
    if (typeof e.ename === 'string') out.ename = e.ename;
  } else if (e.event === 'submitted' && typeof e.code === 'string') {
    out.code = e.code.length > CODE_CHARS ? e.code.slice(0, CODE_CHARS) : e.code;
  }
  if (e.map !== undefined) out.map = { id: e.map.id, items: e.map.items, chunk: e.map.chunk };
  return out;
}

/** One controller interval for the renderer: its listed events, and what was only counted. */
export function streamBatch(b: TaskEventBatch): TaskStreamBatch {
  const out: TaskStreamBatch = { events: b.events.map(streamEvent) };
  const o = b.overflow;
  if (o === undefined) return out;
  out.unlisted = o.submitted + o.started + o.finished.ok + o.finished.error + o.finished.aborted;
  const maps = Object.values(o.maps ?? {});
  if (maps.length > 0) out.maps = maps.map((m) => ({ map: { id: m.map.id, items: m.map.items, chunk: m.map.chunk }, ok: m.finished.ok, failed: m.finished.error + m.finished.aborted }));
  return out;
}

/** Task database records as the events that would have told them (submitted once per request, then started or finished per engine), in time order. */
export function eventsOfRecords(records: readonly DbRecord[]): StreamEvent[] {
  const out: StreamEvent[] = [];
  const submitted = new Set<string>();
  for (const r of records) {
    const base = { msgId: r.msg_id, client: r.client, kind: KIND.exec(r.msg_type)?.[1] ?? r.msg_type, label: r.label };
    const received = Date.parse(r.received);
    if (!submitted.has(r.msg_id)) {
      submitted.add(r.msg_id);
      const e: StreamEvent = { ...base, event: 'submitted', engineId: null, time: received };
      if (r.code !== null) e.code = r.code.length > CODE_CHARS ? r.code.slice(0, CODE_CHARS) : r.code;
      out.push(e);
    }
    const started = r.started === null ? null : Date.parse(r.started);
    if (r.status === 'pending') {
      if (r.engine_id !== null) out.push({ ...base, event: 'started', engineId: r.engine_id, time: started ?? received });
      continue;
    }
    const e: StreamEvent = { ...base, event: 'finished', engineId: r.engine_id, time: r.completed === null ? (started ?? received) : Date.parse(r.completed), status: r.status };
    if (started !== null) e.start = started;
    if (r.ename !== null) e.ename = r.ename;
    out.push(e);
  }
  return out.sort((a, b) => a.time - b.time);
}

const KINDS: ReadonlySet<string> = new Set(['execute', 'push', 'pull', 'scatter', 'gather', 'apply', 'keys', 'clear']);

/** A request's records (one per engine) from the task database, as the task detail shows a task. */
export function taskOfRecords(msgId: string, records: readonly DbRecord[]): TaskRecord {
  if (records.length === 0) throw new Error(`The controller has no record of task ${msgId} (purged, or recorded with --db none)`);
  const r0 = records[0];
  const kind = KIND.exec(r0.msg_type)?.[1] ?? r0.msg_type;
  const time = (s: string | null): number | null => (s === null ? null : Date.parse(s));
  const engines: TaskEngine[] = records
    .filter((r) => r.engine_id !== null)
    .sort((a, b) => (a.engine_id as number) - (b.engine_id as number))
    .map((r) => {
      const [a, b] = [time(r.started), time(r.completed)];
      return {
        engineId: r.engine_id as number,
        state: r.status === 'pending' ? 'running' : r.status,
        durationMs: a !== null && b !== null ? b - a : null,
        stdout: r.stdout,
        stderr: r.stderr,
        executionCount: null,
        result: null,
        error: r.status === 'error' || r.status === 'aborted' ? { ename: r.ename ?? 'Error', evalue: r.evalue ?? '', traceback: r.traceback ?? [] } : null,
      };
    });
  const starts = records.map((r) => time(r.started) ?? time(r.received)).filter((t): t is number => t !== null);
  const ends = records.map((r) => time(r.completed));
  const running = records.some((r) => r.status === 'pending');
  const failed = records.some((r) => r.status === 'error' || r.status === 'aborted');
  const started = Math.min(...starts);
  return {
    id: -1,
    kind: (KINDS.has(kind) ? kind : 'execute') as TaskKind,
    code: r0.code ?? r0.label ?? r0.msg_type,
    targets: engines.map((e) => e.engineId),
    state: running ? 'running' : failed ? 'error' : 'ok',
    started,
    durationMs: running || ends.includes(null) ? null : Math.max(...(ends as number[])) - started,
    engines,
    msgId,
    client: r0.client,
    label: r0.label,
  };
}

export class TaskStreamFeed {
  private sub: Disposable | null = null;
  private rc: Client | null = null;
  private seq = 0;
  /** While the database is read on connecting: the msg_ids events told meanwhile (their records are not added again). */
  private toldLive: Set<string> | null = null;
  private kept: StreamEvent[] = [];
  private unlisted = 0;
  /** Counted (not listed) finished tasks per map, since the cluster was followed. */
  private readonly counted = new Map<string, StreamMapCounts>();

  constructor(
    private readonly events: Pick<EventSink, 'emit'>,
    private readonly report: (msg: string) => void = () => {},
  ) {}

  /** Follows `rc`'s cluster from now on (null: none); the renderer forgets the previous one. */
  follow(rc: Client | null): void {
    this.sub?.dispose();
    this.sub = null;
    this.kept = [];
    this.unlisted = 0;
    this.counted.clear();
    this.rc = rc;
    this.events.emit('onTaskStream', { events: [], reset: true, seq: ++this.seq });
    if (rc === null) return;
    this.sub = rc.onTaskEvents((b) => this.apply(streamBatch(b)));
    this.seed(rc).catch((e: unknown) => this.report(`task stream: cannot read the controller's task records: ${(e as Error).message}`));
  }

  /** The latest requests from the task database, before what the events tell from now on. */
  private async seed(rc: Client): Promise<void> {
    const told = new Set<string>();
    this.toldLive = told;
    try {
      const ids = (await rc.hubHistory()).slice(-SEEDED);
      if (ids.length === 0 || this.rc !== rc) return;
      const records = (await rc.dbQuery({ msg_id: { $in: ids } })) as DbRecord[];
      if (this.rc !== rc) return;
      const events = eventsOfRecords(records.filter((r) => !told.has(r.msg_id)));
      if (events.length > 0) this.apply({ events });
    } finally {
      if (this.toldLive === told) this.toldLive = null;
    }
  }

  apply(batch: TaskStreamBatch): void {
    if (this.toldLive !== null) for (const e of batch.events) this.toldLive.add(e.msgId);
    for (const e of batch.events) this.kept.push(e); // no spread: a seed lists tens of thousands
    // Trim in steps of a quarter, not per batch.
    if (this.kept.length > STREAM_KEPT * 1.25) this.kept = this.kept.slice(-STREAM_KEPT);
    this.unlisted += batch.unlisted ?? 0;
    for (const m of batch.maps ?? []) {
      const c = this.counted.get(m.map.id);
      if (c === undefined) this.counted.set(m.map.id, { ...m });
      else {
        c.ok += m.ok;
        c.failed += m.failed;
      }
    }
    batch.seq = ++this.seq;
    this.events.emit('onTaskStream', batch);
  }

  /** The recent events and the counts so far, for a renderer that (re)loads. */
  list(): TaskStreamBatch {
    return { events: this.kept.slice(), unlisted: this.unlisted, maps: [...this.counted.values()].map((m) => ({ ...m })), reset: true, seq: this.seq };
  }

  /** A task of the stream with its output and error, from the controller's task database. */
  async record(msgId: string): Promise<TaskRecord> {
    const rc = this.rc;
    if (rc === null || rc.isClosed) throw new Error('No cluster is connected: start or attach one to see its tasks');
    return taskOfRecords(msgId, (await rc.dbQuery({ msg_id: msgId })) as DbRecord[]);
  }

  dispose(): void {
    this.sub?.dispose();
    this.sub = null;
  }
}
