/**
 * Typed wire messages, in the Jupyter style: every message is an envelope of
 * header, parent_header, metadata and content, plus raw binary buffers.
 * This module has no runtime dependencies so any process can share it.
 * docs/protocol.md is the normative description; keep the two in step.
 */

export const PROTOCOL_VERSION = 'multiengine/1';

export interface Header {
  msg_id: string;
  msg_type: MsgType;
  /** Identifies the sending process (client, controller or engine). */
  session: string;
  /** ISO 8601 time of creation. */
  date: string;
  version: string;
}

/** A JSON value; `EncodedValue` trees (core/serialize) are JSON values that refer to buffers by index. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type KernelKind = 'node' | 'python';
export type EngineState = 'starting' | 'idle' | 'busy' | 'unresponsive' | 'dead';

export interface EngineInfo {
  id: number;
  uuid: string;
  kernel: KernelKind;
  language_version: string;
  host: string;
  pid: number;
  state: EngineState;
  /** Requests sent to the engine and not yet answered. */
  queue: number;
  /** How many times this id was restarted with a fresh namespace. */
  restarts: number;
  registered: string;
  /** Why the engine is dead, when it is. */
  reason?: string;
}

export interface ErrorContent {
  status: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
export interface AbortedContent {
  status: 'aborted';
}
export type Failure = ErrorContent | AbortedContent;
type Reply<T> = ({ status: 'ok' } & T) | Failure;

/** Content of each msg_type. Work requests travel client -> controller -> engine(s). */
export interface ContentMap {
  // -- engine <-> controller
  registration_request: {
    uuid: string;
    kernel: KernelKind;
    language_version: string;
    host: string;
    pid: number;
    /** Set when the engine was started by the controller with an id to take. */
    requested_id?: number;
  };
  registration_reply: Reply<{ id: number; heartbeat_ms: number }>;
  /** Sent by an engine's heart every heartbeat_ms, on its own connection. */
  heartbeat: { uuid: string; id: number };
  shutdown_request: Record<string, never>;

  // -- work requests (client -> controller -> engines), each answered once per target
  execute_request: { code: string; silent?: boolean };
  execute_reply: Reply<{ execution_count: number; result?: string }>;
  apply_request: { fn: string; args: Json[]; require?: string[] };
  apply_reply: Reply<{ result: Json }>;
  push_request: { ns: { [name: string]: Json } };
  push_reply: Reply<object>;
  pull_request: { names: string[] };
  pull_reply: Reply<{ values: Json[] }>;
  keys_request: Record<string, never>;
  keys_reply: Reply<{ keys: string[] }>;
  clear_request: Record<string, never>;
  clear_reply: Reply<object>;
  /** Engine output while a request runs; parent_header is that request's header. */
  stream: { name: 'stdout' | 'stderr'; text: string };

  // -- client <-> controller
  /** subscribe: which engine_event pushes this client wants ('registration': registered/unregistered only). */
  connect_request: { subscribe?: 'none' | 'registration' | 'all' };
  connect_reply: Reply<{ engines: EngineInfo[]; controller_pid: number; heartbeat_ms: number }>;
  engine_event: { event: 'registered' | 'state' | 'unregistered'; engine: EngineInfo };
  status_request: Record<string, never>;
  status_reply: Reply<{ engines: EngineInfo[]; dropped_messages: number; clients: number }>;
  add_engines_request: { n: number; engine?: KernelKind; python?: string };
  add_engines_reply: Reply<{ ids: number[] }>;
  stop_engine_request: { id: number };
  stop_engine_reply: Reply<object>;
  restart_engine_request: { id: number };
  restart_engine_reply: Reply<{ id: number }>;
  /** Interrupt the running request on the targets (metadata.targets). */
  interrupt_request: Record<string, never>;
  interrupt_reply: Reply<object>;
  /** Drop queued requests on the targets; msg_ids limits it to those. Each dropped request is answered with status 'aborted'. */
  abort_request: { msg_ids?: string[] };
  abort_reply: Reply<object>;
  controller_shutdown_request: Record<string, never>;
  controller_shutdown_reply: Reply<object>;
}

export type MsgType = keyof ContentMap;

export const WORK_REQUESTS = [
  'execute_request',
  'apply_request',
  'push_request',
  'pull_request',
  'keys_request',
  'clear_request',
] as const;
export type WorkRequestType = (typeof WORK_REQUESTS)[number];
export type WorkReplyType = 'execute_reply' | 'apply_reply' | 'push_reply' | 'pull_reply' | 'keys_reply' | 'clear_reply';

export function replyTypeOf<T extends MsgType>(requestType: T): MsgType {
  return requestType.replace(/_request$/, '_reply') as MsgType;
}

export function isWorkRequest(t: string): t is WorkRequestType {
  return (WORK_REQUESTS as readonly string[]).includes(t);
}

export interface Metadata {
  /** On work, interrupt and abort requests: the engine ids to run on. */
  targets?: number[];
  /** On replies from engines (or made for them by the controller). */
  engine_id?: number;
  started?: string;
  completed?: string;
  [key: string]: Json | undefined;
}

export interface Message<T extends MsgType = MsgType> {
  header: Header & { msg_type: T };
  /** Empty object when the message answers nothing. */
  parent_header: Header | Record<string, never>;
  metadata: Metadata;
  content: ContentMap[T];
  buffers: Uint8Array[];
}

let counter = 0;
function newId(): string {
  counter = (counter + 1) % 0x7fffffff;
  return `${globalThis.crypto.randomUUID().slice(0, 18)}${counter.toString(16).padStart(8, '0')}`;
}

export function newSession(): string {
  return globalThis.crypto.randomUUID();
}

/** The one way to build a message: every envelope gets a fresh msg_id and the sender's session. */
export function createMessage<T extends MsgType>(
  msgType: T,
  content: ContentMap[T],
  opts: {
    session: string;
    parent?: Header;
    metadata?: Metadata;
    buffers?: Uint8Array[];
    msgId?: string;
  },
): Message<T> {
  return {
    header: {
      msg_id: opts.msgId ?? newId(),
      msg_type: msgType,
      session: opts.session,
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    },
    parent_header: opts.parent ?? {},
    metadata: opts.metadata ?? {},
    content,
    buffers: opts.buffers ?? [],
  };
}

export function isMessageOf<T extends MsgType>(msg: Message, t: T): msg is Message<T> {
  return msg.header.msg_type === t;
}

export function errorContent(ename: string, evalue: string, traceback: string[] = []): ErrorContent {
  return { status: 'error', ename, evalue, traceback };
}

/** A header is valid when it has the fields every peer relies on; used to reject junk frames. */
export function isValidHeader(h: unknown): h is Header {
  if (typeof h !== 'object' || h === null) return false;
  const r = h as Record<string, unknown>;
  return typeof r.msg_id === 'string' && typeof r.msg_type === 'string' && typeof r.session === 'string';
}
