/**
 * The scheduler: load-balanced tasks (work requests with metadata.balanced and no targets).
 * It holds each task until its dependencies have finished and an engine of its pool has room
 * (fewer than `hwm` balanced tasks outstanding), picks the engine by the controller's scheme,
 * and sends the client's own signed request there through the work router. A task is itself
 * the `Pending` record the router matches replies by (`balanced: true`), so the router hands
 * its reply here first: a failed attempt with retries left is swallowed and the task is sent
 * again, to an engine that has not failed it; only the final outcome reaches the client.
 * Direct requests never pass through here.
 */
import { type BalancedSpec, type ContentMap, type Header, type Message, type MsgType, type Scheme, type SchedulerEname } from '../protocol/messages.js';
import { checkBalanced } from '../protocol/balancedSpec.js';
import type { WireError } from '../protocol/validate.js';
import type { ClientRecord } from './clientSession.js';
import type { EngineRecord, Pending } from './engineRecord.js';
import type { EngineRegistry } from './engineRegistry.js';
import type { Replier } from './replies.js';
import type { ResultStore, StoredResult } from './resultStore.js';
import type { AttemptOutcome } from './workRouter.js';
import { LoadRanking } from './loadRanking.js';
import { chooseEngine } from './schemes.js';
import { TaskQueue } from './taskQueue.js';

/** Outcomes of finished tasks kept for later tasks' after/follow (the oldest go first). */
const MAX_OUTCOMES = 100_000;

/** The engine's reply says it could not import what the task requires: another engine may (not a retry). */
const UNMET_ENAME = 'UnmetDependencyError';

export interface SchedulerDeps {
  readonly registry: Pick<EngineRegistry, 'get' | 'values'>;
  readonly replier: Replier;
  readonly results: Pick<ResultStore, 'open' | 'add'>;
  readonly scheme: Scheme;
  /** Balanced tasks outstanding per engine at most; 0: no limit. */
  readonly hwm: number;
  /** The work router's: sends the request to the engine and expects its answers for `pending`. */
  dispatch(e: EngineRecord, msgId: string, parts: readonly Uint8Array[], pending: Pending): void;
  /** For the random schemes (tests pass their own). */
  readonly rand?: () => number;
  /** The task database hears of outcomes the scheduler gives itself (failures, aborts). */
  readonly recorder?: { closed(msgId: string, parts: readonly Uint8Array[]): void };
}

/** How a finished task ended, for the tasks that name it in after/follow. */
interface Outcome {
  ok: boolean;
  /** The engine it ran on; -1 when it never ran. */
  engine: number;
}

/** A load-balanced task, from the client's request to its final reply. */
export class Task implements Pending {
  readonly balanced = true;
  stored?: StoredResult;
  /** Where it runs now (state 'running'), or last ran; -1 when it never ran. */
  engine = -1;
  state: 'waiting' | 'queued' | 'running' = 'waiting';
  retriesLeft: number;
  /** Engines that failed it or could not import what it requires: it is not sent there again. */
  failedOn: Set<number> | null = null;
  /** Of these, the ones that could not import (their evalues, for UnmetDependency). */
  unmet: string[] | null = null;
  /** Dependencies (after and follow) not finished yet. */
  deps = 0;
  /** Its follow dependencies not finished yet (absent: none). */
  follows?: Set<string>;
  /** The engine its follow dependencies ran on (-1: none yet). */
  followEngine = -1;
  timer: NodeJS.Timeout | null = null;
  /** Its client left before it was sent: the answers go to the result store. */
  orphaned = false;
  readonly pool: ReadonlySet<number> | null;

  constructor(
    readonly client: ClientRecord,
    readonly header: Header,
    readonly replyType: MsgType,
    readonly parts: readonly Uint8Array[],
    readonly spec: BalancedSpec,
  ) {
    this.retriesLeft = spec.retries ?? 0;
    this.pool = spec.pool ? new Set(spec.pool) : null;
  }

  get msgId(): string {
    return this.header.msg_id;
  }

  /** May it run on `e` (alive, in its pool, its follow engine, not failed there)? */
  fits(e: EngineRecord): boolean {
    if (!e.alive) return false;
    if (this.pool !== null && !this.pool.has(e.id)) return false;
    if (this.spec.kernel !== undefined && e.reg.kernel !== this.spec.kernel) return false;
    if (this.followEngine >= 0 && e.id !== this.followEngine) return false;
    return this.failedOn === null || !this.failedOn.has(e.id);
  }
}

