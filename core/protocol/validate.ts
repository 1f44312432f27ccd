/**
 * Checks of wire messages at the protocol boundary, done once where a peer receives them.
 * The codec guarantees a valid header and JSON-object parent_header, metadata and content;
 * these checks go on to the fields a receiver uses and return them typed, or throw a
 * WireError whose message names the field in plain words. They look only at the fields
 * peers read (no walk through user values), so they are cheap enough for every message.
 * Runtime-free, like messages.ts: every process (and docs/protocol.md) shares it.
 */
import { isValidHeader, TASK_FIELDS, TASK_OPERATORS, type ContentMap, type CurrentTask, type DirectAddress, type EngineInfo, type EngineState, type EngineStats, type Header, type Json, type KernelKind, type Message, type MsgType, TASK_EVENT_KINDS, type TaskCondition, type TaskFilter } from './messages.js';
import { PROFILE_SECONDS } from './probe.js';

/** A message whose content or metadata is not what its type promises. */
export class WireError extends Error {
  constructor(
    message: string,
    /** The ename an error reply about it carries: a malformed message, or a bad value in a well-formed one. */
    readonly ename: 'ProtocolError' | 'ValueError' = 'ProtocolError',
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/** A short rendering of a received value for error messages. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return typeof v;
  }
}

type Fields = Record<string, unknown>;

export function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function str(c: Fields, field: string): string {
  const v = c[field];
  if (typeof v !== 'string') throw new WireError(`${field} must be a string, got ${describe(v)}`);
  return v;
}

function count(c: Fields, field: string): number {
  const v = c[field];
  if (!isCount(v)) throw new WireError(`${field} must be a whole number, got ${describe(v)}`);
  return v;
}

function optional<T>(c: Fields, field: string, check: (c: Fields, field: string) => T): T | undefined {
  return c[field] === undefined || c[field] === null ? undefined : check(c, field);
}

function strings(c: Fields, field: string, what: string): string[] {
  const v = c[field];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new WireError(`${field} must be an array of ${what}, got ${describe(v)}`);
  return v as string[];
}

/** An array of engine ids (whole numbers). */
function ids(c: Fields, field: string): number[] {
  const v = array(c, field);
  for (let i = 0; i < v.length; i++) if (!isCount(v[i])) throw new WireError(`${field}[${i}] must be an engine id (a whole number), got ${describe(v[i])}`);
  return v as number[];
}

function array(c: Fields, field: string): unknown[] {
  const v = c[field];
  if (!Array.isArray(v)) throw new WireError(`${field} must be an array, got ${describe(v)}`);
  return v;
}

/** An engine language's name: any engine may register (the controller starts only those core/kernels describes). */
const KERNEL_NAME = /^[A-Za-z][A-Za-z0-9_.+-]{0,31}$/;

export function kernel(v: unknown, field: string, ename: WireError['ename'] = 'ProtocolError'): KernelKind {
  if (typeof v !== 'string' || !KERNEL_NAME.test(v)) throw new WireError(`${field} must name the engine's language (a letter, then up to 31 letters, digits or _.+-), got ${describe(v)}`, ename);
  return v;
}

function header(v: unknown, field: string): Header {
  if (!isValidHeader(v)) throw new WireError(`${field} must be a message header (msg_id, msg_type and session strings), got ${describe(v)}`);
  return v;
}

/** An engine id in a request: a whole number. */
function engineId(c: Fields, field: string): number {
  const v = c[field];
  if (!Number.isSafeInteger(v)) throw new WireError(`${field} must be an engine id (integer), got ${describe(v)}`, 'ValueError');
  return v as number;
}

/** msg_ids of interrupt and abort requests: absent, or msg_id strings. */
function msgIds(c: Fields): { msg_ids?: string[] } {
  return c.msg_ids === undefined ? {} : { msg_ids: strings(c, 'msg_ids', 'msg_id strings') };
}

/** A probe's stack frames (core/protocol/probe.ts): each {function, file, line}. */
function frames(c: Fields, field: string): void {
  array(c, field).forEach((f, i) => {
    if (!isObject(f) || typeof f.function !== 'string' || typeof f.file !== 'string' || !Number.isSafeInteger(f.line)) throw new WireError(`${field}[${i}] must be a frame {function, file, line}, got ${describe(f)}`);
  });
}

function profileRequest(c: Fields): ContentMap['profile_request'] {
  const s = c.seconds;
  if (typeof s !== 'number' || !(s >= PROFILE_SECONDS.min && s <= PROFILE_SECONDS.max)) throw new WireError(`seconds must be a number from ${PROFILE_SECONDS.min} to ${PROFILE_SECONDS.max}, got ${describe(s)}`, 'ValueError');
  return { engine_id: engineId(c, 'engine_id'), seconds: s };
}

function none(): Record<string, never> {
  return {};
}

/** registration_request.direct when it is a usable address, else undefined (the engine is reached through the controller only). */
function directAddress(v: unknown): DirectAddress | undefined {
  if (!isObject(v)) return undefined;
  const { ip, port } = v;
  if (typeof ip !== 'string' || ip.length === 0 || ip.length > 255 || !Number.isSafeInteger(port) || (port as number) < 1 || (port as number) > 65535) return undefined;
  return { ip, port: port as number };
}

const MAX_UUID = 256;

function registrationRequest(c: Fields): ContentMap['registration_request'] {
  const uuid = c.uuid;
  if (typeof uuid !== 'string' || uuid.length === 0 || uuid.length > MAX_UUID) throw new WireError('uuid must be a non-empty string');
  const kind = kernel(c.kernel, 'kernel');
  if (!Number.isSafeInteger(c.pid)) throw new WireError(`pid must be an integer, got ${describe(c.pid)}`);
  const req = c.requested_id;
  if (req !== undefined && req !== null && !isCount(req)) throw new WireError(`requested_id must be a whole number, got ${describe(req)}`);
  // Descriptive fields are optional: an engine that leaves them out still registers.
  const out: ContentMap['registration_request'] = {
    uuid,
    kernel: kind,
    language_version: typeof c.language_version === 'string' ? c.language_version : '',
    host: typeof c.host === 'string' ? c.host : '',
    pid: c.pid as number,
  };
  if (isCount(req)) out.requested_id = req;
  if (c.resume === true) out.resume = true;
  if (c.supervised === true) out.supervised = true;
  if (typeof c.executable === 'string' && c.executable !== '') out.executable = c.executable;
  const direct = directAddress(c.direct);
  if (direct) out.direct = direct;
  if (c.engine_set !== undefined && c.engine_set !== null) out.engine_set = setId(c, 'engine_set', 'ProtocolError');
  return out;
}

/** An engine set's id as a request names it ('set-3'). */
function setId(c: Fields, field: string, ename: WireError['ename'] = 'ValueError'): string {
  const v = c[field];
  if (typeof v !== 'string' || !/^[\w.-]{1,64}$/.test(v)) throw new WireError(`${field} must name an engine set (as 'set-1'), got ${describe(v)}`, ename);
  return v;
}

function runningTask(v: unknown, field: string): CurrentTask | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v) || typeof v.msg_id !== 'string') throw new WireError(`${field} must be null or a task with a msg_id string, got ${describe(v)}`);
  return { msg_id: v.msg_id, msg_type: String(v.msg_type), started: String(v.started) };
}

