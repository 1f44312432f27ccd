/**
 * The controller: one TCP server that engines and clients connect to, and the composition
 * root of its rooms (engine registry, supervisor, work router, client hub, result store).
 *
 * A connection is classified by its first valid message (registration_request = engine
 * main connection, heartbeat = engine heart, connect_request = client) and from then on
 * handed to the room that serves it. Each message is checked (core/protocol/validate) where
 * its room takes it.
 */
import net from 'node:net';
import { newSession, type ControllerMemory, type ListenAddress, type Message } from '../protocol/messages.js';
import { describe } from '../protocol/validate.js';
import { Signer } from '../transport/codec.js';
import { adoptAccepted, Connection } from '../transport/connection.js';
import { RecyclingPartAllocator } from '../transport/frame.js';
import { ReplayGuard } from '../transport/replayGuard.js';
import { ClientHub } from './clientHub.js';
import type { ConnectionInfo } from '../connection/connectionFile.js';
import { advertisedAddress, chooseKey, connectionInfo, isLoopback, listen, removeFiles, writeFiles } from './endpoint.js';
import { EngineProbes, isProbeReply } from './engineProbes.js';
import { EngineSets } from './engineSets.js';
import { EngineRegistry } from './engineRegistry.js';
import { HeartMonitor } from './heartMonitor.js';
import { IdleCollector } from './idleCollector.js';
import { log } from './log.js';
import type { ControllerOptions } from './options.js';
import { heartOwner, register, type RegistrationDeps } from './registration.js';
import { Replier, replyTypeFor } from './replies.js';
import { ResultStore } from './resultStore.js';
import { Scheduler } from './scheduler.js';
import { Supervisor } from './supervisor.js';
import { Recorder } from './taskDb/recorder.js';
import { TaskEventFeed } from './taskEvents.js';
import { TaskDb } from './taskDb/taskDb.js';
import { TaskRequests } from './taskDb/taskRequests.js';
import { profileDir } from '../connection/connectionFile.js';
import path from 'node:path';
import { WorkRouter } from './workRouter.js';

/** A connection must say who it is within this time. */
const CLASSIFY_TIMEOUT_MS = 10_000;

export interface ControllerStarted {
  port: number;
  clientFile: string;
  engineFile: string;
}

type Handler = (msg: Message, parts: Buffer[]) => void;

export class Controller {
  readonly session = newSession();
  readonly key: string;
  readonly signer: Signer;
  /** The port taken from an existing connection file (--reuse-key without --port), 0 otherwise. */
  private readonly reusedPort: number = 0;
  private readonly server: net.Server;
  /** Large parts pass through here on their way: their memory is used again (no page faults). */
  private readonly partAllocator = new RecyclingPartAllocator();
  private readonly unclassified = new Set<Connection>();

  private readonly registry: EngineRegistry;
  private readonly supervisor: Supervisor;
  private readonly sets: EngineSets;
  private port = 0;
  private readonly registration: RegistrationDeps;
  private readonly router: WorkRouter;
  private readonly scheduler: Scheduler;
  private readonly hub: ClientHub;
  private readonly probes: EngineProbes;
  private readonly replier: Replier;
  /** Task records: noted on the request path, written in batches to the task database. */
  private readonly taskDb: TaskDb;
  private readonly recorder: Recorder;
  private readonly taskEvents: TaskEventFeed;

  /** Frames dropped for a bad signature or malformed content. */
  droppedMessages = 0;
  /** Drops validly signed messages seen before, so a captured request cannot be run twice. */
  private readonly replays = new ReplayGuard();
  /** Runs a full GC when a burst of traffic is followed by quiet, so memory returns. */
  private readonly idle = new IdleCollector();
  /** Messages whose handling threw (logged, not fatal). */
  handlerErrors = 0;

  private readonly monitor: HeartMonitor;
  private files: string[] = [];
  private engineFile = '';
  private shutdownPromise: Promise<void> | null = null;
  /** Called once shutdown is complete (main.ts exits the process). */
  onShutdown: (() => void) | null = null;

