/**
 * Client: a connection to a controller and the engines behind it. It composes a
 * ControllerLink (the connection through its life), an EngineList (kept current from the
 * controller's events) and a RequestDispatcher (pending work, its routing, the replies), and
 * gives views the narrow ViewHost they work through.
 */
import path from 'node:path';
import { inspect } from 'node:util';
import { connectionFilePath, type ConnectionInfo } from '../connection/connectionFile.js';
import { newSession, type ContentMap, type ControllerMemory, type EngineInfo, type EngineSetInfo, type Json, type KernelKind, type ListenAddress, type Metadata, type MsgType, type QueueCounts, type TaskDbStatus, type TaskEvent, type TaskEventOverflow, type TaskField, type TaskFilter, type TaskRecord } from '../protocol/messages.js';
import { Emitter, type Disposable, type Event } from '../events/emitter.js';
import { AsyncResult, waitAll } from './asyncResult.js';
import { ControllerLink, dial, type ConnectionState, type LinkSettings } from './controllerLink.js';
import { RequestDispatcher } from './dispatcher.js';
import { DirectView } from './directView.js';
import { LoadBalancedView } from './loadBalancedView.js';
import { EngineList, type EngineChange } from './engineList.js';
import { profileOf, profileRequest, stackOf, stackRequest, type EngineProfile, type EngineStack } from './engineProbe.js';
import type { OkReply } from './replyDecoders.js';
import { checkTargetsShape, resolveTargets, type Targets } from './validate.js';
import type { ViewHost } from './viewHost.js';

export type { ConnectionState } from './controllerLink.js';
export type { EngineChange } from './engineList.js';
export type { OkReply, ReplyOf } from './replyDecoders.js';

export interface ConnectOptions {
  /** The client connection file; default: the profile's, under `dir`. */
  file?: string;
  /** Profile name (default 'default'). */
  profile?: string;
  /** Overrides $MULTIENGINE_DIR (default ~/.multiengine). */
  dir?: string;
  /** Accept a connection file that other users can read. */
  allowInsecure?: boolean;
  /** How long to wait for the TCP connection and for the controller's answer (default 10 s). */
  timeoutMs?: number;
  /** Which engine events to receive: 'registration' (default) or 'all' (every state change, e.g. busy/idle). */
  subscribe?: 'none' | 'registration' | 'all';
  /**
   * Receive the controller's task events (every client's requests it routes: submitted,
   * started, finished), for rc.onTaskEvents. Default false.
   */
  taskEvents?: boolean;
  /**
   * After losing the connection (the controller was killed and is being restarted), try to
   * reconnect for this long, in ms; 0 never. Default: what the controller advises in its
   * connect_reply (10 s for ours), else 0.
   */
  reconnectMs?: number;
  /**
   * Send single-engine requests straight to the engine when it accepts direct connections
   * (protocol section 13): half the hops, and large values bypass the controller. Default true,
   * false when MULTIENGINE_DIRECT=0 is in the environment.
   */
  direct?: boolean;
}

/**
 * One task_events message: the events of one interval in order (per request: submitted, then
 * started and finished per engine), and past the controller's cap per interval, counts instead.
 */
export interface TaskEventBatch {
  events: TaskEvent[];
  overflow?: TaskEventOverflow;
}

export interface StatusReport {
  engines: EngineInfo[];
  dropped_messages: number;
  clients: number;
  /** The controller's store of results whose client went away (absent from older controllers). */
  result_store?: { entries: number; bytes: number; max_entries: number; max_bytes: number; evicted: number };
  /** The controller process's memory in bytes. */
  memory?: ControllerMemory;
  /** The engine sets started so far (absent from older controllers). */
  engine_sets?: EngineSetInfo[];
  /** Where the controller listens (absent from older controllers). */
  listen?: ListenAddress;
  /** Load-balanced tasks the scheduler holds and has not sent to an engine (absent from older controllers). */
  unassigned?: number;
  /** How the controller's scheduler picks an engine for a load-balanced task ('leastload', 'lru', ...; absent from older controllers). */
  scheme?: string;
  /** Load-balanced tasks the scheduler puts on one engine at most (0: no limit; absent from older controllers). */
  hwm?: number;
  /** The controller's task database: backend, rows and bytes against its caps (absent from older controllers). */
  task_db?: TaskDbStatus;
}

