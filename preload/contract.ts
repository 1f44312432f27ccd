/**
 * The one contract between the renderer and the main process.
 *
 * The renderer sees it as `window.multiengine`: named functions only, each bound to one
 * `me:<domain>:<verb>` channel. Requests (`invoke`) answer with a Promise; terminal traffic
 * (`send`) is fire-and-forget; pushes from main arrive through `onX(cb)`, which returns an
 * unsubscribe function. The same object is built over Electron IPC (preload) and over a
 * WebSocket (web mode) by `createApi`, so both bridges implement exactly this interface.
 *
 * This module is pure: no electron, no node:*, no DOM. The preload, main and the renderer
 * (for its types and the web bridge) all import it.
 */

// ---------------------------------------------------------------- data shapes

/** An engine language's name: AppInfo.engineLanguages lists those the app can start. */
export type KernelKind = string;
export type EngineState = 'starting' | 'idle' | 'busy' | 'unresponsive' | 'dead';

export interface AppSettings {
  /** Engines started with a local cluster. */
  engineCount: number;
  engineKind: KernelKind;
  /** Attach to the running cluster of `profile` instead of starting one. */
  attach: boolean;
  profile: string;
}

export interface AppInfo {
  version: string;
  platform: string;
  hostname: string;
  cpus: number;
  /** true in web mode (a browser tab), false in the desktop window. */
  web: boolean;
  /** The engine languages the app can start engines in, the default first. */
  engineLanguages: string[];
}

export interface ClusterSnapshot {
  status: 'stopped' | 'starting' | 'running' | 'stopping' | 'error';
  /** local: the app started the controller and owns it; attached: someone else's cluster. */
  mode: 'local' | 'attached';
  profile: string;
  connectionFile: string | null;
  controllerPid: number | null;
  /** Why the last start or attach failed, when it did. */
  error: string | null;
  /** Why the cluster stopped when the app did not stop it (a client shut its controller down); null until then, and again once one starts. */
  ended: string | null;
  settings: AppSettings;
  /** The controller's load balancing as its status last said; null with no cluster, or from a controller that reports none. */
  balancing: LoadBalancing | null;
}

/** The controller's scheduler of load-balanced tasks (LoadBalancedView): its settings and the tasks it holds. */
export interface LoadBalancing {
  /** How it picks an engine for a task ('leastload', 'lru', ...); null when the controller does not say. */
  scheme: string | null;
  /** Tasks it puts on one engine at most (0: no limit); null when the controller does not say. */
  hwm: number | null;
  /** Tasks it holds and has not sent to any engine yet (waiting for room or for a dependency). */
  unassigned: number;
}

export interface CurrentTaskView {
  msgType: string;
  /** Epoch ms at which the engine got to it. (msgType: what it is, e.g. execute, pull.) */
  started: number;
}

export interface EngineRow {
  /** The engine id; negative for an engine being started, which has no id yet (state 'starting'). */
  id: number;
  kernel: KernelKind;
  languageVersion: string;
  host: string;
  pid: number;
  state: EngineState;
  queue: number;
  /** Load-balanced tasks the controller's scheduler sent it and it has not answered (part of `queue`). */
  balanced: number;
  tasksDone: number;
  currentTask: CurrentTaskView | null;
  /** Epoch ms of registration (uptime is measured from it). */
  registered: number;
  restarts: number;
  reason: string | null;
  /** Percent of one core over the last sample, as the engine reports it (EngineInfo.stats) or, for a local engine that reports none, from /proc; null until known. */
  cpu: number | null;
  /** Resident memory in bytes, from the same source; null until known. */
  rss: number | null;
  /** Recent RSS samples, oldest first, for the sparkline. */
  rssHistory: number[];
}

/** Table order: engines by id, then the ones still starting, in the order they were asked for. */
export function engineRowOrder(a: { id: number }, b: { id: number }): number {
  const sa = a.id < 0 ? 1 : 0;
  const sb = b.id < 0 ? 1 : 0;
  return sa - sb || (sa ? b.id - a.id : a.id - b.id);
}

/** Engines by language, as a phrase: "3 node engines", "2 node and 1 python engines". */
export function describeEngineGroups(groups: readonly { n: number; kind: string }[]): string {
  const parts = groups.filter((g) => g.n > 0).map((g) => `${g.n} ${g.kind}`);
  const total = groups.reduce((a, g) => a + Math.max(0, g.n), 0);
  if (parts.length === 0) return 'no engines';
  return `${parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]} engine${total === 1 ? '' : 's'}`;
}

