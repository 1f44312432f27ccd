/**
 * Typed wire messages, in the Jupyter style: every message is an envelope of
 * header, parent_header, metadata and content, plus raw binary buffers.
 * This module has no runtime dependencies so any process can share it.
 * docs/protocol.md is the normative description; keep the two in step.
 */
import type { ProbeContentMap } from './probe.js';

export const PROTOCOL_VERSION = 'multiengine/1';

export * from './taskEventMessages.js';
import type { TaskEvent, TaskEventOverflow, TaskMap, TaskStatus } from './taskEventMessages.js';

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

/**
 * The engine's language, as it registers: any name (Multiengine ships 'node' and 'python',
 * described in core/kernels); every language speaks the same protocol.
 */
export type KernelKind = string;
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
  /** Why the engine is dead, when it is (ENGINE_STOPPED_REASONS when it was stopped on purpose). */
  reason?: string;
  /** When and why this id was last restarted (absent when it never was). */
  last_restart?: { at: string; reason: string };
  /** True when the engine behind this id runs in a new, empty namespace because of a restart: what was defined or pushed before is gone. */
  namespace_new?: boolean;
  /** ISO time the engine re-registered with a restarted controller, keeping its namespace (absent when it never did). */
  resumed?: string;
  /** Work requests this engine has answered (replies the controller forwarded for it). */
  tasks_done?: number;
  /** The request the engine is running now (its oldest unanswered one); null when it has none. */
  current_task?: CurrentTask | null;
  /** Where the engine accepts direct connections from clients (protocol section 13). */
  direct?: DirectAddress;
  /** The engine set it was started in (absent for an engine started by hand). */
  engine_set?: string;
  /** The engine's own latest report of its host, CPU and memory (heartbeat.stats), with the ISO time the controller got it. */
  stats?: EngineStats & { at: string };
  /** Load-balanced tasks the scheduler sent it and it has not answered yet (part of `queue`). */
  balanced?: number;
}

/**
 * The `reason` of an engine stopped on purpose: a stop request (its own or its set's) and the
 * controller's shutdown. Any other reason of a dead engine says it died on its own.
 */
export const ENGINE_STOPPED_REASONS = { stopped: 'stopped', shutdown: 'the controller is shutting down' } as const;

export function stoppedOnPurpose(reason: string | undefined): boolean {
  return reason === ENGINE_STOPPED_REASONS.stopped || reason === ENGINE_STOPPED_REASONS.shutdown;
}

/** Where an engine set is in its life: submitted and waiting (pending, a batch job in its queue), all registered (running), gone (ended). */
export type EngineSetState = 'starting' | 'pending' | 'running' | 'stopping' | 'ended';

/** A group of engines started together by one launcher (status_reply.engine_sets, docs/launchers.md). */
export interface EngineSetInfo {
  /** 'set-1', 'set-2', ... in the order they were started. */
  id: string;
  /** 'local', 'mpi', 'ssh', 'slurm', 'batch', or a plugin's module path. */
  launcher: string;
  engine: KernelKind;
  /** Engines asked for. */
  n: number;
  /** The engines that registered from this set (ids), and the hosts they run on. */
  engines: number[];
  hosts: string[];
  state: EngineSetState;
  /** Why it is pending or ended, in the launcher's words (squeue's reason, mpiexec's exit). */
  reason?: string;
  /** The batch system's job id (slurm, batch launchers). */
  job_id?: string;
  /** ISO times. */
  started: string;
  ended?: string;
}


/**
 * One request on one engine, as the controller's task database keeps it (docs/protocol.md
 * section 15). Times are ISO 8601; `engine_id` is null for a load-balanced task not yet assigned.
 */
export interface TaskRecord {
  msg_id: string;
  engine_id: number | null;
  /** The controller's number for the client that sent it (1, 2, ... since the controller started). */
  client: number;
  msg_type: string;
  label: string | null;
  /** The code (execute), the function's source (apply) or the names (push, pull), truncated. */
  code: string | null;
  balanced: boolean;
  /** A load-balanced map's task: its map (for task events; not a stored or queryable field). */
  map?: TaskMap;
  status: TaskStatus;
  /** The client's header date. */
  submitted: string | null;
  /** When the controller received it. */
  received: string;
  /** The engine's reply metadata. */
  started: string | null;
  completed: string | null;
  ename: string | null;
  evalue: string | null;
  traceback: string[] | null;
  /** Bytes of the reply (its JSON parts and buffers). */
  result_bytes: number | null;
  /** The request's output, capped. */
  stdout: string;
  stderr: string;
}

