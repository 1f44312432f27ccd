/**
 * LoadBalancedView: IPython's task interface. Each task goes to the controller's scheduler
 * without targets (metadata.balanced, docs/protocol.md section 14), which hands
 * it to whichever engine of the pool is free; the reply names the engine that ran it. The
 * flags (retries, timeoutMs, after, follow, successOnly, label) are the view's defaults and
 * `withFlags()` overrides them for some calls; map takes its options as a last argument.
 */
import { inspect } from 'node:util';
import { newMsgId, type BalancedSpec, type Json } from '../protocol/messages.js';
import { MAX_BALANCED_RETRIES } from '../protocol/balancedSpec.js';
import { encodeValue, type Encoder } from '../serialize/serialize.js';
import { languageOrDefault } from '../kernels/index.js';
import { AsyncResult, type ResultTracker } from './asyncResult.js';
import { AbortError } from './errors.js';
import { ImapIterator } from './imap.js';
import { FinishOrder, MapResult } from './mapResult.js';
import { flattenOnce, isSequence, sequenceLength, sliceSequence, type Sequence } from './partition.js';
import { applyDecoder, type ExecuteResult, executeDecoder } from './replyDecoders.js';
import { describeFunction, functionValue } from './remoteFunction.js';
import { holdUntil, isHeld, msgIdsOf, taskDependencies, type Dependency, type TaskDependencies } from './taskDependencies.js';
import { show } from './validate.js';
import type { BalancedSubmission, ReplyDecoder, ResultSink, ViewHost } from './viewHost.js';
import type { Mappable, ParallelFunction } from './viewTypes.js';

export type { Dependency } from './taskDependencies.js';

export interface BalancedFlags {
  /** true: calls return a Promise of the values; false: an AsyncResult. */
  block?: boolean;
  /** Resubmit a task that failed or whose engine died (to an engine that has not failed it), up to this many times. */
  retries?: number;
  /** A task not started within this many ms fails with TaskTimeout. */
  timeoutMs?: number;
  /** Run only after these finished. */
  after?: Dependency;
  /** Run on the engine where these ran. */
  follow?: Dependency;
  /** With after/follow: a failed dependency makes the task fail with ImpossibleDependency. */
  successOnly?: boolean;
  /** A name for the task, kept with it on the controller. */
  label?: string;
  /** Keep its result in the controller's task database too, for rc.getResult from any client (also after a restart with --db sqlite). */
  store?: boolean;
}

export interface MapOptions extends BalancedFlags {
  /** Items per task (default 1). */
  chunksize?: number;
  /** Iterate results in input order (default) or as tasks finish. */
  ordered?: boolean;
}

/** lview.parallel's options: a call maps fn over chunks of its sequence arguments. */
export interface ParallelOptions extends BalancedFlags {
  /** Items per task: fn gets a block of this many (default 1) and returns a list of results for it. */
  chunksize?: number;
  /** Iterate results in input order (default) or as tasks finish. */
  ordered?: boolean;
}

export interface ImapOptions extends BalancedFlags {
  /** Yield in input order (default) or as tasks finish. */
  ordered?: boolean;
  /** Tasks in flight at most (default: the number of live engines in the pool). */
  maxOutstanding?: number;
}

type Fn = ((...args: never[]) => unknown) | string;

const FLAG_KEYS = ['block', 'retries', 'timeoutMs', 'after', 'follow', 'successOnly', 'label', 'store'] as const;
const MAP_KEYS = new Set<string>([...FLAG_KEYS, 'chunksize', 'ordered']);
const IMAP_KEYS = new Set<string>([...FLAG_KEYS, 'ordered', 'maxOutstanding']);
/** The flags of a call with its own options (their keys were checked where they came in). */
const CALL_KEYS = new Set<string>([...MAP_KEYS, ...IMAP_KEYS]);

export class LoadBalancedView {
  block = false;
  retries = 0;
  timeoutMs: number | undefined = undefined;
  after: Dependency | undefined = undefined;
  follow: Dependency | undefined = undefined;
  successOnly = false;
  label: string | undefined = undefined;
  store = false;
  private readonly pool: number[] | undefined;

