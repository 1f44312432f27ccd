/**
 * The task history: every request the app sends on the user's behalf (execute, push, pull,
 * scatter, gather), with its targets, state, per-engine duration and output. Changes are
 * pushed to the renderer, at most every `throttleMs` per task while output streams in.
 */
import type { TaskEngine, TaskKind, TaskRecord } from '../../preload/contract.js';

export const TASK_LIMITS = {
  /** Tasks kept. */
  history: 200,
  /** Output kept per engine and stream (the tail). */
  outputChars: 100_000,
};

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
  private pushTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    id: number,
    kind: TaskKind,
    code: string,
    targets: number[],
    private readonly changed: (t: TaskRecord) => void,
    private readonly throttleMs: number,
  ) {
    this.record = {
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

  output(index: number, name: 'stdout' | 'stderr', text: string): void {
    const e = this.record.engines[index];
    if (!e) return;
    e[name] = tail(e[name] + text);
    this.schedule();
  }

  settle(index: number, fields: Partial<Pick<TaskEngine, 'executionCount' | 'result' | 'stdout' | 'stderr'>>, times?: { started?: string; completed?: string }): void {
    const e = this.record.engines[index];
    if (!e || e.state !== 'pending') return;
    Object.assign(e, fields);
    e.state = 'ok';
    e.durationMs = duration(times) ?? Math.round(performance.now() - this.startedAt);
    this.checkDone();
  }

  fail(index: number, error: TaskFailure, times?: { started?: string; completed?: string }, aborted = false): void {
    const e = this.record.engines[index];
    if (!e || e.state !== 'pending') return;
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

  get done(): boolean {
    return this.record.state !== 'running';
  }

  private checkDone(): void {
    if (this.record.engines.some((e) => e.state === 'pending')) {
      this.schedule();
      return;
    }
    if (this.record.state === 'running') {
      this.record.state = this.record.engines.every((e) => e.state === 'ok') ? 'ok' : 'error';
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

function duration(times?: { started?: string; completed?: string }): number | null {
  if (!times?.started || !times.completed) return null;
  const d = Date.parse(times.completed) - Date.parse(times.started);
  return Number.isFinite(d) && d >= 0 ? d : null;
}

export class TaskLog {
  private nextId = 1;
  private readonly tasks = new Map<number, Task>();

  constructor(
    private readonly changed: (t: TaskRecord) => void,
    private readonly throttleMs = 100,
  ) {}

  begin(kind: TaskKind, code: string, targets: number[]): Task {
    const t = new Task(this.nextId++, kind, code, targets, this.changed, this.throttleMs);
    this.tasks.set(t.record.id, t);
    while (this.tasks.size > TASK_LIMITS.history) this.tasks.delete(this.tasks.keys().next().value as number);
    this.changed(t.snapshot());
    return t;
  }

  list(): TaskRecord[] {
    return [...this.tasks.values()].map((t) => t.snapshot());
  }

  get(id: number): TaskRecord {
    const t = this.tasks.get(id);
    if (!t) throw new Error(`no task ${id} in the history (it keeps the last ${TASK_LIMITS.history})`);
    return t.snapshot();
  }
}
