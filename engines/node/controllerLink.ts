/**
 * The node engine's tie to the controller (the engine's counterpart of core/client/controllerLink.ts):
 * connects, registers, starts the heart (and restarts it after each registration), and notices
 * when the controller is lost. Then, when the controller advised `reconnect_ms` (it may be
 * restarted), it registers again with the same id for that long, and the engine keeps its
 * namespace; else, or when that time runs out, the engine exits. Running requests is engine.ts's:
 * it hears of the link through LinkHooks and never the other way round.
 */
import os from 'node:os';
import type { ConnectionInfo } from '../../core/connection/connectionFile.js';
import { createMessage, type ContentMap, type DirectAddress, type Message } from '../../core/protocol/messages.js';
import { checkContent } from '../../core/protocol/validate.js';
import { Signer } from '../../core/transport/codec.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';
import { Heart } from './heart.js';
import type { HeartConfig } from './heartWorker.js';

const REGISTRATION_TIMEOUT_MS = 30_000;
/** How long one attempt to register again may wait for the reply. */
const RECONNECT_REPLY_MS = 5_000;
/** Set by a controller in the environment of engines it launches (registration_request.supervised). */
const SUPERVISED_ENV = 'MULTIENGINE_SUPERVISED';

export interface LinkOptions {
  /** Id to ask for (`--id N`), e.g. when the controller restarts an engine. */
  requestedId?: number;
  /** `--reconnect-ms`: how long to try to register again after losing the controller; default: the controller's advice. */
  reconnectMs?: number;
  /** `--engine-set`: the engine set that started this engine (registration_request.engine_set). */
  engineSet?: string;
}

export type RegistrationOk = ContentMap['registration_reply'] & { status: 'ok' };

/** What the link needs of the engine. */
export interface LinkHooks {
  /** On the first connection, before registering: open the direct listener; its address (if any) goes into every registration_request. */
  listen(conn: Connection): Promise<DirectAddress | undefined>;
  /**
   * Registered (`resumed`: again, after losing the controller), the heart (re)started: take the
   * reply's settings and serve. Called here rather than after start() resolves, so it runs before
   * messages that came in the same read as the reply (register() defers those by one microtask).
   */
  onRegistered(reply: RegistrationOk, resumed: boolean): void;
  /** Any message but registration_reply on the current controller connection. */
  onMessage(msg: Message): void;
  /** The controller is lost and the link registers again: drop its work; returns how many requests were dropped (for the log). */
  onLost(): number;
  /** The heart took an interrupt_request (interrupt.ts's interruptRunning). */
  onInterrupt(running: number): void;
  /** interrupt_request with msg_ids: the heart interrupted the running one if named; the rest are aborted. */
  onCancel(msgIds: string[]): void;
  log(text: string): void;
  exit(code: number, reason?: string): never;
}

/** A setting from registration_reply: `v` when it is a number > 0, else 0. */
export function positive(v: unknown): number {
  return typeof v === 'number' && v > 0 ? v : 0;
}