/** The launchers the new-cluster form offers (core/launch has them; a cluster.json may name others). */
export const FORM_LAUNCHERS = ['local', 'mpi', 'ssh', 'slurm'] as const;
export type FormLauncher = (typeof FORM_LAUNCHERS)[number];

/**
 * The new-cluster form as the user filled it: text fields as typed. Main checks them, saves
 * them to the profile's cluster.json and starts the cluster from that file.
 */
export interface ClusterForm {
  profile: string;
  n: number;
  kind: KernelKind;
  launcher: FormLauncher;
  /** mpi: more mpiexec arguments, as on a command line ("--host a,b --bind-to none"). */
  mpiArgs: string;
  /** ssh: "host:n,host:n". */
  sshHosts: string;
  /** ssh: the ssh command and its options ("ssh -F ~/.ssh/cluster_config"). */
  sshCommand: string;
  slurmPartition: string;
  /** slurm: the time limit as sbatch takes it (30, 1:00:00, 1-12:00:00). */
  slurmTime: string;
  slurmAccount: string;
}

/** A profile's cluster.json as the form shows it. */
export interface ClusterFormState {
  form: ClusterForm;
  /** The file it was read from and is saved to. */
  file: string;
  exists: boolean;
  /** What the file holds that the form does not show (kept when saving), in words; null when nothing. */
  note: string | null;
}

export type EngineSetState = 'starting' | 'pending' | 'running' | 'stopping' | 'ended';

/** A group of engines started together by one launcher (the controller's engine_sets). */
export interface EngineSet {
  /** 'set-1', 'set-2', ... */
  id: string;
  launcher: string;
  kind: KernelKind;
  /** Engines asked for. */
  n: number;
  /** Ids of the engines that registered from it, and the hosts they run on. */
  engines: number[];
  hosts: string[];
  state: EngineSetState;
  /** Why it pends or ended, in the launcher's words. */
  reason: string | null;
  /** The batch system's job id (slurm). */
  jobId: string | null;
  /** Epoch ms. */
  started: number;
  ended: number | null;
}

export interface EngineSetOutput {
  set: string;
  /** What its launcher printed (mpiexec, srun, ssh). */
  output: string;
}

export interface EnginesChange {
  /** Rows that are new or changed. */
  rows: EngineRow[];
  /** Ids no longer listed. */
  removed: number[];
  /** true: `rows` is the whole table (drop what you had). */
  reset: boolean;
}

export interface EngineFailure {
  engineId: number;
  ename: string;
  evalue: string;
}

export interface NamespaceEntry {
  name: string;
  type: string;
  shape: number[] | null;
  length: number | null;
  bytes: number | null;
  repr: string;
  /** Engines that have the name. */
  engines: number[];
  /** The engines disagree on type or repr (the fields show the first engine's). */
  differs: boolean;
}

export interface NamespaceListing {
  targets: number[];
  entries: NamespaceEntry[];
  errors: EngineFailure[];
}

/** A value as the renderer sees it: a display tree, never a live object. */
export type ValueView =
  | { kind: 'scalar'; type: string; text: string }
  | { kind: 'text'; type: string; text: string; truncated: boolean }
  | { kind: 'list'; type: string; length: number; items: ValueView[]; truncated: boolean }
  | { kind: 'table'; type: string; shape: number[]; rows: string[][]; truncated: boolean }
  | { kind: 'object'; type: string; size: number; entries: { key: string; value: ValueView }[]; truncated: boolean };

export type EngineValue = { engineId: number; ok: true; value: ValueView } | { engineId: number; ok: false; error: { ename: string; evalue: string } };

export interface PullResult {
  name: string;
  values: EngineValue[];
}

export interface GatherResult {
  name: string;
  value: ValueView;
}

export type TaskKind = 'execute' | 'push' | 'pull' | 'scatter' | 'gather' | 'apply' | 'keys' | 'clear';

export interface TaskEngine {
  engineId: number;
  /** pending: queued behind other work; running: the engine is on it (its row says busy). */
  state: 'pending' | 'running' | 'ok' | 'error' | 'aborted';
  durationMs: number | null;
  stdout: string;
  stderr: string;
  executionCount: number | null;
  result: string | null;
  error: { ename: string; evalue: string; traceback: string[] } | null;
}

