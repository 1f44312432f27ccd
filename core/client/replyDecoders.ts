/**
 * Reading what the controller and the engines send: reply contents into values and errors.
 * This is the one module where message content is taken as its type (`as`); when
 * core/protocol/validate.ts is merged, its checks go in here (contentOf and the decoders),
 * and nothing else in the client changes.
 */
import type { ContentMap, EngineInfo, Json, Message, MsgType } from '../protocol/messages.js';
import { decodeValue } from '../serialize/serialize.js';
import { AbortError, ControllerError, EngineError, RemoteError } from './errors.js';
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

/** The fields every reply may carry. */
export interface ReplyStatus {
  status?: string;
  ename?: string;
  evalue?: string;
  traceback?: unknown;
}

/** The status part of any reply (work or control). */
export function statusOf(msg: Message): ReplyStatus {
  return msg.content as ReplyStatus;
}

/** A successful control reply's content, as its request type says. */
export function okContent<T extends MsgType>(msg: Message): OkReply<T> {
  return msg.content as OkReply<T>;
}

export function connectReplyOf(msg: Message): ContentMap['connect_reply'] {
  return msg.content as ContentMap['connect_reply'];
}

/** The engine an engine_event is about, or undefined when it names none. */
export function engineEventOf(msg: Message): { event: ContentMap['engine_event']['event']; engine: EngineInfo } | undefined {
  const ev = msg.content as ContentMap['engine_event'] | undefined;
  const e = ev?.engine;
  return e && typeof e.id === 'number' ? { event: ev.event, engine: e } : undefined;
}

/** The error of a work reply that is not ok ('error', 'aborted', or something unexpected). */
export function workFailure(c: ReplyStatus, engineId: number, method: string): RemoteError {
  if (c.status === 'error') {
    const traceback = Array.isArray(c.traceback) ? c.traceback.map(String) : [];
    const evalue = String(c.evalue ?? '');
    return c.ename === 'EngineError' ? new EngineError(engineId, method, evalue, traceback) : new RemoteError(engineId, method, String(c.ename ?? 'Error'), evalue, traceback);
  }
  if (c.status === 'aborted') return new AbortError(engineId, method);
  return new RemoteError(engineId, method, 'ProtocolError', `unexpected reply status ${JSON.stringify(c.status)}`);
}

/** The error of a control reply that is not ok. */
export function controlFailure(c: ReplyStatus, msgType: string): ControllerError {
  return new ControllerError(msgType, c.ename ?? String(c.status), c.evalue ?? '');
}

// ---- work reply decoders (content -> the slot's value)

type OutputSlots = { readonly slots: readonly { stdout: string; stderr: string }[] };

/** How to decode the replies to a request of type `msgType` (rc.getResult). */
export function replyDecoderFor(msgType: string, tracker: OutputSlots): ReplyDecoder {
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

export const applyDecoder: ReplyDecoder = (msg) => decodeValue((msg.content as { result: Json }).result ?? null, msg.buffers);

export function pullDecoder(single: boolean): ReplyDecoder {
  return (msg) => {
    const values = (msg.content as { values: Json[] }).values;
    if (!Array.isArray(values)) throw new TypeError('pull_reply has no values');
    return single ? decodeValue(values[0], msg.buffers) : values.map((v) => decodeValue(v, msg.buffers));
  };
}

export const keysDecoder: ReplyDecoder = (msg) => {
  const keys = (msg.content as { keys: unknown }).keys;
  return Array.isArray(keys) ? keys.map(String) : [];
};

export function executeDecoder(tracker: OutputSlots): ReplyDecoder {
  return (msg, engineId, index) => {
    const c = msg.content as { execution_count?: number; result?: string };
    const slot = tracker.slots[index];
    const out: ExecuteResult = { engineId, executionCount: c.execution_count ?? 0, stdout: slot.stdout, stderr: slot.stderr };
    if (c.result !== undefined) out.result = c.result;
    return out;
  };
}