export class ControllerLink {
  private conn!: Connection;
  private engineId = -1;
  private heart!: Heart;
  private directAddress: DirectAddress | undefined;
  private readonly supervised = process.env[SUPERVISED_ENV] === '1';
  /** Effective reconnect time (0: exit when the controller connection drops). */
  private reconnectMs = 0;
  private reconnectingNow = false;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly opts: LinkOptions,
    /** The engine's identity and the state it shares with the heart worker. */
    private readonly shared: Pick<HeartConfig, 'uuid' | 'session' | 'interruptState' | 'currentRequest'>,
    private readonly hooks: LinkHooks,
  ) {
    // Not inherited by what user code spawns.
    delete process.env[SUPERVISED_ENV];
  }

  /** The id the controller gave (-1 until registered). */
  get id(): number {
    return this.engineId;
  }

  /** Lost the controller and registering again. */
  get reconnecting(): boolean {
    return this.reconnectingNow;
  }

  /** The controller connection (set once registered; while reconnecting, the lost one). */
  get connection(): Connection {
    return this.conn;
  }

  /** Connects, registers and starts the heart; exits when that fails. */
  async start(): Promise<void> {
    const { ip, port, key } = this.info;
    this.heart = new Heart(
      { ip, port, key, ...this.shared },
      (e) => {
        if (e.event === 'interrupt') this.hooks.onInterrupt(e.running);
        else if (e.event === 'cancel') this.hooks.onCancel(e.msgIds);
        else if (e.event === 'closed') this.onHeartClosed(e.reason);
        else if (e.event === 'exited') this.hooks.exit(1, `heart stopped: ${e.reason}`);
        else if (e.event === 'ignored') this.hooks.log(`ignoring ${e.reason}`);
      },
      (e) => this.hooks.exit(1, `heart failed: ${e.message}`),
    );
    const conn = new Connection(await connectTcp(ip, port), new Signer(key));
    this.directAddress = await this.hooks.listen(conn);
    let reply: ContentMap['registration_reply'];
    try {
      reply = await this.register(conn, false, REGISTRATION_TIMEOUT_MS);
    } catch (e) {
      this.hooks.exit(1, (e as Error).message);
    }
    if (reply.status !== 'ok') {
      this.hooks.exit(1, `registration refused: ${reply.status === 'error' ? reply.evalue : reply.status}`);
    }
    this.registered(conn, reply);
    this.hooks.onRegistered(reply, false);
  }

  /** A report on the main connection (false: none now); `urgent`: flushed at once. */
  send<T extends 'engine_activity' | 'task_report'>(type: T, content: ContentMap[T], urgent: boolean, buffers?: Uint8Array[]): boolean {
    if (this.reconnectingNow || !this.conn) return false;
    this.conn.send(createMessage(type, content, { session: this.shared.session, metadata: { engine_id: this.engineId }, buffers }));
    // The request that starts now may block the event loop, so the usual flush at the end of the tick would wait.
    if (urgent) this.conn.flush();
    return true;
  }

  /** Hands what is pending on the controller connection to the kernel now (before process.exit). */
  flush(): void {
    if (this.conn && !this.conn.isClosed) this.conn.flush();
  }

  /** Sends registration_request on `conn` (resume: again, after losing the controller) and waits for the reply. */
  private register(conn: Connection, resume: boolean, timeoutMs: number): Promise<ContentMap['registration_reply']> {
    return new Promise((resolve, reject) => {
      let waiting = true;
      const timer = setTimeout(() => {
        waiting = false;
        conn.destroy();
        reject(new Error(`no registration reply within ${timeoutMs} ms`));
      }, timeoutMs);
      conn.start({
        onMessage: (msg) => {
          if (msg.header.msg_type === 'registration_reply') {
            if (!waiting) return;
            waiting = false;
            clearTimeout(timer);
            try {
              resolve(checkContent('registration_reply', msg.content));
            } catch (e) {
              conn.destroy();
              reject(new Error(`malformed registration_reply: ${(e as Error).message}`));
            }
          } else if (conn === this.conn) {
            this.hooks.onMessage(msg);
          } else if (!waiting) {
            // Came in the same read as the registration reply, before registered() made this the
            // current connection; that happens in the await continuation, which runs first.
            queueMicrotask(() => {
              if (conn === this.conn) this.hooks.onMessage(msg);
            });
          }
        },
        onBadMessage: (reason) => this.hooks.log(`dropped a message: ${reason}`),
        onClose: () => {
          if (waiting) {
            waiting = false;
            clearTimeout(timer);
            reject(new Error('controller connection closed before the registration reply'));
          } else if (conn === this.conn) {
            this.lost('controller connection closed');
          }
        },
      });
      const content: ContentMap['registration_request'] = {
        uuid: this.shared.uuid,
        kernel: 'node',
        language_version: process.versions.node,
        host: os.hostname(),
        pid: process.pid,
        executable: process.execPath,
      };
      if (resume) {
        content.requested_id = this.engineId;
        content.resume = true;
      } else if (this.opts.requestedId !== undefined) {
        content.requested_id = this.opts.requestedId;
      }
      if (this.supervised) content.supervised = true;
      if (this.opts.engineSet !== undefined) content.engine_set = this.opts.engineSet;
      if (this.directAddress) content.direct = this.directAddress;
      conn.send(createMessage('registration_request', content, { session: this.shared.session }));
    });
  }

  /** Registration accepted on `conn`: take its id and reconnect time, and (re)start the heart. */
  private registered(conn: Connection, reply: RegistrationOk): void {
    this.conn = conn;
    this.engineId = reply.id;
    this.reconnectMs = this.opts.reconnectMs ?? positive(reply.reconnect_ms);
    this.heart.start(reply.id, reply.heartbeat_ms > 0 ? reply.heartbeat_ms : this.info.heartbeat_ms);
  }

  /** The heart connection broke: while the main one is up, the controller is there; beat again. */
  private onHeartClosed(reason: string): void {
    if (this.engineId < 0 || this.reconnectingNow) return;
    if (this.reconnectMs <= 0) this.hooks.exit(1, `heart stopped: ${reason}`);
    this.lost(`heart connection closed (${reason})`);
  }

  /** Lost the controller: register again for reconnectMs (namespace kept), else exit. */
  private lost(why: string): void {
    if (this.reconnectingNow) return;
    if (this.engineId < 0) this.hooks.exit(1, why);
    if (this.reconnectMs <= 0) this.hooks.exit(0, why);
    this.reconnectingNow = true;
    this.conn.destroy();
    const dropped = this.hooks.onLost();
    this.hooks.log(`${why}; registering again as engine ${this.engineId} for up to ${this.reconnectMs} ms${dropped ? ` (${dropped} queued requests dropped)` : ''}`);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const deadline = Date.now() + this.reconnectMs;
    let delay = 50;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
      delay = Math.min(delay * 2, 500);
      const budget = Math.max(200, Math.min(RECONNECT_REPLY_MS, deadline - Date.now()));
      let conn: Connection;
      try {
        conn = new Connection(await connectTcp(this.info.ip, this.info.port, budget), new Signer(this.info.key));
      } catch {
        continue;
      }
      let reply: ContentMap['registration_reply'];
      try {
        reply = await this.register(conn, true, budget);
      } catch {
        conn.destroy();
        continue;
      }
      if (reply.status !== 'ok') {
        // E.g. a controller shutting down: try again until the deadline.
        this.hooks.log(`registration refused: ${reply.status === 'error' ? reply.evalue : reply.status}`);
        conn.destroy();
        continue;
      }
      this.registered(conn, reply);
      this.reconnectingNow = false;
      this.hooks.log(`registered again as engine ${this.engineId}; namespace intact`);
      this.hooks.onRegistered(reply, true);
      return;
    }
    this.hooks.exit(0, `the controller did not come back within ${this.reconnectMs} ms`);
  }
}