  /**
   * Made by client.loadBalancedView(). `pool`: the engines tasks may run on (default: all).
   * `outstanding`: this view's unfinished results, shared with its withFlags() copies (for abort() and interrupt()).
   */
  constructor(
    private readonly host: ViewHost,
    pool?: readonly number[],
    private readonly outstanding = new Set<AsyncResult<unknown>>(),
  ) {
    this.pool = checkPool(pool);
  }

  [inspect.custom](_depth: number, opts: { stylize(text: string, style: string): string }): string {
    return `${opts.stylize('LoadBalancedView', 'special')} { pool: ${this.pool === undefined ? "'all'" : inspect(this.pool)}, block: ${this.block}, retries: ${this.retries} }`;
  }

  /** The engines tasks may run on; undefined for every engine. */
  get targets(): number[] | undefined {
    return this.pool && [...this.pool];
  }

  /** A copy of this view with some flags changed: `lview.withFlags({ retries: 2 }).applyAsync(f)`. */
  withFlags(flags: BalancedFlags): LoadBalancedView {
    const f = checkFlags('withFlags', flags, new Set(FLAG_KEYS));
    const v = new LoadBalancedView(this.host, this.pool, this.outstanding);
    Object.assign(v, this.flags(), f);
    return v;
  }

  // ---- apply and execute

  /** fn(...args) as one task on whichever engine the scheduler picks; the bare value. */
  apply<A extends unknown[], R>(fn: Fn, ...args: A): Promise<Awaited<R>> | AsyncResult<Awaited<R>> {
    return this.applyWith('apply', this.block, fn, args) as Promise<Awaited<R>> | AsyncResult<Awaited<R>>;
  }

  applySync<A extends unknown[], R>(fn: ((...args: A) => R) | string, ...args: A): Promise<Awaited<R>> {
    return this.applyWith('applySync', true, fn, args) as Promise<Awaited<R>>;
  }

  applyAsync<A extends unknown[], R>(fn: ((...args: A) => R) | string, ...args: A): AsyncResult<Awaited<R>> {
    return this.applyWith('applyAsync', false, fn, args) as AsyncResult<Awaited<R>>;
  }

  /** Runs code as one task on whichever engine the scheduler picks. */
  execute(code: string, opts?: { block?: boolean; silent?: boolean }): Promise<ExecuteResult> | AsyncResult<ExecuteResult> {
    if (typeof code !== 'string') throw new TypeError(`execute: code must be a string, got ${show(code)}`);
    const [balanced, deps] = this.wire('execute', this.flags());
    const content = opts?.silent ? { code, silent: true } : { code };
    const ar = this.tasks<ExecuteResult>('execute', 1, (v) => v[0] as ExecuteResult, (sink, tracker) => [
      { msgType: 'execute_request', method: 'execute', content, balanced, sink, slot: 0, decode: executeDecoder(tracker) },
    ], deps, balanced.label);
    return (opts?.block ?? this.block) ? ar.get() : ar;
  }

  private applyWith(method: string, block: boolean, fn: unknown, args: readonly unknown[]): Promise<unknown> | AsyncResult<unknown> {
    const info = describeFunction(method, fn);
    const [balanced, deps] = this.wire(method, this.flags(), info.kernel);
    const enc: Encoder = { buffers: [] };
    const encoded = args.map((a, i) => encodeValue(a, enc, `${method}.args[${i}]`));
    const content = info.require.length ? { fn: info.src, args: encoded, require: info.require } : { fn: info.src, args: encoded };
    const ar = this.tasks(method, 1, (v) => v[0], (sink) => [{ msgType: 'apply_request', method: 'apply', content, buffers: enc.buffers, balanced, sink, slot: 0, decode: applyDecoder }], deps, balanced.label);
    return block ? ar.get() : ar;
  }

  /** `remote(flags)(fn)`: a function that runs fn as one task (with the view's flags, and these) when called. */
  remote(flags?: BalancedFlags): <A extends unknown[], R>(fn: ((...args: A) => R) | string) => (...args: A) => Promise<Awaited<R>> | AsyncResult<Awaited<R>> {
    const v = flags === undefined ? this : this.withFlags(flags);
    return <A extends unknown[], R>(fn: ((...args: A) => R) | string) => {
      const info = describeFunction('remote', fn);
      const call = (...args: A) => v.applyWith('remote', v.block, fn, args) as Promise<Awaited<R>> | AsyncResult<Awaited<R>>;
      return Object.defineProperty(call, 'name', { value: info.name, configurable: true });
    };
  }

