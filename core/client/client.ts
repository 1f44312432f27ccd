/**
 * Client: one signed TCP connection to the controller. It keeps the list of engines
 * current from the controller's engine_event pushes, sends work requests (one message
 * for any number of targets, with metadata.targets) and routes every reply and output
 * stream to its AsyncResult by msg_id: one Map lookup per message, no scans.
 */
import { inspect } from 'node:util';
import { connectionFilePath, readConnectionFile, type ConnectionInfo } from '../connection/connectionFile.js';
import { createMessage, newSession, type ContentMap, type ControllerMemory, type EngineInfo, type ErrorContent, type Header, type KernelKind, type Message, type Metadata, type MsgType, type WorkRequestType } from '../protocol/messages.js';
import { encodeMessage, encodeMessageFrame, Signer } from '../transport/codec.js';
import { Connection, connectTcp } from '../transport/connection.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../transport/frame.js';
import { AsyncResult, ResultTracker, waitAll, type ResultSpec, type StreamName } from './asyncResult.js';
import { DirectView, replyDecoderFor } from './directView.js';
import { Conversation } from '../transport/spin.js';
import { Emitter, nextEvent, type Event } from '../events/emitter.js';
import { DirectLinks } from './directLinks.js';
import { PathGate, type Path } from './pathGate.js';
import { AbortError, ConnectionError, ControllerError, EngineError, MessageTooLargeError, RemoteError, TimeoutError } from './errors.js';
import type { Targets } from './validate.js';
import { checkTargetsShape, resolveTargets } from './validate.js';

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

/** 'reconnecting' after the connection dropped; 'closed' once closed for good. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface EngineChange {
  event: 'registered' | 'state' | 'unregistered' | 'refresh';
  /** The engine concerned; absent for 'refresh' (a whole new list from status). */
  engine?: EngineInfo;
  /** Live engine ids after the change. */
  ids: number[];
}

/** The reply type of a request type: 'status_request' -> 'status_reply'. */
export type ReplyOf<T extends MsgType> = T extends `${infer B}_request` ? (`${B}_reply` extends MsgType ? `${B}_reply` : never) : never;
/** The content of a successful reply to T. */
export type OkReply<T extends MsgType> = Extract<ContentMap[ReplyOf<T>], { status: 'ok' }>;

export interface StatusReport {
  engines: EngineInfo[];
  dropped_messages: number;
  clients: number;
  /** The controller's store of results whose client went away (absent from older controllers). */
  result_store?: { entries: number; bytes: number; max_entries: number; max_bytes: number; evicted: number };
  /** The controller process's memory in bytes. */
  memory?: ControllerMemory;
}

/** The writable side of a result, as the client routes replies into it. */
interface ResultSink {
  assign(index: number, msgId: string): void;
  output(index: number, name: StreamName, text: string): void;
  settle(index: number, value: unknown, meta?: { started?: string; completed?: string }): void;
  fail(index: number, error: RemoteError, meta?: { started?: string; completed?: string }): void;
  failPending(makeError: (engineId: number) => RemoteError): void;
  expire(error: Error): void;
  readonly slots: readonly { done: boolean }[];
}

/** Decodes the content of a successful reply into the slot's value. */
export type ReplyDecoder = (msg: Message, engineId: number, index: number) => unknown;

/** One work request on its way to one or more engines. */
export interface WorkSubmission<T extends WorkRequestType = WorkRequestType> {
  msgType: T;
  content: ContentMap[T];
  buffers?: Uint8Array[];
  targets: readonly number[];
  /** The result the replies go into, and the slot index of each target in it. */
  sink: ResultSink;
  slots: readonly number[];
  decode: ReplyDecoder;
  /** Where the buffers of a large reply for a slot go (gather); null or absent: their own memory. */
  place?: (slot: number, rest: readonly number[]) => (Buffer | undefined)[] | null;
}

interface PendingWork {
  /** How it went (or waits to go): gated paths are counted in the PathGate; 'fetch' is a result_request's. */
  path: Path | 'held' | 'fetch';
  readonly targets: readonly number[];
  /** Engines that have not answered. */
  readonly waiting: Set<number>;
  /** The encoded request, until it is sent. */
  frame: ReturnType<typeof encodeMessageFrame> | null;
  sink: ResultSink;
  method: string;
  slotByEngine: Map<number, number>;
  /** The slot of a single-target request (replies and streams without engine_id go there). */
  onlySlot: number | undefined;
  remaining: number;
  decode: ReplyDecoder;
  place?: WorkSubmission['place'];
  /** Output that arrived without an engine id from a session not yet known, kept until that engine replies. */
  unattributed?: Map<string, { name: StreamName; text: string }[]>;
}