/** A field of heartbeat.stats: a finite number >= 0 (`whole`: an integer, such as a count of bytes). */
function measure(c: Fields, field: string, what: string, whole = false): number {
  const v = c[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (whole && !Number.isSafeInteger(v))) throw new WireError(`stats.${field} must be ${what}, got ${describe(v)}`);
  return v;
}

/** heartbeat.stats, checked: a new object with the known fields only; throws WireError naming the field. */
export function checkEngineStats(v: unknown): EngineStats {
  if (!isObject(v)) throw new WireError(`stats must be an object {host, cpu, rss, mem_total?, load?}, got ${describe(v)}`);
  const host = v.host;
  if (typeof host !== 'string' || host === '' || host.length > 255) throw new WireError(`stats.host must be the engine's host name (1 to 255 characters), got ${describe(host)}`);
  const out: EngineStats = { host, cpu: measure(v, 'cpu', 'a percentage of one core (a number >= 0)'), rss: measure(v, 'rss', 'a number of bytes (a whole number >= 0)', true) };
  if (v.mem_total !== undefined && v.mem_total !== null) out.mem_total = measure(v, 'mem_total', 'a number of bytes (a whole number >= 0)', true);
  if (v.load !== undefined && v.load !== null) out.load = measure(v, 'load', 'a load average (a number >= 0)');
  return out;
}