/** The fields of a task record, in the order a full record lists them. */
export const TASK_FIELDS = ['msg_id', 'engine_id', 'client', 'msg_type', 'label', 'code', 'balanced', 'status', 'submitted', 'received', 'started', 'completed', 'ename', 'evalue', 'traceback', 'result_bytes', 'stdout', 'stderr'] as const satisfies readonly (keyof TaskRecord)[];
export type TaskField = (typeof TASK_FIELDS)[number];
/** Comparisons a db_request filter may use on a field. */
export const TASK_OPERATORS = ['$lt', '$lte', '$gt', '$gte', '$ne', '$in', '$nin'] as const;

/** A field's condition in a db_request filter: a value (equality) or comparisons. */
export type TaskCondition = string | number | boolean | null | { $lt?: string | number; $lte?: string | number; $gt?: string | number; $gte?: string | number; $ne?: string | number | boolean | null; $in?: (string | number | null)[]; $nin?: (string | number | null)[] };
export type TaskFilter = { [field: string]: TaskCondition };

/** queue_reply: one engine's counts. */
export interface QueueCounts {
  id: number;
  queued: number;
  running: number;
  completed: number;
}

/** The task database's state (status_reply.task_db). */
export interface TaskDbStatus {
  /** 'sqlite', 'memory' or 'none'; 'memory' after a fallback says why in `fallback`. */
  backend: 'sqlite' | 'memory' | 'none';
  file?: string;
  fallback?: string;
  rows: number;
  bytes: number;
  max_rows: number;
  max_bytes: number;
  /** Rows purged to keep the caps. */
  evicted: number;
  /** Direct requests engines reported in task_report messages since the controller started. */
  reported?: number;
  dropped?: number; // records (stored values, kept requests) dropped unwritten: they came faster than the database wrote them
}

/**
 * One direct request an engine answered (task_report, protocol section 13): the controller never
 * sees these, so the engine tells it. Positional, so a report is small to build, send and read;
 * the fields in DIRECT_ENTRY_FIELDS order. Times are ISO 8601; `received` is the engine's.
 * `stdout` and `stderr`: what it printed, each capped by the engine (16 KiB characters); `ename`
 * and `evalue`: errors only. Those four may be null or left off the end.
 */
export type DirectTaskEntry = [
  msg_id: string,
  msg_type: string,
  /** The client's session (the request's header.session). */
  session: string,
  /** The request's header.date. */
  submitted: string | null,
  received: string,
  started: string,
  completed: string,
  status: 'ok' | 'error' | 'aborted',
  /** Bytes of the reply as sent. */
  result_bytes: number,
  /** As the recorder keeps it: code, function source or names, truncated. */
  code: string | null,
  label: string | null,
  stdout?: string | null,
  stderr?: string | null,
  ename?: string | null,
  evalue?: string | null,
];

/** The names of a DirectTaskEntry's positions, in order (section 13). */
export const DIRECT_ENTRY_FIELDS = ['msg_id', 'msg_type', 'session', 'submitted', 'received', 'started', 'completed', 'status', 'result_bytes', 'code', 'label', 'stdout', 'stderr', 'ename', 'evalue'] as const;
/** Positions every entry has (the rest may be left off). */
export const DIRECT_ENTRY_REQUIRED = 11;

/** Where the controller listens (status_reply.listen): `location` is the address written into connection files. */
export interface ListenAddress {
  ip: string;
  port: number;
  location: string;
  /** False when the controller accepts connections from beyond this machine. */
  loopback: boolean;
}

/**
 * What an engine process uses, as the engine itself measures it (heartbeat.stats): the app's
 * engine table works alike for engines on this host and on others.
 */