  /**
   * `parallel(opts)(fn)`: a function that, called with sequences (other arguments go whole to
   * every task), runs fn on blocks of `chunksize` items, each block one load-balanced task, and
   * concatenates the lists fn returns in input order. `.map(...seqs)` is element-wise, as map.
   */
  parallel(opts?: ParallelOptions): <A extends unknown[], R>(fn: ((...args: A) => R) | string) => ParallelFunction<A, Promise<unknown[]> | MapResult<unknown>, Promise<unknown[]> | MapResult<unknown>> {
    const o = checkFlags('parallel', opts ?? {}, MAP_KEYS) as ParallelOptions;
    return <A extends unknown[], R>(fn: ((...args: A) => R) | string) => {
      const info = describeFunction('parallel', fn);
      const pf = ((...args: A) => this.mapWith('parallel', undefined, fn, [...args, o], 'blocks')) as ParallelFunction<A, Promise<unknown[]> | MapResult<unknown>, Promise<unknown[]> | MapResult<unknown>>;
      pf.map = (...seqs: Mappable[]) => this.mapWith('parallel.map', undefined, fn, [...seqs, o], 'items');
      return Object.defineProperty(pf, 'name', { value: info.name, configurable: true });
    };
  }

  // ---- map

  /**
   * fn over the sequences element-wise, one task per `chunksize` items, each on whichever
   * engine is free. Options may come last: `map(fn, xs, { chunksize: 4, ordered: false })`.
   * The result awaits to the values in input order; iterating it (`for await`) yields them in
   * input order or, with `ordered: false`, as tasks finish.
   */
  map<R>(fn: ((...args: never[]) => R) | string, ...seqs: (Mappable | MapOptions)[]): Promise<Awaited<R>[]> | MapResult<Awaited<R>> {
    return this.mapWith('map', undefined, fn, seqs) as Promise<Awaited<R>[]> | MapResult<Awaited<R>>;
  }

  mapSync<R>(fn: ((...args: never[]) => R) | string, ...seqs: (Mappable | MapOptions)[]): Promise<Awaited<R>[]> {
    return this.mapWith('mapSync', true, fn, seqs) as Promise<Awaited<R>[]>;
  }

  mapAsync<R>(fn: ((...args: never[]) => R) | string, ...seqs: (Mappable | MapOptions)[]): MapResult<Awaited<R>> {
    return this.mapWith('mapAsync', false, fn, seqs) as MapResult<Awaited<R>>;
  }