export interface TaskRecord {
  id: number;
  kind: TaskKind;
  /** The code, or what was done (`push b`). */
  code: string;
  targets: number[];
  state: 'running' | 'ok' | 'error';
  /** Epoch ms. */
  started: number;
  durationMs: number | null;
  engines: TaskEngine[];
  /** A request of another client (a console, a script), from the controller's task events: its msg_id and the controller's number for its client. */
  msgId?: string;
  client?: number;
  label?: string | null;
}

/** A load-balanced map's id and size (the controller's metadata.balanced.map). */
export interface StreamMap {
  id: string;
  items: number;
  /** Items per task (the last task may have fewer). */
  chunk: number;
}

/**
 * One step of a routed request, any client's, for the task stream and progress (from the
 * controller's task events, docs/protocol.md section 15).
 */
export interface StreamEvent {
  event: 'submitted' | 'started' | 'finished';
  msgId: string;
  /** null on submitted, and on a balanced task the scheduler answered without an engine. */
  engineId: number | null;
  client: number;
  /** execute, apply, push, pull, ... */
  kind: string;
  label: string | null;
  /** Epoch ms: received (submitted), sent to the engine (started), completed (finished). */
  time: number;
  /** finished: when the engine started it (completed − its duration), when the engine said. */
  start?: number;
  status?: 'ok' | 'error' | 'aborted';
  ename?: string;
  /** submitted: the start of its code. */
  code?: string;
  map?: StreamMap;
}

/** A map's finished tasks the controller counted instead of listing (past its cap per interval). */
export interface StreamMapCounts {
  map: StreamMap;
  ok: number;
  failed: number;
}

/** Task events for the task stream and progress: one controller interval, or (listTaskStream) the recent ones. */
export interface TaskStreamBatch {
  events: StreamEvent[];
  /** Events counted, not listed (past the controller's cap): they have no bars. */
  unlisted?: number;
  maps?: StreamMapCounts[];
  /** Another cluster: forget what came before. */
  reset?: boolean;
  /** Pushes are numbered; a listing says up to which one it covers, so a renderer that lists while pushes arrive applies none twice. */
  seq?: number;
}

export type ValueFormat = 'json' | 'expr';

/** Engines whose namespaces may have changed (a request of some client finished, engines came or went). */
export interface NamespacesChange {
  engines: number[];
}

// ---------------------------------------------------------------- payloads

/** `targets: []` means every live engine. */
export interface TargetsPayload {
  targets: number[];
}
export interface NamePayload extends TargetsPayload {
  name: string;
}
export interface ValuePayload extends NamePayload {
  /** JSON text, or an expression in the console's language (JavaScript) when format is 'expr'. */
  source: string;
  format: ValueFormat;
}
export interface ExecutePayload extends TargetsPayload {
  code: string;
}
export interface IdPayload {
  id: number;
}
export interface MsgIdPayload {
  msgId: string;
}
export interface IdsPayload {
  ids: number[];
}
export interface EnginesPayload {
  n: number;
  kind: KernelKind;
}
export interface ProfilePayload {
  profile: string;
}
export interface SetPayload {
  set: string;
}
export interface PtyData {
  data: string;
}
export interface PtySize {
  cols: number;
  rows: number;
}
export interface PtyAck {
  chars: number;
}
export interface PtyAttachment {
  /** Recent output, to redraw a terminal that (re)attaches. */
  backlog: string;
  running: boolean;
}
export interface PtyExit {
  code: number | null;
  signal: number | null;
}

// ---------------------------------------------------------------- monitor: plots, logs, events

export * from './monitorContract.js';
import type { MonitorEventTypes, MonitorInvokeTypes } from './monitorContract.js';
import { MONITOR_EVENT_CHANNELS, MONITOR_INVOKE_CHANNELS } from './monitorContract.js';

// ---------------------------------------------------------------- profile: engine stack and CPU profile

export * from './profileContract.js';
import type { ProfileInvokeTypes } from './profileContract.js';
import { PROFILE_CHANNELS } from './profileContract.js';

// ---------------------------------------------------------------- requests, pushes

