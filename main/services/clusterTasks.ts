/**
 * Other clients' requests in the task history: the console in the app's terminal, scripts,
 * other consoles. On connecting, the controller's task database gives the latest ones
 * (hubHistory, dbQuery); from then on its task events (rc.onTaskEvents) add and settle them.
 * The app's own requests are left to namespaceOps (they carry values and output as they come).
 * Selecting one fetches its full record (output, error) from the database.
 */
import type { Disposable } from '../../core/events/emitter.js';
import type { Client, TaskEvent, TaskEventBatch, TaskRecord as DbRecord } from '../../core/index.js';
import type { TaskKind, TaskRecord } from '../../preload/contract.js';
import { TASK_LIMITS, type Task, type TaskLog } from './taskLog.js';

/**
 * New requests listed per batch at most: at thousands of tasks a second only the newest of each
 * batch (one per 50 ms) enter the history, which keeps TASK_LIMITS.history anyway.
 */
export const LISTED_PER_BATCH = 50;

const KINDS: Record<string, TaskKind> = {
  execute_request: 'execute',
  apply_request: 'apply',
  push_request: 'push',
  pull_request: 'pull',
  keys_request: 'keys',
  clear_request: 'clear',
};

function kindOf(msgType: string): TaskKind {
  return KINDS[msgType] ?? 'execute';
}

type Outcome = Pick<DbRecord, 'status' | 'ename' | 'evalue' | 'traceback'>;

function failureOf(r: Partial<Outcome>): { ename: string; evalue: string; traceback: string[] } {
  return { ename: r.ename ?? (r.status === 'aborted' ? 'AbortError' : 'Error'), evalue: r.evalue ?? '', traceback: r.traceback ?? [] };
}

export class ClusterTasks {
  private rc: Client | null = null;
  private sub: Disposable | null = null;
  /** Tasks still running, by msg_id, for the events that settle them. */
  private readonly open = new Map<string, Task>();

  constructor(
    private readonly log: TaskLog,
    private readonly report: (msg: string) => void = () => {},
  ) {}

  /** Follows `rc`'s cluster from now on (null: none). */
  follow(rc: Client | null): void {
    this.sub?.dispose();
    this.sub = null;
    this.open.clear();
    this.rc = rc;
    if (rc === null) return;
    this.sub = rc.onTaskEvents((b) => this.apply(rc.clientNumber, b));
    this.seed(rc).catch((e: unknown) => this.report(`task history: cannot read the controller's task records: ${(e as Error).message}`));
  }

  /** One batch of events; `own`: the app's client number, whose requests are listed already. */
  apply(own: number, batch: TaskEventBatch): void {
    const fresh = batch.events.filter((e) => e.event === 'submitted' && e.client !== own);
    for (const e of fresh.slice(-LISTED_PER_BATCH)) this.begin(e);
    for (const e of batch.events) {
      if (e.event === 'submitted') continue;
      const t = this.open.get(e.msg_id);
      if (t === undefined) continue;
      if (e.engine_id === null) t.failAll(failureOf(e as Partial<Outcome>));
      else if (e.event === 'started') this.started(t, t.engineIndex(e.engine_id), e.balanced);
      else this.settle(t, t.engineIndex(e.engine_id), e as Partial<Outcome>, { ms: e.duration_ms });
      this.close(t, e.msg_id, e.balanced);
    }
    this.bound();
  }

  private begin(e: Pick<TaskEvent, 'msg_id' | 'client' | 'label' | 'msg_type' | 'code'>): Task {
    const t = this.log.begin(kindOf(e.msg_type), e.code ?? e.label ?? e.msg_type, [], { msgId: e.msg_id, client: e.client, label: e.label });
    this.open.set(e.msg_id, t);
    return t;
  }

  /** An engine began the task; for a load-balanced one that is a new attempt, which replaces the failed ones. */
  private started(t: Task, i: number, balanced: boolean): void {
    if (balanced) t.attempt(i);
    t.running(i);
  }

  /**
   * A settled task is no longer followed, except a failed load-balanced one: the scheduler may
   * retry it on another engine, and its new attempt then settles it again (bound() limits these).
   */
  private close(t: Task, msgId: string, balanced: boolean): void {
    if (t.done && !(balanced && t.record.state === 'error')) this.open.delete(msgId);
  }

  private settle(t: Task, i: number, r: Partial<Outcome>, times: { ms?: number | null; started?: string | null; completed?: string | null }): void {
    if (r.status === 'ok') t.settle(i, {}, times);
    else t.fail(i, failureOf(r), times, r.status === 'aborted');
  }

  /** Tasks the history no longer keeps are not followed either. */
  private bound(): void {
    if (this.open.size <= 4 * TASK_LIMITS.history) return;
    for (const id of [...this.open.keys()].slice(0, this.open.size - TASK_LIMITS.history)) this.open.delete(id);
  }

  /** The latest requests of other clients, from the controller's task database. */
  private async seed(rc: Client): Promise<void> {
    const ids = (await rc.hubHistory()).slice(-TASK_LIMITS.history);
    if (ids.length === 0) return;
    const records = (await rc.dbQuery({ msg_id: { $in: ids } })) as DbRecord[];
    if (this.rc !== rc) return;
    // Events may have listed some meanwhile.
    const listed = new Set(this.log.list().map((t) => t.msgId));
    const byId = new Map<string, DbRecord[]>();
    for (const r of records) if (r.client !== rc.clientNumber && !listed.has(r.msg_id)) byId.set(r.msg_id, [...(byId.get(r.msg_id) ?? []), r]);
    for (const [msgId, rs] of byId) {
      const t = this.begin({ ...rs[0], msg_id: msgId });
      for (const r of rs) this.fill(t, r);
      this.close(t, msgId, rs[0].balanced);
    }
  }

  /** A task's engine from its database record: its state, output and error. */
  private fill(t: Task, r: DbRecord): void {
    if (r.engine_id === null) {
      if (r.status !== 'pending') t.failAll(failureOf(r));
      return;
    }
    const i = t.engineIndex(r.engine_id);
    // A retried task's attempts come oldest first: each one replaces those before it.
    if (r.balanced) t.attempt(i);
    t.amend(i, { stdout: r.stdout, stderr: r.stderr });
    if (r.status === 'pending') t.running(i);
    else this.settle(t, i, r, r);
  }

  /**
   * A task for its detail view: another client's finished task gets its records from the
   * database (output and error, which events do not carry).
   */
  async detail(id: number): Promise<TaskRecord> {
    const t = this.log.task(id);
    const rc = this.rc;
    const msgId = t.record.msgId;
    if (msgId === undefined || rc === null || rc.isClosed) return t.snapshot();
    for (const r of (await rc.dbQuery({ msg_id: msgId })) as DbRecord[]) {
      if (r.engine_id === null || r.status === 'pending') continue;
      const i = t.engineIndex(r.engine_id);
      t.amend(i, { stdout: r.stdout, stderr: r.stderr, error: r.status === 'ok' ? null : failureOf(r) });
    }
    return t.snapshot();
  }
}
