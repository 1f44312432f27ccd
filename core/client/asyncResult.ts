/**
 * AsyncResult: the future of one view call. It has one slot per engine (in target order),
 * fills them as replies arrive, collects each engine's output while it runs, and settles
 * once every slot is done. One call may span several wire requests (scatter and map send
 * one message per engine); the client routes each reply to its slot.
 */
import { AbortError, CompositeError, RemoteError, TimeoutError } from './errors.js';
import { engineDict, isoTime, serialTimeMs, wallTimeMs, type TimedSlot } from './resultTimes.js';

import { Emitter, type Disposable } from '../events/emitter.js';
export type { Disposable };

export type StreamName = 'stdout' | 'stderr';

export interface OutputEvent {
  engineId: number;
  /** Position of the engine in the result (target order). */
  index: number;
  name: StreamName;
  text: string;
}

/**
 * One engine's own outcome. Unlike awaiting the result, which rejects as a whole when any engine
 * fails, this keeps the values of the engines that succeeded. For map, scatter and gather the
 * value is that engine's block.
 */
export type EngineOutcome =
  | { engineId: number; status: 'pending' }
  | { engineId: number; status: 'ok'; value: unknown }
  | { engineId: number; status: 'error' | 'aborted'; error: RemoteError };

export interface SlotMetadata {
  engineId: number;
  msgId: string;
  status: 'pending' | 'ok' | 'error' | 'aborted';
  /** ISO times, each when known: see AsyncResult.submitted and the getters after it. */
  submitted?: string;
  received?: string;
  started?: string;
  completed?: string;
  resultReceived?: string;
}

/** The times a reply's metadata carries (ISO strings, as the engine or controller wrote them). */
export interface ReplyTimes {
  started?: string;
  completed?: string;
  received?: string;
}

/** One engine's (or one load-balanced task's) part of a result. */
export interface Slot extends TimedSlot {
  engineId: number;
  msgId: string;
  done: boolean;
  value: unknown;
  error: RemoteError | undefined;
  stdout: string;
  stderr: string;
}

export interface ResultSpec<T> {
  /** One entry per slot, in target order. */
  engineIds: readonly number[];
  /** The wire method, used in CompositeError messages (execute, apply, push, ...). */
  method: string;
  /** targets was a single number: resolve to that engine's bare value, reject with its own error. */
  bare: boolean;
  /** Turns the per-slot values (target order) into the result. */
  finalize(values: unknown[]): T;
  /** Aborts the queued requests behind this result (wired by the client). */
  abort?: (msgIds: string[], engineIds: number[]) => Promise<void>;
  /** Interrupts the running requests behind this result (wired by the client). */
  interrupt?: (msgIds: string[], engineIds: number[]) => Promise<void>;
  /** Load-balanced tasks (the controller's scheduler picks their engines). */
  balanced?: boolean;
  /** A load-balanced call's `label` flag. */
  label?: string;
}

/** What an AsyncResult reads of its tracker (T only in output positions, so AsyncResult is covariant). */
interface TrackerView<T> {
  readonly slots: readonly Readonly<Slot>[];
  readonly promise: Promise<T>;
  readonly done: boolean;
  readonly progress: number;
  readonly startedAt: number;
  readonly completedAt: number | undefined;
  readonly outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  readonly spec: Pick<ResultSpec<unknown>, 'abort' | 'interrupt' | 'balanced' | 'label' | 'bare'>;
  whenDone(cb: () => void): () => void;
  onDidReceiveOutput(cb: (ev: OutputEvent) => void): Disposable;
}

/**
 * The writable side of an AsyncResult; only the client uses it. Every method is O(1)
 * except the final settle, which runs once.
 */
export class ResultTracker<T> implements TrackerView<T> {
  readonly slots: Slot[];
  readonly promise: Promise<T>;
  private resolvePromise!: (v: T) => void;
  private rejectPromise!: (e: unknown) => void;
  private remaining: number;
  // Made on the first subscription: most results have no output listener, and this is per request.
  private outputs: Emitter<OutputEvent> | undefined;
  private doneCallbacks: (() => void)[] = [];
  /** Callbacks for single slots (slotsDone), made on first use: most results are never asked for by msg_id. */
  private slotWaits: Map<number, (() => void)[]> | undefined;
  readonly startedAt = performance.now();
  completedAt: number | undefined;
  outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;

