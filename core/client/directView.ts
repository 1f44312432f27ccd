/**
 * DirectView: IPython's multiengine ("direct") interface on a set of engines. Every method
 * checks its input and encodes every value first, so bad input throws before anything is
 * sent; then it sends one message to all targets (or, for scatter and map, one per engine)
 * and returns an AsyncResult, or with `block` a Promise of the values.
 */
import fs from 'node:fs';
import { inspect } from 'node:util';
import type { Json, KernelKind, Message } from '../protocol/messages.js';
import { checkNameOrPath, isAttributePath, readerSource, writerSource } from './attributePaths.js';
import { encodeValue, type Encoder } from '../serialize/serialize.js';
import type { AsyncResult, ResultTracker } from './asyncResult.js';
import { applyDecoder, executeDecoder, keysDecoder, nothing, pullDecoder } from './replyDecoders.js';
import type { ReplyDecoder, ViewHost, WorkSubmission } from './viewHost.js';
import { GatherTarget } from './gatherTarget.js';
import { describeFunction, functionValue } from './remoteFunction.js';
import { languageOrDefault } from '../kernels/index.js';
import { concatenate, flattenOnce, isSequence, partition, sequenceLength, transpose, type Sequence } from './partition.js';
import { checkName, checkNames, checkNamespace, checkTargetsShape, show, type Targets } from './validate.js';
import { checkOptions, type CallOptions, type ExecuteOptions, type ExecuteResult, type Fn, type IsOne, type Mappable, type NoOptions, type ParallelFunction, type PerEngine, type RemoteFunction, type Returned, type ViewResult, type ZipShape } from './viewTypes.js';

export type { CallOptions, ExecuteOptions, ExecuteResult, ParallelFunction, PerEngine, RemoteFunction, Returned, ViewResult } from './viewTypes.js';

interface Resolved {
  ids: number[];
  bare: boolean;
  block: boolean;
  timeoutMs: number | undefined;
  store: boolean;
}

/**
 * A view on engines. `targets` and `block` are instance defaults; the per-call
 * `{ targets, block }` options override them for that call only.
 */
export class DirectView<One extends boolean = boolean> {
  private targetsSpec: Targets | undefined;

  /** A short form for REPLs and console.log, instead of the client's internals. */
  [inspect.custom](_depth: number, opts: { stylize(text: string, style: string): string }): string {
    const t = this.targets;
    return `${opts.stylize('DirectView', 'special')} { targets: ${t === undefined ? "'all'" : inspect(t)}, block: ${this.block} }`;
  }
  /** Default for calls without a `block` option: true waits and gives values, false gives an AsyncResult. */
  block = false;
  /** Default for calls without a `timeoutMs` option (undefined: no time limit). See CallOptions.timeoutMs. */
  timeoutMs: number | undefined = undefined;
  /** Default for calls without a `store` option (apply and map take it from here). See CallOptions.store. */
  store = false;

  /** Made by client.view(). */
  constructor(
    private readonly host: ViewHost,
    targets?: Targets,
  ) {
    this.targetsSpec = targets;
  }

  /** The view's engines: an id, a list of ids, or undefined/'all' for every live engine at each call. */
  get targets(): Targets | undefined {
    const t = this.targetsSpec;
    return Array.isArray(t) ? [...t] : t;
  }

  set targets(t: Targets | undefined | null) {
    this.targetsSpec = checkTargetsShape(t);
  }

  // ---- execute and run

  /** Runs code on each engine. Per engine: { engineId, executionCount, stdout, stderr, result? }. */
  execute<O extends ExecuteOptions = NoOptions>(code: string, opts?: O): ViewResult<ExecuteResult, One, O> {
    if (typeof code !== 'string') throw new TypeError(`execute: code must be a string, got ${show(code)}`);
    const r = this.resolve('execute', opts);
    const content = opts?.silent ? { code, silent: true } : { code };
    return this.deliver(this.broadcast('execute_request', content, [], r, (tracker) => executeDecoder(tracker), bareOrArray(r.bare)), r.block) as ViewResult<ExecuteResult, One, O>;
  }