/**
 * A heartbeat, and why its stats were left out when they were malformed: such a beat still
 * says the engine is alive, and its receiver counts the stats as dropped.
 */
function heartbeatOf(c: Fields): { beat: ContentMap['heartbeat']; badStats?: string } {
  const beat: ContentMap['heartbeat'] = { uuid: str(c, 'uuid'), id: Number.isSafeInteger(c.id) ? (c.id as number) : -1 };
  const r = c.running;
  // A beat with no usable task names none (the engine is between requests).
  if (isObject(r) && typeof r.msg_id === 'string') beat.running = { msg_id: r.msg_id, msg_type: String(r.msg_type) };
  if (c.stats === undefined || c.stats === null) return { beat };
  try {
    beat.stats = checkEngineStats(c.stats);
    return { beat };
  } catch (e) {
    return { beat, badStats: (e as Error).message };
  }
}

/** heartbeat content, checked (throws WireError as checkContent does), with the reason its stats were left out, if they were. */
export function checkHeartbeat(content: unknown): { beat: ContentMap['heartbeat']; badStats?: string } {
  return heartbeatOf(contentObject('heartbeat', content));
}

function engineActivity(c: Fields): ContentMap['engine_activity'] {
  const out: ContentMap['engine_activity'] = {
    direct_running: runningTask(c.direct_running, 'direct_running'),
    direct_queued: count(c, 'direct_queued'),
    direct_done: count(c, 'direct_done'),
  };
  if (c.orphaned !== undefined) out.orphaned = array(c, 'orphaned').map((h, i) => header(h, `orphaned[${i}]`));
  return out;
}

/** task_report: the count of entries in its buffer (the entries are checked where they are read: directEntries.ts). */
function taskReport(c: Fields): ContentMap['task_report'] {
  return { n: count(c, 'n') };
}

function stream(c: Fields): ContentMap['stream'] {
  if (c.name !== 'stdout' && c.name !== 'stderr') throw new WireError(`name must be 'stdout' or 'stderr', got ${describe(c.name)}`);
  str(c, 'text');
  return c as ContentMap['stream'];
}

function connectRequest(c: Fields): ContentMap['connect_request'] {
  const sub = c.subscribe ?? 'none';
  if (sub !== 'none' && sub !== 'registration' && sub !== 'all') throw new WireError(`subscribe must be 'none', 'registration' or 'all', got ${describe(sub)}`, 'ValueError');
  const te = c.task_events ?? false;
  if (typeof te !== 'boolean') throw new WireError(`task_events must be true or false, got ${describe(te)}`, 'ValueError');
  return { subscribe: sub, task_events: te };
}

const EVENT_KINDS: ReadonlySet<unknown> = new Set(TASK_EVENT_KINDS);

/** task_events: each event's kind, ids and engine (what a listener keys on); the overflow's counts. */
function taskEvents(c: Fields): ContentMap['task_events'] {
  const events = array(c, 'events');
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (!isObject(e) || !EVENT_KINDS.has(e.event)) throw new WireError(`events[${i}].event must be one of ${TASK_EVENT_KINDS.join(', ')}, got ${describe(isObject(e) ? e.event : e)}`);
    str(e, 'msg_id');
    count(e, 'client');
    if (e.engine_id !== null) count(e, 'engine_id');
  }
  const o = c.overflow;
  if (o !== undefined) {
    const f = isObject(o) ? o.finished : undefined;
    if (!isObject(o) || !isObject(f)) throw new WireError(`overflow must be counts of submitted, started and finished events, got ${describe(o)}`);
    count(o, 'submitted');
    count(o, 'started');
    for (const k of ['ok', 'error', 'aborted']) count(f, k);
  }
  return c as unknown as ContentMap['task_events'];
}

