/**
 * The task history: every request the app sends on the user's behalf (execute, push, pull,
 * scatter, gather), with its targets, state, per-engine duration and output, and (through
 * clusterTasks.ts) other clients' requests the controller reports. Changes are pushed to the
 * renderer, at most every `throttleMs` per task while output streams in.
 */
import type { TaskEngine, TaskKind, TaskRecord } from '../../preload/contract.js';

export const TASK_LIMITS = {
  /** Tasks kept. */
  history: 200,
  /** Output kept per engine and stream (the tail). */
  outputChars: 100_000,
};

/** Times of an engine's run: its own started/completed, or a duration already worked out. */
export interface RunTimes {
  started?: string | null;
  completed?: string | null;
  ms?: number | null;
}

/** Another client's request: where a task of the history came from. */
export type TaskOrigin = Required<Pick<TaskRecord, 'msgId' | 'client' | 'label'>>;

export interface TaskFailure {
  ename: string;
  evalue: string;
  traceback: string[];
}

function tail(s: string): string {
  return s.length > TASK_LIMITS.outputChars ? s.slice(s.length - TASK_LIMITS.outputChars) : s;
}

export class Task {
  readonly record: TaskRecord;
  private readonly startedAt = performance.now();
  /** Engines whose attempt a later one replaced (a load-balanced task retried): they no longer decide the task's state. */
  private readonly superseded = new Set<number>();
  private pushTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    id: number,
    kind: TaskKind,
    code: string,
    targets: number[],
    private readonly changed: (t: TaskRecord) => void,
    private readonly throttleMs: number,
    origin?: TaskOrigin,
  ) {
    this.record = {
      ...origin,
      id,
      kind,
      code,
      targets: [...targets],
      state: 'running',
      started: Date.now(),
      durationMs: null,
      engines: targets.map((engineId) => ({ engineId, state: 'pending', durationMs: null, stdout: '', stderr: '', executionCount: null, result: null, error: null })),
    };
  }

  /** The index of engine `engineId` in this task, added (pending) when the controller first names it. */
  engineIndex(engineId: number): number {
    const i = this.record.engines.findIndex((e) => e.engineId === engineId);
    if (i >= 0) return i;
    this.record.targets.push(engineId);
    return this.record.engines.push({ engineId, state: 'pending', durationMs: null, stdout: '', stderr: '', executionCount: null, result: null, error: null }) - 1;
  }

  /** The engine got to this task's request: it runs now (it was queued until then). */
  running(index: number): void {
    const e = this.record.engines[index];
    if (!e || e.state !== 'pending') return;
    e.state = 'running';
    this.schedule();
  }

  output(index: number, name: 'stdout' | 'stderr', text: string): void {
    const e = this.record.engines[index];
    if (!e) return;
    e[name] = tail(e[name] + text);
    this.schedule();
  }

  settle(index: number, fields: Partial<Pick<TaskEngine, 'executionCount' | 'result' | 'stdout' | 'stderr'>>, times?: RunTimes): void {
    const e = this.record.engines[index];
    if (!e || !unsettled(e)) return;
    Object.assign(e, fields);
    e.state = 'ok';
    e.durationMs = duration(times) ?? Math.round(performance.now() - this.startedAt);
    this.checkDone();
  }

  fail(index: number, error: TaskFailure, times?: RunTimes, aborted = false): void {
    const e = this.record.engines[index];
    if (!e || !unsettled(e)) return;
    e.state = aborted ? 'aborted' : 'error';
    e.error = error;
    e.durationMs = duration(times) ?? Math.round(performance.now() - this.startedAt);
    this.checkDone();
  }

  /** Fails every engine still pending (the request could not be sent, or the cluster went away). */
  failAll(error: TaskFailure): void {
    for (let i = 0; i < this.record.engines.length; i++) this.fail(i, error);
    this.checkDone();
  }

  /** Details of an engine's part learned later (another client's task: its record in the controller's database). */
  amend(index: number, fields: Partial<Pick<TaskEngine, 'stdout' | 'stderr' | 'error'>>): void {
    const e = this.record.engines[index];
    if (!e) return;
    Object.assign(e, fields);
    this.schedule();
  }

  /**
   * A load-balanced task's attempt on engine `index` began: the earlier attempts (failed, or
   * failing in the same batch of events) no longer decide its state, and a task already settled
   * as failed runs again.
   */
  attempt(index: number): void {
    for (let i = 0; i < this.record.engines.length; i++) if (i !== index) this.superseded.add(i);
    if (this.record.state !== 'running') {
      this.record.state = 'running';
      this.record.durationMs = null;
    }
    this.schedule();
  }

  get done(): boolean {
    return this.record.state !== 'running';
  }

  private checkDone(): void {
    const deciding = this.record.engines.filter((_, i) => !this.superseded.has(i));
    if (deciding.some(unsettled)) {
      this.schedule();
      return;
    }
    if (this.record.state === 'running') {
      this.record.state = deciding.every((e) => e.state === 'ok') ? 'ok' : 'error';
      this.record.durationMs = Math.round(performance.now() - this.startedAt);
    }
    this.pushNow();
  }

  private schedule(): void {
    if (this.pushTimer !== null) return;
    this.pushTimer = setTimeout(() => this.pushNow(), this.throttleMs);
  }

  private pushNow(): void {
    if (this.pushTimer !== null) clearTimeout(this.pushTimer);
    this.pushTimer = null;
    this.changed(this.snapshot());
  }

  snapshot(): TaskRecord {
    return { ...this.record, targets: [...this.record.targets], engines: this.record.engines.map((e) => ({ ...e })) };
  }
}

