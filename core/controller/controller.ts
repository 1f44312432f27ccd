/**
 * The controller: one TCP server that engines and clients connect to, and the composition
 * root of its rooms (engine registry, supervisor, work router, client hub, result store).
 *
 * A connection is classified by its first valid message (registration_request = engine
 * main connection, heartbeat = engine heart, connect_request = client) and from then on
 * handed to the room that serves it. Each message is checked (core/protocol/validate) where
 * its room takes it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { connectionFilePath, readConnectionFile, writeConnectionFile, type ConnectionInfo } from '../connection/connectionFile.js';
import { newSession, type ControllerMemory, type Message } from '../protocol/messages.js';
import { checkContent, describe } from '../protocol/validate.js';
import { Signer } from '../transport/codec.js';
import { Connection } from '../transport/connection.js';
import { RecyclingPartAllocator } from '../transport/frame.js';
import { ReplayGuard } from '../transport/replayGuard.js';
import { ClientHub } from './clientHub.js';
import type { EngineRecord } from './engineRecord.js';
import { EngineRegistry } from './engineRegistry.js';
import { HeartMonitor } from './heartMonitor.js';
import { IdleCollector } from './idleCollector.js';
import { log } from './log.js';
import type { ControllerOptions } from './options.js';
import { heartOwner, register, type RegistrationDeps } from './registration.js';
import { Replier, replyTypeFor } from './replies.js';
import { ResultStore } from './resultStore.js';
import { Supervisor } from './supervisor.js';
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
  private readonly registration: RegistrationDeps;
  private readonly router: WorkRouter;
  private readonly hub: ClientHub;
  private readonly replier: Replier;
  /** Results of requests whose client went away. */
  private readonly results: ResultStore;

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
    const replier = (this.replier = new Replier(this.session, this.signer));
    const results = (this.results = new ResultStore(opts.resultStoreBytes, opts.resultStoreEntries));
    const registry = (this.registry = new EngineRegistry({ publish: (event, e, from) => this.hub.publish(event, e, from) }));
    const router = (this.router = new WorkRouter({
      registry,
      results,
      replier,
      replays: this.replays,
      maxOutputBytes: opts.maxOutputBytes,
      dropped: (why) => this.dropped(why),
    }));
    this.supervisor = new Supervisor({
      registry,
      replier,
      opts,
      engineFile: () => this.engineFile,
      isShuttingDown: () => this.isShuttingDown,
      engineGone: (e, reason) => router.engineGone(e, reason),
    });
    const isShuttingDown = () => this.isShuttingDown;
    this.registration = {
      registry,
      supervisor: this.supervisor,
      replier,
      opts,
      get isShuttingDown() {
        return isShuttingDown();
      },
    };
    this.hub = new ClientHub({
      registry,
      router,
      control: this.supervisor,
      results,
      replier,
      settings: { heartbeat_ms: opts.heartbeatMs, max_message_bytes: opts.maxMessageBytes, reconnect_ms: opts.reconnectMs },
      status: () => ({ dropped_messages: this.droppedMessages, result_store: results.status(), memory: { ...controllerMemory(), idle_collections: this.idle.collections } }),
      shutdown: () => void this.shutdown(),
      failed: (what, e) => this.failed(what, e),
    });
    this.server = net.createServer((socket) => this.accept(socket));
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

  /** Engine replies/streams that matched no outstanding request. */
  get unroutable(): number {
    return this.router.unroutable;
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
        this.idle.count();
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
        (m) => this.onHeartbeat(e, conn, m),
        () => {
          if (e.heart === conn) e.heart = null;
        },
      );
      this.onHeartbeat(e, conn, msg);
    } else if (type === 'connect_request') {
      const client = this.hub.open(conn);
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

  /** A beat: the engine is alive (and responsive again), and it names what it runs. */
  private onHeartbeat(e: EngineRecord, conn: Connection, msg: Message): void {
    if (msg.header.msg_type !== 'heartbeat') {
      log.warnLimited('heart-type', `engine ${e.id}'s heart sent ${describe(msg.header.msg_type)}; ignored`);
      return;
    }
    if (!e.alive) {
      conn.close();
      return;
    }
    let beat;
    try {
      beat = checkContent('heartbeat', msg.content);
    } catch (err) {
      this.dropped(`engine ${e.id}'s heart sent a malformed heartbeat: ${(err as Error).message}`);
      return;
    }
    e.lastBeat = Date.now();
    this.router.noteRunning(e, beat.running);
    if (e.unresponsive) {
      e.unresponsive = false;
      log.info(`engine ${e.id} is responsive again`);
      this.registry.refresh(e);
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
    await this.supervisor.shutdownAll();
    await this.hub.closeAll(500);
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
    this.supervisor.killAllSync();
  }
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
