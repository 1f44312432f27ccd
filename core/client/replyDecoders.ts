/**
 * Reading what the controller and the engines send: reply contents into values and errors.
 * Replies are checked here, once, with core/protocol/validate as they are matched to their
 * request (checkWorkReply, checkReplyTo); the decoders then read typed, checked content.
 */
import { type ContentMap, type Failure, type MsgType, type WorkReplyType, type WorkRequestType, replyTypeOf } from '../protocol/messages.js';
import { checkContent, describe, WireError } from '../protocol/validate.js';
import { decodeValue } from '../serialize/serialize.js';
import { AbortError, CONTROLLER_ERRORS, ControllerError, RemoteError } from './errors.js';
import type { ReplyDecoder } from './viewHost.js';

/** The reply type of a request type: 'status_request' -> 'status_reply'. */
export type ReplyOf<T extends MsgType> = T extends `${infer B}_request` ? (`${B}_reply` extends MsgType ? `${B}_reply` : never) : never;
/** The content of a successful reply to T. */
export type OkReply<T extends MsgType> = Extract<ContentMap[ReplyOf<T>], { status: 'ok' }>;

/** What execute gives for each engine. */
export interface ExecuteResult {
  engineId: number;
  executionCount: number;
  stdout: string;
  stderr: string;
  /** Display text of the last expression's value, when there is one. */
  result?: string;
}

const WORK_REPLY: { readonly [K in WorkRequestType]: WorkReplyType } = {
  execute_request: 'execute_reply',
  apply_request: 'apply_reply',
  push_request: 'push_reply',
  pull_request: 'pull_reply',
  keys_request: 'keys_reply',
  clear_request: 'clear_reply',
};

/** The reply type a work request is answered with. */
export function workReplyOf(requestType: WorkRequestType): WorkReplyType {
  return WORK_REPLY[requestType];
}

/** A work reply, checked: of the type its request is answered with, its content as validate wants it. Throws WireError. */
export function checkWorkReply(expected: WorkReplyType, type: string, content: unknown): ContentMap[WorkReplyType] {
  if (type !== expected) throw new WireError(`expected ${expected}, got ${describe(type)}`);
  return checkContent(expected, content);
}

/**
 * The reply to a control request of type T, checked against its reply type; throws WireError.
 * (The overload types the checked content by T, which TypeScript cannot follow through ContentMap.)
 */
export function checkReplyTo<T extends MsgType>(requestType: T, content: unknown): OkReply<T> | Failure;
export function checkReplyTo(requestType: MsgType, content: unknown): ContentMap[MsgType] {
  return checkContent(replyTypeOf(requestType), content);
}

/** The error of a work reply that is not ok ('error', 'aborted', or something unexpected). */
export function workFailure(c: Failure, engineId: number, method: string): RemoteError {
  if (c.status === 'aborted') return new AbortError(engineId, method);
  // validate checked ename and evalue; traceback is informative, so a bad one is left out.
  const traceback = Array.isArray(c.traceback) ? c.traceback.map(String) : [];
  const Cls = Object.hasOwn(CONTROLLER_ERRORS, c.ename) ? CONTROLLER_ERRORS[c.ename] : undefined;
  return Cls !== undefined ? new Cls(engineId, method, c.evalue, traceback) : new RemoteError(engineId, method, c.ename, c.evalue, traceback);
}

/** The error of a control reply that is not ok. */
export function controlFailure(c: Failure, msgType: string): ControllerError {
  return c.status === 'error' ? new ControllerError(msgType, c.ename, c.evalue) : new ControllerError(msgType, c.status, '');
}

// ---- work reply decoders (content -> the slot's value)

type OutputSlots = { readonly slots: readonly { stdout: string; stderr: string }[] };

/** How to decode the replies to a request of type `msgType` (rc.getResult). */
export function replyDecoderFor(msgType: WorkRequestType, tracker: OutputSlots): ReplyDecoder {
  switch (msgType) {
    case 'execute_request':
      return executeDecoder(tracker);
    case 'apply_request':
      return applyDecoder;
    case 'pull_request':
      return pullDecoder(false);
    case 'keys_request':
      return keysDecoder;
    default:
      return nothing;
  }
}

export const nothing: ReplyDecoder = () => undefined;

// Each decoder gets the checked content of its request's reply type; the `in` tests only
// narrow the type (they hold for that reply type), with no second check.

export const applyDecoder: ReplyDecoder = (c, buffers) => decodeValue('result' in c ? (c.result ?? null) : null, buffers);

export function pullDecoder(single: boolean): ReplyDecoder {
  return (c, buffers) => {
    if (!('values' in c)) throw new TypeError('pull_reply has no values');
    const values = c.values;
    return single ? decodeValue(values[0], buffers) : values.map((v) => decodeValue(v, buffers));
  };
}

export const keysDecoder: ReplyDecoder = (c) => ('keys' in c ? c.keys : []);

export function executeDecoder(tracker: OutputSlots): ReplyDecoder {
  return (c, _buffers, engineId, index) => {
    const slot = tracker.slots[index];
    const out: ExecuteResult = { engineId, executionCount: 'execution_count' in c ? c.execution_count : 0, stdout: slot.stdout, stderr: slot.stderr };
    if ('result' in c && typeof c.result === 'string') out.result = c.result;
    return out;
  };
}