/** How a set of engines is started (docs/launchers.md). */
export interface EngineSetOptions {
  /** The engines' language (default 'node'). */
  engine?: KernelKind;
  /** The interpreter of Python engines. */
  python?: string;
  /** 'local' (default), 'mpi', 'ssh', 'slurm', 'batch', or the path of a launcher module. */
  launcher?: string;
  /** The launcher's own options (mpi: args; ssh: hosts; slurm: partition, time, ...), as docs/launchers.md lists them. */
  launcherOptions?: { [key: string]: Json };
  /** How long to wait for every engine to register (default 60 s for launchers; a batch job may pend in its queue first). */
  timeoutMs?: number;
}

export class Client {
  /** This client's session id (in the header of every message it sends). */
  readonly session = newSession();

  /** A short form for REPLs and console.log, instead of sockets and bookkeeping. */
  [inspect.custom](_depth: number, opts: { stylize(text: string, style: string): string }): string {
    return `${opts.stylize('Client', 'special')} { ids: ${inspect(this.ids)}, connectionFile: ${opts.stylize(`'${this.connectionFile}'`, 'string')} }`;
  }

  private readonly link: ControllerLink;
  private readonly engineList = new EngineList();
  private readonly wantsTaskEvents: boolean;
  private readonly taskEvents = new Emitter<TaskEventBatch>((e) => console.error('a task events listener failed:', e));
  private readonly dispatcher: RequestDispatcher;
  /** What views see of this client. */
  private readonly host: ViewHost;

  private constructor(conn: ControllerLink['conn'], info: ConnectionInfo, file: string, settings: LinkSettings, direct: boolean) {
    this.link = new ControllerLink(conn, info, file, this.session, settings);
    this.wantsTaskEvents = settings.taskEvents;
    this.dispatcher = new RequestDispatcher({
      session: this.session,
      port: this.link,
      engine: (id) => this.engineList.get(id),
      onEngineEvent: (ev) => this.onEngineEvent(ev),
      // Task events this client did not ask for are a controller's mistake: counted, like a malformed push.
      onTaskEvents: (batch) => (this.wantsTaskEvents ? this.taskEvents.fire(batch) : this.link.droppedMessages++),
      onDropped: () => this.link.droppedMessages++,
      direct,
    });
    const d = this.dispatcher;
    this.host = {
      targetsFor: (method, spec) => {
        const list = this.engineList;
        const r = resolveTargets(method, spec, list, list.ids, list.shuttingDown ? 'the controller is shutting down and has stopped its engines' : undefined);
        const closed = this.link.openError(method);
        if (closed) throw closed;
        return r;
      },
      kernelOf: (id) => this.engineList.get(id)?.kernel,
      newResult: (spec) => d.newResult(spec),
      submit: (list) => d.submit(list),
      submitBalanced: (list) => d.submitBalanced(list),
      expireAfter: (tracker, method, timeoutMs) => d.expireAfter(tracker, method, timeoutMs),
      abort: (msgIds, engineIds) => d.abort(msgIds, engineIds),
      abortBalanced: (msgIds) => d.abortBalanced(msgIds),
      interruptBalanced: (msgIds) => d.interruptBalanced(msgIds),
      unfinishedResult: (msgId) => d.outstandingResults.find((r) => r.msgIds.includes(msgId)),
      interrupt: (engineIds) => d.request('interrupt_request', {}, undefined, { targets: [...engineIds] }).then(() => undefined),
      wait: (results, timeoutMs) => this.wait(results, timeoutMs),
    };
  }