export interface EngineStats {
  /** The host the engine runs on, by its own name for it (node: os.hostname(), python: socket.gethostname()). */
  host: string;
  /** Percent of one core the engine process used since its previous stats (on the first: since it started); above 100 with several threads busy. */
  cpu: number;
  /** The engine process's resident memory, bytes. */
  rss: number;
  /** The host's physical memory, bytes. */
  mem_total?: number;
  /** The host's load average over the last minute. */
  load?: number;
}

/** An engine's heart adds stats to its first beat and then to one beat about every this many ms (not to every beat when beats are fast). */
export const STATS_INTERVAL_MS = 1000;

export interface DirectAddress {
  ip: string;
  port: number;
}

/** The controller process's memory in bytes (status_reply.memory), as node's process.memoryUsage() reports it. */
export interface ControllerMemory {
  rss: number;
  heap_used: number;
  heap_total: number;
  external: number;
  array_buffers: number;
  /** Full collections the controller ran after bursts of traffic went quiet. */
  idle_collections: number;
}

/** The controller's store of results whose client went away (status_reply.result_store). */
export interface ResultStoreStatus {
  entries: number;
  bytes: number;
  max_entries: number;
  max_bytes: number;
  /** Results evicted (least recently used first) to stay under the caps, since the controller started. */
  evicted: number;
}

/** What an engine is running, as the controller sees it: `started` is when the engine got to it. */
export interface CurrentTask {
  msg_id: string;
  msg_type: string;
  /** ISO time the controller sent it (or, when it was queued, when the engine answered the one before). */
  started: string;
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
export interface ContentMap extends ProbeContentMap {
  // -- engine <-> controller
  registration_request: {
    uuid: string;
    kernel: KernelKind;
    language_version: string;
    host: string;
    pid: number;
    /** Set when the engine was started by the controller with an id to take. */
    requested_id?: number;
    /** True when the engine registers again after losing its controller connection; its namespace is intact. */
    resume?: boolean;
    /** True when a controller launched this process (it may adopt and restart it after a controller restart). */
    supervised?: boolean;
    /** The interpreter running the engine (python engines: sys.executable), for restarts. */
    executable?: string;
    direct?: DirectAddress;
    /** The engine set that started it (its --engine-set flag). */
    engine_set?: string;
  };
  registration_reply: Reply<{
    id: number;
    heartbeat_ms: number;
    /** When the controller connection drops, try to register again (same id, same namespace) for this long; 0 or absent: exit. */
    reconnect_ms?: number;
    /** The controller's maximum message size: a reply bigger than this must be replaced by an error reply. */
    max_message_bytes?: number;
    /** Output (stream text) allowed per request; past it the engine sends a truncation marker and drops the rest. */
    max_output_bytes?: number;
    /** Send task_report messages for direct requests (false or absent: the controller records nothing, so do not). */
    report_tasks?: boolean;
  }>;
  /**
   * Sent by an engine's heart every heartbeat_ms, on its own connection. `running`: the request
   * the engine runs now, when there is one (the controller sees direct work by it). `stats`: on
   * the first beat and then about every STATS_INTERVAL_MS.
   */
  heartbeat: { uuid: string; id: number; running?: Pick<CurrentTask, 'msg_id' | 'msg_type'>; stats?: EngineStats };
  /** The engine's work from direct connections, which the controller does not route (section 13). */
  engine_activity: {
    direct_running: CurrentTask | null;
    direct_queued: number;
    direct_done: number;
    /** Requests whose direct connection closed before they were answered: their answers follow here, metadata.orphan. */
    orphaned?: Header[];
  };
  /** Direct requests the engine answered since its last report, batched (section 13). */
  /** `n` entries, as one JSON array of DirectTaskEntry in the message's only buffer (UTF-8): the controller hands it to its database thread unread. */
  task_report: { n: number };
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

  // -- client <-> engine, on a direct connection (section 13)
  engine_connect_request: { engine_uuid: string };
  engine_connect_reply: Reply<{ id: number; uuid: string }>;