function resultRequest(c: Fields): ContentMap['result_request'] {
  const id = c.msg_id;
  if (typeof id !== 'string' || id === '') throw new WireError(`msg_id must be a msg_id string, got ${describe(id)}`);
  return { msg_id: id };
}

const TASK_FIELD_SET: ReadonlySet<string> = new Set(TASK_FIELDS);
const TASK_OPERATOR_SET: ReadonlySet<string> = new Set(TASK_OPERATORS);

function taskField(name: string, where: string): void {
  if (!TASK_FIELD_SET.has(name)) throw new WireError(`${where} ${describe(name)} is not a task record field (fields: ${TASK_FIELDS.join(', ')})`, 'ValueError');
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** A db_request filter: known fields, each equal to a value or compared with $lt/$gt/$in/...; named in the user's terms when wrong. */
function taskFilter(v: unknown): TaskFilter {
  if (!isObject(v)) throw new WireError(`filter must be an object of field conditions such as {status: 'error'} or {completed: {$gt: '2026-01-01'}}, got ${describe(v)}`, 'ValueError');
  for (const [field, cond] of Object.entries(v)) {
    taskField(field, 'filter field');
    if (isScalar(cond)) continue;
    if (!isObject(cond) || Object.keys(cond).length === 0) throw new WireError(`filter.${field} must be a value or an object of comparisons (${TASK_OPERATORS.join(', ')}), got ${describe(cond)}`, 'ValueError');
    for (const [op, x] of Object.entries(cond)) {
      if (!TASK_OPERATOR_SET.has(op)) throw new WireError(`filter.${field} has an unknown comparison ${describe(op)} (use ${TASK_OPERATORS.join(', ')})`, 'ValueError');
      const ok = op === '$in' || op === '$nin' ? Array.isArray(x) && x.every((y) => isScalar(y) && typeof y !== 'boolean') : op === '$ne' ? isScalar(x) : typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
      if (!ok) throw new WireError(`filter.${field}.${op} must be ${op === '$in' || op === '$nin' ? 'an array of values' : op === '$ne' ? 'a value' : 'a number or a string (times are ISO 8601 strings)'}, got ${describe(x)}`, 'ValueError');
    }
  }
  return v as { [field: string]: TaskCondition };
}

function dbRequest(c: Fields): ContentMap['db_request'] {
  const out: ContentMap['db_request'] = { filter: taskFilter(c.filter) };
  if (c.keys !== undefined && c.keys !== null) {
    out.keys = strings(c, 'keys', 'task record field names');
    for (const k of out.keys) taskField(k, 'key');
  }
  if (c.last !== undefined && c.last !== null) {
    if (!Number.isSafeInteger(c.last) || (c.last as number) < 1) throw new WireError(`last must be a whole number of records ≥ 1, got ${describe(c.last)}`, 'ValueError');
    out.last = c.last as number;
  }
  return out;
}

function purgeRequest(c: Fields): ContentMap['purge_request'] {
  const m = c.msg_ids;
  const out: ContentMap['purge_request'] = { msg_ids: m === 'all' ? 'all' : [] };
  if (m !== 'all') {
    if (!Array.isArray(m) || !m.every((x) => typeof x === 'string')) throw new WireError(`msg_ids must be an array of msg_id strings or 'all', got ${describe(m)}`, 'ValueError');
    out.msg_ids = m as string[];
  }
  if (c.targets !== undefined && c.targets !== null) out.targets = ids(c, 'targets');
  return out;
}

/** Engines a controller starts in one add_engines_request, at most. */
export const MAX_ADD_ENGINES = 1024;

function addEnginesRequest(c: Fields): ContentMap['add_engines_request'] {
  const n = c.n;
  if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > MAX_ADD_ENGINES) {
    throw new WireError(`n must be a whole number from 1 to ${MAX_ADD_ENGINES}, got ${describe(n)}`, 'ValueError');
  }
  const out: ContentMap['add_engines_request'] = { n: n as number, engine: kernel(c.engine ?? 'node', 'engine', 'ValueError') };
  const python = c.python;
  if (python !== undefined && python !== null) {
    if (typeof python !== 'string' || python === '') throw new WireError(`python must be the path or name of a python interpreter, got ${describe(python)}`, 'ValueError');
    out.python = python;
  }
  if (c.launcher !== undefined && c.launcher !== null) {
    if (typeof c.launcher !== 'string' || c.launcher === '') throw new WireError(`launcher must name a launcher (local, mpi, ssh, slurm, batch) or a module path, got ${describe(c.launcher)}`, 'ValueError');
    out.launcher = c.launcher;
  }
  if (c.launcher_options !== undefined && c.launcher_options !== null) {
    if (!isObject(c.launcher_options)) throw new WireError(`launcher_options must be an object of option names and values, got ${describe(c.launcher_options)}`, 'ValueError');
    out.launcher_options = c.launcher_options as { [key: string]: Json };
  }
  if (c.timeout_ms !== undefined && c.timeout_ms !== null) {
    if (!Number.isSafeInteger(c.timeout_ms) || (c.timeout_ms as number) < 1) throw new WireError(`timeout_ms must be a whole number of milliseconds, got ${describe(c.timeout_ms)}`, 'ValueError');
    out.timeout_ms = c.timeout_ms as number;
  }
  return out;
}