  constructor(readonly spec: ResultSpec<T>) {
    if (spec.bare && spec.engineIds.length !== 1) throw new Error('a bare result has exactly one engine');
    // Every field is set here, times too, so that all slots keep one shape.
    this.slots = spec.engineIds.map((engineId) => ({
      engineId,
      msgId: '',
      done: false,
      value: undefined,
      error: undefined,
      stdout: '',
      stderr: '',
      submitted: undefined,
      received: undefined,
      started: undefined,
      completed: undefined,
      resultReceivedAt: 0,
    }));
    this.remaining = this.slots.length;
    this.promise = new Promise<T>((res, rej) => {
      this.resolvePromise = res;
      this.rejectPromise = rej;
    });
    // Nobody has to await a result: a failure that is never looked at must not crash the process.
    this.promise.catch(() => {});
    if (this.remaining === 0) this.finish();
  }

  /** `submitted`: the request header's date (the string the message already has). */
  assign(index: number, msgId: string, submitted?: string): void {
    const slot = this.slots[index];
    slot.msgId = msgId;
    slot.submitted = submitted;
  }

  /** A load-balanced slot learns which engine ran it (-1 until one did) from the reply. */
  ranOn(index: number, engineId: number): void {
    this.slots[index].engineId = engineId;
  }

  output(index: number, name: StreamName, text: string): void {
    const slot = this.slots[index];
    if (name === 'stderr') slot.stderr += text;
    else slot.stdout += text;
    // A listener's bug must not break the routing of replies: the emitter catches it.
    if (this.outputs?.hasListeners) this.outputs.fire({ engineId: slot.engineId, index, name, text });
  }

  /** `meta`: the times of the reply that settles the slot (absent when no reply came). */
  settle(index: number, value: unknown, meta?: ReplyTimes): void {
    const slot = this.slots[index];
    if (slot.done) return;
    slot.done = true;
    slot.value = value;
    if (meta) noteReply(slot, meta);
    if (this.slotWaits !== undefined) this.wakeSlot(index);
    if (--this.remaining === 0) this.finish();
  }

  fail(index: number, error: RemoteError, meta?: ReplyTimes): void {
    const slot = this.slots[index];
    if (slot.done) return;
    slot.done = true;
    slot.error = error;
    if (meta) noteReply(slot, meta);
    if (this.slotWaits !== undefined) this.wakeSlot(index);
    if (--this.remaining === 0) this.finish();
  }

  /** Fails every slot still waiting (connection lost, client closed, send failed). */
  failPending(makeError: (engineId: number) => RemoteError): void {
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i].done) this.fail(i, makeError(this.slots[i].engineId));
  }

  /**
   * Ends the result now with `error` itself (not a CompositeError): a call's timeout, or a
   * message refused before it was sent. Slots still waiting get the error as their own.
   */
  expire(error: Error): void {
    if (this.done) return;
    for (const slot of this.slots) {
      if (slot.done) continue;
      slot.done = true;
      slot.error = new RemoteError(slot.engineId, this.spec.method, error.name, error.message);
    }
    this.remaining = 0;
    this.end({ ok: false, error });
  }

  get done(): boolean {
    return this.remaining === 0;
  }

  get progress(): number {
    return this.slots.length - this.remaining;
  }

  onDidReceiveOutput(cb: (ev: OutputEvent) => void): Disposable {
    if (this.outcome) return { dispose() {} }; // done: no more output comes
    return (this.outputs ??= new Emitter<OutputEvent>()).event(cb);
  }

  /** Runs `cb` once the result is settled (at once when it already is); returns a canceller. */
  whenDone(cb: () => void): () => void {
    if (this.done) {
      cb();
      return () => {};
    }
    this.doneCallbacks.push(cb);
    return () => {
      const i = this.doneCallbacks.indexOf(cb);
      if (i >= 0) this.doneCallbacks.splice(i, 1);
    };
  }

  /** Resolves once these slots (of one request: getResult by msg_id) are done, without waiting for the rest of the result. */
  slotsDone(indices: readonly number[]): Promise<void> {
    return new Promise((resolve) => {
      let left = 0;
      const cb = () => {
        if (--left === 0) resolve();
      };
      for (const i of indices) {
        if (this.slots[i].done) continue;
        left++;
        const waits = (this.slotWaits ??= new Map());
        const list = waits.get(i);
        if (list === undefined) waits.set(i, [cb]);
        else list.push(cb);
      }
      if (left === 0) resolve();
    });
  }

  private wakeSlot(index: number): void {
    const list = this.slotWaits!.get(index);
    if (list === undefined) return;
    this.slotWaits!.delete(index);
    for (const cb of list) cb();
  }

  private finish(): void {
    const errors = this.slots.filter((s) => s.error !== undefined).map((s) => s.error!);
    if (errors.length > 0) {
      this.end({ ok: false, error: this.spec.bare ? errors[0] : new CompositeError(this.spec.method, errors) });
    } else {
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: this.spec.finalize(this.slots.map((s) => s.value)) };
      } catch (e) {
        outcome = { ok: false, error: e };
      }
      this.end(outcome);
    }
  }

  private end(outcome: { ok: true; value: T } | { ok: false; error: unknown }): void {
    this.completedAt = performance.now();
    this.outcome = outcome;
    if (outcome.ok) this.resolvePromise(outcome.value);
    else this.rejectPromise(outcome.error);
    this.outputs?.dispose();
    // Slots that ended together (expire) wake their waiters here.
    if (this.slotWaits !== undefined) for (const i of [...this.slotWaits.keys()]) this.wakeSlot(i);
    const callbacks = this.doneCallbacks;
    this.doneCallbacks = [];
    for (const cb of callbacks) cb();
  }
}