  /** `how`: 'items' applies fn to each item (map); 'blocks' to each chunk, other arguments whole (parallel). */
  private mapWith(method: string, block: boolean | undefined, fn: unknown, args: readonly unknown[], how: 'items' | 'blocks' = 'items'): Promise<unknown[]> | MapResult<unknown> {
    const info = describeFunction(method, fn);
    const { seqs, opts, whole } = splitOptions(method, args, MAP_KEYS, how === 'blocks');
    const o = opts as MapOptions;
    const chunksize = o.chunksize ?? 1;
    if (!Number.isInteger(chunksize) || chunksize < 1) throw new TypeError(`${method}: chunksize must be a whole number ≥ 1, got ${show(chunksize)}`);
    if (o.ordered !== undefined && typeof o.ordered !== 'boolean') throw new TypeError(`${method}: ordered must be true or false, got ${show(o.ordered)}`);
    const flags = { ...this.flags(), ...opts };
    const [balanced, deps] = this.wire(method, flags, info.kernel);
    const n = sequenceLength(seqs[0]);
    // One object shared by the map's tasks: watchers count its items (task events, protocol section 15).
    balanced.map = { id: globalThis.crypto.randomUUID(), items: n, chunk: chunksize };
    const bounds = Array.from({ length: Math.ceil(n / chunksize) }, (_, t) => [t * chunksize, Math.min(n, (t + 1) * chunksize)] as const);
    const chunks = seqs.map((s) => bounds.map(([a, b]) => sliceSequence(s, a, b)));
    const sizes = bounds.map(([a, b]) => b - a);
    const language = chunksize === 1 || how === 'blocks' ? undefined : info.kernel !== undefined ? languageOrDefault(info.kernel) : this.poolLanguage(method);
    const decode: ReplyDecoder = chunksize === 1 && how === 'items' ? (c, b, e, i) => [applyDecoder(c, b, e, i)] : applyDecoder;
    const { result, tracker } = this.newResult<unknown[]>(sizes.length, 'apply', false, flattenOnce, deps, balanced.label);
    const order = new FinishOrder(tracker as ResultTracker<unknown>);
    const list: BalancedSubmission[] = sizes.map((_, t) => {
      const enc: Encoder = { buffers: [] };
      let content: BalancedSubmission['content'];
      if (how === 'blocks') {
        // fn applied to this block of each sequence, and to the other arguments whole.
        let j = 0;
        const a: Json[] = whole.map((w, i) => (w === SEQUENCE ? encodeValue(chunks[j++][t], enc, `${method}.args[${i}]`) : encodeValue(w, enc, `${method}.args[${i}]`)));
        content = info.require.length ? { fn: info.src, args: a, require: info.require } : { fn: info.src, args: a };
      } else if (language === undefined) {
        // One item: fn applied to it, as apply would.
        const a: Json[] = chunks.map((c, j) => encodeValue(sequenceItem(c[t]), enc, `${method}.seqs[${j}][${t}]`));
        content = info.require.length ? { fn: info.src, args: a, require: info.require } : { fn: info.src, args: a };
      } else {
        const a: Json[] = chunks.map((c, j) => encodeValue(c[t], enc, `${method}.seqs[${j}]`));
        if (language.mapPassesFunction) a.unshift(functionValue(info));
        const src = language.mapFunction(info.src);
        content = info.require.length ? { fn: src, args: a, require: info.require } : { fn: src, args: a };
      }
      return { msgType: 'apply_request', method: 'apply', content, buffers: enc.buffers, balanced, sink: order, slot: t, decode };
    });
    void result; // the client tracks it as outstanding; the MapResult reads the same tracker
    const mr = new MapResult<unknown>(tracker as ResultTracker<unknown[]>, order, sizes, o.ordered ?? true);
    this.send(list, deps, mr, tracker as ResultTracker<unknown>);
    return (block ?? flags.block ?? this.block) ? mr.get() : mr;
  }