const ENGINE_STATES: ReadonlySet<unknown> = new Set<EngineState>(['starting', 'idle', 'busy', 'unresponsive', 'dead']);

function engineInfo(v: unknown, field: string): EngineInfo {
  if (!isObject(v)) throw new WireError(`${field} must be an engine description, got ${describe(v)}`);
  if (!isCount(v.id)) throw new WireError(`${field}.id must be a whole number, got ${describe(v.id)}`);
  if (!ENGINE_STATES.has(v.state)) throw new WireError(`${field}.state must be an engine state, got ${describe(v.state)}`);
  kernel(v.kernel, `${field}.kernel`);
  return v as unknown as EngineInfo;
}

function engineList(c: Fields): void {
  const list = array(c, 'engines');
  for (let i = 0; i < list.length; i++) engineInfo(list[i], `engines[${i}]`);
}

function engineEvent(c: Fields): ContentMap['engine_event'] {
  const event = c.event;
  if (event !== 'registered' && event !== 'state' && event !== 'unregistered') {
    throw new WireError(`event must be 'registered', 'state' or 'unregistered', got ${describe(event)}`);
  }
  return { event, engine: engineInfo(c.engine, 'engine') };
}

/** Checks of the fields of a successful reply; failures are checked alike for every reply type. */
type OkCheck = (c: Fields) => void;

/**
 * The part every reply shares: status 'ok', 'aborted', or 'error' with ename and evalue
 * strings. A relay (the controller) checks this much; the receiver checks the rest.
 */
export function checkReply(c: Message['content']): void {
  const r = c as Fields;
  const status = r.status;
  if (status === 'error') {
    str(r, 'ename');
    str(r, 'evalue');
  } else if (status !== 'ok' && status !== 'aborted') throw new WireError(`status must be 'ok', 'error' or 'aborted', got ${describe(status)}`);
}

/** A reply: the shared part, then for 'ok' the type's own fields. Returned as it came (no copy: replies are the hot path). */
function reply<T extends MsgType>(ok: OkCheck): (c: Fields) => ContentMap[T] {
  return (c) => {
    checkReply(c);
    if (c.status === 'ok') ok(c);
    return c as ContentMap[T];
  };
}

const nothing: OkCheck = () => {};

