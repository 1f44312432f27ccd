/**
 * The controller: one TCP server that engines and clients connect to.
 *
 * A connection is classified by its first valid message (registration_request = engine
 * main connection, heartbeat = engine heart, connect_request = client). Work requests are
 * forwarded as their raw signed parts to each target engine, and the engines' replies and
 * streams go back, again as raw parts, to the client that asked. Per message the work is
 * a few Map look-ups; nothing scans all engines or all requests.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { connectionFilePath, readConnectionFile, writeConnectionFile, type ConnectionInfo } from '../connection/connectionFile.js';
import {
  createMessage,
  errorContent,
  isValidHeader,
  newSession,
  type ContentMap,
  type ControllerMemory,
  type CurrentTask,
  type DirectAddress,
  type EngineInfo,
  type Header,
  type KernelKind,
  type Message,
  type Metadata,
  type MsgType,
} from '../protocol/messages.js';
import { encodeMessage, Signer } from '../transport/codec.js';
import { Connection } from '../transport/connection.js';
import { RecyclingPartAllocator, type FrameSink } from '../transport/frame.js';
import { EngineRecord, type ClientRecord, type Pending, type Subscription } from './engineRecord.js';
import { HeartMonitor } from './heartMonitor.js';
import { IdleCollector } from './idleCollector.js';
import { ReplayGuard } from '../transport/replayGuard.js';
import { log } from './log.js';
import {
  AdoptedProcess,
  describeEnd,
  earlyExitMessage,
  engineCommand,
  LaunchError,
  LocalProcess,
  resolvePython,
  type EngineProcess,
  type LaunchSpec,
  type ProcessEnd,
} from './localLauncher.js';
import type { ControllerOptions } from './options.js';
import { ResultStore, type StoredResult } from './resultStore.js';
import { isAlive } from '../util/processes.js';

/** Work requests: forwarded to engines and answered once per target with `<type>_reply`. */
const WORK_REPLY: ReadonlyMap<string, MsgType> = new Map<string, MsgType>([
  ['execute_request', 'execute_reply'],
  ['apply_request', 'apply_reply'],
  ['push_request', 'push_reply'],
  ['pull_request', 'pull_reply'],
  ['keys_request', 'keys_reply'],
  ['clear_request', 'clear_reply'],
]);

/** How long add_engines / restart_engine wait for local engines to register. */
const LAUNCH_TIMEOUT_MS = 25_000;
/** How long a stopped local engine gets to exit before SIGKILL. */
const STOP_GRACE_MS = 2_000;
/** A connection must say who it is within this time. */
const CLASSIFY_TIMEOUT_MS = 10_000;
/** Dead engines stay listed (with their reason) until replaced or stopped; at most this many. */
const MAX_DEAD_ENGINES = 256;
const MAX_ADD_ENGINES = 1024;
/** A client connection with more than this queued for writing pauses the engines that feed it (back-pressure). */
const CLIENT_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Room over max_output_bytes for an engine's own truncation marker before the controller truncates. */
const OUTPUT_SLACK_CHARS = 64 * 1024;
/** A failed automatic restart is tried again after this long (still within the restart limit). */
const RESTART_RETRY_MS = 1_000;

export interface ControllerStarted {
  port: number;
  clientFile: string;
  engineFile: string;
}

/** A launch waiting for its engine to register. */
interface PendingLaunch {
  readonly id: number;
  readonly spec: LaunchSpec;
  readonly restarts: number;
  /** Set for restarts: why the engine before it went away. */
  readonly restartReason: string | undefined;
  proc: LocalProcess | null;
  engine: EngineRecord | null;
  settled: boolean;
  resolve(id: number): void;
  reject(e: Error): void;
}

/** A client request the controller refuses; becomes an error reply with this ename. */
class RequestError extends Error {
  constructor(
    readonly ename: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `{status:'ok'}` for replies with no fields. messages.ts types those as
 * `Reply<Record<string, never>>`, whose 'ok' branch no value can satisfy, hence the cast.
 */
const OK = { status: 'ok' } as unknown as ContentMap['abort_reply'];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return typeof v;
  }
}

export class Controller {
  readonly session = newSession();
  readonly key: string;
  readonly signer: Signer;
  /** The port taken from an existing connection file (--reuse-key without --port), 0 otherwise. */
  private readonly reusedPort: number = 0;
  private readonly server: net.Server;
  /** Large parts pass through here on their way: their memory is used again (no page faults). */
  private readonly partAllocator = new RecyclingPartAllocator();

  /** All listed engines by id (live and dead). */
  private readonly engines = new Map<number, EngineRecord>();
  /** Live engines by uuid, to attach hearts. */
  private readonly byUuid = new Map<string, EngineRecord>();
  private nextId = 0;
  /** Highest id ever given to a registered engine; ids at or below it are never handed out again. */
  private highestUsed = -1;
  /** Ids held for launches that have not registered yet (and for restarts in progress). */
  private readonly reserved = new Set<number>();
  private readonly launchesById = new Map<number, PendingLaunch>();
  private readonly launchesByPid = new Map<number, PendingLaunch>();
  private readonly deadOrder: number[] = [];

  private readonly clients = new Set<ClientRecord>();
  private readonly regSubscribers = new Set<ClientRecord>();
  private readonly allSubscribers = new Set<ClientRecord>();
  private readonly unclassified = new Set<Connection>();
  private clientCount = 0;

  /** Per engine: replies forwarded and the request it runs now (kept here, O(1) per message). */
  private readonly taskStats = new WeakMap<EngineRecord, { done: number; current: CurrentTask | null }>();

  /** Results of requests whose client went away. */
  private readonly results: ResultStore;
  /** Per id: times of automatic restarts (restart 'always'), for the limit. */
  private readonly restartTimes = new Map<number, number[]>();

  /** Frames dropped for a bad signature or malformed content. */
  droppedMessages = 0;
  /** Drops validly signed messages seen before, so a captured request cannot be run twice. */
  private readonly replays = new ReplayGuard();
  /** Runs a full GC when a burst of traffic is followed by quiet, so memory returns. */
  private readonly idle = new IdleCollector();
  /** Messages whose handling threw (logged, not fatal). */
  handlerErrors = 0;
  /** Engine replies/streams that matched no outstanding request. */
  unroutable = 0;

  private readonly monitor: HeartMonitor;
  private files: string[] = [];
  private engineFile = '';
  private port = 0;
  private shutdownPromise: Promise<void> | null = null;
  /** Called once shutdown is complete (main.ts exits the process). */
  onShutdown: (() => void) | null = null;