  /**
   * Connects to a running controller. `arg` is a client connection file path, or options
   * (default: the 'default' profile's file under $MULTIENGINE_DIR or ~/.multiengine).
   */
  static async connect(arg?: string | ConnectOptions): Promise<Client> {
    if (arg !== undefined && typeof arg !== 'string' && (typeof arg !== 'object' || arg === null)) {
      throw new TypeError(`Client.connect takes a connection file path or options, got ${String(arg)}`);
    }
    const opts: ConnectOptions = typeof arg === 'string' ? { file: arg } : (arg ?? {});
    if (opts.reconnectMs !== undefined && (typeof opts.reconnectMs !== 'number' || !(opts.reconnectMs >= 0))) {
      throw new TypeError(`reconnectMs must be a number of milliseconds ≥ 0, got ${String(opts.reconnectMs)}`);
    }
    const file = opts.file ?? connectionFilePath('client', opts.profile ?? 'default', opts.dir);
    const settings: LinkSettings = { subscribe: opts.subscribe ?? 'registration', taskEvents: opts.taskEvents === true, timeoutMs: opts.timeoutMs ?? 10_000, allowInsecure: opts.allowInsecure === true, reconnectMs: opts.reconnectMs };
    const { conn, info } = await dial(file, settings);
    // Direct requests learn that their engine died from engine events, so a client that takes none sends everything through the controller.
    const direct = (opts.direct ?? process.env.MULTIENGINE_DIRECT !== '0') && settings.subscribe !== 'none';
    const client = new Client(conn, info, file, settings, direct);
    const d = client.dispatcher;
    await client.link.start({
      onMessage: (m) => d.onMessage(m),
      onPlaceParts: (m, rest) => d.placeParts(m, rest),
      onConnected: (reply) => client.replaceEngines(reply.engines),
      onLost: (reasonFor, controlReason, forGood) => {
        d.failInFlight(reasonFor, controlReason, !forGood);
        if (forGood) d.close();
      },
    });
    return client;
  }

  // ---- the connection

  /** The connection file's content. */
  get connectionInfo(): ConnectionInfo {
    return this.link.info;
  }

  /** Path of the connection file this client read. */
  get connectionFile(): string {
    return this.link.file;
  }

  /** The controller's number for this client, as task records and events name it (0: not told); a reconnection gets a new one. */
  get clientNumber(): number {
    return this.link.clientNumber;
  }

  get controllerPid(): number {
    return this.link.controllerPid;
  }

  get heartbeatMs(): number {
    return this.link.heartbeatMs;
  }

  /** Messages from the controller dropped because of a bad signature or form. */
  get droppedMessages(): number {
    return this.link.droppedMessages;
  }

  /** The controller's maximum message size: bigger requests are refused before they are sent. */
  get maxMessageBytes(): number {
    return this.link.maxMessageBytes;
  }

  /** How long this client tries to reconnect after losing the controller (0: it does not). */
  get reconnectMs(): number {
    return this.link.reconnectMs;
  }

  /** How many times the client reconnected after losing the controller. */
  get reconnects(): number {
    return this.link.reconnects;
  }

  /** 'connected', 'reconnecting' (after losing the controller, for up to reconnectMs) or 'closed'. */
  get connectionState(): ConnectionState {
    return this.link.connectionState;
  }

  /** Called when the connection drops ('reconnecting'), comes back ('connected') or is closed for good ('closed'). */
  get onDidChangeConnection(): Event<ConnectionState> {
    return this.link.onDidChangeState;
  }

  /** Resolves true once connected (at once when it is), false when closed or after `timeoutMs`. */
  waitConnected(timeoutMs?: number): Promise<boolean> {
    return this.link.waitConnected(timeoutMs);
  }

  /** Closes the connection; results still waiting fail with EngineError. */
  close(): void {
    this.link.close();
  }

  get isClosed(): boolean {
    return this.link.isClosed;
  }

  /** Closed by close() in this process, rather than by the controller going away (wasShutDown tells which way). */
  get closedByUser(): boolean {
    return this.link.closedByUser;
  }

  // ---- engines

  /** Sorted ids of the live engines (not dead), kept current from the controller's events. */
  get ids(): number[] {
    return this.engineList.ids;
  }

  /** Every engine the controller knows, dead ones included, by id. */
  get engines(): EngineInfo[] {
    return this.engineList.all();
  }

  /** One engine's info, or undefined when the controller does not know that id. */
  engine(id: number): EngineInfo | undefined {
    const e = this.engineList.get(id);
    return e && { ...e };
  }

  /** Called whenever an engine registers, changes state, dies or goes away. */
  get onDidChangeEngines(): Event<EngineChange> {
    return this.engineList.onDidChange;
  }

  /**
   * Calls `listener` with each batch of the controller's task events (every client's requests
   * that go through the controller; see TaskEventBatch). Needs Client.connect({ taskEvents: true }).
   */
  onTaskEvents(listener: (batch: TaskEventBatch) => void): Disposable {
    if (!this.wantsTaskEvents) throw new Error('onTaskEvents: this client did not ask for task events; connect with Client.connect({ taskEvents: true })');
    return this.taskEvents.event(listener);
  }