/** Keeps a reply's time strings as they are (parsed only when asked) and when it came: one number. */
function noteReply(slot: Slot, meta: ReplyTimes): void {
  slot.started = meta.started;
  slot.completed = meta.completed;
  slot.received = meta.received;
  slot.resultReceivedAt = Date.now();
}

/**
 * The result of a non-blocking call. It is awaitable (a Promise<T> in every respect), and
 * also answers questions while the work runs: ready(), progress, stdout, ...
 */
export class AsyncResult<T = unknown> implements Promise<T> {
  readonly [Symbol.toStringTag] = 'AsyncResult';

  /** @internal Results are made by views; the tracker is how the client fills them. */
  constructor(private readonly tracker: TrackerView<T>) {}

  then<R1 = T, R2 = never>(onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.tracker.promise.then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.tracker.promise.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.tracker.promise.finally(onfinally);
  }

  /**
   * The value, once every engine is done. With `timeoutMs`, rejects with
   * TimeoutError('Result not ready.') when that time passes first; the work goes on.
   */
  get(timeoutMs?: number): Promise<T> {
    if (timeoutMs === undefined || this.tracker.done) return this.tracker.promise;
    checkTimeout(timeoutMs);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError('Result not ready.')), timeoutMs);
      this.tracker.promise.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /** Waits until every engine is done (succeeded or failed); false when `timeoutMs` passes first. */
  wait(timeoutMs?: number): Promise<boolean> {
    if (this.tracker.done) return Promise.resolve(true);
    if (timeoutMs !== undefined) checkTimeout(timeoutMs);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const cancel = this.tracker.whenDone(() => {
        clearTimeout(timer);
        resolve(true);
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cancel();
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /** True once every engine is done. */
  ready(): boolean {
    return this.tracker.done;
  }

  /** True when ready and no engine failed; false while not ready. */
  successful(): boolean {
    return this.tracker.outcome?.ok === true;
  }

  /** The error the result rejected with, once ready and failed. */
  get error(): unknown {
    const o = this.tracker.outcome;
    return o && !o.ok ? o.error : undefined;
  }

  /** True for a LoadBalancedView's results (tasks), false for requests sent to named engines. */
  get loadBalanced(): boolean {
    return this.tracker.spec.balanced === true;
  }

  /** The engines this result waits on, in target order (one per slot). */
  get engineIds(): number[] {
    return this.tracker.slots.map((s) => s.engineId);
  }

  /** The msg_id of the request each engine answers, one per engine. */
  get msgIds(): string[] {
    return this.tracker.slots.map((s) => s.msgId);
  }

  /** Each engine's stdout so far; grows while the work runs. */
  get stdout(): string[] {
    return this.tracker.slots.map((s) => s.stdout);
  }

  get stderr(): string[] {
    return this.tracker.slots.map((s) => s.stderr);
  }

  /** Milliseconds from the call until the last engine answered (or until now). */
  get elapsedMs(): number {
    return (this.tracker.completedAt ?? performance.now()) - this.tracker.startedAt;
  }

  /** How many engines are done. */
  get progress(): number {
    return this.tracker.progress;
  }

  /** Per-engine status and times (those known). */
  get metadata(): SlotMetadata[] {
    return this.tracker.slots.map((s) => {
      const resultReceived = isoTime(s.resultReceivedAt);
      return {
        engineId: s.engineId,
        msgId: s.msgId,
        status: !s.done ? 'pending' : s.error instanceof AbortError ? 'aborted' : s.error ? 'error' : 'ok',
        ...(s.submitted ? { submitted: s.submitted } : {}),
        ...(s.received ? { received: s.received } : {}),
        ...(s.started ? { started: s.started } : {}),
        ...(s.completed ? { completed: s.completed } : {}),
        ...(resultReceived ? { resultReceived } : {}),
      };
    });
  }

  // ---- times, per engine in target order (like engineIds), as ISO strings; undefined where not known (yet)

  /** When this client sent each request (its header's date). */
  get submitted(): (string | undefined)[] {
    return this.tracker.slots.map((s) => s.submitted);
  }

  /** When the engine or controller received each request, where the reply says so (metadata.received). */
  get received(): (string | undefined)[] {
    return this.tracker.slots.map((s) => s.received);
  }

  /** When each engine began the request (its reply's metadata.started). */
  get started(): (string | undefined)[] {
    return this.tracker.slots.map((s) => s.started);
  }

  /** When each engine finished the request (its reply's metadata.completed). */
  get completed(): (string | undefined)[] {
    return this.tracker.slots.map((s) => s.completed);
  }

  /** When this client got each reply. */
  get resultReceived(): (string | undefined)[] {
    return this.tracker.slots.map((s) => isoTime(s.resultReceivedAt));
  }

  /** Milliseconds from the first request sent to the last engine's completion; undefined until ready. */
  get wallTimeMs(): number | undefined {
    return this.tracker.done ? wallTimeMs(this.tracker.slots) : undefined;
  }

  /** The engines' own times (completed - started) added up; undefined until ready. */
  get serialTimeMs(): number | undefined {
    return this.tracker.done ? serialTimeMs(this.tracker.slots) : undefined;
  }

  /** A load-balanced call's `label` flag; undefined for other results. */
  get label(): string | undefined {
    return this.tracker.spec.label;
  }

  /**
   * Waits for the result (as get(timeoutMs) does, rejecting as it would) and gives each engine's
   * value by engine id: { 0: v0, 1: v1 }. As ipyparallel's get_dict, it rejects with a ValueError
   * naming the engine when one engine ran several of the result's requests (a load-balanced map
   * of more tasks than engines, or the same engine named twice).
   */
  async getDict(timeoutMs?: number): Promise<Record<number, unknown>> {
    await this.get(timeoutMs);
    return engineDict(this.tracker.slots);
  }

  /** Each engine's outcome in target order: its value or its error, or pending while it runs. */
  get outcomes(): EngineOutcome[] {
    return this.tracker.slots.map((s): EngineOutcome => {
      if (!s.done) return { engineId: s.engineId, status: 'pending' };
      if (s.error) return { engineId: s.engineId, status: s.error instanceof AbortError ? 'aborted' : 'error', error: s.error };
      return { engineId: s.engineId, status: 'ok', value: s.value };
    });
  }

  /** Calls `cb` for each piece of output as it arrives, until the result is done or the disposable is disposed. */
  onDidReceiveOutput(cb: (ev: OutputEvent) => void): Disposable {
    return this.tracker.onDidReceiveOutput(cb);
  }

  /** Drops the requests of this result that have not started yet; they reject with AbortError. */
  async abort(): Promise<void> {
    if (this.tracker.done || !this.tracker.spec.abort) return;
    const pending = this.tracker.slots.filter((s) => !s.done);
    await this.tracker.spec.abort([...new Set(pending.map((s) => s.msgId))], [...new Set(pending.map((s) => s.engineId))]);
  }

  /**
   * Stops the requests of this result that are running (KeyboardInterrupt / an interrupted
   * task on their engines, which stay up) and drops the ones queued there; they reject.
   */
  async interrupt(): Promise<void> {
    if (this.tracker.done || !this.tracker.spec.interrupt) return;
    const pending = this.tracker.slots.filter((s) => !s.done && s.msgId !== '');
    if (pending.length === 0) return;
    await this.tracker.spec.interrupt([...new Set(pending.map((s) => s.msgId))], [...new Set(pending.map((s) => s.engineId))]);
  }
}

function checkTimeout(ms: number): void {
  if (typeof ms !== 'number' || !(ms >= 0)) throw new TypeError(`timeoutMs must be a number of milliseconds ≥ 0, got ${String(ms)}`);
}

/** Waits for every result; false when `timeoutMs` passes first. */
export async function waitAll(results: Iterable<PromiseLike<unknown>>, timeoutMs?: number): Promise<boolean> {
  const list = [...results];
  if (timeoutMs !== undefined) checkTimeout(timeoutMs);
  const settled = Promise.all(list.map((r) => (r instanceof AsyncResult ? r.wait() : Promise.resolve(r).then(() => true, () => true)))).then(() => true);
  if (timeoutMs === undefined) return settled;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