  /** Runs the code of a local file on the engines, as execute does. */
  run<O extends ExecuteOptions = NoOptions>(path: string, opts?: O): ViewResult<ExecuteResult, One, O> {
    let code: string;
    try {
      code = fs.readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`run: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return this.execute(code, opts);
  }

  // ---- apply

  /** Calls fn(...args) on each engine; with the view's `block`. */
  apply<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): ViewResult<Awaited<R>, One, NoOptions> {
    return this.applyWith('apply', { block: this.block }, fn, args) as ViewResult<Awaited<R>, One, NoOptions>;
  }

  /** apply, waiting for the values. */
  applySync<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): Promise<PerEngine<Awaited<R>, One>> {
    return this.applyWith('applySync', { block: true }, fn, args) as Promise<PerEngine<Awaited<R>, One>>;
  }

  /** apply, returning an AsyncResult at once. */
  applyAsync<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): AsyncResult<PerEngine<Awaited<R>, One>> {
    return this.applyWith('applyAsync', { block: false }, fn, args) as AsyncResult<PerEngine<Awaited<R>, One>>;
  }

  private applyWith(method: string, opts: CallOptions | undefined, fn: unknown, args: readonly unknown[]): Promise<unknown> | AsyncResult<unknown> {
    const info = describeFunction(method, fn);
    const r = this.resolve(method, opts);
    const enc: Encoder = { buffers: [] };
    const encoded = args.map((a, i) => encodeValue(a, enc, `${method}.args[${i}]`));
    const content = info.require.length ? { fn: info.src, args: encoded, require: info.require } : { fn: info.src, args: encoded };
    return this.deliver(this.broadcast('apply_request', content, enc.buffers, r, () => applyDecoder, bareOrArray(r.bare)), r.block);
  }

  /** `remote(opts)(fn)`: a function that runs fn on the view's engines when called. */
  remote<O extends CallOptions = NoOptions>(opts?: O): <A extends unknown[], R>(fn: Fn<A, R>) => RemoteFunction<A, ViewResult<Awaited<R>, One, O>> {
    const o = checkOptions('remote', opts);
    return <A extends unknown[], R>(fn: Fn<A, R>) => {
      const info = describeFunction('remote', fn);
      return named(info.name, (...args: A) => this.applyWith('remote', o, fn, args)) as RemoteFunction<A, ViewResult<Awaited<R>, One, O>>;
    };
  }

  // ---- map and parallel

  /** Element-wise fn over the sequences, split across the engines; the results in order, as one array. */
  map<R>(fn: ((...args: never[]) => R) | string, ...seqs: Mappable[]): Returned<NoOptions, Awaited<R>[]> {
    return this.mapWith('map', { block: this.block }, fn, seqs) as Returned<NoOptions, Awaited<R>[]>;
  }

  mapSync<R>(fn: ((...args: never[]) => R) | string, ...seqs: Mappable[]): Promise<Awaited<R>[]> {
    return this.mapWith('mapSync', { block: true }, fn, seqs) as Promise<Awaited<R>[]>;
  }

  mapAsync<R>(fn: ((...args: never[]) => R) | string, ...seqs: Mappable[]): AsyncResult<Awaited<R>[]> {
    return this.mapWith('mapAsync', { block: false }, fn, seqs) as AsyncResult<Awaited<R>[]>;
  }

  private mapWith(method: string, opts: CallOptions | undefined, fn: unknown, seqs: readonly unknown[]): Promise<unknown> | AsyncResult<unknown> {
    const info = describeFunction(method, fn);
    if (seqs.length === 0) throw new TypeError(`${method}: give at least one sequence to map over`);
    // Any iterable maps, as in ipyparallel: one that is not a sequence (a Set, a generator, a Map's values) is read into an array first.
    seqs = seqs.map((s, i) => {
      if (isSequence(s)) return s;
      if (isIterable(s)) return Array.from(s);
      if (typeof s === 'string') throw new TypeError(`${method}: argument ${i + 1} is a string; map over an array of values (e.g. [...s] for its characters), got ${show(s)}`);
      throw new TypeError(`${method}: argument ${i + 1} is not iterable (an array, typed array, NDArray, Set, generator or other iterable), got ${show(s)}`);
    });
    const lengths = (seqs as Sequence[]).map(sequenceLength);
    if (lengths.some((n) => n !== lengths[0])) throw new RangeError(`${method}: the sequences have different lengths (${lengths.join(', ')})`);
    const r = this.resolve(method, opts);
    const blocks = (seqs as Sequence[]).map((s) => partition(s, r.ids.length));
    const messages = r.ids.map((id, e) => {
      const enc: Encoder = { buffers: [] };
      const language = languageOrDefault(this.host.kernelOf(id));
      const args: Json[] = blocks.map((b, j) => encodeValue(b[e], enc, `${method}.seqs[${j}]`));
      if (language.mapPassesFunction) args.unshift(functionValue(info));
      const fn = language.mapFunction(info.src);
      const content = info.require.length ? { fn, args, require: info.require } : { fn, args };
      return { content, buffers: enc.buffers };
    });
    return this.deliver(this.perEngine('apply_request', messages, r, () => applyDecoder, flattenOnce), r.block);
  }

  /**
   * `parallel(opts)(fn)`: a function that hands each engine its block of every sequence
   * argument (other arguments whole) and concatenates the engines' results in order.
   */
  parallel<O extends CallOptions = NoOptions>(opts?: O): <A extends unknown[], R>(fn: Fn<A, R>) => ParallelFunction<A, Returned<O, Awaited<R>>, Returned<O, unknown[]>> {
    const o = checkOptions('parallel', opts);
    return <A extends unknown[], R>(fn: Fn<A, R>) => {
      const info = describeFunction('parallel', fn);
      const pf = ((...args: A) => {
        const r = this.resolve('parallel', o);
        const split = args.map((a) => (isSequence(a) ? partition(a, r.ids.length) : undefined));
        const messages = r.ids.map((_, e) => {
          const enc: Encoder = { buffers: [] };
          const encoded = args.map((a, i) => encodeValue(split[i] ? split[i][e] : a, enc, `parallel.args[${i}]`));
          const content = info.require.length ? { fn: info.src, args: encoded, require: info.require } : { fn: info.src, args: encoded };
          return { content, buffers: enc.buffers };
        });
        return this.deliver(this.perEngine('apply_request', messages, r, () => applyDecoder, concatenate), r.block);
      }) as ParallelFunction<A, Returned<O, Awaited<R>>, Returned<O, unknown[]>>;
      pf.map = (...seqs: Mappable[]) => this.mapWith('parallel.map', o, fn, seqs) as Returned<O, unknown[]>;
      return named(info.name, pf);
    };
  }

  // ---- moving values

  /** Binds each name of `ns` to its value on every engine. */
  push<O extends CallOptions = NoOptions>(ns: Record<string, unknown>, opts?: O): Returned<O, void> {
    const values = checkNamespace('push', ns, checkNameOrPath);
    const keys = Object.keys(values);
    const paths = keys.filter(isAttributePath);
    if (paths.length > 0 && paths.length < keys.length) throw new TypeError(`push: set attribute paths (${paths.join(', ')}) in a push of their own, not with names (${keys.filter((k) => !paths.includes(k)).join(', ')})`);
    const r = this.resolve('push', opts);
    const enc: Encoder = { buffers: [] };
    if (paths.length > 0) {
      const args = paths.map((k) => encodeValue(values[k], enc, `push.${k}`));
      return this.deliver(this.applyEach('push', r, (kernel) => writerSource(kernel, paths), args, enc.buffers, nothing, toVoid), r.block) as Returned<O, void>;
    }
    const encoded: { [name: string]: Json } = {};
    for (const k of Object.keys(values)) encoded[k] = encodeValue(values[k], enc, `push.${k}`);
    return this.deliver(this.broadcast('push_request', { ns: encoded }, enc.buffers, r, () => nothing, toVoid), r.block) as Returned<O, void>;
  }

  /** The value of a name (or an array of values for a list of names) from each engine. */
  pull<O extends CallOptions = NoOptions>(names: string, opts?: O): ViewResult<unknown, One, O>;
  pull<O extends CallOptions = NoOptions>(names: readonly string[], opts?: O): ViewResult<unknown[], One, O>;
  pull<O extends CallOptions = NoOptions>(names: string | readonly string[], opts?: O): ViewResult<unknown, One, O> {
    const single = typeof names === 'string';
    const list = single ? [checkNameOrPath('pull', names)] : checkNames('pull', names, checkNameOrPath);
    const r = this.resolve('pull', opts);
    if (list.some(isAttributePath)) return this.deliver(this.applyEach('pull', r, (kernel) => readerSource(kernel, list, single), [], [], applyDecoder, bareOrArray(r.bare)), r.block) as ViewResult<unknown, One, O>;
    return this.deliver(this.broadcast('pull_request', { names: list }, [], r, () => pullDecoder(single), bareOrArray(r.bare)), r.block) as ViewResult<unknown, One, O>;
  }

  /** pull of several names, transposed: one array (of per-engine values) per name. */
  zipPull<O extends CallOptions = NoOptions>(names: readonly string[], opts?: O): Returned<O, ZipShape<IsOne<O, One>>> {
    const list = checkNames('zipPull', names, checkNameOrPath);
    const r = this.resolve('zipPull', opts);
    const finalize = (values: unknown[]) => (r.bare ? values[0] : transpose(values as unknown[][], list.length));
    if (list.some(isAttributePath)) return this.deliver(this.applyEach('pull', r, (kernel) => readerSource(kernel, list, false), [], [], applyDecoder, finalize), r.block) as Returned<O, ZipShape<IsOne<O, One>>>;
    return this.deliver(this.broadcast('pull_request', { names: list }, [], r, () => pullDecoder(false), finalize), r.block) as Returned<O, ZipShape<IsOne<O, One>>>;
  }

  /**
   * Splits `seq` into contiguous blocks (sizes differ by at most 1, the first engines take
   * the extra element) and binds each engine's block to `name`. One push per engine.
   */
  scatter<O extends CallOptions = NoOptions>(name: string, seq: Sequence, opts?: O): Returned<O, void> {
    checkName('scatter', name);
    if (!isSequence(seq)) throw new TypeError(`scatter: ${name} must be a sequence (an array, typed array or NDArray) to split, got ${show(seq)}`);
    const r = this.resolve('scatter', opts);
    const blocks = partition(seq, r.ids.length);
    const messages = blocks.map((block) => {
      const enc: Encoder = { buffers: [] };
      return { content: { ns: { [name]: encodeValue(block, enc, `scatter.${name}`) } }, buffers: enc.buffers };
    });
    return this.deliver(this.perEngine('push_request', messages, r, () => nothing, toVoid), r.block) as Returned<O, void>;
  }

  /**
   * Pulls `name` from each engine and concatenates the blocks in target order. One pull per
   * engine, like scatter's pushes, so each block comes over a direct connection where there is one.
   */
  gather<O extends CallOptions = NoOptions>(name: string, opts?: O): Returned<O, unknown> {
    checkName('gather', name);
    const r = this.resolve('gather', opts);
    const messages = r.ids.map(() => ({ content: { names: [name] }, buffers: [] }));
    const target = new GatherTarget(r.ids.length);
    return this.deliver(this.perEngine('pull_request', messages, r, () => pullDecoder(true), concatenate, (slot, rest) => target.place(slot, rest)), r.block) as Returned<O, unknown>;
  }

  // ---- the dictionary interface (always waits)

  /** pull(name), waiting for the values. */
  get<O extends Pick<CallOptions, 'targets'> = NoOptions>(name: string, opts?: O): Promise<PerEngine<unknown, IsOne<O, One>>> {
    return this.pull(name, { ...opts, block: true }) as Promise<PerEngine<unknown, IsOne<O, One>>>;
  }

  /** push({ [name]: value }), waiting until every engine has it. */
  set(name: string, value: unknown, opts?: Pick<CallOptions, 'targets'>): Promise<void> {
    checkNameOrPath('set', name);
    return this.push({ [name]: value }, { ...opts, block: true });
  }

  /** push(ns), waiting until every engine has it. */
  update(ns: Record<string, unknown>, opts?: Pick<CallOptions, 'targets'>): Promise<void> {
    return this.push(ns, { ...opts, block: true });
  }

  /** The user-defined names in each engine's namespace, sorted. */
  keys<O extends Pick<CallOptions, 'targets'> = NoOptions>(opts?: O): Promise<PerEngine<string[], IsOne<O, One>>> {
    const r = this.resolve('keys', { ...opts, block: true });
    return this.deliver(this.broadcast('keys_request', {}, [], r, () => keysDecoder, bareOrArray(r.bare)), true) as Promise<PerEngine<string[], IsOne<O, One>>>;
  }

  // ---- control

  /** Waits for results (default: every outstanding result of the client); false on timeout. */
  wait(results?: PromiseLike<unknown> | Iterable<PromiseLike<unknown>> | null, timeoutMs?: number): Promise<boolean> {
    return this.host.wait(results, timeoutMs);
  }

  /** Gives each engine a fresh namespace. */
  clear<O extends CallOptions = NoOptions>(opts?: O): Returned<O, void> {
    const r = this.resolve('clear', opts);
    return this.deliver(this.broadcast('clear_request', {}, [], r, () => nothing, toVoid), r.block) as Returned<O, void>;
  }

  /** Imports the modules on every engine and binds each by name (syncImports('node:os') binds os). */
  syncImports(...modules: string[]): Returned<NoOptions, void> {
    if (modules.length === 0) throw new TypeError('syncImports: name at least one module');
    for (const m of modules) if (typeof m !== 'string' || m.trim() === '') throw new TypeError(`syncImports: a module must be a non-empty string, got ${show(m)}`);
    const r = this.resolve('syncImports', undefined);
    return this.deliver(this.broadcast('apply_request', { fn: '', args: [], require: modules }, [], r, () => nothing, toVoid), r.block) as Returned<NoOptions, void>;
  }

  /** Stops the code running on the engines now (they stay up and keep their namespaces). */
  async interrupt(opts?: Pick<CallOptions, 'targets'>): Promise<void> {
    const r = this.resolve('interrupt', opts);
    await this.host.interrupt(r.ids);
  }

  /**
   * Drops queued requests that have not started: those of `results` (AsyncResults or
   * msg_ids) or, by default, all of them. They reject with AbortError.
   */
  async abort(opts?: Pick<CallOptions, 'targets'> & { results?: AsyncResult<unknown> | readonly (AsyncResult<unknown> | string)[] }): Promise<void> {
    const r = this.resolve('abort', opts);
    let msgIds: string[] | undefined;
    if (opts?.results !== undefined) {
      const list = Array.isArray(opts.results) ? opts.results : [opts.results];
      msgIds = [...new Set(list.flatMap((x: AsyncResult<unknown> | string) => (typeof x === 'string' ? [x] : x.msgIds)))];
    }
    await this.host.abort(msgIds, r.ids);
  }

  // ---- internals

  private resolve(method: string, opts: CallOptions | undefined): Resolved {
    const o = checkOptions(method, opts);
    const spec = o !== undefined && o.targets !== undefined ? o.targets : this.targetsSpec;
    const { ids, bare } = this.host.targetsFor(method, spec);
    const timeoutMs = o?.timeoutMs ?? this.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
      throw new TypeError(`${method}: the view's timeoutMs must be a number of milliseconds > 0, got ${show(timeoutMs)}`);
    }
    return { ids, bare, block: o?.block ?? this.block, timeoutMs, store: o?.store ?? this.store };
  }