  constructor(readonly opts: ControllerOptions) {
    const { key, reusedPort } = chooseKey(opts);
    this.key = key;
    this.reusedPort = reusedPort;
    this.signer = new Signer(key);
    const replier = (this.replier = new Replier(this.session, this.signer));
    const taskDb = (this.taskDb = new TaskDb({ backend: opts.db, file: path.join(profileDir(opts.profile, opts.dir), 'tasks.db'), caps: { maxRows: opts.dbMaxRows, maxBytes: opts.dbMaxBytes }, dropped: (why) => this.dropped(why) }));
    const taskEvents = (this.taskEvents = new TaskEventFeed(replier));
    const recorder = (this.recorder = new Recorder(taskDb, taskEvents));
    const results = new ResultStore(opts.resultStoreBytes, opts.resultStoreEntries, (r) => recorder.completed(r));
    const registry = (this.registry = new EngineRegistry({
      publish: (event, e, from) => {
        this.hub.publish(event, e, from);
        if (event === 'registered') this.scheduler.engineJoined(e);
      },
    }));
    const scheduler = (this.scheduler = new Scheduler({
      registry,
      replier,
      results,
      scheme: opts.scheme,
      hwm: opts.hwm,
      recorder,
      dispatch: (e, msgId, parts, pending) => this.router.dispatch(e, msgId, parts, pending),
    }));
    const router = (this.router = new WorkRouter({
      balanced: scheduler,
      registry,
      results,
      replier,
      replays: this.replays,
      recorder,
      maxOutputBytes: opts.maxOutputBytes,
      dropped: (why) => this.dropped(why),
    }));
    this.supervisor = new Supervisor({
      registry,
      replier,
      opts,
      engineFile: () => this.engineFile,
      isShuttingDown: () => this.isShuttingDown,
      engineGone: (e, reason) => {
        router.engineGone(e, reason);
        scheduler.engineGone(e, reason);
        this.probes.engineGone(e, reason);
      },
      running: (e, task) => router.noteRunning(e, task),
      dropped: (why) => this.dropped(why),
    });
    const sets = (this.sets = new EngineSets({
      registry,
      supervisor: this.supervisor,
      opts,
      connection: () => this.engineConnection(),
      isShuttingDown: () => this.isShuttingDown,
    }));
    this.registration = { registry, supervisor: this.supervisor, sets, replier, opts, isShuttingDown: () => this.isShuttingDown };
    const probes = (this.probes = new EngineProbes({ registry, replier, dropped: (why) => this.dropped(why) }));
    this.hub = new ClientHub({
      registry,
      probes,
      router,
      scheduler,
      control: this.supervisor,
      sets,
      results,
      recorder,
      taskEvents,
      tasks: new TaskRequests({ db: taskDb, recorder, results, replier, router, scheduler, engines: () => registry.list(), unassigned: () => scheduler.unassigned }),
      replier,
      settings: { heartbeat_ms: opts.heartbeatMs, max_message_bytes: opts.maxMessageBytes, reconnect_ms: opts.reconnectMs },
      status: () => ({
        dropped_messages: this.droppedMessages,
        result_store: results.status(),
        memory: { ...controllerMemory(), idle_collections: this.idle.collections },
        listen: this.listenAddress(),
        unassigned: scheduler.unassigned,
        scheme: opts.scheme,
        hwm: opts.hwm,
        task_db: { ...taskDb.status(), reported: recorder.reportedCount },
      }),
      shutdown: () => void this.shutdown(),
      failed: (what, e) => this.failed(what, e),
    });
    // Accepted sockets read through a DirectReader (adoptAccepted): a large part straight into its
    // buffer, other reads copied out of one scratch buffer, instead of a fresh 64 KiB buffer per read.
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(adoptAccepted(socket)));
    this.server.on('error', (e) => log.error(`server: ${e.message}`));
    this.monitor = new HeartMonitor({
      heartbeatMs: opts.heartbeatMs,
      deadAfterMs: opts.deadAfterMs,
      engines: () => registry.values(),
      onUnresponsive: (e, silent) => this.supervisor.markUnresponsive(e, silent),
      onDead: (e, silent) => this.supervisor.markDead(e, `no heartbeat for ${silent} ms`, { kill: true, graceful: false }),
    });
  }

  get isShuttingDown(): boolean {
    return this.shutdownPromise !== null;
  }

  // ------------------------------------------------------------------ start-up

  async start(): Promise<ControllerStarted> {
    const port = (this.port = await listen(this.server, this.opts, this.reusedPort));
    const { clientFile, engineFile } = writeFiles(this.opts, port, this.key);
    this.files = [clientFile, engineFile];
    this.engineFile = engineFile;
    this.monitor.start();
    if (isLoopback(this.opts.ip)) log.debug(`listening on ${this.opts.ip}:${port}`);
    else {
      // Anyone who can reach this address and holds the key can run code here: say so.
      log.info(
        `listening on ${this.opts.ip}:${port}, beyond this machine (connection files say ${advertisedAddress(this.opts)}); ` +
          'every message must carry the HMAC-SHA256 signature of the key in the connection files, which are readable only by you',
      );
    }
    return { port, clientFile, engineFile };
  }

  /** Where this controller listens and what its connection files advertise (status_reply.listen). */
  private listenAddress(): ListenAddress {
    return { ip: this.opts.ip, port: this.port, location: advertisedAddress(this.opts), loopback: isLoopback(this.opts.ip) };
  }

  /** What engines need to reach this controller: the engine connection file's content. */
  private engineConnection(): ConnectionInfo {
    return connectionInfo(this.opts, this.port, this.key);
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
    let onMessage: Handler;
    let onClose: () => void = () => {
      clearTimeout(timer);
      this.unclassified.delete(conn);
    };
    const classified = (message: Handler, close: () => void) => {
      clearTimeout(timer);
      this.unclassified.delete(conn);
      onMessage = message;
      onClose = close;
    };
    onMessage = (msg, parts) => this.classify(conn, peer, msg, parts, classified);

    conn.start({
      onMessage: (msg, parts) => {
        // Beats are not traffic: 1,000 engines beat 1,000 times a second, and the controller would never look quiet.
        if (msg.header.msg_type !== 'heartbeat') this.idle.count();
        if (!this.replays.admit(msg.header.msg_id)) {
          this.dropped(`dropped a replayed message ${describe(msg.header.msg_id)} from ${peer}`);
          return;
        }
        try {
          onMessage(msg, parts);
        } catch (e) {
          this.failed(`handling ${describe(msg.header?.msg_type)} from ${peer}`, e);
        }
      },
      onStreamStart: (msg, head, rest) => this.router.streamReply(conn, msg, head, rest),
      onBadMessage: (reason, fatal) => this.dropped(`dropped a message from ${peer}: ${reason}${fatal ? ' (connection closed)' : ''}`),
      onClose: () => {
        try {
          onClose();
        } catch (e) {
          this.failed(`closing ${peer}`, e);
        }
      },
    });
  }

  /** The first message says who is calling: an engine, an engine's heart, or a client. */
  private classify(conn: Connection, peer: string, msg: Message, parts: Buffer[], classified: (m: Handler, c: () => void) => void): void {
    const type = msg.header.msg_type;
    if (type === 'registration_request') {
      const e = register(this.registration, conn, msg);
      if (!e) return;
      classified(
        (m, p) => this.router.onEngineMessage(e, m, p),
        () => this.supervisor.onMainClosed(e),
      );
    } else if (type === 'heartbeat') {
      const e = heartOwner(this.registry, msg, peer);
      if (!e) {
        conn.close();
        return;
      }
      if (e.heart && e.heart !== conn) e.heart.close();
      e.heart = conn;
      classified(
        (m) => (isProbeReply(m.header.msg_type) ? this.probes.onReply(e, m) : this.supervisor.onBeat(e, conn, m)),
        () => {
          if (e.heart === conn) e.heart = null;
        },
      );
      this.supervisor.onBeat(e, conn, msg);
    } else if (type === 'connect_request') {
      const client = this.hub.open(conn);
      conn.flushPerTurn();
      classified(
        (m, p) => this.hub.onMessage(client, m, p),
        () => this.hub.drop(client),
      );
      this.hub.onMessage(client, msg, parts);
    } else {
      log.warnLimited('unclassified', `closing connection from ${peer}: its first message was ${describe(type)}, not registration_request, heartbeat or connect_request`);
      if (type.endsWith('_request')) {
        this.replier.error(conn, msg.header, replyTypeFor(type), 'ProtocolError', 'connect first: the first message of a client must be connect_request');
      }
      conn.close();
    }
  }

  private dropped(why: string): void {
    this.droppedMessages++;
    log.warnLimited('dropped', why);
  }

  private failed(what: string, e: unknown): void {
    this.handlerErrors++;
    log.error(`${what} failed: ${(e as Error)?.stack ?? String(e)}`);
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
    await Promise.all([this.sets.shutdownAll(), this.supervisor.shutdownAll()]);
    await this.hub.closeAll(500);
    this.recorder.flush();
    this.taskEvents.send();
    await this.taskDb.close();
    log.info('shut down');
  }

  /** Deletes our connection files (only if they are still ours). */
  removeFiles(): void {
    removeFiles(this.files, this.key);
    this.files = [];
  }

  /** Last resort on process exit: SIGKILL every local engine still running. Synchronous. */
  killLocalEnginesSync(): void {
    this.supervisor.killAllSync();
  }
}

function controllerMemory(): Omit<ControllerMemory, 'idle_collections'> {
  const m = process.memoryUsage();
  return { rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external, array_buffers: m.arrayBuffers };
}