  constructor(readonly opts: ControllerOptions) {
    let key = randomBytes(32).toString('hex');
    if (opts.reuseKey) {
      // A restarted controller: engines and clients of the one before keep their connection files.
      const file = connectionFilePath('client', opts.profile, opts.dir);
      try {
        const old = readConnectionFile(file);
        key = old.key;
        this.reusedPort = old.port;
        log.info(`reusing the key${opts.port ? '' : ` and port ${old.port}`} of ${file}`);
      } catch (e) {
        log.warn(`--reuse-key: ${(e as Error).message}; using a new key`);
      }
    }
    this.key = key;
    this.signer = new Signer(key);
    this.results = new ResultStore(opts.resultStoreBytes, opts.resultStoreEntries);
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (e) => log.error(`server: ${e.message}`));
    this.monitor = new HeartMonitor({
      heartbeatMs: opts.heartbeatMs,
      deadAfterMs: opts.deadAfterMs,
      engines: () => this.engines.values(),
      onUnresponsive: (e, silent) => {
        log.warn(`engine ${e.id} is unresponsive (no heartbeat for ${silent} ms)`);
        e.unresponsive = true;
        this.refresh(e);
      },
      onDead: (e, silent) => this.markDead(e, `no heartbeat for ${silent} ms`, { kill: true, graceful: false }),
    });
  }

  get isShuttingDown(): boolean {
    return this.shutdownPromise !== null;
  }

  // ------------------------------------------------------------------ start-up

  async start(): Promise<ControllerStarted> {
    const listen = (port: number) =>
      new Promise<void>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${this.opts.ip}:${port}: ${e.code ?? e.message}`));
        this.server.once('error', onError);
        this.server.listen({ host: this.opts.ip, port, exclusive: true }, () => {
          this.server.off('error', onError);
          resolve();
        });
      });
    if (!this.opts.port && this.reusedPort) {
      try {
        await listen(this.reusedPort);
      } catch (e) {
        log.warn(`${(e as Error).message}; listening on a free port instead (peers of the previous controller cannot come back)`);
        await listen(0);
      }
    } else {
      await listen(this.opts.port);
    }
    this.port = (this.server.address() as net.AddressInfo).port;
    const info: ConnectionInfo = {
      transport: 'tcp',
      ip: connectIp(this.opts.ip),
      port: this.port,
      key: this.key,
      signature_scheme: 'hmac-sha256',
      controller_pid: process.pid,
      profile: this.opts.profile,
      heartbeat_ms: this.opts.heartbeatMs,
    };
    const clientFile = connectionFilePath('client', this.opts.profile, this.opts.dir);
    const engineFile = connectionFilePath('engine', this.opts.profile, this.opts.dir);
    writeConnectionFile(clientFile, info);
    this.files.push(clientFile);
    writeConnectionFile(engineFile, info);
    this.files.push(engineFile);
    this.engineFile = engineFile;
    this.monitor.start();
    log.debug(`listening on ${this.opts.ip}:${this.port}`);
    return { port: this.port, clientFile, engineFile };
  }

  // ------------------------------------------------------------------ connections

  private accept(socket: net.Socket): void {
    if (this.isShuttingDown) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this.signer, this.opts.maxMessageBytes, this.partAllocator.allocate);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.unclassified.add(conn);
    const timer = setTimeout(() => {
      if (this.unclassified.has(conn)) {
        log.warnLimited('silent', `closing connection from ${peer}: no registration, heartbeat or connect request within ${CLASSIFY_TIMEOUT_MS} ms`);
        conn.destroy();
      }
    }, CLASSIFY_TIMEOUT_MS);
    timer.unref();

    // The handler changes once the connection is classified.
    let onMessage: (msg: Message, parts: Buffer[]) => void;
    let onClose: () => void = () => {
      clearTimeout(timer);
      this.unclassified.delete(conn);
    };
    const classified = (message: (msg: Message, parts: Buffer[]) => void, close: () => void) => {
      clearTimeout(timer);
      this.unclassified.delete(conn);
      onMessage = message;
      onClose = close;
    };
    onMessage = (msg, parts) => this.classify(conn, peer, msg, parts, classified);

    conn.start({
      onMessage: (msg, parts) => {
        this.idle.count();
        if (!this.replays.admit(msg.header.msg_id)) {
          this.droppedMessages++;
          log.warnLimited('dropped', `dropped a replayed message ${describe(msg.header.msg_id)} from ${peer}`);
          return;
        }
        try {
          onMessage(msg, parts);
        } catch (e) {
          this.handlerErrors++;
          log.error(`handling ${describe(msg.header?.msg_type)} from ${peer} failed: ${(e as Error)?.stack ?? String(e)}`);
        }
      },
      onStreamStart: (msg, head, rest) => this.streamReply(conn, msg, head, rest),
      onBadMessage: (reason, fatal) => {
        this.droppedMessages++;
        log.warnLimited('dropped', `dropped a message from ${peer}: ${reason}${fatal ? ' (connection closed)' : ''}`);
      },
      onClose: () => {
        try {
          onClose();
        } catch (e) {
          this.handlerErrors++;
          log.error(`closing ${peer} failed: ${(e as Error)?.stack ?? String(e)}`);
        }
      },
    });
  }

  private classify(
    conn: Connection,
    peer: string,
    msg: Message,
    parts: Buffer[],
    classified: (m: (msg: Message, parts: Buffer[]) => void, c: () => void) => void,
  ): void {
    const type = msg.header.msg_type;
    if (type === 'registration_request') {
      const e = this.register(conn, msg as Message<'registration_request'>);
      if (!e) return;
      classified(
        (m, p) => this.onEngineMessage(e, m, p),
        () => this.onEngineMainClosed(e),
      );
    } else if (type === 'heartbeat') {
      const uuid = (msg.content as { uuid?: unknown }).uuid;
      const e = typeof uuid === 'string' ? this.byUuid.get(uuid) : undefined;
      if (!e) {
        log.warnLimited('heart', `closing heart connection from ${peer}: no live engine with uuid ${describe(uuid)}`);
        conn.close();
        return;
      }
      if (e.heart && e.heart !== conn) e.heart.close();
      e.heart = conn;
      classified(
        (m) => this.onHeartMessage(e, conn, m),
        () => {
          if (e.heart === conn) e.heart = null;
        },
      );
      this.onHeartMessage(e, conn, msg);
    } else if (type === 'connect_request') {
      const client: ClientRecord = { n: ++this.clientCount, conn, subscribe: 'none' };
      this.clients.add(client);
      classified(
        (m, p) => this.onClientMessage(client, m, p),
        () => this.dropClient(client),
      );
      this.onClientMessage(client, msg, parts);
    } else {
      log.warnLimited('unclassified', `closing connection from ${peer}: its first message was ${describe(type)}, not registration_request, heartbeat or connect_request`);
      if (type.endsWith('_request')) {
        this.replyError(conn, msg.header, replyTypeFor(type), 'ProtocolError', 'connect first: the first message of a client must be connect_request');
      }
      conn.close();
    }
  }

  // ------------------------------------------------------------------ engines

  private register(conn: Connection, msg: Message<'registration_request'>): EngineRecord | null {
    const c = msg.content as Partial<ContentMap['registration_request']>;
    const refuse = (why: string) => {
      log.warn(`registration refused: ${why}`);
      this.replyError(conn, msg.header, 'registration_reply', 'RegistrationError', why);
      conn.close();
      return null;
    };
    if (this.isShuttingDown) return refuse('the controller is shutting down');
    if (typeof c.uuid !== 'string' || c.uuid.length === 0 || c.uuid.length > 256) return refuse('uuid must be a non-empty string');
    if (c.kernel !== 'node' && c.kernel !== 'python') return refuse(`kernel must be 'node' or 'python', got ${describe(c.kernel)}`);
    if (!Number.isSafeInteger(c.pid)) return refuse(`pid must be an integer, got ${describe(c.pid)}`);
    const req = c.requested_id;
    if (req !== undefined && req !== null && (!Number.isSafeInteger(req) || req < 0)) return refuse(`requested_id must be a whole number, got ${describe(req)}`);
    const same = this.byUuid.get(c.uuid);
    if (same && c.resume === true && same.reg.pid === c.pid && same.main !== conn) {
      // The engine lost its connection before we noticed: the old one is gone, it comes back as itself.
      this.markDead(same, 'registered again on a new connection', { kill: false, graceful: false, restart: false });
    } else if (same) {
      return refuse(`an engine with uuid ${c.uuid} is already registered (id ${same.id})`);
    }

    const requested = typeof req === 'number' ? req : undefined;
    // Is this one of ours? Match by pid, else by the id we told it to take.
    let launch = this.launchesByPid.get(c.pid!);
    if (launch && requested !== undefined && requested !== launch.id) launch = undefined;
    if (!launch && requested !== undefined) launch = this.launchesById.get(requested);
    if (launch && launch.settled) launch = undefined;

    let id: number;
    if (launch) id = launch.id;
    else if (requested !== undefined && this.idFreeFor(requested)) id = requested;
    else {
      if (requested !== undefined) log.warn(`requested id ${requested} is taken; giving the engine a new id`);
      id = this.freshId();
    }

    let restarts = launch ? launch.restarts : 0;
    const old = this.engines.get(id);
    // The same process coming back (its connection dropped, this controller stayed): it is no restart.
    const itself = old !== undefined && !launch && c.resume === true && old.reg.uuid === c.uuid ? old : undefined;
    if (old) {
      // Only a dead engine can be replaced (idFreeFor / launches guarantee it).
      if (old.alive) this.markDead(old, 'replaced by a new registration', { kill: true, graceful: false, restart: false });
      if (!launch) restarts = itself ? old.restarts : old.restarts + 1;
      this.removeEngine(old);
    }
    if (id > this.highestUsed) this.highestUsed = id;
    if (id >= this.nextId) this.nextId = id + 1;

    const reg = {
      uuid: c.uuid,
      kernel: c.kernel as KernelKind,
      language_version: typeof c.language_version === 'string' ? c.language_version : '',
      host: typeof c.host === 'string' ? c.host : '',
      pid: c.pid!,
      direct: directAddressOf(c.direct),
    };
    const resumed = c.resume === true;
    // An engine that a killed controller launched here comes back: supervise it as if we had launched it.
    let adopted: EngineProcess | null = itself?.local ?? null;
    if (!launch && !adopted && resumed && c.supervised === true && reg.host === os.hostname() && isAlive(reg.pid)) {
      const spec: LaunchSpec = reg.kernel === 'python' ? { kind: 'python', python: typeof c.executable === 'string' && c.executable ? c.executable : resolvePython(undefined, this.opts.python) } : { kind: 'node' };
      adopted = new AdoptedProcess(spec, reg.pid, isAlive);
    }
    const e = new EngineRecord(id, reg, conn, launch?.proc ?? adopted, launch ? launch.spec : (itself?.spec ?? adopted?.spec ?? null), restarts);
    if (launch?.restartReason !== undefined) e.lastRestart = { at: e.registered, reason: launch.restartReason };
    else if (itself?.lastRestart) e.lastRestart = itself.lastRestart;
    if (resumed) e.resumed = e.registered;
    this.engines.set(id, e);
    this.byUuid.set(reg.uuid, e);
    conn.send(
      createMessage(
        'registration_reply',
        {
          status: 'ok',
          id,
          heartbeat_ms: this.opts.heartbeatMs,
          reconnect_ms: this.opts.reconnectMs,
          max_message_bytes: this.opts.maxMessageBytes,
          max_output_bytes: this.opts.maxOutputBytes,
        },
        { session: this.session, parent: msg.header },
      ),
    );
    log.info(
      `engine ${id} ${resumed ? 're-registered, namespace intact' : 'registered'} (${reg.kernel} ${reg.language_version}, pid ${reg.pid} on ${reg.host}` +
        `${launch ? ', local' : adopted ? ', local, adopted' : ''})`,
    );
    this.publish('registered', e);
    if (launch) {
      launch.engine = e;
      this.settleLaunch(launch);
      launch.resolve(id);
      // The process may have ended between its registration being sent and read.
      if (launch.proc?.end) this.onLocalEnd(launch, launch.proc, launch.proc.end);
    }
    return e;
  }

  /** May a registration with requested_id `id` take it? Yes when nobody alive has it and no launch holds it. */
  private idFreeFor(id: number): boolean {
    if (this.reserved.has(id)) return false;
    const e = this.engines.get(id);
    return !e || !e.alive;
  }

  private freshId(): number {
    while (this.engines.has(this.nextId) || this.reserved.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  /** Gives back reserved ids that were never used, so a failed launch does not leave a gap. */
  private release(id: number): void {
    this.reserved.delete(id);
    while (this.nextId - 1 > this.highestUsed && !this.reserved.has(this.nextId - 1) && !this.engines.has(this.nextId - 1)) this.nextId--;
  }

  /**
   * Main connection gone => dead. For a local engine wait up to 100 ms for its process to
   * end, so the reason can say how (exit code, signal) rather than just "connection closed".
   */
  private onEngineMainClosed(e: EngineRecord): void {
    if (!e.alive) return;
    const local = e.local;
    if (local?.running) {
      void Promise.race([local.ended, sleep(100)]).then(() => {
        // Usually onLocalEnd has marked it dead with the exit reason by now.
        if (e.alive) this.markDead(e, local.end ? `process ${describeEnd(local.end)}` : 'main connection closed', { kill: true, graceful: false });
      });
      return;
    }
    this.markDead(e, 'main connection closed', { kill: true, graceful: false });
  }

  /**
   * Cut-through for big replies (a pull of a large array): once an engine's reply has its
   * signature and JSON in, its buffers go on to the client as they arrive instead of being
   * assembled here first (no copy, no 128 MiB allocation, and both hops run at once). Only for
   * a reply the client can take now; anything else (stored results, a backed-up client, streams,
   * requests) takes the usual path. If the engine breaks off in the middle, the client's
   * connection is closed: a frame cut short cannot be finished honestly.
   */
  private streamReply(conn: Connection, msg: Message, head: Buffer[], rest: number[]): FrameSink | null {
    const id = (msg.metadata as Metadata).engine_id;
    const e = typeof id === 'number' ? this.engines.get(id) : undefined;
    if (e === undefined || e.main !== conn || !e.alive) return null;
    const parentId = (msg.parent_header as { msg_id?: unknown }).msg_id;
    const p = typeof parentId === 'string' ? e.outstanding.get(parentId) : undefined;
    if (p === undefined || p.stored !== undefined || msg.header.msg_type !== p.replyType) return null;
    const client = p.client.conn;
    if (client.isClosed || client.isStreaming || client.writableLength > CLIENT_HIGH_WATER_BYTES) return null;
    // Last check: from here on the message is this stream's (a replay is dropped by the usual path).
    if (!this.replays.admit(msg.header.msg_id)) return null;
    const sink = client.beginStream(head, rest, conn);
    e.outstanding.delete(parentId as string);
    this.taskDone(e, parentId as string);
    if (e.outstanding.size === 0) this.refresh(e);
    return sink;
  }

  private onEngineMessage(e: EngineRecord, msg: Message, parts: Buffer[]): void {
    if (!e.alive) return;
    if (msg.header.msg_type === 'engine_activity') {
      this.onActivity(e, msg.content as ContentMap['engine_activity']);
      return;
    }
    const parentId = (msg.parent_header as { msg_id?: unknown }).msg_id;
    const p = typeof parentId === 'string' ? e.outstanding.get(parentId) : undefined;
    if (!p && msg.metadata.orphan === true && typeof parentId === 'string') {
      this.storeOrphan(e, parentId, msg, parts);
      return;
    }
    if (!p) {
      this.unroutable++;
      log.warnLimited('unroutable', `engine ${e.id} sent ${describe(msg.header.msg_type)} answering no outstanding request (parent ${describe(parentId)}); dropped`);
      return;
    }
    const isReply = msg.header.msg_type === p.replyType;
    if (!isReply && msg.header.msg_type === 'stream' && !this.countOutput(e, parentId as string, p, msg)) return;
    if (p.stored !== undefined) {
      this.results.add(p.stored, parts, e.id, isReply);
    } else {
      const conn = p.client.conn;
      conn.sendParts(parts);
      if (conn.writableLength > CLIENT_HIGH_WATER_BYTES) this.throttle(e, conn);
    }
    if (isReply) {
      e.outstanding.delete(parentId as string);
      this.taskDone(e, parentId as string);
      if (e.outstanding.size === 0) this.refresh(e);
    }
  }

  /** engine_activity: the engine's direct work (section 13) counts in its state, queue and tasks. */
  private onActivity(e: EngineRecord, a: ContentMap['engine_activity']): void {
    const count = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
    const r = a?.direct_running;
    const running = r && typeof r === 'object' && typeof r.msg_id === 'string' ? { msg_id: r.msg_id, msg_type: String(r.msg_type), started: String(r.started) } : null;
    e.directActivity = { direct_running: running, direct_queued: count(a?.direct_queued), direct_done: count(a?.direct_done) };
    e.runningFromBeat = false;
    if (Array.isArray(a?.orphaned)) {
      for (const h of a.orphaned) if (isValidHeader(h) && !e.orphans.has(h.msg_id)) e.orphans.set(h.msg_id, this.results.open(h.msg_id, h, e.id, [e.id]));
    }
    this.refresh(e);
  }

  /**
   * A beat names the request the engine runs: one we did not route is direct work that may block
   * the engine's main thread (so no engine_activity came); count it as running until a report says otherwise.
   */
  private noteRunning(e: EngineRecord, r: ContentMap['heartbeat']['running']): void {
    const d = e.directActivity;
    if (!r || typeof r.msg_id !== 'string') {
      // A beat set it, and this later beat says it is over (its report may have come first).
      if (e.runningFromBeat) {
        e.runningFromBeat = false;
        e.directActivity = { ...d, direct_running: null };
        this.refresh(e);
      }
      return;
    }
    if (e.outstanding.has(r.msg_id) || d.direct_running?.msg_id === r.msg_id) return;
    e.directActivity = { ...d, direct_running: { msg_id: r.msg_id, msg_type: String(r.msg_type), started: new Date().toISOString() } };
    e.runningFromBeat = true;
    this.refresh(e);
  }

  /**
   * A stream or reply of a direct request whose client left (metadata.orphan): kept in the result
   * store like those of a client that left the controller, so result_request finds it.
   */
  private storeOrphan(e: EngineRecord, msgId: string, msg: Message, parts: Buffer[]): void {
    const parent = msg.parent_header as Header;
    if (!isValidHeader(parent)) return;
    const isReply = msg.header.msg_type === replyTypeFor(parent.msg_type);
    let r = e.orphans.get(msgId);
    if (r === undefined) e.orphans.set(msgId, (r = this.results.open(msgId, parent, e.id, [e.id])));
    this.results.add(r, parts, e.id, isReply);
    if (isReply) e.orphans.delete(msgId);
  }

  /**
   * Output accounting: false when this stream is to be dropped because the request's output
   * passed max_output_bytes (the first time, a marker saying so goes out instead).
   */
  private countOutput(e: EngineRecord, msgId: string, p: Pending, msg: Message): boolean {
    if (e.outMsgId !== msgId) {
      e.outMsgId = msgId;
      e.outChars = 0;
      e.outTruncated = false;
    }
    if (e.outTruncated) return false;
    const text = (msg.content as { text?: unknown }).text;
    if (typeof text === 'string') e.outChars += text.length;
    if (e.outChars <= this.opts.maxOutputBytes + OUTPUT_SLACK_CHARS) return true;
    e.outTruncated = true;
    log.warnLimited('truncated', `engine ${e.id}: output of request ${msgId} passed ${this.opts.maxOutputBytes} characters; the rest is dropped`);
    const marker = createMessage(
      'stream',
      { name: 'stderr', text: `\n[output truncated by the controller: engine ${e.id} wrote more than ${this.opts.maxOutputBytes} characters for this request; the rest is dropped]\n` },
      { session: this.session, parent: p.header, metadata: { engine_id: e.id, truncated: true } },
    );
    const parts = encodeMessage(marker, this.signer);
    if (p.stored !== undefined) this.results.add(p.stored, parts, e.id, false);
    else p.client.conn.sendParts(parts);
    return false;
  }

  /** Back-pressure: stop reading from the engine until the client's connection has drained. */
  private throttle(e: EngineRecord, conn: Connection): void {
    if (e.pausedFor.has(conn) || e.main.isClosed) return;
    e.pausedFor.add(conn);
    e.main.socket.pause();
    const resume = () => {
      conn.socket.off('drain', resume);
      conn.socket.off('close', resume);
      e.pausedFor.delete(conn);
      if (e.pausedFor.size === 0 && !e.main.isClosed) e.main.socket.resume();
    };
    conn.socket.on('drain', resume);
    conn.socket.once('close', resume);
  }

  private onHeartMessage(e: EngineRecord, conn: Connection, msg: Message): void {
    if (msg.header.msg_type !== 'heartbeat') {
      log.warnLimited('heart-type', `engine ${e.id}'s heart sent ${describe(msg.header.msg_type)}; ignored`);
      return;
    }
    if (!e.alive) {
      conn.close();
      return;
    }
    e.lastBeat = Date.now();
    this.noteRunning(e, (msg.content as ContentMap['heartbeat']).running);
    if (e.unresponsive) {
      e.unresponsive = false;
      log.info(`engine ${e.id} is responsive again`);
      this.refresh(e);
    }
  }

  private statsOf(e: EngineRecord): { done: number; current: CurrentTask | null } {
    let s = this.taskStats.get(e);
    if (!s) this.taskStats.set(e, (s = { done: 0, current: null }));
    return s;
  }

  /** A reply to `msgId` went out: count it, and when it was the running request, the next queued one starts now. */
  private taskDone(e: EngineRecord, msgId: string): void {
    const s = this.statsOf(e);
    s.done++;
    if (s.current !== null && s.current.msg_id !== msgId) return; // e.g. an aborted request answered out of order
    const next = e.outstanding.entries().next();
    s.current = next.done ? null : { msg_id: next.value[0], msg_type: next.value[1].header.msg_type, started: new Date().toISOString() };
  }

  /** The engine's info with its task counters. */
  private infoOf(e: EngineRecord): EngineInfo {
    const info = e.info();
    const s = this.taskStats.get(e);
    const d = e.directActivity;
    info.tasks_done = (s?.done ?? 0) + d.direct_done;
    const current = s?.current ?? d.direct_running;
    info.current_task = e.alive && current ? { ...current } : null;
    return info;
  }

  /** Recomputes busy/idle/unresponsive and publishes a change to 'all' subscribers. */
  private refresh(e: EngineRecord): void {
    const s = e.computeState();
    if (s === e.state) return;
    e.state = s;
    this.publish('state', e);
  }

  /**
   * The engine is gone: answer everything outstanding on it with EngineError, close its
   * connections, publish, and (when `kill`) SIGKILL it if it was ours and still runs.
   */
  private markDead(e: EngineRecord, reason: string, how: { kill: boolean; graceful: boolean; restart?: boolean }): void {
    if (!e.alive) return;
    e.state = 'dead';
    e.reason = reason;
    e.unresponsive = false;
    if (this.byUuid.get(e.reg.uuid) === e) this.byUuid.delete(e.reg.uuid);
    (how.graceful ? log.info : log.warn)(`engine ${e.id} is dead: ${reason}${e.outstanding.size ? ` (${e.outstanding.size} outstanding requests fail)` : ''}`);
    if (e.outstanding.size > 0) {
      const pending = [...e.outstanding.values()];
      e.outstanding.clear();
      const evalue = `engine ${e.id} is dead: ${reason}`;
      for (const p of pending) this.replyEngineError(p, e.id, evalue);
    }
    for (const r of e.orphans.values()) this.storeEngineError(r, replyTypeFor(r.header.msg_type), r.header, e.id, `engine ${e.id} is dead: ${reason}`);
    e.orphans.clear();
    e.directActivity = { direct_running: null, direct_queued: 0, direct_done: e.directActivity.direct_done };
    if (how.graceful) {
      // shutdown_request was just queued on main: end() sends it before the FIN. The heart is
      // left for the engine to close as it exits (a beat on it from a dead engine closes it).
      e.main.close();
    } else {
      e.main.destroy();
      e.heart?.destroy();
      e.heart = null;
    }
    if (how.kill) e.local?.kill('SIGKILL');
    e.pausedFor.clear();
    this.publish('state', e);
    this.deadOrder.push(e.id);
    this.trimDead();
    if (!how.graceful && how.restart !== false) this.autoRestart(e, reason);
  }

  /**
   * restart 'always': a local engine that died gets a replacement with the same id (and a new
   * namespace), at most maxRestarts times per restartWindowMs per id; then the controller gives
   * up and says so in the dead engine's reason.
   */
  private autoRestart(e: EngineRecord, why: string): void {
    if (this.opts.restart !== 'always' || !e.spec || this.isShuttingDown || e.stopping) return;
    const id = e.id;
    if (this.engines.get(id) !== e || this.launchesById.has(id)) return;
    const now = Date.now();
    const times = (this.restartTimes.get(id) ?? []).filter((t) => now - t < this.opts.restartWindowMs);
    this.restartTimes.set(id, times);
    if (times.length >= this.opts.maxRestarts) {
      e.reason = `${why}; not restarted: it was restarted ${times.length} time${times.length === 1 ? '' : 's'} within ${formatMs(this.opts.restartWindowMs)} (the limit)`;
      log.warn(`engine ${id}: ${e.reason}`);
      this.publish('state', e);
      return;
    }
    times.push(now);
    e.reason = `${why}; restarting`;
    log.info(`engine ${id} died (${why}); restarting it (restart ${times.length} of at most ${this.opts.maxRestarts} within ${formatMs(this.opts.restartWindowMs)})`);
    this.publish('state', e);
    const { promise, launch } = this.launch(id, e.spec, e.restarts + 1, why);
    this.awaitLaunches([launch], [promise]).catch((err: Error) => {
      if (this.engines.get(id) !== e || e.alive || e.stopping || this.isShuttingDown) return;
      e.reason = `${why}; restart failed: ${err.message}`;
      log.warn(`engine ${id}: ${e.reason}`);
      this.publish('state', e);
      setTimeout(() => this.autoRestart(e, why), RESTART_RETRY_MS).unref();
    });
  }

  private trimDead(): void {
    while (this.deadOrder.length > MAX_DEAD_ENGINES) {
      const id = this.deadOrder.shift()!;
      const e = this.engines.get(id);
      if (e && !e.alive && !e.stopping && !this.reserved.has(id)) this.removeEngine(e);
    }
  }

  /** Takes an engine off the list (it must be dead) and tells subscribers. */
  private removeEngine(e: EngineRecord): void {
    if (this.engines.get(e.id) !== e) return;
    this.engines.delete(e.id);
    this.publish('unregistered', e);
  }

  private replyEngineError(p: Pending, engineId: number, evalue: string): void {
    if (p.stored === undefined) {
      this.replyError(p.client.conn, p.header, p.replyType, 'EngineError', evalue, { engine_id: engineId });
      return;
    }
    this.storeEngineError(p.stored, p.replyType, p.header, engineId, evalue);
  }

  /** The EngineError reply `engineId` will never send, made here and kept in a stored result. */
  private storeEngineError(r: StoredResult, replyType: MsgType, parent: Header, engineId: number, evalue: string): void {
    const msg = createMessage(replyType, errorContent('EngineError', evalue) as ContentMap[MsgType], { session: this.session, parent, metadata: { engine_id: engineId } });
    this.results.add(r, encodeMessage(msg, this.signer), engineId, true);
  }

  // ------------------------------------------------------------------ local engines

  /** Spawns one local engine that is to take `id`; resolves with the id once it registered. */
  private launch(id: number, spec: LaunchSpec, restarts: number, restartReason?: string): { promise: Promise<number>; launch: PendingLaunch } {
    let resolve!: (id: number) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const launch: PendingLaunch = { id, spec, restarts, restartReason, proc: null, engine: null, settled: false, resolve, reject };
    this.reserved.add(id);
    try {
      const cmd = engineCommand(spec, this.engineFile, id);
      launch.proc = new LocalProcess(spec, id, cmd, (proc, end) => this.onLocalEnd(launch, proc, end));
    } catch (e) {
      launch.settled = true;
      this.release(id);
      reject(e instanceof LaunchError ? e : new LaunchError(`cannot start a ${spec.kind} engine: ${(e as Error).message}`));
      return { promise, launch };
    }
    this.launchesById.set(id, launch);
    if (launch.proc.pid) this.launchesByPid.set(launch.proc.pid, launch);
    log.debug(`launched ${spec.kind} engine for id ${id} (pid ${launch.proc.pid})`);
    return { promise, launch };
  }

  /** Forget a launch's bookkeeping (after registration, failure or give-up). */
  private settleLaunch(launch: PendingLaunch): void {
    launch.settled = true;
    if (this.launchesById.get(launch.id) === launch) this.launchesById.delete(launch.id);
    if (launch.proc?.pid && this.launchesByPid.get(launch.proc.pid) === launch) this.launchesByPid.delete(launch.proc.pid);
    this.reserved.delete(launch.id);
  }

  private failLaunch(launch: PendingLaunch, err: Error): void {
    if (launch.settled) return;
    this.settleLaunch(launch);
    this.release(launch.id);
    launch.proc?.kill('SIGKILL');
    launch.reject(err);
  }

  private onLocalEnd(launch: PendingLaunch, proc: LocalProcess, end: ProcessEnd): void {
    const e = launch.engine;
    if (e) {
      // A registered engine whose process ended is dead at once.
      if (e.alive) this.markDead(e, `process ${describeEnd(end)}`, { kill: false, graceful: false });
      else if (e.reason && !e.reason.startsWith('process') && e.reason !== 'stopped') e.reason += `; process ${describeEnd(end)}`;
      return;
    }
    if (launch.settled) return;
    void proc.drained.then(() => this.failLaunch(launch, new LaunchError(earlyExitMessage(proc, end))));
  }

  private async addEngines(n: unknown, kind: unknown, python: unknown): Promise<number[]> {
    if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > MAX_ADD_ENGINES) {
      throw new RequestError('ValueError', `n must be a whole number from 1 to ${MAX_ADD_ENGINES}, got ${describe(n)}`);
    }
    const engine = kind ?? 'node';
    if (engine !== 'node' && engine !== 'python') throw new RequestError('ValueError', `engine must be 'node' or 'python', got ${describe(kind)}`);
    if (python !== undefined && python !== null && (typeof python !== 'string' || python === '')) {
      throw new RequestError('ValueError', `python must be the path or name of a python interpreter, got ${describe(python)}`);
    }
    if (this.isShuttingDown) throw new RequestError('ControllerError', 'the controller is shutting down');
    const spec: LaunchSpec = engine === 'python' ? { kind: 'python', python: resolvePython(python as string | undefined, this.opts.python) } : { kind: 'node' };
    try {
      engineCommand(spec, this.engineFile, 0); // fail early (no ids taken) when the engine or interpreter is missing
    } catch (e) {
      throw new RequestError('LaunchError', (e as Error).message);
    }
    const launches: PendingLaunch[] = [];
    const promises: Promise<number>[] = [];
    for (let i = 0; i < (n as number); i++) {
      const { promise, launch } = this.launch(this.freshId(), spec, 0);
      launches.push(launch);
      promises.push(promise);
    }
    try {
      return await this.awaitLaunches(launches, promises);
    } catch (e) {
      const ok = launches.filter((l) => l.engine).map((l) => l.id);
      const msg = (e as Error).message + (ok.length ? ` (engines ${ok.join(', ')} did register and stay)` : '');
      throw new RequestError('LaunchError', msg);
    }
  }

  /** All launches registered => their ids ascending; the first failure (or the deadline) => the others are killed. */
  private async awaitLaunches(launches: PendingLaunch[], promises: Promise<number>[]): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const late = launches.filter((l) => !l.settled);
        const tails = late.flatMap((l) => l.proc?.stderrTail().slice(-5) ?? []);
        reject(
          new LaunchError(
            `engine${late.length > 1 ? 's' : ''} ${late.map((l) => l.id).join(', ')} did not register within ${LAUNCH_TIMEOUT_MS / 1000} s` +
              (tails.length ? `; last stderr lines:\n${tails.join('\n')}` : ''),
          ),
        );
      }, LAUNCH_TIMEOUT_MS);
    });
    try {
      const ids = await Promise.race([Promise.all(promises), deadline]);
      return ids.sort((a, b) => a - b);
    } catch (e) {
      for (const l of launches) this.failLaunch(l, e as Error);
      throw e;
    } finally {
      clearTimeout(timer);
      for (const p of promises) p.catch(() => {});
    }
  }

  private stopEngine(e: EngineRecord): Promise<void> {
    if (!e.stopping) e.stopping = this.doStop(e);
    return e.stopping;
  }

  private async doStop(e: EngineRecord): Promise<void> {
    // An automatic restart on its way would bring the id back: stopping means gone.
    const relaunch = this.launchesById.get(e.id);
    if (relaunch && this.engines.get(e.id) === e) this.failLaunch(relaunch, new LaunchError(`engine ${e.id} was stopped`));
    if (e.alive) {
      e.main.send(createMessage('shutdown_request', {}, { session: this.session }));
      this.markDead(e, 'stopped', { kill: false, graceful: true });
    }
    await this.reap(e.local);
    this.removeEngine(e);
    log.info(`engine ${e.id} stopped`);
  }

  /** Waits up to 2 s for a local process to exit, then SIGKILLs it and waits for that. */
  private async reap(proc: EngineProcess | null): Promise<void> {
    if (!proc || !proc.running) return;
    const gone = await Promise.race([proc.ended.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
    if (gone) return;
    log.warn(`engine process ${proc.pid} did not exit within ${STOP_GRACE_MS} ms; killing it`);
    proc.kill('SIGKILL');
    await Promise.race([proc.ended, sleep(STOP_GRACE_MS)]);
  }

  private async restartEngine(e: EngineRecord): Promise<number> {
    if (!e.spec) {
      throw new RequestError('ValueError', `engine ${e.id} was not started by this controller, so it cannot be restarted (restart it where it runs)`);
    }
    if (e.stopping || this.launchesById.has(e.id)) throw new RequestError('ValueError', `engine ${e.id} is already being stopped or restarted`);
    const { id, spec } = e;
    const restarts = e.restarts + 1;
    this.reserved.add(id); // nobody else takes the id in the gap
    try {
      await this.stopEngine(e);
    } finally {
      this.reserved.delete(id);
    }
    const { promise, launch } = this.launch(id, spec, restarts, 'restarted on request');
    try {
      return (await this.awaitLaunches([launch], [promise]))[0];
    } catch (err) {
      throw new RequestError('LaunchError', `restarting engine ${id} failed: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ clients

  private dropClient(client: ClientRecord): void {
    this.clients.delete(client);
    this.regSubscribers.delete(client);
    this.allSubscribers.delete(client);
    this.results.unwatch(client);
    // Its unanswered requests keep running; their answers go to the result store (rc.getResult).
    let kept = 0;
    for (const e of this.engines.values()) {
      if (!e.alive || e.outstanding.size === 0) continue;
      for (const [msgId, p] of e.outstanding) {
        if (p.client !== client) continue;
        if (p.stored === undefined || p.stored.evicted) p.stored = this.results.open(msgId, p.header, e.id, p.targets);
        else this.results.open(msgId, p.header, e.id, p.targets);
        kept++;
      }
      e.pausedFor.delete(client.conn);
    }
    if (kept) log.info(`client ${client.n} disconnected with ${kept} unanswered request${kept === 1 ? '' : 's'}; their results go to the result store`);
    else log.debug(`client ${client.n} disconnected`);
  }

  private onClientMessage(client: ClientRecord, msg: Message, parts: Buffer[]): void {
    const type: string = msg.header.msg_type;
    const work = WORK_REPLY.get(type);
    if (work !== undefined) {
      this.routeWork(client, msg, parts, work);
      return;
    }
    switch (type) {
      case 'connect_request':
        return this.onConnect(client, msg as Message<'connect_request'>);
      case 'status_request':
        return this.reply(client.conn, msg.header, 'status_reply', {
          status: 'ok',
          engines: this.engineList(),
          dropped_messages: this.droppedMessages,
          clients: this.clients.size,
          result_store: this.results.status(),
          memory: { ...controllerMemory(), idle_collections: this.idle.collections },
        });
      case 'result_request':
        return this.onResultRequest(client, msg as Message<'result_request'>);
      case 'interrupt_request':
        return this.onInterrupt(client, msg);
      case 'abort_request':
        return this.onAbort(client, msg, parts);
      case 'add_engines_request': {
        const c = msg.content as Partial<ContentMap['add_engines_request']>;
        return this.answerAsync(client, msg.header, 'add_engines_reply', async () => ({ ids: await this.addEngines(c.n, c.engine, c.python) }));
      }
      case 'stop_engine_request':
        return this.answerAsync(client, msg.header, 'stop_engine_reply', async () => {
          await this.stopEngine(this.engineFor(msg.content));
          return {};
        });
      case 'restart_engine_request':
        return this.answerAsync(client, msg.header, 'restart_engine_reply', async () => ({ id: await this.restartEngine(this.engineFor(msg.content)) }));
      case 'controller_shutdown_request':
        log.info(`shutdown requested by client ${client.n}`);
        this.reply(client.conn, msg.header, 'controller_shutdown_reply', OK);
        void this.shutdown();
        return;
      default:
        this.replyError(
          client.conn,
          msg.header,
          replyTypeFor(type),
          'ProtocolError',
          type.endsWith('_request') ? `unknown msg_type ${describe(type)}` : `msg_type ${describe(type)} is not accepted from a client`,
        );
    }
  }

  /** result_reply, then the stored messages as they were; a request still running sends the rest as it comes. */
  private onResultRequest(client: ClientRecord, msg: Message<'result_request'>): void {
    const id = (msg.content as { msg_id?: unknown }).msg_id;
    if (typeof id !== 'string' || id === '') {
      this.replyError(client.conn, msg.header, 'result_reply', 'ProtocolError', `msg_id must be a msg_id string, got ${describe(id)}`);
      return;
    }
    const r = this.results.get(id);
    if (r === undefined) {
      this.replyError(
        client.conn,
        msg.header,
        'result_reply',
        'KeyError',
        `no result for msg_id ${id} in the result store: it was answered to its client, or evicted (the store keeps the latest results of clients that went away)`,
      );
      return;
    }
    this.reply(client.conn, msg.header, 'result_reply', { status: 'ok', msg_id: id, msg_type: r.header.msg_type, engine_ids: [...r.engineIds], pending: [...r.pending] });
    for (const parts of r.messages) client.conn.sendParts(parts);
    this.results.watch(r, client);
  }

  private onConnect(client: ClientRecord, msg: Message<'connect_request'>): void {
    const sub = (msg.content as { subscribe?: unknown }).subscribe ?? 'none';
    if (sub !== 'none' && sub !== 'registration' && sub !== 'all') {
      this.replyError(client.conn, msg.header, 'connect_reply', 'ValueError', `subscribe must be 'none', 'registration' or 'all', got ${describe(sub)}`);
      return;
    }
    this.setSubscription(client, sub);
    this.reply(client.conn, msg.header, 'connect_reply', {
      status: 'ok',
      engines: this.engineList(),
      controller_pid: process.pid,
      heartbeat_ms: this.opts.heartbeatMs,
      max_message_bytes: this.opts.maxMessageBytes,
      reconnect_ms: this.opts.reconnectMs,
    });
    log.debug(`client ${client.n} connected (subscribe ${sub})`);
  }

  private setSubscription(client: ClientRecord, sub: Subscription): void {
    client.subscribe = sub;
    this.regSubscribers.delete(client);
    this.allSubscribers.delete(client);
    if (sub === 'registration') this.regSubscribers.add(client);
    else if (sub === 'all') this.allSubscribers.add(client);
  }

  /** Validated metadata.targets, or a RequestError naming the problem. */
  private targetsOf(msg: Message): number[] {
    const t = (msg.metadata as Metadata).targets as unknown;
    if (!Array.isArray(t)) {
      throw new RequestError('ProtocolError', `metadata.targets must be an array of engine ids (integers), got ${describe(t)}`);
    }
    if (t.length === 0) throw new RequestError('ProtocolError', 'metadata.targets is empty: name at least one engine id');
    for (let i = 0; i < t.length; i++) {
      const x = t[i];
      if (!Number.isSafeInteger(x) || x < 0) {
        throw new RequestError('ProtocolError', `metadata.targets must be an array of engine ids (integers), but element ${i} is ${describe(x)}`);
      }
    }
    if (t.length > 1 && new Set(t).size !== t.length) {
      throw new RequestError('ProtocolError', `metadata.targets names an engine more than once: ${describe(t)}`);
    }
    return t as number[];
  }

  private routeWork(client: ClientRecord, msg: Message, parts: Buffer[], replyType: MsgType): void {
    let targets: number[];
    try {
      targets = this.targetsOf(msg);
    } catch (e) {
      this.replyError(client.conn, msg.header, replyType, (e as RequestError).ename, (e as Error).message);
      return;
    }
    const msgId = msg.header.msg_id;
    const pending: Pending = { client, header: msg.header, replyType, targets };
    for (let i = 0; i < targets.length; i++) {
      const id = targets[i];
      const e = this.engines.get(id);
      if (e === undefined) {
        this.replyEngineError(pending, id, `no engine with id ${id}`);
      } else if (!e.alive) {
        this.replyEngineError(pending, id, `engine ${id} is dead: ${e.reason ?? 'unknown reason'}`);
      } else if (e.outstanding.has(msgId)) {
        this.replyError(client.conn, msg.header, replyType, 'ProtocolError', `msg_id ${msgId} is already outstanding on engine ${id}`, { engine_id: id });
      } else {
        e.main.sendParts(parts);
        e.outstanding.set(msgId, pending);
        if (e.outstanding.size === 1) {
          this.statsOf(e).current = { msg_id: msgId, msg_type: msg.header.msg_type, started: new Date().toISOString() };
          this.refresh(e);
        }
      }
    }
  }

  private onInterrupt(client: ClientRecord, msg: Message): void {
    let targets: number[];
    const msgIds = (msg.content as { msg_ids?: unknown }).msg_ids;
    try {
      targets = this.targetsOf(msg);
      if (msgIds !== undefined && (!Array.isArray(msgIds) || !msgIds.every((x) => typeof x === 'string'))) {
        throw new RequestError('ProtocolError', `msg_ids must be an array of msg_id strings, got ${describe(msgIds)}`);
      }
      for (const id of targets) if (!this.engines.has(id)) throw new RequestError('EngineError', `no engine with id ${id}`);
    } catch (e) {
      this.replyError(client.conn, msg.header, 'interrupt_reply', (e as RequestError).ename, (e as Error).message);
      return;
    }
    let parts: Uint8Array[] | null = null;
    for (const id of targets) {
      const e = this.engines.get(id)!;
      if (!e.alive) continue;
      if (e.heart && !e.heart.isClosed) {
        parts ??= encodeMessage(createMessage('interrupt_request', msgIds ? { msg_ids: msgIds as string[] } : {}, { session: this.session, parent: msg.header }), this.signer);
        e.heart.sendParts(parts);
      } else if (e.local?.running && msgIds === undefined) {
        e.local.kill('SIGINT'); // no heart yet: what the heart would have done
      } else {
        log.warn(`cannot interrupt engine ${id}: it has no heart connection`);
      }
    }
    this.reply(client.conn, msg.header, 'interrupt_reply', OK);
  }

  private onAbort(client: ClientRecord, msg: Message, parts: Buffer[]): void {
    let targets: number[];
    try {
      targets = this.targetsOf(msg);
      const ids = (msg.content as { msg_ids?: unknown }).msg_ids;
      if (ids !== undefined && (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string'))) {
        throw new RequestError('ProtocolError', `msg_ids must be an array of msg_id strings, got ${describe(ids)}`);
      }
      for (const id of targets) if (!this.engines.has(id)) throw new RequestError('EngineError', `no engine with id ${id}`);
    } catch (e) {
      this.replyError(client.conn, msg.header, 'abort_reply', (e as RequestError).ename, (e as Error).message);
      return;
    }
    for (const id of targets) {
      const e = this.engines.get(id)!;
      if (e.alive) e.main.sendParts(parts);
    }
    this.reply(client.conn, msg.header, 'abort_reply', OK);
  }

  private engineFor(content: unknown): EngineRecord {
    const id = (content as { id?: unknown }).id;
    if (!Number.isSafeInteger(id)) throw new RequestError('ValueError', `id must be an engine id (integer), got ${describe(id)}`);
    const e = this.engines.get(id as number);
    if (!e) throw new RequestError('EngineError', `no engine with id ${id}`);
    return e;
  }

  /** Runs a slow request and replies with its result, or an error reply naming what went wrong. */
  private answerAsync<R extends MsgType>(client: ClientRecord, parent: Header, replyType: R, run: () => Promise<Record<string, unknown>>): void {
    run().then(
      (result) => this.reply(client.conn, parent, replyType, { status: 'ok', ...result } as unknown as ContentMap[R]),
      (e: unknown) => {
        const ename = e instanceof RequestError ? e.ename : e instanceof LaunchError ? 'LaunchError' : 'ControllerError';
        if (!(e instanceof RequestError) && !(e instanceof LaunchError)) {
          this.handlerErrors++;
          log.error(`${replyType} failed: ${(e as Error)?.stack ?? String(e)}`);
        }
        this.replyError(client.conn, parent, replyType, ename, (e as Error)?.message ?? String(e));
      },
    );
  }

  // ------------------------------------------------------------------ replies and events

  private reply<T extends MsgType>(conn: Connection, parent: Header, type: T, content: ContentMap[T], metadata: Metadata = {}): void {
    conn.send(createMessage(type, content, { session: this.session, parent, metadata }));
  }

  private replyError(conn: Connection, parent: Header, type: MsgType, ename: string, evalue: string, metadata: Metadata = {}): void {
    conn.send(createMessage(type, errorContent(ename, evalue) as ContentMap[MsgType], { session: this.session, parent, metadata }));
  }

  /**
   * engine_event to subscribers: 'registered'/'unregistered' and transitions to 'dead' go to
   * 'registration' and 'all' subscribers; other state changes (busy/idle churn) only to 'all'.
   * Encoded once, the same parts written to each subscriber.
   */
  private publish(event: 'registered' | 'state' | 'unregistered', e: EngineRecord): void {
    const toReg = event !== 'state' || e.state === 'dead';
    if (this.allSubscribers.size === 0 && (!toReg || this.regSubscribers.size === 0)) return;
    const parts = encodeMessage(createMessage('engine_event', { event, engine: this.infoOf(e) }, { session: this.session }), this.signer);
    for (const c of this.allSubscribers) c.conn.sendParts(parts);
    if (toReg) for (const c of this.regSubscribers) c.conn.sendParts(parts);
  }

  private engineList(): EngineInfo[] {
    return [...this.engines.values()].sort((a, b) => a.id - b.id).map((e) => this.infoOf(e));
  }

  // ------------------------------------------------------------------ shutdown

  /**
   * Stops everything: engines get shutdown_request (local ones SIGKILLed after 2 s), the
   * connection files are removed, the server and all connections are closed. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown().finally(() => this.onShutdown?.());
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    log.info('shutting down');
    this.monitor.stop();
    this.server.close();
    this.removeFiles();
    for (const c of this.unclassified) c.destroy();
    const procs: EngineProcess[] = [];
    for (const l of [...this.launchesById.values()]) {
      if (l.proc) procs.push(l.proc);
      this.failLaunch(l, new LaunchError('the controller is shutting down'));
    }
    const shutdown = encodeMessage(createMessage('shutdown_request', {}, { session: this.session }), this.signer);
    for (const e of this.engines.values()) {
      if (e.alive) {
        e.main.sendParts(shutdown);
        this.markDead(e, 'the controller is shutting down', { kill: false, graceful: true });
      }
      if (e.local) procs.push(e.local);
    }
    await Promise.all(procs.map((p) => this.reap(p)));
    // Let the last replies reach the clients, then hang up.
    const closed = [...this.clients].map((c) => new Promise<void>((r) => (c.conn.isClosed ? r() : c.conn.socket.once('close', () => r()))));
    for (const c of this.clients) c.conn.close();
    await Promise.race([Promise.all(closed), sleep(500)]);
    for (const c of this.clients) c.conn.destroy();
    log.info('shut down');
  }

  /** Deletes our connection files (only if they are still ours). */
  removeFiles(): void {
    for (const f of this.files) {
      try {
        const info = JSON.parse(fs.readFileSync(f, 'utf8')) as Partial<ConnectionInfo>;
        if (info.key === this.key) fs.unlinkSync(f);
      } catch {
        /* gone or not ours */
      }
    }
    this.files = [];
  }

  /** Last resort on process exit: SIGKILL every local engine still running. Synchronous. */
  killLocalEnginesSync(): void {
    for (const l of this.launchesById.values()) l.proc?.kill('SIGKILL');
    for (const e of this.engines.values()) e.local?.kill('SIGKILL');
  }
}

/** registration_request.direct when it is a usable address, else undefined (the engine is reached through us only). */
function directAddressOf(v: unknown): DirectAddress | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { ip, port } = v as { ip?: unknown; port?: unknown };
  if (typeof ip !== 'string' || ip.length === 0 || ip.length > 255 || !Number.isSafeInteger(port) || (port as number) < 1 || (port as number) > 65535) return undefined;
  return { ip, port: port as number };
}

function replyTypeFor(type: string): MsgType {
  return (type.endsWith('_request') ? type.slice(0, -'_request'.length) + '_reply' : `${type}_reply`) as MsgType;
}

/** The address peers should dial: a wildcard bind is advertised by a concrete address. */
function connectIp(ip: string): string {
  if (ip !== '0.0.0.0' && ip !== '::') return ip;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function controllerMemory(): Omit<ControllerMemory, 'idle_collections'> {
  const m = process.memoryUsage();
  return { rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external, array_buffers: m.arrayBuffers };
}