  private deliver<R>(result: AsyncResult<R>, block: boolean): Promise<R> | AsyncResult<R> {
    return block ? result.get() : result;
  }

  /** One message to every target. */
  private broadcast<R>(
    msgType: 'execute_request' | 'apply_request' | 'push_request' | 'pull_request' | 'keys_request' | 'clear_request',
    content: Message['content'],
    buffers: Uint8Array[],
    r: Resolved,
    decoder: (tracker: ResultTracker<R>) => ReplyDecoder,
    finalize: (values: unknown[]) => R,
    method = wireMethod(msgType),
  ): AsyncResult<R> {
    return this.track(method, r, finalize, (tracker) => {
      this.host.submit([{ msgType, method, content: content as never, buffers, targets: r.ids, sink: tracker, slots: r.ids.map((_, i) => i), decode: decoder(tracker), store: r.store }]);
    });
  }

  /** One message per engine (scatter, gather, map, parallel), all in one result. */
  private perEngine<R>(
    msgType: 'apply_request' | 'push_request' | 'pull_request',
    messages: { content: Message['content']; buffers: Uint8Array[] }[],
    r: Resolved,
    decoder: (tracker: ResultTracker<R>) => ReplyDecoder,
    finalize: (values: unknown[]) => R,
    place?: WorkSubmission['place'],
    method = wireMethod(msgType),
  ): AsyncResult<R> {
    return this.track(method, r, finalize, (tracker) => {
      const decode = decoder(tracker);
      this.host.submit(r.ids.map((id, i) => ({ msgType, method, content: messages[i].content as never, buffers: messages[i].buffers, targets: [id], sink: tracker, slots: [i], decode, place, store: r.store })));
    });
  }