/** Requests: name -> [payload, result]. `void` payload: the function takes no argument. */
export interface InvokeTypes extends MonitorInvokeTypes, ProfileInvokeTypes {
  getAppInfo: [void, AppInfo];
  copyText: [{ text: string }, void];
  openExternal: [{ url: string }, void];
  getCluster: [void, ClusterSnapshot];
  startCluster: [EnginesPayload, ClusterSnapshot];
  stopCluster: [void, ClusterSnapshot];
  restartCluster: [void, ClusterSnapshot];
  attachCluster: [ProfilePayload, ClusterSnapshot];
  addEngines: [EnginesPayload, number[]];
  listEngines: [void, EngineRow[]];
  interruptEngines: [IdsPayload, void];
  restartEngine: [IdPayload, void];
  stopEngine: [IdPayload, void];
  listNamespace: [TargetsPayload, NamespaceListing];
  pull: [NamePayload, PullResult];
  push: [ValuePayload, TaskRecord];
  scatter: [ValuePayload, TaskRecord];
  gather: [NamePayload, GatherResult];
  execute: [ExecutePayload, TaskRecord];
  listTasks: [void, TaskRecord[]];
  getTask: [IdPayload, TaskRecord];
  listTaskStream: [void, TaskStreamBatch];
  getStreamTask: [MsgIdPayload, TaskRecord];
  ptyAttach: [void, PtyAttachment];
  ptyRestart: [void, void];
  setPxTargets: [IdsPayload, void];
  getClusterForm: [ProfilePayload, ClusterFormState];
  startNewCluster: [ClusterForm, ClusterSnapshot];
  listEngineSets: [void, EngineSet[]];
  stopEngineSet: [SetPayload, void];
  engineSetOutput: [SetPayload, EngineSetOutput];
}

/** Fire-and-forget messages (terminal traffic only). */
export interface SendTypes {
  ptyWrite: PtyData;
  ptyResize: PtySize;
  ptyAck: PtyAck;
}

/** Pushes from main. */
export interface EventTypes extends MonitorEventTypes {
  onClusterChanged: ClusterSnapshot;
  onEnginesChanged: EnginesChange;
  onTaskChanged: TaskRecord;
  onTaskStream: TaskStreamBatch;
  onNamespacesChanged: NamespacesChange;
  onEngineSetsChanged: EngineSet[];
  onPtyData: PtyData;
  onPtyExit: PtyExit;
}

// ---------------------------------------------------------------- channels

export const INVOKE_CHANNELS = {
  getAppInfo: 'me:app:info',
  copyText: 'me:app:copy',
  openExternal: 'me:app:open-external',
  getCluster: 'me:cluster:get',
  startCluster: 'me:cluster:start',
  stopCluster: 'me:cluster:stop',
  restartCluster: 'me:cluster:restart',
  attachCluster: 'me:cluster:attach',
  addEngines: 'me:cluster:add-engines',
  listEngines: 'me:engine:list',
  interruptEngines: 'me:engine:interrupt',
  restartEngine: 'me:engine:restart',
  stopEngine: 'me:engine:stop',
  listNamespace: 'me:ns:list',
  pull: 'me:ns:pull',
  push: 'me:ns:push',
  scatter: 'me:ns:scatter',
  gather: 'me:ns:gather',
  execute: 'me:task:execute',
  listTasks: 'me:task:list',
  getTask: 'me:task:get',
  listTaskStream: 'me:task:stream',
  getStreamTask: 'me:task:record',
  ptyAttach: 'me:pty:attach',
  ptyRestart: 'me:pty:restart',
  setPxTargets: 'me:pty:set-targets',
  getClusterForm: 'me:cluster:form',
  startNewCluster: 'me:cluster:start-new',
  listEngineSets: 'me:set:list',
  stopEngineSet: 'me:set:stop',
  engineSetOutput: 'me:set:output',
  ...MONITOR_INVOKE_CHANNELS,
  ...PROFILE_CHANNELS,
} as const satisfies { [K in keyof InvokeTypes]: string };

export const SEND_CHANNELS = {
  ptyWrite: 'me:pty:write',
  ptyResize: 'me:pty:resize',
  ptyAck: 'me:pty:ack',
} as const satisfies { [K in keyof SendTypes]: string };

export const EVENT_CHANNELS = {
  onClusterChanged: 'me:cluster:changed',
  onEnginesChanged: 'me:engine:changed',
  onTaskChanged: 'me:task:changed',
  onTaskStream: 'me:task:streamed',
  onNamespacesChanged: 'me:ns:changed',
  onEngineSetsChanged: 'me:set:changed',
  onPtyData: 'me:pty:data',
  onPtyExit: 'me:pty:exit',
  ...MONITOR_EVENT_CHANNELS,
} as const satisfies { [K in keyof EventTypes]: string };