export class Scheduler {
  /** Tasks not finished, by msg_id. */
  private readonly tasks = new Map<string, Task>();
  /** Tasks whose dependencies have finished, waiting for an engine, in arrival order. */
  private readonly queue = new TaskQueue<Task>();
  /** Tasks waiting for each unfinished dependency. */
  private readonly dependents = new Map<string, Task[]>();
  private readonly outcomes = new Map<string, Outcome>();
  /**
   * Engines that may have room for a task (alive, fewer than hwm balanced tasks): pump() looks at
   * these, not at every engine, so a reply costs the same at 1,000 engines as at 4 (in a long map
   * all but the engines that just answered are full). Added on joining and on every answer;
   * entries found dead or full are dropped as pump() meets them.
   */
  private readonly roomy = new Set<EngineRecord>();
  /** For leastload: the same engines by load, so a task that may run anywhere is placed in O(log n). */
  private readonly ranking: LoadRanking | null;
  /** Live engines per kernel (null: to count again, after an engine joined or died). */
  private kernels: Map<string, number> | null = null;
  /** Engines that answered since the last pump(), to rank again under their new load. */
  private readonly answeredSince = new Set<EngineRecord>();
  /** Counts balanced assignments, for lru and twobin. */
  private assignments = 0;
  private readonly rand: () => number;

  constructor(private readonly d: SchedulerDeps) {
    this.rand = d.rand ?? Math.random;
    this.ranking = d.scheme === 'leastload' ? new LoadRanking() : null;
  }

  /** Tasks held here, not sent to an engine (status_reply.unassigned). */
  get unassigned(): number {
    let running = 0;
    for (const e of this.d.registry.values()) running += e.balanced;
    return this.tasks.size - running;
  }

  // ------------------------------------------------------------------ tasks in

  /** A work request with metadata.balanced: checked, then queued (or answered with an error naming the field). */
  submit(client: ClientRecord, msg: Message, parts: readonly Uint8Array[], replyType: MsgType): void {
    let spec: BalancedSpec;
    try {
      spec = checkBalanced(msg.header.msg_type, msg.metadata);
    } catch (e) {
      this.d.replier.error(client.conn, msg.header, replyType, (e as WireError).ename ?? 'ValueError', (e as Error).message);
      return;
    }
    const msgId = msg.header.msg_id;
    if (this.tasks.has(msgId) || this.outcomes.has(msgId)) {
      this.d.replier.error(client.conn, msg.header, replyType, 'ProtocolError', `msg_id ${msgId} was already submitted as a load-balanced task`, { engine_id: -1 });
      return;
    }
    const t = new Task(client, msg.header, replyType, parts, spec);
    this.tasks.set(msgId, t);
    if (spec.timeout_ms !== undefined) t.timer = setTimeout(() => this.timedOut(t), spec.timeout_ms);
    const why = this.noEngineOfKernel(t) ?? this.linkDependencies(t);
    if (why !== null) this.fail(t, 'ImpossibleDependency', why);
    else if (t.deps === 0) this.ready(t);
    this.pump();
  }

  /**
   * The task names its kernel (the language of its function) and the pool has live engines, none
   * of that kernel: why it cannot run there. (A pool with no live engine waits for one.)
   */
  private noEngineOfKernel(t: Task): string | null {
    const want = t.spec.kernel;
    if (want === undefined) return null;
    if (t.pool === null) {
      // Counted once per change of engines, not per task (this ran for every task a TypeScript client sends).
      const live = this.liveKernels();
      if (live.size === 0 || live.has(want)) return null;
    }
    const others: string[] = [];
    for (const e of this.d.registry.values()) {
      if (!e.alive || (t.pool !== null && !t.pool.has(e.id))) continue;
      if (e.reg.kernel === want) return null;
      others.push(`${e.id} (${e.reg.kernel})`);
    }
    return others.length === 0 ? null : `the task is ${want} code and no engine of its pool runs ${want}: engines ${others.join(', ')}`;
  }