  /**
   * fn over any iterable (sync or async, even endless), one task per item, with at most
   * `maxOutstanding` tasks in flight. Iterate it with `for await`; `cancel()` stops it.
   */
  imap<R>(fn: ((item: never) => R) | string, iterable: Iterable<unknown> | AsyncIterable<unknown>, opts?: ImapOptions): ImapIterator<Awaited<R>> {
    const info = describeFunction('imap', fn);
    if (iterable === null || typeof iterable !== 'object' || (typeof (iterable as Iterable<unknown>)[Symbol.iterator] !== 'function' && typeof (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function')) {
      throw new TypeError(`imap: expected an iterable or async iterable (an array, a Set, a generator, ...), got ${show(iterable)}`);
    }
    const o = checkFlags('imap', opts ?? {}, IMAP_KEYS) as ImapOptions;
    const max = o.maxOutstanding ?? Math.max(1, this.liveIds('imap').length);
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`imap: maxOutstanding must be a whole number ≥ 1, got ${show(o.maxOutstanding)}`);
    if (o.ordered !== undefined && typeof o.ordered !== 'boolean') throw new TypeError(`imap: ordered must be true or false, got ${show(o.ordered)}`);
    const [balanced, deps] = this.wire('imap', { ...this.flags(), ...o }, info.kernel);
    let k = 0;
    return new ImapIterator<Awaited<R>>(iterable, o.ordered ?? true, max, {
      submit: (item) => {
        const enc: Encoder = { buffers: [] };
        const args = [encodeValue(item, enc, `imap.item[${k++}]`)];
        const content = info.require.length ? { fn: info.src, args, require: info.require } : { fn: info.src, args };
        return this.tasks('imap', 1, (v) => v[0] as Awaited<R>, (sink) => [{ msgType: 'apply_request', method: 'apply', content, buffers: enc.buffers, balanced, sink, slot: 0, decode: applyDecoder }], deps, balanced.label);
      },
      abort: (results) => this.abort(results),
    });
  }

  // ---- control

  /**
   * Drops tasks that have not started (those of `results`, AsyncResults or msg_ids; default:
   * every unfinished task of this view); they reject with AbortError.
   */
  async abort(results?: AsyncResult<unknown> | string | readonly (AsyncResult<unknown> | string)[]): Promise<void> {
    const named = results === undefined ? null : msgIdsOf('abort', results);
    // Tasks held in this client (for direct dependencies) are not at the controller: each result drops its own.
    const held = [...this.outstanding].filter((ar) => isHeld(ar) && (named === null || ar.msgIds.some((id) => named.includes(id))));
    await Promise.all(held.map((ar) => ar.abort()));
    const msgIds = (named ?? this.unfinishedIds()).filter((id) => !held.some((ar) => ar.msgIds.includes(id)));
    if (msgIds.length > 0) await this.aborter(msgIds);
  }

  /**
   * Stops the running tasks (of `results`; default: every unfinished task of this view): their
   * engines are interrupted, and stay up with their namespaces. Tasks on an engine but not yet
   * started there are dropped; those the scheduler still holds are not touched (abort() drops them).
   */
  async interrupt(results?: AsyncResult<unknown> | string | readonly (AsyncResult<unknown> | string)[]): Promise<void> {
    const msgIds = results === undefined ? this.unfinishedIds() : msgIdsOf('interrupt', results);
    if (msgIds.length > 0) await this.interrupter(msgIds);
  }

  /** This view's unfinished results. */
  get outstandingResults(): AsyncResult<unknown>[] {
    return [...this.outstanding];
  }

  /** Waits for results (default: every outstanding result of the client); false on timeout. */
  wait(results?: PromiseLike<unknown> | Iterable<PromiseLike<unknown>> | null, timeoutMs?: number): Promise<boolean> {
    return this.host.wait(results, timeoutMs);
  }

  // ---- internals

  private flags(): BalancedFlags {
    return { block: this.block, retries: this.retries, timeoutMs: this.timeoutMs, after: this.after, follow: this.follow, successOnly: this.successOnly, label: this.label, store: this.store };
  }

  /**
   * metadata.balanced for these flags, checked (errors name the flag as the user wrote it).
   * `kernel`: the language of the task's function, so a mixed pool sends it only to engines of that language.
   */
  private wire(method: string, f: BalancedFlags, kernel?: string): [BalancedSpec, TaskDependencies | null] {
    checkFlags(method, f, CALL_KEYS);
    const b: BalancedSpec = {};
    if (this.pool !== undefined) b.pool = [...this.pool];
    if (f.retries) b.retries = f.retries;
    if (f.timeoutMs !== undefined) b.timeout_ms = Math.ceil(f.timeoutMs);
    const deps = f.after === undefined && f.follow === undefined ? null : taskDependencies(method, f.after, f.follow, (id) => this.host.unfinishedResult(id));
    if (deps?.after) b.after = deps.after;
    if (deps?.follow) b.follow = deps.follow;
    if (f.successOnly) b.success_only = true;
    if (f.label !== undefined) b.label = f.label;
    if (f.store) b.store = true;
    if (kernel !== undefined) b.kernel = kernel;
    return [b, deps];
  }

  /** A result of `n` tasks (slots), their engines unknown (-1) until they answer; `make` gives their submissions. */
  private tasks<R>(method: string, n: number, finalize: (values: unknown[]) => R, make: (sink: ResultSink, tracker: ResultTracker<R>) => BalancedSubmission[], deps: TaskDependencies | null, label: string | undefined): AsyncResult<R> {
    const { result, tracker } = this.newResult<R>(n, method === 'execute' ? 'execute' : 'apply', n === 1, finalize, deps, label);
    this.send(make(tracker, tracker), deps, result as AsyncResult<unknown>, tracker as ResultTracker<unknown>);
    return result;
  }

  /** A result of `n` tasks, with the call's `label`; while held for dependencies (deps.hold) its abort drops them here. */
  private newResult<R>(n: number, method: string, bare: boolean, finalize: (values: unknown[]) => R, deps: TaskDependencies | null, label: string | undefined): { result: AsyncResult<R>; tracker: ResultTracker<R> } {
    const made: { result: AsyncResult<R>; tracker: ResultTracker<R> } = this.host.newResult<R>({
      engineIds: new Array<number>(n).fill(-1),
      method,
      bare,
      finalize,
      balanced: true,
      label,
      // Tasks still held in this client are not at the controller: aborting them is dropping them here.
      abort: deps?.hold ? (ids: string[]): Promise<void> => (this.heldHere.has(made.tracker) ? Promise.resolve(made.tracker.failPending((id: number) => new AbortError(id, method))) : this.aborter(ids)) : this.aborter,
      interrupt: deps?.hold ? (ids: string[]): Promise<void> => (this.heldHere.has(made.tracker) ? Promise.resolve() : this.interrupter(ids)) : this.interrupter,
    });
    return made;
  }

  /** Sends the tasks now, or once the direct requests they depend on have finished (their outcomes go along). */
  private send(list: BalancedSubmission[], deps: TaskDependencies | null, result: AsyncResult<unknown>, tracker: ResultTracker<unknown>): void {
    this.track(result, tracker);
    if (deps === null || list.length === 0) return this.host.submitBalanced(list);
    if (deps.hold !== null) {
      // Held here until their dependencies allow: their msg_ids are chosen now, as ipyparallel's are
      // at submission, so the result can be named (getResult, dbQuery, after) while it waits.
      for (const s of list) {
        s.msgId = newMsgId();
        tracker.assign(s.slot, s.msgId);
      }
      this.heldHere.add(tracker);
    }
    holdUntil(result, deps, list[0].balanced, () => {
      this.heldHere.delete(tracker);
      if (!tracker.done) this.host.submitBalanced(list);
    }).catch((e: unknown) => tracker.expire(e instanceof Error ? e : new Error(String(e))));
  }

  /** Trackers of results whose tasks wait in this client for their dependencies (send), not sent yet. */
  private readonly heldHere = new WeakSet<object>();
  /** ar.abort() of a task: its engine is not known until it answers, so the abort names only the msg_ids. */
  private readonly aborter = (msgIds: string[]): Promise<void> => this.host.abortBalanced(msgIds);
  /** ar.interrupt(): the controller knows where the named tasks run. */
  private readonly interrupter = (msgIds: string[]): Promise<void> => this.host.interruptBalanced(msgIds);

  /** Kept among this view's unfinished results until it is done. */
  private track(ar: AsyncResult<unknown>, tracker: ResultTracker<unknown>): void {
    if (tracker.done) return;
    this.outstanding.add(ar);
    tracker.whenDone(() => this.outstanding.delete(ar));
  }

  private unfinishedIds(): string[] {
    return msgIdsOf('view', [...this.outstanding].filter((ar) => !ar.ready()));
  }

  /** The live engines of the pool (empty when none is up: tasks wait for one). */
  private liveIds(method: string): number[] {
    try {
      return this.host.targetsFor(method, this.pool ?? 'all').ids;
    } catch {
      return [];
    }
  }

  /** The one language of the pool's engines, for a chunked map's element-wise function. */
  private poolLanguage(method: string) {
    const kinds = [...new Set(this.liveIds(method).map((id) => this.host.kernelOf(id) ?? 'node'))];
    if (kinds.length > 1) throw new TypeError(`${method}: chunksize > 1 needs engines of one language, and this pool has ${kinds.join(' and ')} engines; use chunksize 1, or a pool of one language (rc.loadBalancedView([ids]))`);
    return languageOrDefault(kinds[0]);
  }
}

function checkPool(pool: readonly number[] | undefined): number[] | undefined {
  if (pool === undefined || pool === null) return undefined;
  if (!Array.isArray(pool) || pool.length === 0 || pool.some((id) => !Number.isInteger(id) || id < 0)) {
    throw new TypeError(`loadBalancedView: the pool must be a non-empty array of engine ids (whole numbers ≥ 0), got ${show(pool)}`);
  }
  return [...new Set(pool as number[])];
}

/** Checks the flags (only the `allowed` keys) and returns them; errors name the flag. */
function checkFlags(method: string, f: object, allowed: ReadonlySet<string>): Record<string, unknown> {
  if (typeof f !== 'object' || f === null) throw new TypeError(`${method}: options must be an object like { retries, timeoutMs }, got ${show(f)}`);
  const o = f as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!allowed.has(k)) throw new TypeError(`${method}: unknown option ${k} (known: ${[...allowed].join(', ')})`);
  const bad = (name: string, want: string) => new TypeError(`${method}: ${name} must be ${want}, got ${show(o[name])}`);
  if (o.block !== undefined && typeof o.block !== 'boolean') throw bad('block', 'true or false');
  if (o.retries !== undefined && (!Number.isInteger(o.retries) || (o.retries as number) < 0 || (o.retries as number) > MAX_BALANCED_RETRIES)) throw bad('retries', `a whole number from 0 to ${MAX_BALANCED_RETRIES}`);
  if (o.timeoutMs !== undefined && (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0) || !Number.isFinite(o.timeoutMs))) throw bad('timeoutMs', 'a number of milliseconds > 0');
  if (o.successOnly !== undefined && typeof o.successOnly !== 'boolean') throw bad('successOnly', 'true or false');
  if (o.label !== undefined && typeof o.label !== 'string') throw bad('label', 'a string');
  if (o.store !== undefined && typeof o.store !== 'boolean') throw bad('store', 'true or false');
  if (o.after !== undefined) msgIdsOf(`${method}: after`, o.after as Dependency);
  if (o.follow !== undefined) msgIdsOf(`${method}: follow`, o.follow as Dependency);
  return o;
}