  /**
   * Engines this client reaches directly (protocol section 13): its single-engine requests to
   * them skip the controller. A link opens with the first single-engine request to an engine.
   */
  get directEngines(): number[] {
    return this.dispatcher.directEngines;
  }

  private onEngineEvent(ev: ContentMap['engine_event']): void {
    const e = ev.engine;
    this.engineList.update(ev.event, e);
    if (e.state === 'dead' || ev.event === 'unregistered') this.dispatcher.engineGone(e.id, `engine ${e.id} is dead: ${e.reason ?? 'unregistered'}`);
    this.dispatcher.learnEngine(e);
    this.engineList.announce(ev.event, e);
  }

  private replaceEngines(engines: readonly EngineInfo[]): void {
    for (const e of engines) this.dispatcher.learnEngine(e);
    this.engineList.replace(engines);
  }

  // ---- views and results

  /**
   * A DirectView on `targets`: no argument means every live engine, resolved at each call;
   * a number gives bare (unwrapped) results; an array gives one result per engine.
   */
  view(): DirectView<false>;
  view(targets: number): DirectView<true>;
  view(targets: readonly number[] | 'all'): DirectView<false>;
  view(targets?: Targets): DirectView;
  view(targets?: Targets): DirectView {
    return new DirectView(this.host, checkTargetsShape(targets));
  }

  /**
   * A LoadBalancedView: each task goes to whichever engine of `pool` (default: every engine,
   * those that register later too) the controller's scheduler picks.
   */
  loadBalancedView(pool?: readonly number[]): LoadBalancedView {
    return new LoadBalancedView(this.host, pool);
  }

  /**
   * Waits for results (an AsyncResult, a list of them, or by default every result of this
   * client still outstanding); false when `timeoutMs` passes first. Failed results count as done.
   */
  wait(results?: PromiseLike<unknown> | Iterable<PromiseLike<unknown>> | number | null, timeoutMs?: number): Promise<boolean> {
    if (typeof results === 'number') return this.wait(undefined, results);
    let list: PromiseLike<unknown>[];
    if (results === undefined || results === null) list = this.dispatcher.outstandingResults;
    else if (typeof (results as PromiseLike<unknown>).then === 'function') list = [results as PromiseLike<unknown>];
    else list = [...(results as Iterable<PromiseLike<unknown>>)];
    return waitAll(list, timeoutMs);
  }

  /** Results sent by this client that are not done yet. */
  get outstandingResults(): AsyncResult<unknown>[] {
    return this.dispatcher.outstandingResults;
  }

  /**
   * msg_ids of the work requests this client sent, oldest first (as ipyparallel's
   * Client.history): what getResult and resubmit take indices into.
   */
  get history(): readonly string[] {
    return this.dispatcher.history;
  }

  /**
   * The values of a request, by msg_id or by index into `history` (-1, the default, is the
   * latest), one per engine in `engineIds` order; a list gives one such array per entry.
   * - This client's own request while it runs: waited for, and answered here as soon as that
   *   request is done (the rest of a load-balanced map need not be). Once finished, its value
   *   is in its AsyncResult: the client keeps no copy, so the controller is asked, as for
   *   anybody's request.
   * - From the controller: the values of clients that went away (this one too, before it
   *   reconnected) and of requests sent with `{ store: true }`, kept in its result store and
   *   task database within their caps, decoded as the request's type says (execute:
   *   ExecuteResult; pull: the array of values). Such a request still running is waited for.
   * Rejects with ControllerError (ename 'KeyError') saying why when there is no value to get
   * (not finished and not to be kept, answered and not kept, no record), and like a view call
   * (CompositeError) when engines failed.
   */
  getResult(which?: string | number): Promise<unknown[]>;
  getResult(which: readonly (string | number)[]): Promise<unknown[][]>;
  getResult(which: string | number | readonly (string | number)[] = -1): Promise<unknown[] | unknown[][]> {
    if (Array.isArray(which)) return Promise.all(which.map((w: string | number) => this.getResult(w)));
    return this.dispatcher.fetchResult(this.msgIdOf('getResult', which as string | number));
  }