  /**
   * Counts t's unfinished dependencies; a reason it can never run, or null. Direct requests it
   * names come with their outcomes (spec.direct, from the client that saw them end): they are
   * remembered here, so the direct path itself keeps no record.
   */
  private linkDependencies(t: Task): string | null {
    const { after, follow, direct } = t.spec;
    if (direct) {
      for (const d of direct) {
        if (!this.tasks.has(d.msg_id) && !this.outcomes.has(d.msg_id)) this.remember(d.msg_id, { ok: d.ok, engine: d.engines.length === 1 ? d.engines[0] : -1 });
      }
    }
    if (after) {
      for (const id of after) {
        const why = this.linkOne(t, id, false);
        if (why !== null) return why;
      }
    }
    if (follow) {
      for (const id of follow) {
        const why = this.linkOne(t, id, true);
        if (why !== null) return why;
      }
    }
    return null;
  }

  private linkOne(t: Task, id: string, follow: boolean): string | null {
    const done = this.outcomes.get(id);
    if (done !== undefined) return this.metBy(t, id, done, follow);
    if (!this.tasks.has(id)) return `${follow ? 'follow' : 'after'} names ${id}, which is not a load-balanced task this controller knows (or its outcome was forgotten)`;
    const list = this.dependents.get(id);
    if (list) list.push(t);
    else this.dependents.set(id, [t]);
    t.deps++;
    if (follow) (t.follows ??= new Set()).add(id);
    return null;
  }

  /** Dependency `id` of t finished as `o`: a reason t can never run, or null. */
  private metBy(t: Task, id: string, o: Outcome, follow: boolean): string | null {
    if (!o.ok && t.spec.success_only) return `${follow ? 'follow' : 'after'} dependency ${id} failed (success_only)`;
    if (!follow) return null;
    if (o.engine < 0) return `follow dependency ${id} did not run on exactly one engine`;
    if (t.followEngine >= 0 && t.followEngine !== o.engine) return `follow dependencies ran on different engines (${t.followEngine} and ${o.engine})`;
    t.followEngine = o.engine;
    const e = this.d.registry.get(o.engine);
    if (e === undefined || !e.alive) return `follow dependency ${id} ran on engine ${o.engine}, which died${e?.reason ? `: ${e.reason}` : ''}`;
    if (t.pool !== null && !t.pool.has(o.engine)) return `follow dependency ${id} ran on engine ${o.engine}, which is not in the task's pool`;
    return null;
  }

  private ready(t: Task): void {
    t.state = 'queued';
    this.queue.push(t);
  }

  // ------------------------------------------------------------------ assignment

  /** Sends queued tasks to engines with room, as long as there are both. */
  pump(): void {
    if (this.queue.size === 0) return;
    const hwm = this.d.hwm;
    const hasRoom = (e: EngineRecord) => e.alive && (hwm === 0 || e.balanced < hwm);
    const live = this.liveKernels();
    // The kernel every live engine runs (null when they differ): a task of that kernel may go to any.
    const kernel = live.size === 1 ? live.keys().next().value! : null;
    const ranking = this.ranking;
    if (ranking !== null) {
      for (const e of this.answeredSince) ranking.file(e);
    }
    this.answeredSince.clear();
    // The engines with room, gathered only when a task needs a choice the ranking cannot make.
    let open: EngineRecord[] | null = null;
    this.queue.scan((t) => {
      const anyOpen = t.pool === null && t.followEngine < 0 && t.failedOn === null && (t.spec.kernel === undefined || t.spec.kernel === kernel);
      let e: EngineRecord | undefined;
      if (anyOpen && ranking !== null) {
        e = ranking.best(hasRoom);
        if (e === undefined) return 'stop';
      } else {
        open ??= this.openEngines(hasRoom);
        if (open.length === 0) return 'stop';
        const cands = anyOpen ? open : open.filter((c) => t.fits(c));
        if (cands.length === 0) return 'keep';
        e = cands.length === 1 ? cands[0] : cands[chooseEngine(this.d.scheme, cands, this.rand)];
      }
      this.send(t, e);
      if (hasRoom(e)) ranking?.file(e);
      else if (open !== null) {
        open.splice(open.indexOf(e), 1);
        if (open.length === 0) return 'take-stop';
      }
      return 'take';
    });
  }

  /** The engines that may take a task now; those found dead or full leave `roomy`. */
  private openEngines(hasRoom: (e: EngineRecord) => boolean): EngineRecord[] {
    const open: EngineRecord[] = [];
    for (const e of this.roomy) {
      if (hasRoom(e)) open.push(e);
      else this.roomy.delete(e);
    }
    return open;
  }