/** Where a sequence argument of parallel stands among the ones passed whole. */
const SEQUENCE = Symbol('sequence');

/**
 * map's arguments: the sequences, and the options when the last one is a plain object (not
 * iterable). With `others` (parallel), arguments that are not sequences are allowed: `whole`
 * lists every argument, with SEQUENCE where a sequence was.
 */
function splitOptions(method: string, args: readonly unknown[], allowed: ReadonlySet<string>, others = false): { seqs: Sequence[]; opts: Record<string, unknown>; whole: unknown[] } {
  let opts: Record<string, unknown> = {};
  let list = args;
  const last = args[args.length - 1];
  if (args.length > 0 && isPlainObject(last)) {
    opts = checkFlags(method, last, allowed);
    list = args.slice(0, -1);
  }
  if (others) {
    const whole = list.map((a) => (isSequence(a) ? SEQUENCE : a));
    const seqs = list.filter(isSequence);
    if (seqs.length === 0) throw new TypeError(`${method}: give at least one sequence (an array, typed array or NDArray) to split into tasks`);
    return { seqs: checkLengths(method, seqs), opts, whole };
  }
  if (list.length === 0) throw new TypeError(`${method}: give at least one sequence to map over`);
  const seqs = list.map((s, i) => {
    if (isSequence(s)) return s;
    if (typeof s === 'string') throw new TypeError(`${method}: argument ${i + 1} is a string; map over an array of values (e.g. [...s] for its characters), got ${show(s)}`);
    if (s !== null && typeof s === 'object' && typeof (s as Iterable<unknown>)[Symbol.iterator] === 'function') return Array.from(s as Iterable<unknown>);
    throw new TypeError(`${method}: argument ${i + 1} is not iterable (an array, typed array, NDArray, Set, generator or other iterable), got ${show(s)}`);
  });
  return { seqs: checkLengths(method, seqs), opts, whole: [] };
}

function checkLengths(method: string, seqs: Sequence[]): Sequence[] {
  const lengths = seqs.map(sequenceLength);
  if (lengths.some((n) => n !== lengths[0])) throw new RangeError(`${method}: the sequences have different lengths (${lengths.join(', ')})`);
  return seqs;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function';
}

/** The one element of a chunk of size 1, as map hands it to fn (an NDArray's row, a typed array's number). */
function sequenceItem(chunk: Sequence): unknown {
  return flattenOnce([chunk])[0];
}