export type InvokeName = keyof InvokeTypes;
export type SendName = keyof SendTypes;
export type EventName = keyof EventTypes;
export type InvokeChannel = (typeof INVOKE_CHANNELS)[InvokeName];
export type SendChannel = (typeof SEND_CHANNELS)[SendName];
export type EventChannel = (typeof EVENT_CHANNELS)[EventName];

/** Every channel has this form. */
export const CHANNEL_PATTERN = /^me:[a-z]+:[a-z]+(?:-[a-z]+)*$/;

/** Every function name of `window.multiengine`, sorted. */
export const API_KEYS: readonly string[] = [...Object.keys(INVOKE_CHANNELS), ...Object.keys(SEND_CHANNELS), ...Object.keys(EVENT_CHANNELS)].sort();

// ---------------------------------------------------------------- the API type

type InvokeFn<K extends InvokeName> = InvokeTypes[K][0] extends void ? () => Promise<InvokeTypes[K][1]> : (payload: InvokeTypes[K][0]) => Promise<InvokeTypes[K][1]>;

export type MultiengineApi = { readonly [K in InvokeName]: InvokeFn<K> } & { readonly [K in SendName]: (payload: SendTypes[K]) => void } & {
  readonly [K in EventName]: (cb: (payload: EventTypes[K]) => void) => () => void;
};

// ---------------------------------------------------------------- building it over a transport

/**
 * How a request's answer travels: errors as data, so both bridges report them the same way.
 * `field`: the form field the error is about, as the UI labels it ("name", "value", "profile",
 * "engines"), so it can be shown next to that field.
 */
export type Reply<T = unknown> = { ok: true; value: T } | { ok: false; error: { name: string; message: string; field?: string } };

/** What a bridge must provide: three primitives; the API is built from them. */
export interface Transport {
  invoke(channel: InvokeChannel, payload: unknown): Promise<Reply>;
  send(channel: SendChannel, payload: unknown): void;
  /** Subscribes to pushes on `channel`; the callback gets the payload only. Returns an unsubscribe function. */
  on(channel: EventChannel, cb: (payload: unknown) => void): () => void;
}

/** An error the main process reported for a request, as the renderer sees it. */
export class ApiError extends Error {
  constructor(
    readonly remoteName: string,
    message: string,
    /** The form field the error is about, when it is about one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = remoteName || 'Error';
  }
}

function unwrap(reply: Reply): unknown {
  if (reply && reply.ok === true) return reply.value;
  const err = reply && reply.ok === false ? reply.error : { name: 'ProtocolError', message: 'malformed reply from the main process' };
  throw new ApiError(err.name, err.message, typeof err.field === 'string' ? err.field : undefined);
}

/**
 * `window.multiengine` over a transport: a frozen object of named functions, each bound to
 * its one channel. Nothing of the transport itself is reachable from it.
 */
export function createApi(transport: Transport): MultiengineApi {
  const api: Record<string, unknown> = {};
  for (const [name, channel] of Object.entries(INVOKE_CHANNELS) as [InvokeName, InvokeChannel][]) {
    api[name] = { [name]: (payload?: unknown) => transport.invoke(channel, payload ?? null).then(unwrap) }[name];
  }
  for (const [name, channel] of Object.entries(SEND_CHANNELS) as [SendName, SendChannel][]) {
    api[name] = { [name]: (payload: unknown) => void transport.send(channel, payload) }[name];
  }
  for (const [name, channel] of Object.entries(EVENT_CHANNELS) as [EventName, EventChannel][]) {
    api[name] = {
      [name]: (cb: (payload: unknown) => void) => {
        if (typeof cb !== 'function') throw new TypeError(`${name} needs a callback`);
        const off = transport.on(channel, (payload) => cb(payload));
        return () => off();
      },
    }[name];
  }
  return Object.freeze(api) as MultiengineApi;
}

/** Reverse look-ups, for routers. */
export const INVOKE_BY_CHANNEL: ReadonlyMap<string, InvokeName> = new Map(Object.entries(INVOKE_CHANNELS).map(([k, c]) => [c, k as InvokeName]));
export const SEND_BY_CHANNEL: ReadonlyMap<string, SendName> = new Map(Object.entries(SEND_CHANNELS).map(([k, c]) => [c, k as SendName]));