  /** A msg_id given as itself or as an index into `history` (negative: from the end); TypeError or RangeError naming the call. */
  private msgIdOf(what: string, which: string | number): string {
    if (typeof which === 'string' && which !== '') return which;
    if (typeof which !== 'number' || !Number.isInteger(which)) throw new TypeError(`${what}: expected a msg_id string (e.g. from asyncResult.msgIds) or an index into rc.history, got ${JSON.stringify(which) ?? String(which)}`);
    const h = this.dispatcher.history;
    const i = which < 0 ? h.length + which : which;
    if (i < 0 || i >= h.length) throw new RangeError(`${what}: index ${which} is past the history of this client, which has sent ${h.length} request${h.length === 1 ? '' : 's'}`);
    return h[i];
  }

  // ---- task records (the controller's task database: docs/reliability.md, "Task database")

  /**
   * Task records matching `filter` (one per request and engine), oldest first, those still running
   * last with status 'pending'. A field equals a value, or is compared: `{ engine_id: { $in: [0, 1] },
   * completed: { $gt: isoTime } }` ($lt, $lte, $gt, $gte, $ne, $in, $nin). `keys` limits the fields returned;
   * `last` keeps only the newest that many (still oldest first), chosen by the controller.
   */
  async dbQuery(filter: TaskFilter = {}, keys?: readonly TaskField[], opts: { last?: number } = {}): Promise<Partial<TaskRecord>[]> {
    const content: ContentMap['db_request'] = { filter };
    if (keys !== undefined) content.keys = [...keys];
    if (opts.last !== undefined) content.last = opts.last;
    return (await this.request('db_request', content)).records;
  }

  /** Every recorded msg_id in the order they were submitted (the clients' clocks), then those still running. */
  async hubHistory(): Promise<string[]> {
    return (await this.request('history_request', {})).msg_ids;
  }

  /**
   * Forgets finished task records and stored results: of these msg_ids, or 'all'; `targets` limits it
   * to the records of those engines. Requests still running are not touched. Resolves to the records removed.
   */
  async purgeResults(msgIds: readonly string[] | 'all', opts: { targets?: readonly number[] } = {}): Promise<number> {
    if (msgIds !== 'all' && !Array.isArray(msgIds)) throw new TypeError(`purgeResults: msgIds must be an array of msg_ids or 'all', got ${JSON.stringify(msgIds)}`);
    const content: ContentMap['purge_request'] = { msg_ids: msgIds === 'all' ? 'all' : [...msgIds] };
    if (opts.targets !== undefined) content.targets = [...opts.targets];
    return (await this.request('purge_request', content)).purged;
  }

  /**
   * Runs recorded execute and apply requests again (same code or function and arguments, same
   * targets, or load-balanced again), given by msg_id or index into `history` (default -1, the
   * latest); resolves to their new msg_ids, in order. Their results are kept by the controller:
   * fetch them with getResult(newMsgIds).
   */
  async resubmit(msgIds: string | number | readonly (string | number)[] = -1): Promise<string[]> {
    const list: readonly unknown[] = Array.isArray(msgIds) ? msgIds : [msgIds];
    if (list.length === 0) throw new TypeError('resubmit: expected msg_ids (or indices into rc.history), got an empty array');
    const ids = list.map((x) => this.msgIdOf('resubmit', x as string | number));
    return (await this.request('resubmit_request', { msg_ids: ids })).msg_ids;
  }

  /** Per engine: requests queued, running and completed; and load-balanced tasks not assigned to an engine yet. */
  async queueStatus(): Promise<{ engines: QueueCounts[]; unassigned: number }> {
    const r = await this.request('queue_request', {});
    return { engines: r.engines, unassigned: r.unassigned };
  }

  // ---- the controller

  /** Status from the controller (and a fresh engine list for this client). */
  async status(): Promise<StatusReport> {
    const r = await this.request('status_request', {});
    this.replaceEngines(r.engines);
    const report: StatusReport = { engines: r.engines, dropped_messages: r.dropped_messages, clients: r.clients };
    if (r.result_store) report.result_store = r.result_store;
    if (r.memory) report.memory = r.memory;
    if (r.engine_sets) report.engine_sets = r.engine_sets;
    if (r.listen) report.listen = r.listen;
    if (r.unassigned !== undefined) report.unassigned = r.unassigned;
    if (r.scheme !== undefined) report.scheme = r.scheme;
    if (r.hwm !== undefined) report.hwm = r.hwm;
    if (r.task_db) report.task_db = r.task_db;
    return report;
  }