/** Content checks of every message type a peer receives from the network. */
const CONTENT: { [K in MsgType]: (c: Fields) => ContentMap[K] } = {
  // engine -> controller
  registration_request: registrationRequest,
  heartbeat: (c) => heartbeatOf(c).beat,
  engine_activity: engineActivity,
  task_report: taskReport,
  stream,
  // controller -> engine
  registration_reply: reply<'registration_reply'>((c) => {
    count(c, 'id');
    count(c, 'heartbeat_ms');
    for (const f of ['reconnect_ms', 'max_message_bytes', 'max_output_bytes']) optional(c, f, count);
    if (c.report_tasks !== undefined && typeof c.report_tasks !== 'boolean') throw new WireError(`report_tasks must be true or false, got ${describe(c.report_tasks)}`);
  }),
  shutdown_request: none,
  // work: client -> controller -> engine, and back (the values inside are the engine's to decode)
  execute_request: (c) => ({ code: str(c, 'code'), silent: c.silent === true }),
  execute_reply: reply<'execute_reply'>((c) => {
    count(c, 'execution_count');
    optional(c, 'result', str);
  }),
  apply_request: (c) => ({
    fn: str(c, 'fn'),
    args: c.args === undefined ? [] : (array(c, 'args') as Json[]),
    require: c.require === undefined ? undefined : strings(c, 'require', 'module names'),
  }),
  apply_reply: reply<'apply_reply'>(nothing),
  push_request: (c) => {
    if (!isObject(c.ns)) throw new WireError(`ns must be an object of names and values, got ${describe(c.ns)}`);
    return { ns: c.ns as { [name: string]: Json } };
  },
  push_reply: reply<'push_reply'>(nothing),
  pull_request: (c) => ({ names: strings(c, 'names', 'names') }),
  pull_reply: reply<'pull_reply'>((c) => void array(c, 'values')),
  keys_request: none,
  keys_reply: reply<'keys_reply'>((c) => void strings(c, 'keys', 'names')),
  clear_request: none,
  clear_reply: reply<'clear_reply'>(nothing),
  // client <-> engine, direct
  engine_connect_request: (c) => ({ engine_uuid: str(c, 'engine_uuid') }),
  engine_connect_reply: reply<'engine_connect_reply'>((c) => {
    count(c, 'id');
    str(c, 'uuid');
  }),
  // client <-> controller
  connect_request: connectRequest,
  connect_reply: reply<'connect_reply'>((c) => {
    engineList(c);
    count(c, 'controller_pid');
    optional(c, 'client', count);
    count(c, 'heartbeat_ms');
    optional(c, 'max_message_bytes', count);
    optional(c, 'reconnect_ms', count);
  }),
  engine_event: engineEvent,
  task_events: taskEvents,
  status_request: none,
  status_reply: reply<'status_reply'>((c) => {
    engineList(c);
    count(c, 'dropped_messages');
    count(c, 'clients');
    optional(c, 'unassigned', count);
    optional(c, 'scheme', str);
    optional(c, 'hwm', count);
  }),
  result_request: resultRequest,
  result_reply: reply<'result_reply'>((c) => {
    str(c, 'msg_id');
    str(c, 'msg_type');
    ids(c, 'engine_ids');
    ids(c, 'pending');
  }),
  add_engines_request: addEnginesRequest,
  add_engines_reply: reply<'add_engines_reply'>((c) => void ids(c, 'ids')),
  engine_sets_request: none,
  engine_sets_reply: reply<'engine_sets_reply'>((c) => void array(c, 'sets')),
  stop_engine_set_request: (c) => ({ set: setId(c, 'set') }),
  stop_engine_set_reply: reply<'stop_engine_set_reply'>(nothing),
  engine_set_output_request: (c) => ({ set: setId(c, 'set') }),
  engine_set_output_reply: reply<'engine_set_output_reply'>((c) => void str(c, 'output')),
  stop_engine_request: (c) => ({ id: engineId(c, 'id') }),
  stop_engine_reply: reply<'stop_engine_reply'>(nothing),
  restart_engine_request: (c) => ({ id: engineId(c, 'id') }),
  restart_engine_reply: reply<'restart_engine_reply'>((c) => void count(c, 'id')),
  interrupt_request: msgIds,
  interrupt_reply: reply<'interrupt_reply'>(nothing),
  abort_request: msgIds,
  abort_reply: reply<'abort_reply'>(nothing),
  db_request: dbRequest,
  db_reply: reply<'db_reply'>((c) => void array(c, 'records')),
  history_request: none,
  history_reply: reply<'history_reply'>((c) => void strings(c, 'msg_ids', 'msg_ids')),
  purge_request: purgeRequest,
  purge_reply: reply<'purge_reply'>((c) => void count(c, 'purged')),
  resubmit_request: (c) => {
    const ids = strings(c, 'msg_ids', 'msg_id strings');
    if (ids.length === 0) throw new WireError('msg_ids is empty: name at least one request to run again', 'ValueError');
    return { msg_ids: ids };
  },
  resubmit_reply: reply<'resubmit_reply'>((c) => void strings(c, 'msg_ids', 'msg_ids')),
  queue_request: none,
  queue_reply: reply<'queue_reply'>((c) => {
    array(c, 'engines');
    count(c, 'unassigned');
  }),
  controller_shutdown_request: none,
  controller_shutdown_reply: reply<'controller_shutdown_reply'>(nothing),
  stack_request: (c) => ({ engine_id: engineId(c, 'engine_id') }),
  stack_reply: reply<'stack_reply'>((c) => {
    count(c, 'engine_id');
    frames(c, 'frames');
  }),
  profile_request: profileRequest,
  profile_reply: reply<'profile_reply'>((c) => {
    for (const f of ['engine_id', 'samples', 'idle']) count(c, f);
    frames(c, 'frames');
    array(c, 'stacks').forEach((x, i) => {
      if (!isObject(x) || !isCount(x.count) || !Array.isArray(x.frames) || !x.frames.every(isCount)) throw new WireError(`stacks[${i}] must be {frames: [frame indices], count}, got ${describe(x)}`);
    });
  }),
};