interface PendingControl {
  msgType: string;
  resolve(content: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
}

interface ReplyContent {
  status?: string;
  ename?: string;
  evalue?: string;
  traceback?: unknown;
}

const CLOSED_BY_USER = 'the client was closed before the reply arrived';
const CONNECTION_LOST = 'lost the connection to the controller before the reply arrived';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Client {
  /** This client's session id (in the header of every message it sends). */
  readonly session = newSession();

  /** A short form for REPLs and console.log, instead of sockets and bookkeeping. */
  [inspect.custom](_depth: number, opts: { stylize(text: string, style: string): string }): string {
    return `${opts.stylize('Client', 'special')} { ids: ${inspect(this.ids)}, connectionFile: ${opts.stylize(`'${this.connectionFile}'`, 'string')} }`;
  }
  controllerPid = 0;
  heartbeatMs = 0;
  /** Messages from the controller dropped because of a bad signature or form. */
  droppedMessages = 0;
  /** The controller's maximum message size: bigger requests are refused before they are sent. */
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  /** How long this client tries to reconnect after losing the controller (0: it does not). */
  reconnectMs = 0;
  /** How many times the client reconnected after losing the controller. */
  reconnects = 0;

  private readonly engineMap = new Map<number, EngineInfo>();
  private liveIdsCache: number[] | null = null;
  /** Which engine a sender session belongs to: learned from replies, seeded with engine uuids. */
  private readonly sessionEngine = new Map<string, number>();
  private readonly work = new Map<string, PendingWork>();
  private readonly control = new Map<string, PendingControl>();
  private readonly outstanding = new Set<AsyncResult<unknown>>();
  private readonly engineChanges = new Emitter<EngineChange>();
  private closed = false;
  private closedBy: 'user' | 'peer' | undefined;
  private handshake: { msgId: string; conn: Connection; done(content: ContentMap['connect_reply']): void; fail(e: Error): void } | undefined;
  private state: ConnectionState = 'connecting';
  private readonly stateChanges = new Emitter<ConnectionState>();
  private subscribe: 'none' | 'registration' | 'all' = 'registration';
  private timeoutMs = 10_000;
  private allowInsecure = false;
  private reconnectOption: number | undefined;
  /** Direct connections to engines; null when turned off. */
  private links: DirectLinks | null = null;
  private readonly gate = new PathGate<PendingWork>();
  /** Direct requests whose replies come quickly get a polling client (transport/spin). */
  private readonly conversation = new Conversation();

  private constructor(
    private conn: Connection,
    /** The connection file's content. */
    readonly connectionInfo: ConnectionInfo,
    /** Path of the connection file this client read. */
    readonly connectionFile: string,
  ) {}

  /**
   * Connects to a running controller. `arg` is a client connection file path, or options
   * (default: the 'default' profile's file under $MULTIENGINE_DIR or ~/.multiengine).
   */
  static async connect(arg?: string | ConnectOptions): Promise<Client> {
    if (arg !== undefined && typeof arg !== 'string' && (typeof arg !== 'object' || arg === null)) {
      throw new TypeError(`Client.connect takes a connection file path or options, got ${String(arg)}`);
    }
    const opts: ConnectOptions = typeof arg === 'string' ? { file: arg } : (arg ?? {});
    const file = opts.file ?? connectionFilePath('client', opts.profile ?? 'default', opts.dir);
    const info = readConnectionFile(file, { allowInsecure: opts.allowInsecure });
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let socket;
    try {
      socket = await connectTcp(info.ip, info.port, timeoutMs);
    } catch (e) {
      throw new ConnectionError(`${(e as Error).message} (controller of ${file}; is the cluster running?)`);
    }
    const client = new Client(new Connection(socket, new Signer(info.key)), info, file);
    client.subscribe = opts.subscribe ?? 'registration';
    client.timeoutMs = timeoutMs;
    client.allowInsecure = opts.allowInsecure === true;
    if (opts.reconnectMs !== undefined) {
      if (typeof opts.reconnectMs !== 'number' || !(opts.reconnectMs >= 0)) throw new TypeError(`reconnectMs must be a number of milliseconds ≥ 0, got ${String(opts.reconnectMs)}`);
      client.reconnectOption = opts.reconnectMs;
    }
    // Direct requests learn that their engine died from engine events, so a client that takes none sends everything through the controller.
    if ((opts.direct ?? process.env.MULTIENGINE_DIRECT !== '0') && client.subscribe !== 'none') client.enableDirect();
    await client.open(client.conn, timeoutMs);
    return client;
  }

  private enableDirect(): void {
    this.links = new DirectLinks({
      signer: this.conn.signer,
      session: this.session,
      maxMessageBytes: () => this.maxMessageBytes,
      onMessage: (m) => this.onMessage(m),
      onPlaceParts: (m, rest) => this.placeParts(m, rest),
      onLinkClosed: (id) => this.onLinkClosed(id),
    });
  }

  /** Connect handshake on `conn` (the first connection, or a reconnection). */
  private open(conn: Connection, timeoutMs: number): Promise<void> {
    this.conn = conn;
    return new Promise<void>((resolve, reject) => {
      const msg = createMessage('connect_request', { subscribe: this.subscribe }, { session: this.session });
      const timer = setTimeout(() => {
        this.handshake = undefined;
        conn.destroy();
        reject(new ConnectionError(`no answer from the controller at ${this.connectionInfo.ip}:${this.connectionInfo.port} within ${timeoutMs} ms (is this the right connection file?)`));
      }, timeoutMs);
      this.handshake = {
        msgId: msg.header.msg_id,
        conn,
        done: (content) => {
          clearTimeout(timer);
          this.handshake = undefined;
          if (content.status !== 'ok') {
            conn.close();
            reject(new ConnectionError(`connection refused: ${(content as ErrorContent).evalue ?? content.status}`));
            return;
          }
          this.controllerPid = content.controller_pid;
          this.heartbeatMs = content.heartbeat_ms;
          this.maxMessageBytes = typeof content.max_message_bytes === 'number' && content.max_message_bytes > 0 ? content.max_message_bytes : DEFAULT_MAX_MESSAGE_BYTES;
          this.reconnectMs = this.reconnectOption ?? (typeof content.reconnect_ms === 'number' && content.reconnect_ms > 0 ? content.reconnect_ms : 0);
          if (this.state === 'reconnecting') this.reconnects++;
          this.setState('connected');
          this.replaceEngines(content.engines);
          resolve();
        },
        fail: (e) => {
          clearTimeout(timer);
          this.handshake = undefined;
          reject(e);
        },
      };
      conn.start({
        onMessage: (m) => {
          if (conn === this.conn) this.onMessage(m);
        },
        onPlaceParts: (m, rest) => (conn === this.conn ? this.placeParts(m, rest) : null),
        onBadMessage: () => {
          this.droppedMessages++;
        },
        onClose: () => this.onClosed(conn),
      });
      conn.send(msg);
    });
  }

  // ---- connection state

  /** 'connected', 'reconnecting' (after losing the controller, for up to reconnectMs) or 'closed'. */
  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Called when the connection drops ('reconnecting'), comes back ('connected') or is closed for good ('closed'). */
  readonly onDidChangeConnection: Event<ConnectionState> = this.stateChanges.event;

  /** Resolves true once connected (at once when it is), false when closed or after `timeoutMs`. */
  waitConnected(timeoutMs?: number): Promise<boolean> {
    if (this.state === 'connected') return Promise.resolve(true);
    if (this.state === 'closed') return Promise.resolve(false);
    return nextEvent(this.onDidChangeConnection, (st) => st === 'connected' || st === 'closed', timeoutMs).then((st) => st === 'connected');
  }

  private setState(st: ConnectionState): void {
    if (this.state === st) return;
    this.state = st;
    this.stateChanges.fire(st);
  }

  // ---- engines

  /** Sorted ids of the live engines (not dead), kept current from the controller's events. */
  get ids(): number[] {
    if (this.liveIdsCache === null) {
      this.liveIdsCache = [...this.engineMap.values()]
        .filter((e) => e.state !== 'dead')
        .map((e) => e.id)
        .sort((a, b) => a - b);
    }
    return [...this.liveIdsCache];
  }

  /** Every engine the controller knows, dead ones included, by id. */
  get engines(): EngineInfo[] {
    return [...this.engineMap.values()].sort((a, b) => a.id - b.id).map((e) => ({ ...e }));
  }

  /** One engine's info, or undefined when the controller does not know that id. */
  engine(id: number): EngineInfo | undefined {
    const e = this.engineMap.get(id);
    return e && { ...e };
  }

  /** Called whenever an engine registers, changes state, dies or goes away. */
  readonly onDidChangeEngines: Event<EngineChange> = this.engineChanges.event;

  /**
   * A DirectView on `targets`: no argument means every live engine, resolved at each call;
   * a number gives bare (unwrapped) results; an array gives one result per engine.
   */
  view(): DirectView<false>;
  view(targets: number): DirectView<true>;
  view(targets: readonly number[] | 'all'): DirectView<false>;
  view(targets?: Targets): DirectView;
  view(targets?: Targets): DirectView {
    return new DirectView(this, checkTargetsShape(targets));
  }

  /** Status from the controller (and a fresh engine list for this client). */
  async status(): Promise<StatusReport> {
    const r = await this.request('status_request', {});
    this.replaceEngines(r.engines);
    const report: StatusReport = { engines: r.engines, dropped_messages: r.dropped_messages, clients: r.clients };
    if (r.result_store) report.result_store = r.result_store;
    if (r.memory) report.memory = r.memory;
    return report;
  }

  // ---- cluster control (typed, so callers never name a wire message)

  /**
   * Asks the controller to launch `n` more engines of a language (default 'node'); resolves with
   * their ids once they registered. `python` is the interpreter for Python engines.
   */
  async addEngines(n: number, opts: { engine?: KernelKind; python?: string } = {}): Promise<number[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`the number of engines to add must be a whole number ≥ 1, got ${String(n)}`);
    const reply = await this.request('add_engines_request', { n, engine: opts.engine ?? 'node', python: opts.python });
    await this.refreshEngines();
    return reply.ids;
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

  /** Stops the controller and every engine it launched; this client is closed by the controller. */
  async shutdownController(timeoutMs?: number): Promise<void> {
    await this.request('controller_shutdown_request', {}, timeoutMs);
  }

  /** Re-reads the engine list from the controller. */
  async refreshEngines(): Promise<EngineInfo[]> {
    return (await this.status()).engines;
  }

  /**
   * Waits for results (an AsyncResult, a list of them, or by default every result of this
   * client still outstanding); false when `timeoutMs` passes first. Failed results count as done.
   */
  wait(results?: PromiseLike<unknown> | Iterable<PromiseLike<unknown>> | number | null, timeoutMs?: number): Promise<boolean> {
    if (typeof results === 'number') return this.wait(undefined, results);
    let list: PromiseLike<unknown>[];
    if (results === undefined || results === null) list = [...this.outstanding];
    else if (typeof (results as PromiseLike<unknown>).then === 'function') list = [results as PromiseLike<unknown>];
    else list = [...(results as Iterable<PromiseLike<unknown>>)];
    return waitAll(list, timeoutMs);
  }

  /** Results sent by this client that are not done yet. */
  get outstandingResults(): AsyncResult<unknown>[] {
    return [...this.outstanding];
  }

  /**
   * Engines this client reaches directly (protocol section 13): its single-engine requests to
   * them skip the controller. A link opens with the first single-engine request to an engine.
   */
  get directEngines(): number[] {
    return this.links?.readyIds() ?? [];
  }

  /** Closes the connection; results still waiting fail with EngineError. */
  close(): void {
    if (this.closed) return;
    this.closedBy = 'user';
    this.conn.close();
    this.shutDown(CLOSED_BY_USER);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- low level (used by views and by Cluster)

  /**
   * Sends a controller request and resolves with its successful reply content; rejects with
   * ControllerError when the controller answers with an error, or when `timeoutMs` passes.
   */
  request<T extends MsgType>(msgType: T, content: ContentMap[T], timeoutMs?: number, metadata?: Metadata): Promise<OkReply<T>> {
    if (this.state !== 'connected') return Promise.reject(this.notConnected(msgType));
    const msg = createMessage(msgType, content, { session: this.session, metadata });
    const msgId = msg.header.msg_id;
    return new Promise<OkReply<T>>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.control.delete(msgId);
              reject(new ControllerError(msgType, 'TimeoutError', `no reply within ${timeoutMs} ms`));
            }, timeoutMs);
      this.control.set(msgId, { msgType, resolve: resolve as (c: unknown) => void, reject, timer });
      this.conn.send(msg);
    });
  }

  /** @internal A new result whose replies this client will route; views call this. */
  newResult<T>(spec: ResultSpec<T>): { result: AsyncResult<T>; tracker: ResultTracker<T> } {
    const tracker = new ResultTracker<T>({
      ...spec,
      abort: spec.abort ?? ((msgIds, engineIds) => this.abortRequests(msgIds, engineIds)),
    });
    const result = new AsyncResult<T>(tracker);
    if (!tracker.done) {
      this.outstanding.add(result);
      tracker.whenDone(() => this.outstanding.delete(result));
    }
    return { result, tracker };
  }

  /**
   * @internal The one place work is sent: ONE message to any number of targets
   * (metadata.targets), and one pending entry keyed by its msg_id. Returns the msg_id.
   */
  submit<T extends WorkRequestType>(s: WorkSubmission<T>): string {
    return this.submitAll([s])[0];
  }

  /**
   * @internal Sends several work messages (scatter and map send one per engine). Every
   * message is encoded and checked against the maximum message size first: when one is too
   * big, none is sent, the result(s) end with MessageTooLargeError, and it is thrown.
   */
  submitAll(list: readonly WorkSubmission[]): string[] {
    if (list.length === 0) return [];
    this.ensureOpen(list[0].msgType);
    const signer = this.conn.signer;
    const prepared = list.map((s) => {
      // A single-engine request in a quick direct conversation asks the engine to poll after replying
      // (encoded so once: a request that goes through the controller anyway is not polled for).
      const poll = s.targets.length === 1 && this.conversation.isQuick && this.links?.isReady(s.targets[0]) === true;
      const metadata: Metadata = poll ? { targets: [...s.targets], poll: true } : { targets: [...s.targets] };
      const msg = createMessage(s.msgType, s.content, { session: this.session, metadata, buffers: s.buffers });
      // One buffer for head, signature and JSON (encodeMessageFrame); buffers by reference.
      let frame: ReturnType<typeof encodeMessageFrame> | null = null;
      let size: number;
      try {
        frame = encodeMessageFrame(msg, signer);
        size = frame.head.readUInt32BE(0); // the body length, which the receiver checks
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        size = 4; // more than a frame can say (4 GiB): count it exactly
        for (const p of encodeMessage(msg, signer)) size += 4 + p.byteLength;
      }
      return { s, msgId: msg.header.msg_id, frame, size };
    });
    for (const p of prepared) {
      if (p.size <= this.maxMessageBytes) continue;
      const err = new MessageTooLargeError(p.s.msgType.replace(/_request$/, ''), p.size, this.maxMessageBytes);
      for (const q of prepared) q.s.sink.expire(err);
      throw err;
    }
    for (const { s, msgId, frame } of prepared) {
      const slotByEngine = new Map<number, number>();
      for (let i = 0; i < s.targets.length; i++) {
        slotByEngine.set(s.targets[i], s.slots[i]);
        s.sink.assign(s.slots[i], msgId);
      }
      const w: PendingWork = {
        path: 'held',
        targets: [...s.targets],
        waiting: new Set(s.targets),
        frame,
        sink: s.sink,
        method: s.msgType.replace(/_request$/, ''),
        slotByEngine,
        onlySlot: s.targets.length === 1 ? s.slots[0] : undefined,
        remaining: s.targets.length,
        decode: s.decode,
        place: s.place,
      };
      this.work.set(msgId, w);
      this.route(w);
    }
    return prepared.map((p) => p.msgId);
  }

  /**
   * Sends a request on the path the PathGate allows: straight to its one engine when a direct
   * connection is ready, else through the controller; or holds it back until this client's
   * requests on the other path to its engines have been answered.
   */
  private route(w: PendingWork): void {
    const { targets } = w;
    const blocked = this.gate.isBlocked(targets);
    const direct = blocked ? undefined : this.directLinkFor(targets);
    const path: Path | null = direct !== undefined ? 'direct' : !blocked && targets.every((t) => this.gate.allows(t, 'controller')) ? 'controller' : null;
    if (path === null) {
      w.path = 'held';
      this.gate.hold(w);
      return;
    }
    w.path = path;
    this.gate.sent(targets, path);
    (direct ?? this.conn).sendFrame(w.frame!);
    w.frame = null;
    // The poll hint was decided when the request was made (submitAll).
    if (direct !== undefined) this.conversation.sent();
  }

  /**
   * The ready direct connection for a single-engine request that may go that way (nothing of
   * ours is in flight to the engine through the controller). A request for several engines
   * goes to the controller, which sends it on: with several engines sharing few cores, sending
   * to each costs the client about what the saved hop would (measured, docs/benchmarks.md).
   */
  private directLinkFor(targets: readonly number[]): Connection | undefined {
    if (this.links === null || targets.length !== 1 || !this.gate.allows(targets[0], 'direct')) return undefined;
    return this.links.connectionFor(this.engineMap.get(targets[0]));
  }

  /** `engine` will not answer `w` (any more): the gate may let held requests go. */
  private settled(w: PendingWork, engine: number): void {
    if (!w.waiting.delete(engine) || (w.path !== 'direct' && w.path !== 'controller')) return;
    for (const next of this.gate.answered(engine)) this.route(next);
  }

  /** Stops waiting for `msgId` altogether (timed out, failed): held back, it is never sent. */
  private forget(msgId: string): void {
    const w = this.work.get(msgId);
    if (w === undefined) return;
    this.work.delete(msgId);
    if (w.path === 'held') {
      this.gate.unhold(w);
      w.frame = null;
      return;
    }
    for (const e of [...w.waiting]) this.settled(w, e);
  }

  /**
   * @internal abort for `engineIds`: the named requests (all, without `msgIds`) that have not
   * started are dropped. Those this client still holds back (PathGate) never left it and are
   * dropped here; the engines drop the rest, which reject with AbortError as the answers come.
   */
  abortRequests(msgIds: string[] | undefined, engineIds: readonly number[]): Promise<void> {
    const named = msgIds === undefined ? null : new Set(msgIds);
    for (const [msgId, w] of [...this.work]) {
      if (w.path !== 'held' || (named !== null && !named.has(msgId)) || !w.targets.some((t) => engineIds.includes(t))) continue;
      this.forget(msgId);
      w.sink.failPending((id) => new AbortError(id, w.method));
    }
    return this.request('abort_request', msgIds === undefined ? {} : { msg_ids: msgIds }, undefined, { targets: [...engineIds] }).then(() => undefined);
  }

  /** A direct connection closed: the direct requests waiting on it get no reply from there. */
  private onLinkClosed(engineId: number): void {
    this.failDirect(
      engineId,
      (msgId) => `engine ${engineId}: its direct connection closed before the reply (the engine stopped, or the connection broke). If the engine is still up, rc.getResult('${msgId}') fetches the result`,
    );
  }

  /** Fails what this client's direct requests wait for from `engineId` (the other engines of a request still answer). */
  private failDirect(engineId: number, evalueFor: (msgId: string) => string): void {
    for (const [msgId, w] of [...this.work]) {
      if (w.path !== 'direct' || !w.waiting.has(engineId)) continue;
      const slot = w.slotByEngine.get(engineId);
      if (slot !== undefined) w.sink.fail(slot, new EngineError(engineId, w.method, evalueFor(msgId)));
      this.replied(w, msgId, engineId);
    }
  }

  /**
   * @internal A call's `timeoutMs`: when it passes before the result is done, the requests
   * still queued are dropped and the ones running are interrupted (the engines stay up), and
   * the result rejects with TimeoutError.
   */
  expireAfter(tracker: ResultTracker<unknown>, method: string, timeoutMs: number): void {
    if (tracker.done) return;
    const timer = setTimeout(() => {
      if (tracker.done) return;
      const pending = tracker.slots.filter((s) => !s.done);
      const msgIds = [...new Set(pending.map((s) => s.msgId))].filter(Boolean);
      const engineIds = [...new Set(pending.map((s) => s.engineId))];
      for (const id of msgIds) this.forget(id);
      if (this.state === 'connected' && msgIds.length > 0) {
        const metadata = { targets: engineIds };
        this.request('abort_request', { msg_ids: msgIds }, undefined, metadata).catch(() => {});
        this.request('interrupt_request', { msg_ids: msgIds }, undefined, metadata).catch(() => {});
      }
      const who = engineIds.length === 1 ? `engine ${engineIds[0]}` : `engines ${engineIds.join(', ')}`;
      tracker.expire(new TimeoutError(`${method} did not finish within ${timeoutMs} ms on ${who}; it was interrupted (the engines stay up, with their namespaces)`, engineIds));
    }, timeoutMs);
    tracker.whenDone(() => clearTimeout(timer));
  }

  /**
   * The result of a request whose client went away before it was answered: a client that
   * was closed or lost its connection (this one, before it reconnected). The controller keeps
   * those in a bounded store (least recently used out first) for as long as it runs. Resolves
   * to one value per engine that had not answered when the client left, in `engineIds` order,
   * decoded as the request's type says (execute: ExecuteResult; pull: the array of values);
   * a request still running is waited for. Rejects with ControllerError (ename 'KeyError')
   * when the store does not hold it, and like a view call (CompositeError) when engines failed.
   */
  getResult(msgId: string): Promise<unknown[]> {
    if (typeof msgId !== 'string' || msgId === '') throw new TypeError(`getResult: msgId must be a msg_id string (e.g. from asyncResult.msgIds), got ${String(msgId)}`);
    if (this.state !== 'connected') return Promise.reject(this.notConnected('result_request'));
    if (this.work.has(msgId)) return Promise.reject(new ControllerError('result_request', 'ValueError', `this client is still waiting for ${msgId}: await its AsyncResult instead`));
    const msg = createMessage('result_request', { msg_id: msgId }, { session: this.session });
    return new Promise<unknown[]>((resolve, reject) => {
      this.control.set(msg.header.msg_id, {
        msgType: 'result_request',
        // Runs synchronously as the reply is read, before the stored messages that follow it.
        resolve: (content) => {
          const c = content as OkReply<'result_request'>;
          const ids = Array.isArray(c.engine_ids) ? c.engine_ids.filter((x) => typeof x === 'number') : [];
          const method = String(c.msg_type ?? '').replace(/_request$/, '');
          const { tracker } = this.newResult<unknown[]>({ engineIds: ids, method, bare: false, finalize: (values) => values });
          resolve(tracker.promise);
          if (ids.length === 0) return;
          const slotByEngine = new Map<number, number>();
          ids.forEach((id, i) => {
            slotByEngine.set(id, i);
            tracker.assign(i, msgId);
          });
          this.work.set(msgId, {
            path: 'fetch',
            targets: ids,
            waiting: new Set(ids),
            frame: null,
            sink: tracker,
            method,
            slotByEngine,
            onlySlot: ids.length === 1 ? 0 : undefined,
            remaining: ids.length,
            decode: replyDecoderFor(String(c.msg_type), tracker),
          });
        },
        reject,
        timer: undefined,
      });
      this.conn.send(msg);
    });
  }

  /** @internal Throws when nothing can be sent. */
  ensureOpen(what: string): void {
    if (this.state !== 'connected') throw this.notConnected(what);
  }

  private notConnected(what: string): ConnectionError {
    if (this.closed || this.state === 'closed') return new ConnectionError(`cannot send ${what}: the client is closed`);
    return new ConnectionError(`cannot send ${what}: the connection to the controller was lost; reconnecting (see connectionState)`);
  }

  /** @internal Ids the controller has told us about (dead ones included) and the live ones. */
  resolveTargets(method: string, spec: Targets | undefined): { ids: number[]; bare: boolean } {
    return resolveTargets(method, spec, this.engineMap, this.ids);
  }

  // ---- incoming

  private onMessage(msg: Message): void {
    const parentId = (msg.parent_header as Partial<Header>).msg_id;
    const type = msg.header.msg_type;
    if (type === 'stream') {
      if (parentId !== undefined) this.onStream(msg as Message<'stream'>, parentId);
      return;
    }
    if (type === 'engine_event') {
      this.onEngineEvent(msg.content as ContentMap['engine_event']);
      return;
    }
    if (parentId === undefined) return;
    const w = this.work.get(parentId);
    if (w !== undefined) {
      this.onWorkReply(w, parentId, msg);
      return;
    }
    const c = this.control.get(parentId);
    if (c !== undefined) {
      this.control.delete(parentId);
      clearTimeout(c.timer);
      const content = msg.content as ReplyContent;
      if (content.status === 'ok') c.resolve(content);
      else c.reject(new ControllerError(c.msgType, content.ename ?? String(content.status), content.evalue ?? ''));
      return;
    }
    if (type === 'connect_reply' && this.handshake?.msgId === parentId) this.handshake.done(msg.content as ContentMap['connect_reply']);
  }

  /** A large reply's head is in: its buffers may go where its request wants them (gather). */
  private placeParts(msg: Message, rest: number[]): (Buffer | undefined)[] | null {
    const parentId = (msg.parent_header as Partial<Header>).msg_id;
    const w = parentId === undefined ? undefined : this.work.get(parentId);
    if (w?.place === undefined || (msg.content as ReplyContent).status !== 'ok') return null;
    const slot = this.slotFor(w, msg);
    return slot === undefined ? null : w.place(slot, rest);
  }

  private slotFor(w: PendingWork, msg: Message): number | undefined {
    const engineId = msg.metadata.engine_id;
    if (typeof engineId === 'number') return w.slotByEngine.get(engineId);
    return w.onlySlot;
  }

  private onStream(msg: Message<'stream'>, parentId: string): void {
    const w = this.work.get(parentId);
    if (w === undefined) return;
    const { name, text } = msg.content;
    if (typeof text !== 'string') return;
    const stream: StreamName = name === 'stderr' ? 'stderr' : 'stdout';
    let index = this.slotFor(w, msg);
    if (index === undefined && typeof msg.metadata.engine_id !== 'number') {
      // No engine id on the stream and several targets: attribute it by the sender's session.
      const engineId = this.sessionEngine.get(msg.header.session);
      if (engineId !== undefined) index = w.slotByEngine.get(engineId);
      if (index === undefined) {
        w.unattributed ??= new Map();
        const list = w.unattributed.get(msg.header.session);
        if (list) list.push({ name: stream, text });
        else w.unattributed.set(msg.header.session, [{ name: stream, text }]);
        return;
      }
    }
    if (index !== undefined) w.sink.output(index, stream, text);
  }

  private onWorkReply(w: PendingWork, msgId: string, msg: Message): void {
    const index = this.slotFor(w, msg);
    if (index === undefined || w.sink.slots[index].done) return;
    const md = msg.metadata;
    const engineId = typeof md.engine_id === 'number' ? md.engine_id : -1;
    const content = msg.content as ReplyContent;
    const fromEngine = !(content.status === 'error' && content.ename === 'EngineError');
    if (fromEngine && engineId >= 0) this.sessionEngine.set(msg.header.session, engineId);
    if (w.unattributed?.has(msg.header.session) && fromEngine) {
      for (const o of w.unattributed.get(msg.header.session)!) w.sink.output(index, o.name, o.text);
      w.unattributed.delete(msg.header.session);
    }
    const meta = { started: typeof md.started === 'string' ? md.started : undefined, completed: typeof md.completed === 'string' ? md.completed : undefined };
    if (content.status === 'ok') {
      let value: unknown;
      try {
        value = w.decode(msg, engineId, index);
      } catch (e) {
        w.sink.fail(index, new RemoteError(engineId, w.method, 'DecodeError', `cannot decode the reply: ${(e as Error).message}`), meta);
        this.replied(w, msgId, engineId);
        return;
      }
      w.sink.settle(index, value, meta);
    } else if (content.status === 'error') {
      const traceback = Array.isArray(content.traceback) ? content.traceback.map(String) : [];
      const evalue = String(content.evalue ?? '');
      const err = content.ename === 'EngineError' ? new EngineError(engineId, w.method, evalue, traceback) : new RemoteError(engineId, w.method, String(content.ename ?? 'Error'), evalue, traceback);
      w.sink.fail(index, err, meta);
    } else if (content.status === 'aborted') {
      w.sink.fail(index, new AbortError(engineId, w.method), meta);
    } else {
      w.sink.fail(index, new RemoteError(engineId, w.method, 'ProtocolError', `unexpected reply status ${JSON.stringify(content.status)}`), meta);
    }
    this.replied(w, msgId, engineId);
  }

  private replied(w: PendingWork, msgId: string, engineId: number): void {
    if (--w.remaining <= 0) {
      this.work.delete(msgId);
      if (w.path === 'direct') this.conversation.answered();
    }
    this.settled(w, engineId >= 0 || w.targets.length !== 1 ? engineId : w.targets[0]);
  }

  private onEngineEvent(ev: ContentMap['engine_event']): void {
    const e = ev?.engine;
    if (!e || typeof e.id !== 'number') return;
    if (ev.event === 'unregistered') this.engineMap.delete(e.id);
    else this.engineMap.set(e.id, { ...e });
    // The controller answers what it routed to a dead engine; what went directly is answered here.
    if (e.state === 'dead' || ev.event === 'unregistered') {
      const why = `engine ${e.id} is dead: ${e.reason ?? 'unregistered'}`;
      this.failDirect(e.id, () => why);
      this.links?.forget(e.id);
    }
    if (e.uuid) this.sessionEngine.set(e.uuid, e.id);
    this.liveIdsCache = null;
    this.emitChange({ event: ev.event, engine: { ...e }, ids: this.ids });
  }

  private replaceEngines(engines: readonly EngineInfo[]): void {
    this.engineMap.clear();
    for (const e of engines) {
      this.engineMap.set(e.id, { ...e });
      if (e.uuid) this.sessionEngine.set(e.uuid, e.id);
    }
    this.liveIdsCache = null;
    this.emitChange({ event: 'refresh', ids: this.ids });
  }

  private emitChange(change: EngineChange): void {
    this.engineChanges.fire(change);
  }

  private onClosed(conn: Connection): void {
    if (this.handshake?.conn === conn) {
      if (this.state === 'connecting') this.closed = true;
      this.handshake.fail(new ConnectionError('connection refused: signature mismatch (is this the right connection file?)'));
      return;
    }
    if (conn !== this.conn || this.closed || this.state !== 'connected') return;
    if (this.closedBy === undefined && this.reconnectMs > 0 && this.controllerMayComeBack()) {
      // Not retried: a request may have run, and must never run twice. Direct ones are still answered.
      this.failInFlight(
        (msgId) =>
          `${CONNECTION_LOST}; it is not sent again (it may have run). If the controller is still up, ` +
          `rc.getResult('${msgId}') fetches its result once the client has reconnected`,
        true,
      );
      this.setState('reconnecting');
      void this.reconnect();
      return;
    }
    this.closedBy ??= 'peer';
    this.shutDown(CONNECTION_LOST);
  }

  /** The connection file still names the controller we knew (a clean shutdown deletes it). */
  private controllerMayComeBack(): boolean {
    try {
      return readConnectionFile(this.connectionFile, { allowInsecure: this.allowInsecure }).key === this.connectionInfo.key;
    } catch {
      return false;
    }
  }

  /** Tries to connect again (same file, same key) until reconnectMs has passed. */
  private async reconnect(): Promise<void> {
    const deadline = Date.now() + this.reconnectMs;
    let delay = 50;
    let why = `no controller answered within ${this.reconnectMs} ms`;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 500);
      if (this.closed) return;
      let info: ConnectionInfo;
      try {
        info = readConnectionFile(this.connectionFile, { allowInsecure: this.allowInsecure });
      } catch {
        continue; // a restarted controller writes it again
      }
      if (info.key !== this.connectionInfo.key) {
        why = `the connection file ${this.connectionFile} now belongs to another controller (a different key)`;
        break;
      }
      const budget = Math.max(500, Math.min(this.timeoutMs, deadline - Date.now()));
      let socket;
      try {
        socket = await connectTcp(info.ip, info.port, budget);
      } catch {
        continue;
      }
      if (this.closed) {
        socket.destroy();
        return;
      }
      try {
        await this.open(new Connection(socket, new Signer(info.key)), budget);
        return;
      } catch {
        this.conn.destroy();
      }
    }
    if (!this.closed) {
      this.closedBy ??= 'peer';
      this.shutDown(`${CONNECTION_LOST} (${why})`);
    }
  }

  /** Closed for good: everything still waiting fails with `reason`. */
  private shutDown(reason: string): void {
    this.closed = true;
    this.failInFlight(() => reason);
    this.links?.close();
    this.setState('closed');
  }

  /** Fails what waits for the controller (and, unless `keepDirect`, what waits on direct connections). */
  private failInFlight(reasonFor: (msgId: string) => string, keepDirect = false): void {
    const work = [...this.work].filter(([, w]) => !(keepDirect && w.path === 'direct'));
    for (const [msgId] of work) this.work.delete(msgId);
    // Nothing held may be sent while the rest is released from the gate.
    for (const [, w] of work) if (w.path === 'held') this.gate.unhold(w);
    for (const [, w] of work) if (w.path === 'direct' || w.path === 'controller') for (const e of w.waiting) this.gate.answered(e);
    for (const [msgId, w] of work) {
      const reason = reasonFor(msgId);
      w.sink.failPending((id) => new EngineError(id, w.method, reason));
    }
    const control = [...this.control.values()];
    this.control.clear();
    const reason = this.closedBy === 'user' ? CLOSED_BY_USER : CONNECTION_LOST;
    for (const c of control) {
      clearTimeout(c.timer);
      c.reject(new ConnectionError(`${c.msgType}: ${reason}`));
    }
  }
}