  /**
   * Asks the controller to start a set of `n` engines of a language (default 'node') through a
   * launcher (default 'local'); resolves with their ids once all registered. `python` is the
   * interpreter for Python engines.
   */
  async addEngines(n: number, opts: EngineSetOptions = {}): Promise<number[]> {
    return (await this.addEngineSet(n, opts)).ids;
  }

  /** As addEngines, resolving with the new set's id too. */
  async addEngineSet(n: number, opts: EngineSetOptions = {}): Promise<{ ids: number[]; set: string }> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`the number of engines to add must be a whole number ≥ 1, got ${String(n)}`);
    const content: ContentMap['add_engines_request'] = { n, engine: opts.engine ?? 'node' };
    if (opts.python !== undefined) content.python = opts.python;
    if (opts.launcher !== undefined) content.launcher = launcherName(opts.launcher);
    if (opts.launcherOptions !== undefined) content.launcher_options = opts.launcherOptions;
    if (opts.timeoutMs !== undefined) content.timeout_ms = opts.timeoutMs;
    const reply = await this.request('add_engines_request', content);
    await this.refreshEngines();
    return { ids: reply.ids, set: reply.set ?? '' };
  }

  /** Every engine set the controller started: launcher, job id, engines, hosts, state and why. */
  async engineSets(): Promise<EngineSetInfo[]> {
    return (await this.request('engine_sets_request', {})).sets;
  }

  /** Stops a set's engines and ends its launcher (a batch job is cancelled). */
  async stopEngineSet(set: string): Promise<void> {
    await this.request('stop_engine_set_request', { set });
    await this.refreshEngines();
  }

  /** What a set's launcher printed (mpiexec, srun, ssh, the job's output file): to see why a start failed. */
  async engineSetOutput(set: string): Promise<string> {
    return (await this.request('engine_set_output_request', { set })).output;
  }

  /** Stops one engine (it is not restarted). */
  async stopEngine(id: number): Promise<void> {
    await this.request('stop_engine_request', { id });
    await this.refreshEngines();
  }

  /** Restarts one engine under the same id, with a fresh namespace. */
  async restartEngine(id: number): Promise<void> {
    await this.request('restart_engine_request', { id });
    await this.refreshEngines();
  }

  /** What engine `id`'s main thread is inside now, read beside it (the running request is not stopped). */
  async engineStack(id: number): Promise<EngineStack> {
    return stackOf(await this.request('stack_request', stackRequest(id)));
  }

  /** Samples engine `id`'s main thread for `seconds` (0.1 to 60; default 3) without stopping its work: a profile for a flame graph. */
  async engineProfile(id: number, opts: { seconds?: number } = {}): Promise<EngineProfile> {
    return profileOf(await this.request('profile_request', profileRequest(id, opts.seconds ?? 3)));
  }

  /** Stops the controller and every engine it launched; this client is closed by the controller. */
  async shutdownController(timeoutMs?: number): Promise<void> {
    await this.request('controller_shutdown_request', {}, timeoutMs);
  }

  /** Re-reads the engine list from the controller. */
  async refreshEngines(): Promise<EngineInfo[]> {
    return (await this.status()).engines;
  }

  /**
   * Sends a controller request and resolves with its successful reply content; rejects with
   * ControllerError when the controller answers with an error, or when `timeoutMs` passes.
   */
  request<T extends MsgType>(msgType: T, content: ContentMap[T], timeoutMs?: number, metadata?: Metadata): Promise<OkReply<T>> {
    return this.dispatcher.request(msgType, content, timeoutMs, metadata);
  }
}

/** A launcher named by a relative module path is resolved here: the controller runs in another folder. */
function launcherName(name: string): string {
  if (typeof name !== 'string' || name === '') throw new TypeError(`launcher must name a launcher (local, mpi, ssh, slurm, batch) or a module path, got ${String(name)}`);
  return (name.startsWith('./') || name.startsWith('../')) ? path.resolve(name) : name;
}