function unsettled(e: TaskEngine): boolean {
  return e.state === 'pending' || e.state === 'running';
}

function duration(times?: RunTimes): number | null {
  if (typeof times?.ms === 'number') return times.ms;
  if (!times?.started || !times.completed) return null;
  const d = Date.parse(times.completed) - Date.parse(times.started);
  return Number.isFinite(d) && d >= 0 ? d : null;
}

/** A request of a task, by the result that will carry its msg_id (assigned when it is sent). */
interface Sent {
  task: Task;
  index: number;
  msgIds: () => string;
}

export class TaskLog {
  private nextId = 1;
  private readonly tasks = new Map<number, Task>();
  /** Requests sent and not yet started, by msg_id; `unassigned` waits for its msg_id (held back in the client). */
  private readonly byMsgId = new Map<string, Sent>();
  private unassigned: Sent[] = [];

  constructor(
    private readonly changed: (t: TaskRecord) => void,
    private readonly throttleMs = 100,
  ) {}

  begin(kind: TaskKind, code: string, targets: number[], origin?: TaskOrigin): Task {
    if (this.byMsgId.size > 4 * TASK_LIMITS.history) this.prune();
    const t = new Task(this.nextId++, kind, code, targets, this.changed, this.throttleMs, origin);
    this.tasks.set(t.record.id, t);
    while (this.tasks.size > TASK_LIMITS.history) this.tasks.delete(this.tasks.keys().next().value as number);
    this.changed(t.snapshot());
    return t;
  }

  /** Follows engine `index` of `task`: it turns running when an engine reports it runs `msgId()`. */
  track(task: Task, index: number, msgId: () => string): void {
    const sent = { task, index, msgIds: msgId };
    const id = msgId();
    if (id) this.byMsgId.set(id, sent);
    else this.unassigned.push(sent);
  }

  /** An engine started the request `msgId`: the task engine waiting on it runs now. */
  started(msgId: string): void {
    if (this.byMsgId.size === 0 && this.unassigned.length === 0) return;
    if (this.unassigned.length) {
      const still: Sent[] = [];
      for (const s of this.unassigned) {
        const id = s.msgIds();
        if (id) this.byMsgId.set(id, s);
        else if (!s.task.done) still.push(s);
      }
      this.unassigned = still;
    }
    const s = this.byMsgId.get(msgId);
    if (!s) return;
    this.byMsgId.delete(msgId);
    s.task.running(s.index);
  }

  /** Forgets the requests of tasks that are done (they never need marking). */
  private prune(): void {
    for (const [id, s] of this.byMsgId) if (s.task.done) this.byMsgId.delete(id);
  }

  list(): TaskRecord[] {
    return [...this.tasks.values()].map((t) => t.snapshot());
  }

  get(id: number): TaskRecord {
    return this.task(id).snapshot();
  }

  task(id: number): Task {
    const t = this.tasks.get(id);
    if (!t) throw new Error(`no task ${id} in the history (it keeps the last ${TASK_LIMITS.history})`);
    return t;
  }
}
