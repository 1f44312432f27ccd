/**
 * What a view needs from its client, and nothing more: which engines a call goes to, a result
 * to route replies into, and a way to send work. Client implements it; DirectView (and any later
 * view type) talks to the client only through it, so a new view never touches Client.
 */
import type { BalancedSpec, ContentMap, KernelKind, WorkReplyType, WorkRequestType } from '../protocol/messages.js';
import type { AsyncResult, ReplyTimes, ResultSpec, ResultTracker, Slot, StreamName } from './asyncResult.js';
import type { RemoteError } from './errors.js';
import type { Targets } from './validate.js';

/** The writable side of a result, as the dispatcher routes replies into it. */
export interface ResultSink {
  /** The slot's request and its header's date (`submitted`). */
  assign(index: number, msgId: string, submitted?: string): void;
  /** The engine that ran a load-balanced slot (known only from its reply). */
  ranOn(index: number, engineId: number): void;
  output(index: number, name: StreamName, text: string): void;
  /** `meta`: the times of the reply that ends the slot; absent when no reply came. */
  settle(index: number, value: unknown, meta?: ReplyTimes): void;
  fail(index: number, error: RemoteError, meta?: ReplyTimes): void;
  failPending(makeError: (engineId: number) => RemoteError): void;
  expire(error: Error): void;
  /** Resolves once these slots are done (ResultTracker.slotsDone). */
  slotsDone(indices: readonly number[]): Promise<void>;
  readonly slots: readonly Readonly<Slot>[];
}

/** A successful work reply's content, checked (core/protocol/validate) against its request's reply type. */
export type OkWorkReply = Extract<ContentMap[WorkReplyType], { status: 'ok' }>;

/** Decodes the content of a successful reply (and the message's buffers) into the slot's value. */
export type ReplyDecoder = (content: OkWorkReply, buffers: readonly Uint8Array[], engineId: number, index: number) => unknown;

/** One work request on its way to one or more engines. */
export interface WorkSubmission<T extends WorkRequestType = WorkRequestType> {
  msgType: T;
  /** The method named in results and errors (default: msgType without _request). */
  method?: string;
  content: ContentMap[T];
  buffers?: Uint8Array[];
  targets: readonly number[];
  /** The result the replies go into, and the slot index of each target in it. */
  sink: ResultSink;
  slots: readonly number[];
  decode: ReplyDecoder;
  /** Where the buffers of a large reply for a slot go (gather); null or absent: their own memory. */
  place?: (slot: number, rest: readonly number[]) => (Buffer | undefined)[] | null;
  /** Keep the result in the controller's task database (metadata.store): sent through the controller. */
  store?: boolean;
}

/**
 * One load-balanced task: sent to the controller without targets; its scheduler picks the
 * engine, and whichever engine runs it fills the one slot (docs/protocol.md section 14, "Load-balanced requests").
 */
export interface BalancedSubmission {
  msgType: 'apply_request' | 'execute_request';
  method: string;
  content: ContentMap['apply_request'] | ContentMap['execute_request'];
  buffers?: Uint8Array[];
  /** metadata.balanced as the protocol has it (pool, retries, timeout_ms, after, follow, success_only, label). */
  balanced: BalancedSpec;
  sink: ResultSink;
  slot: number;
  decode: ReplyDecoder;
  /** Its msg_id, chosen before it is sent (a task held in the client for its dependencies); else a fresh one. */
  msgId?: string;
}

export interface ViewHost {
  /** The engine ids a call goes to (`bare`: a single id was named); throws naming the problem, or when nothing can be sent. */
  targetsFor(method: string, spec: Targets | undefined): { ids: number[]; bare: boolean };
  /** The language of an engine the controller told us about. */
  kernelOf(engineId: number): KernelKind | undefined;
  /** A new result whose replies the client will route. */
  newResult<T>(spec: ResultSpec<T>): { result: AsyncResult<T>; tracker: ResultTracker<T> };
  /**
   * Sends work messages (one, or one per engine for scatter and map). All are checked against
   * the maximum message size first: when one is too big none is sent, the results end with
   * MessageTooLargeError, and it is thrown.
   */
  submit(list: readonly WorkSubmission[]): void;
  /** Sends load-balanced tasks to the controller's scheduler, checked against the maximum message size as `submit` does. */
  submitBalanced(list: readonly BalancedSubmission[]): void;
  /** After `timeoutMs`, what is still queued is dropped, what runs is interrupted, and the result rejects with TimeoutError. */
  expireAfter(tracker: ResultTracker<unknown>, method: string, timeoutMs: number): void;
  /** Drops the named requests (every one, without `msgIds`) that have not started on `engineIds`. */
  abort(msgIds: string[] | undefined, engineIds: readonly number[]): Promise<void>;
  /** Drops the named load-balanced tasks that have not started, wherever the scheduler has them. */
  abortBalanced(msgIds: string[]): Promise<void>;
  /** This client's unfinished result that sent `msgId`, if any. */
  unfinishedResult(msgId: string): AsyncResult<unknown> | undefined;
  /** Interrupts the named load-balanced tasks where they run (and drops them where they are queued on an engine). */
  interruptBalanced(msgIds: string[]): Promise<void>;
  /** Stops the code running on the engines now. */
  interrupt(engineIds: readonly number[]): Promise<void>;
  /** Waits for results (default: every outstanding one); false when `timeoutMs` passes first. */
  wait(results: PromiseLike<unknown> | Iterable<PromiseLike<unknown>> | null | undefined, timeoutMs?: number): Promise<boolean>;
}