  private liveKernels(): Map<string, number> {
    if (this.kernels !== null) return this.kernels;
    const kernels = new Map<string, number>();
    for (const e of this.d.registry.values()) if (e.alive) kernels.set(e.reg.kernel, (kernels.get(e.reg.kernel) ?? 0) + 1);
    return (this.kernels = kernels);
  }

  private send(t: Task, e: EngineRecord): void {
    if (t.timer !== null) {
      clearTimeout(t.timer);
      t.timer = null;
    }
    const prev = t.engine;
    t.state = 'running';
    t.engine = e.id;
    e.balanced++;
    e.lastBalanced = ++this.assignments;
    if (t.orphaned) {
      // Its answers go to the result store, under the engine that runs it now.
      if (t.stored === undefined || t.stored.evicted) t.stored = this.d.results.open(t.msgId, t.header, e.id);
      else {
        this.d.results.open(t.msgId, t.header, e.id);
        t.stored.pending.delete(prev);
      }
    }
    this.d.dispatch(e, t.msgId, t.parts, t);
  }

  // ------------------------------------------------------------------ engines, clients, aborts

  /** A new engine: it takes waiting tasks at once. */
  engineJoined(e: EngineRecord): void {
    this.kernels = null;
    this.roomy.add(e);
    this.ranking?.file(e);
    this.pump();
  }

  /**
   * An engine died (the router has handed its outstanding tasks to lost()): tasks that must
   * follow it can never run; the rest go on elsewhere.
   */
  engineGone(e: EngineRecord, reason: string): void {
    this.kernels = null;
    const doomed: Task[] = [];
    for (const t of this.tasks.values()) if (t.state !== 'running' && t.followEngine === e.id) doomed.push(t);
    for (const t of doomed) if (this.tasks.has(t.msgId)) this.fail(t, 'ImpossibleDependency', `the engine it must follow, engine ${e.id}, died: ${reason}`, -1);
    this.pump();
  }

  /** Its client left: the answers of its tasks not sent yet go to the result store (running ones: the router moved them). */
  clientGone(client: ClientRecord): number {
    let kept = 0;
    for (const t of this.tasks.values()) {
      if (t.client !== client || t.state === 'running') continue;
      t.orphaned = true;
      kept++;
    }
    return kept;
  }

  /**
   * abort_request naming msg_ids: balanced tasks not sent yet are dropped and answered
   * 'aborted' here; for those on an engine, the abort (`parts`, when given) goes to that engine,
   * which answers. Returns the engines it went to.
   */
  abort(msgIds: readonly string[], parts: readonly Uint8Array[] | null): Set<number> {
    const engines = new Set<number>();
    for (const id of msgIds) {
      const t = this.tasks.get(id);
      if (t === undefined) continue;
      if (t.state === 'running') {
        if (parts !== null && !engines.has(t.engine)) {
          engines.add(t.engine);
          const e = this.d.registry.get(t.engine);
          if (e?.alive) e.main.sendParts(parts);
        }
        continue;
      }
      this.deliver(t, this.d.replier.encode(t.replyType, { status: 'aborted' } as ContentMap[MsgType], t.header, { engine_id: -1 }), -1);
      if (t.state === 'queued') this.queue.remove(t);
      this.finished(t, false, -1);
    }
    return engines;
  }

  /** The engines running (or holding) the named tasks that were sent, for interrupt_request by msg_id. */
  runningOn(msgIds: readonly string[]): Set<number> {
    const engines = new Set<number>();
    for (const id of msgIds) {
      const t = this.tasks.get(id);
      if (t?.state === 'running') engines.add(t.engine);
    }
    return engines;
  }

  // ------------------------------------------------------------------ answers and failures

  /**
   * The reply of a balanced task's attempt on `e` came (the router asks before forwarding it):
   * true when it is the final outcome and goes on to the client; false when the task is sent
   * again instead. Call pump() once the router is done with the reply.
   */
  settle(e: EngineRecord, p: Pending, reply: AttemptOutcome): boolean {
    const t = p as Task;
    e.balanced--;
    this.roomy.add(e);
    // Ranked at the next pump(): the router removes the answered request (e.load) after this.
    if (this.ranking !== null) this.answeredSince.add(e);
    if (reply.status !== 'error') {
      this.finished(t, reply.status === 'ok', e.id);
      return true;
    }
    const unmet = reply.ename === UNMET_ENAME;
    if (unmet) (t.unmet ??= []).push(`engine ${e.id}: ${reply.evalue ?? ''}`);
    if (this.retry(t, e, unmet ? 'unmet' : 'failed')) return false;
    if (unmet) {
      // It could import nowhere: the client gets UnmetDependency, naming each engine's reason.
      this.fail(t, 'UnmetDependency', `no engine of the pool could import what the task requires: ${t.unmet!.join('; ')}`, e.id);
      return false;
    }
    this.finished(t, false, e.id);
    return true;
  }

