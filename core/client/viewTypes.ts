/**
 * The types of view calls (their options and what they return), and the one check of those
 * options, shared by every view type.
 */
import type { AsyncResult } from './asyncResult.js';
import type { Sequence } from './partition.js';
import { checkTargetsShape, show, type Targets } from './validate.js';

export interface CallOptions {
  /** Engines for this call only: an id (bare results), a list of ids, or 'all'. */
  targets?: Targets;
  /** For this call only: true returns a Promise of the values, false an AsyncResult. */
  block?: boolean;
  /**
   * For this call only: when it has not finished after this many ms, the engines still on it
   * are interrupted (or its queued requests dropped) and the result rejects with TimeoutError.
   * The engines stay up, with their namespaces. Default: the view's `timeoutMs`.
   */
  timeoutMs?: number;
  /**
   * For this call only: the controller keeps its result in the task database too (within its
   * byte cap), so rc.getResult(msgId) from any client returns it, also after a controller
   * restart with --db sqlite. The request goes through the controller, not a direct connection.
   */
  store?: boolean;
}

export interface ExecuteOptions extends CallOptions {
  /** Do not count the execution nor report a result. */
  silent?: boolean;
}

export type { ExecuteResult } from './replyDecoders.js';

export type NoOptions = Record<never, never>;

/** true when the options name a single engine, false for a list, else the view's own kind. */
export type IsOne<O, One extends boolean> = O extends { targets: number } ? true : O extends { targets: readonly number[] | 'all' } ? false : One;
/** One value per engine, or the bare value for a single engine. */
export type PerEngine<T, One extends boolean> = One extends true ? T : T[];
/** Promise with block: true, AsyncResult with block: false, either when the view's default decides. */
export type Returned<O, R> = O extends { block: true } ? Promise<R> : O extends { block: false } ? AsyncResult<R> : Promise<R> | AsyncResult<R>;
export type ViewResult<T, One extends boolean, O> = Returned<O, PerEngine<T, IsOne<O, One>>>;
export type ZipShape<One extends boolean> = One extends true ? unknown[] : unknown[][];

export type Fn<A extends unknown[], R> = ((...args: A) => R) | string;

export type RemoteFunction<A extends unknown[], R> = (...args: A) => R;
export interface ParallelFunction<A extends unknown[], R, M> {
  (...args: A): R;
  /** Element-wise over the sequences, as view.map. */
  map(...seqs: Mappable[]): M;
}

/** What map splits: a sequence, or any other (sync) iterable, read into an array first. */
export type Mappable = Sequence | Iterable<unknown>;

/** Per-call options checked and copied (only the known keys). */
export function checkOptions(method: string, opts: CallOptions | undefined): CallOptions | undefined {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== 'object') throw new TypeError(`${method}: options must be an object like { targets, block }, got ${show(opts)}`);
  if (opts.block !== undefined && typeof opts.block !== 'boolean') throw new TypeError(`${method}: block must be true or false, got ${show(opts.block)}`);
  if (opts.timeoutMs !== undefined && (typeof opts.timeoutMs !== 'number' || !(opts.timeoutMs > 0) || !Number.isFinite(opts.timeoutMs))) {
    throw new TypeError(`${method}: timeoutMs must be a number of milliseconds > 0, got ${show(opts.timeoutMs)}`);
  }
  if (opts.store !== undefined && typeof opts.store !== 'boolean') throw new TypeError(`${method}: store must be true or false, got ${show(opts.store)}`);
  const out: CallOptions = {};
  if (opts.store === true) out.store = true;
  if (opts.targets !== undefined) out.targets = checkTargetsShape(opts.targets);
  if (opts.block !== undefined) out.block = opts.block;
  if (opts.timeoutMs !== undefined) out.timeoutMs = opts.timeoutMs;
  return out;
}