  /**
   * apply of a function made for each engine's language (`source`), as `method`: one message
   * when the targets all speak one language, else one per engine.
   */
  private applyEach<R>(method: string, r: Resolved, source: (kernel: KernelKind | undefined) => string, args: Json[], buffers: Uint8Array[], decode: ReplyDecoder, finalize: (values: unknown[]) => R): AsyncResult<R> {
    const sources = r.ids.map((id) => source(this.host.kernelOf(id)));
    if (sources.every((src) => src === sources[0])) return this.broadcast('apply_request', { fn: sources[0], args }, buffers, r, () => decode, finalize, method);
    const messages = sources.map((fn) => ({ content: { fn, args }, buffers }));
    return this.perEngine('apply_request', messages, r, () => decode, finalize, undefined, method);
  }

  /** A result over the resolved targets: `send` submits its messages; the call's timeoutMs applies to it. */
  private track<R>(method: string, r: Resolved, finalize: (values: unknown[]) => R, send: (tracker: ResultTracker<R>) => void): AsyncResult<R> {
    const { result, tracker } = this.host.newResult<R>({ engineIds: r.ids, method, bare: r.bare, finalize });
    send(tracker);
    if (r.timeoutMs !== undefined) this.host.expireAfter(tracker as ResultTracker<unknown>, method, r.timeoutMs);
    return result;
  }
}

/** `fn`, carrying `name` (the function it runs remotely), as a decorator's result should. */
function named<F extends object>(name: string, fn: F): F {
  return Object.defineProperty(fn, 'name', { value: name, configurable: true });
}

/** An iterable object; strings are left out (map refuses them, as before: they are sequences of characters by accident more often than by intent). */
function isIterable(v: unknown): v is Iterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

// ---- finalizers

/** The method a wire request type stands for in results and errors: 'pull_request' -> 'pull'. */
function wireMethod(msgType: string): string {
  return msgType.replace(/_request$/, '');
}

function bareOrArray(bare: boolean): (values: unknown[]) => unknown {
  return bare ? (values) => values[0] : (values) => values;
}

function toVoid(): void {
  return undefined;
}