  /** Its engine died with t outstanding: sent again if it has retries left, else answered with EngineError. */
  lost(e: EngineRecord, p: Pending, evalue: string): void {
    const t = p as Task;
    e.balanced--;
    if (!this.retry(t, e, 'failed')) this.fail(t, 'EngineError', evalue, e.id);
  }

  /**
   * After a failed attempt on `e`: back to the front of the queue when some live engine of its
   * pool has not failed it (and, for a failure that is not an unmet import, retries are left).
   */
  private retry(t: Task, e: EngineRecord, how: 'failed' | 'unmet'): boolean {
    if (how === 'failed' && t.retriesLeft === 0) return false;
    (t.failedOn ??= new Set()).add(e.id);
    let somewhere = false;
    for (const other of this.d.registry.values()) {
      if (t.fits(other)) {
        somewhere = true;
        break;
      }
    }
    if (!somewhere) return false;
    if (how === 'failed') t.retriesLeft--;
    t.state = 'queued';
    this.queue.unshift(t);
    return true;
  }

  /** The scheduler answers t itself with an error (engine_id: where it last ran, or -1). */
  private fail(t: Task, ename: SchedulerEname, evalue: string, engineId = t.engine): void {
    this.deliver(t, this.d.replier.encodeError(t.replyType, t.header, ename, evalue, { engine_id: engineId }), engineId);
    if (t.state === 'queued') this.queue.remove(t);
    this.finished(t, false, engineId);
  }

  private timedOut(t: Task): void {
    t.timer = null;
    if (t.state === 'running' || !this.tasks.has(t.msgId)) return;
    this.fail(t, 'TaskTimeout', `no engine started the task within timeout_ms ${t.spec.timeout_ms}`);
    this.pump();
  }

  /**
   * t is over (its final reply went out): forget it, keep its outcome for later dependencies,
   * and settle the tasks waiting on it (which may fail in turn: a worklist, not recursion).
   */
  private finished(first: Task, firstOk: boolean, firstEngine: number): void {
    const work: [Task, boolean, number][] = [[first, firstOk, firstEngine]];
    for (let item = work.pop(); item !== undefined; item = work.pop()) {
      const [t, ok, engine] = item;
      if (t.timer !== null) clearTimeout(t.timer);
      t.timer = null;
      this.tasks.delete(t.msgId);
      const o: Outcome = { ok, engine };
      this.remember(t.msgId, o);
      const waiting = this.dependents.get(t.msgId);
      if (waiting === undefined) continue;
      this.dependents.delete(t.msgId);
      for (const w of waiting) {
        if (!this.tasks.has(w.msgId)) continue; // already failed for another dependency
        const why = this.metBy(w, t.msgId, o, w.follows?.has(t.msgId) === true);
        if (why !== null) {
          this.deliver(w, this.d.replier.encodeError(w.replyType, w.header, 'ImpossibleDependency', why, { engine_id: -1 }), -1);
          if (w.state === 'queued') this.queue.remove(w);
          work.push([w, false, -1]);
        } else if (--w.deps === 0) this.ready(w);
      }
    }
  }

  /** The scheduler's own final reply for t: to its client, or to the result store once the client left. */
  private deliver(t: Task, parts: readonly Uint8Array[], engineId: number): void {
    this.d.recorder?.closed(t.msgId, parts);
    if (t.orphaned || t.stored !== undefined) {
      if (t.stored === undefined || t.stored.evicted) t.stored = this.d.results.open(t.msgId, t.header, engineId);
      this.d.results.add(t.stored, parts, engineId, true);
    } else t.client.conn.sendParts(parts);
  }

  private remember(msgId: string, o: Outcome): void {
    this.outcomes.set(msgId, o);
    if (this.outcomes.size > MAX_OUTCOMES) this.outcomes.delete(this.outcomes.keys().next().value!);
  }
}