  // -- client <-> controller
  /** subscribe: which engine_event pushes this client wants ('registration': registrations, deaths, and going into or out of unresponsive). */
  /** task_events: push task_events messages (section 15) to this client. */
  connect_request: { subscribe?: 'none' | 'registration' | 'all'; task_events?: boolean };
  connect_reply: Reply<{
    engines: EngineInfo[];
    controller_pid: number;
    /** The controller's number for this client (`client` in task records and events); a reconnection gets a new one. */
    client?: number;
    heartbeat_ms: number;
    /** Messages bigger than this are refused: clients check before sending. */
    max_message_bytes?: number;
    /** When the connection drops, clients try to reconnect for this long (the controller may be restarted). */
    reconnect_ms?: number;
  }>;
  engine_event: { event: 'registered' | 'state' | 'unregistered'; engine: EngineInfo };
  /** The task events of one interval: listed up to the cap, counted in `overflow` past it (section 15). */
  task_events: { events: TaskEvent[]; overflow?: TaskEventOverflow };
  status_request: Record<string, never>;
  status_reply: Reply<{
    engines: EngineInfo[];
    dropped_messages: number;
    clients: number;
    result_store?: ResultStoreStatus;
    memory?: ControllerMemory;
    engine_sets?: EngineSetInfo[];
    listen?: ListenAddress;
    /** Load-balanced tasks the scheduler holds and has not sent to any engine yet. */
    unassigned?: number;
    /** How the scheduler picks an engine for a load-balanced task (the controller's --scheme: one of SCHEMES from ours; a string, so a newer controller's scheme still reads). */
    scheme?: string;
    /** Load-balanced tasks outstanding per engine at most (the controller's --hwm; 0: no limit). */
    hwm?: number;
    task_db?: TaskDbStatus;
  }>;
  /** The result of a request whose client went away before it was answered (kept in the controller's result store). */
  result_request: { msg_id: string };
  /**
   * What the store holds for msg_id: the request's type, the engines whose replies it holds or still awaits.
   * It is followed by the stored `stream` and `<type>_reply` messages themselves, unchanged (and, for engines
   * still running it, by their replies when they come). Not found / evicted: an error with ename 'KeyError'.
   */
  result_reply: Reply<{ msg_id: string; msg_type: string; engine_ids: number[]; pending: number[] }>;
  /**
   * Start an engine set of `n` engines through `launcher` (default 'local'; a built-in name or a
   * plugin's module path) with its options; answered once all registered, with their ids and the set's id.
   */
  add_engines_request: {
    n: number;
    engine?: KernelKind;
    python?: string;
    launcher?: string;
    launcher_options?: { [key: string]: Json };
    /** How long to wait for all engines to register (a batch job may pend in its queue first). */
    timeout_ms?: number;
  };
  add_engines_reply: Reply<{ ids: number[]; set?: string }>;
  engine_sets_request: Record<string, never>;
  engine_sets_reply: Reply<{ sets: EngineSetInfo[] }>;
  /** Stops a set's engines and ends its launcher (cancels its batch job). */
  stop_engine_set_request: { set: string };
  stop_engine_set_reply: Reply<object>;
  /** What the set's launcher printed (mpiexec's, srun's, ssh's own output, the batch job's output file). */
  engine_set_output_request: { set: string };
  engine_set_output_reply: Reply<{ output: string }>;
  stop_engine_request: { id: number };
  stop_engine_reply: Reply<object>;
  restart_engine_request: { id: number };
  restart_engine_reply: Reply<{ id: number }>;
  /** Interrupt the running request on the targets (metadata.targets); with msg_ids, only when the running request is one of them. */
  interrupt_request: { msg_ids?: string[] };
  interrupt_reply: Reply<object>;
  /** Drop queued requests on the targets; msg_ids limits it to those. Each dropped request is answered with status 'aborted'. */
  abort_request: { msg_ids?: string[] };
  abort_reply: Reply<object>;
  /** Task records matching a filter (rc.dbQuery); keys limits the fields returned (msg_id and engine_id always come). */
  /** last: only the newest N matching records (in the order they were recorded, running ones last). */
  db_request: { filter: TaskFilter; keys?: string[]; last?: number };
  db_reply: Reply<{ records: Partial<TaskRecord>[] }>;
  /** Every recorded msg_id in the order they were submitted, then those still running (rc.hubHistory). */
  history_request: Record<string, never>;
  history_reply: Reply<{ msg_ids: string[] }>;
  /** Forget finished task records and stored results: these msg_ids or 'all', limited to the targets' records when given. */
  purge_request: { msg_ids: string[] | 'all'; targets?: number[] };
  purge_reply: Reply<{ purged: number }>;
  /**
   * Runs recorded execute and apply requests again, with new msg_ids (in order), as requests of no
   * session: their answers go to the result store, fetched with result_request (rc.getResult).
   */
  resubmit_request: { msg_ids: string[] };
  resubmit_reply: Reply<{ msg_ids: string[] }>;
  /** Per engine queued, running and completed counts, and load-balanced tasks not yet assigned (rc.queueStatus). */
  queue_request: Record<string, never>;
  queue_reply: Reply<{ engines: QueueCounts[]; unassigned: number }>;
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

/**
 * metadata.balanced of a load-balanced work request (docs/protocol.md, "Load-balanced requests"):
 * the controller's scheduler picks the engine. A type, not an interface, so that it is a Json value.
 */
export type BalancedSpec = {
  /** Engines it may run on; absent: all. */
  pool?: number[];
  /** Resubmissions (to an engine that has not failed it) after an error reply or an engine death; default 0. */
  retries?: number;
  /** Fail with TaskTimeout when no engine started it within this many ms. */
  timeout_ms?: number;
  /** msg_ids of tasks that must have finished first. */
  after?: string[];
  /** msg_ids of tasks it must run where they ran. */
  follow?: string[];
  /** With after/follow: a failed dependency makes this task fail with ImpossibleDependency. */
  success_only?: boolean;
  label?: string;
  store?: boolean; // keep its answers in the task database (section 15)
  /** Only engines of this kernel (EngineInfo.kernel) may run it: the language its function is written in. */
  kernel?: KernelKind;
  /** How direct requests named in after/follow ended, as the client that sent them saw them (the controller does not track direct requests). */
  direct?: DirectOutcome[];
  /** A task of a map call: the map's id and size, for task events and progress (the scheduler ignores it). */
  map?: TaskMap;
};

/** A finished direct request: whether every engine answered ok, and which engines ran it. */
export type DirectOutcome = {
  msg_id: string;
  ok: boolean;
  engines: number[];
};

/** enames of the error replies the scheduler itself makes for a load-balanced task. */
export const SCHEDULER_ENAMES = ['TaskTimeout', 'ImpossibleDependency', 'UnmetDependency', 'EngineError'] as const;
export type SchedulerEname = (typeof SCHEDULER_ENAMES)[number];

/** How the scheduler picks among the engines that may take a task (the controller's --scheme). */
export const SCHEMES = ['leastload', 'lru', 'random', 'twobin', 'weighted'] as const;
export type Scheme = (typeof SCHEMES)[number];

export interface Metadata {
  /** On work, interrupt and abort requests: the engine ids to run on. */
  targets?: number[];
  /** On execute and apply requests sent without targets: a load-balanced task. */
  balanced?: BalancedSpec;
  /** On replies from engines (or made for them by the controller). */
  engine_id?: number;
  /** When the request reached the engine, before it waited in its queue. */
  received?: string;
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

/** 18 random characters, drawn once per process: msg_ids are unique across processes by them, within one by the counter. */
const ID_PREFIX = globalThis.crypto.randomUUID().slice(0, 18);
let counter = 0;
function newId(): string {
  counter = (counter + 1) % 0x7fffffff;
  return ID_PREFIX + counter.toString(16).padStart(8, '0');
}

/** A fresh msg_id, for a message made later (a load-balanced task held in the client until its dependencies allow). */
export function newMsgId(): string {
  return newId();
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

export function errorContent(ename: string, evalue: string, traceback: string[] = []): ErrorContent {
  return { status: 'error', ename, evalue, traceback };
}

/** A header is valid when it has the fields every peer relies on; used to reject junk frames. */
export function isValidHeader(h: unknown): h is Header {
  if (typeof h !== 'object' || h === null) return false;
  const r = h as Record<string, unknown>;
  return typeof r.msg_id === 'string' && typeof r.msg_type === 'string' && typeof r.session === 'string';
}