/** Is `type` a msg_type of this protocol? */
export function isMsgType(type: string): type is MsgType {
  return Object.prototype.hasOwnProperty.call(CONTENT, type);
}

/** The content of a message of type `type`, checked and typed; throws WireError naming the field. */
export function checkContent<T extends MsgType>(type: T, content: unknown): ContentMap[T] {
  return (CONTENT[type] as (c: Fields) => ContentMap[T])(contentObject(type, content));
}

function contentObject(type: MsgType, content: unknown): Fields {
  if (!isObject(content)) throw new WireError(`the content of ${type} must be an object, got ${describe(content)}`);
  return content;
}

/** The message itself, typed by its msg_type once its content passed checkContent. */
export function checkMessage<T extends MsgType>(msg: Message, type: T): Message<T> {
  if (msg.header.msg_type !== type) throw new WireError(`expected ${type}, got ${describe(msg.header.msg_type)}`);
  checkContent(type, msg.content);
  return msg as Message<T>;
}

/** metadata.targets of a work, interrupt or abort request: a non-empty array of distinct engine ids. */
export function checkTargets(metadata: Message['metadata']): number[] {
  const t = metadata.targets as unknown;
  if (!Array.isArray(t)) throw new WireError(`metadata.targets must be an array of engine ids (integers), got ${describe(t)}`);
  if (t.length === 0) throw new WireError('metadata.targets is empty: name at least one engine id');
  for (let i = 0; i < t.length; i++) {
    const x = t[i];
    if (!Number.isSafeInteger(x) || x < 0) throw new WireError(`metadata.targets must be an array of engine ids (integers), but element ${i} is ${describe(x)}`);
  }
  if (t.length > 1 && new Set(t).size !== t.length) throw new WireError(`metadata.targets names an engine more than once: ${describe(t)}`);
  return t as number[];
}

/** The msg_id a message answers (parent_header.msg_id), or undefined when it answers none. */
export function parentIdOf(msg: Message): string | undefined {
  const id = (msg.parent_header as { msg_id?: unknown }).msg_id;
  return typeof id === 'string' ? id : undefined;
}

/** The parent header of a message that must answer a request; throws naming parent_header otherwise. */
export function checkParent(msg: Message): Header {
  return header(msg.parent_header, 'parent_header');
}

/** metadata.engine_id of a message from (or made for) an engine, or undefined. */
export function engineIdOf(metadata: Message['metadata']): number | undefined {
  const id = metadata.engine_id;
  return typeof id === 'number' ? id : undefined;
}
