/**
 * ControllerLink: a client's signed connection to the controller through its life: the
 * connect handshake, the connection state, and reconnecting (same file, same key) after the
 * controller was lost, for as long as reconnectMs allows.
 */
import { readConnectionFile, type ConnectionInfo } from '../connection/connectionFile.js';
import { createMessage, type ContentMap, type Message } from '../protocol/messages.js';
import { checkContent, parentIdOf } from '../protocol/validate.js';
import { Signer } from '../transport/codec.js';
import { Connection, connectTcp } from '../transport/connection.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../transport/frame.js';
import { Emitter, nextEvent, type Event } from '../events/emitter.js';
import { ConnectionError } from './errors.js';

/** 'reconnecting' after the connection dropped; 'closed' once closed for good. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface LinkSettings {
  subscribe: 'none' | 'registration' | 'all';
  /** Ask for task_events pushes (protocol section 15). */
  taskEvents: boolean;
  timeoutMs: number;
  allowInsecure: boolean;
  /** The user's reconnectMs; undefined: what the controller advises. */
  reconnectMs: number | undefined;
}

export interface LinkEvents {
  /** Every message on the current connection but the handshake's reply. */
  onMessage(msg: Message): void;
  onPlaceParts(msg: Message, rest: number[]): (Buffer | undefined)[] | null;
  /** Connected (again): the reply's engine list is the current one. */
  onConnected(engines: ContentMap['connect_reply'] & { status: 'ok' }): void;
  /**
   * The connection dropped: fail what waited on it (EngineError(`reasonFor(msgId)`), control
   * requests with `controlReason`); `forGood`: direct requests too, the client is closed.
   */
  onLost(reasonFor: (msgId: string) => string, controlReason: string, forGood: boolean): void;
}

const CLOSED_BY_USER = 'the client was closed before the reply arrived';
const CONNECTION_LOST = 'lost the connection to the controller before the reply arrived';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Opens a TCP connection to the controller a connection file names. */
export async function dial(file: string, settings: LinkSettings): Promise<{ conn: Connection; info: ConnectionInfo }> {
  const info = readConnectionFile(file, { allowInsecure: settings.allowInsecure });
  try {
    const socket = await connectTcp(info.ip, info.port, settings.timeoutMs);
    return { conn: new Connection(socket, new Signer(info.key)), info };
  } catch (e) {
    throw new ConnectionError(`${(e as Error).message} (controller of ${file}; is the cluster running?)`);
  }
}

export class ControllerLink {
  controllerPid = 0;
  /** The controller's number for this client (0: an older controller that does not say). */
  clientNumber = 0;
  heartbeatMs = 0;
  /** Messages dropped because of a bad signature or form, or a malformed stream or engine_event. */
  droppedMessages = 0;
  /** The controller's maximum message size: bigger requests are refused before they are sent. */
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  /** How long to try to reconnect after losing the controller (0: never). */
  reconnectMs = 0;
  reconnects = 0;
  private state: ConnectionState = 'connecting';
  private readonly stateChanges = new Emitter<ConnectionState>();
  readonly onDidChangeState: Event<ConnectionState> = this.stateChanges.event;
  private closed = false;
  private closedBy: 'user' | 'peer' | undefined;
  private handshake: { msgId: string; conn: Connection; done(content: ContentMap['connect_reply']): void; fail(e: Error): void } | undefined;
  private events!: LinkEvents;

  constructor(
    public conn: Connection,
    readonly info: ConnectionInfo,
    readonly file: string,
    private readonly session: string,
    private readonly settings: LinkSettings,
  ) {}

  /** The first handshake, once the events have somewhere to go. */
  start(events: LinkEvents): Promise<void> {
    this.events = events;
    return this.open(this.conn, this.settings.timeoutMs);
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closed by close() (this process), not by losing the controller. */
  get closedByUser(): boolean {
    return this.closedBy === 'user';
  }

  /** Resolves true once connected (at once when it is), false when closed or after `timeoutMs`. */
  waitConnected(timeoutMs?: number): Promise<boolean> {
    if (this.state === 'connected') return Promise.resolve(true);
    if (this.state === 'closed') return Promise.resolve(false);
    return nextEvent(this.onDidChangeState, (st) => st === 'connected' || st === 'closed', timeoutMs).then((st) => st === 'connected');
  }

  /** Why `what` cannot be sent now; undefined while connected. */
  openError(what: string): ConnectionError | undefined {
    if (this.state === 'connected') return undefined;
    if (this.closed || this.state === 'closed') return new ConnectionError(`cannot send ${what}: the client is closed`);
    return new ConnectionError(`cannot send ${what}: the connection to the controller was lost; reconnecting (see connectionState)`);
  }

  /** Closed by the user: everything still waiting fails. */
  close(): void {
    if (this.closed) return;
    this.closedBy = 'user';
    this.conn.close();
    this.shutDown(CLOSED_BY_USER);
  }

  /** Connect handshake on `conn` (the first connection, or a reconnection). */
  private open(conn: Connection, timeoutMs: number): Promise<void> {
    this.conn = conn;
    return new Promise<void>((resolve, reject) => {
      const msg = createMessage('connect_request', this.settings.taskEvents ? { subscribe: this.settings.subscribe, task_events: true } : { subscribe: this.settings.subscribe }, { session: this.session });
      const timer = setTimeout(() => {
        this.handshake = undefined;
        conn.destroy();
        reject(new ConnectionError(`no answer from the controller at ${this.info.ip}:${this.info.port} within ${timeoutMs} ms (is this the right connection file?)`));
      }, timeoutMs);
      this.handshake = {
        msgId: msg.header.msg_id,
        conn,
        done: (content) => {
          clearTimeout(timer);
          this.handshake = undefined;
          if (content.status !== 'ok') {
            conn.close();
            reject(new ConnectionError(`connection refused: ${content.status === 'error' ? content.evalue : content.status}`));
            return;
          }
          this.controllerPid = content.controller_pid;
          this.clientNumber = content.client ?? 0;
          this.heartbeatMs = content.heartbeat_ms;
          this.maxMessageBytes = typeof content.max_message_bytes === 'number' && content.max_message_bytes > 0 ? content.max_message_bytes : DEFAULT_MAX_MESSAGE_BYTES;
          this.reconnectMs = this.settings.reconnectMs ?? (typeof content.reconnect_ms === 'number' && content.reconnect_ms > 0 ? content.reconnect_ms : 0);
          if (this.state === 'reconnecting') this.reconnects++;
          this.setState('connected');
          this.events.onConnected(content);
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
          if (conn !== this.conn) return;
          const h = this.handshake;
          if (h !== undefined && m.header.msg_type === 'connect_reply' && parentIdOf(m) === h.msgId) {
            let content: ContentMap['connect_reply'];
            try {
              content = checkContent('connect_reply', m.content);
            } catch (e) {
              h.fail(new ConnectionError(`malformed connect_reply from the controller: ${(e as Error).message}`));
              conn.close();
              return;
            }
            h.done(content);
          } else this.events.onMessage(m);
        },
        onPlaceParts: (m, rest) => (conn === this.conn ? this.events.onPlaceParts(m, rest) : null),
        onBadMessage: () => {
          this.droppedMessages++;
        },
        onClose: () => this.onClosed(conn),
      });
      conn.send(msg);
    });
  }

  private setState(st: ConnectionState): void {
    if (this.state === st) return;
    this.state = st;
    this.stateChanges.fire(st);
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
      this.events.onLost(
        (msgId) =>
          `${CONNECTION_LOST}; it is not sent again (it may have run). If the controller is still up, ` +
          `rc.getResult('${msgId}') fetches its result once the client has reconnected`,
        CONNECTION_LOST,
        false,
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
      return readConnectionFile(this.file, { allowInsecure: this.settings.allowInsecure }).key === this.info.key;
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
        info = readConnectionFile(this.file, { allowInsecure: this.settings.allowInsecure });
      } catch {
        continue; // a restarted controller writes it again
      }
      if (info.key !== this.info.key) {
        why = `the connection file ${this.file} now belongs to another controller (a different key)`;
        break;
      }
      const budget = Math.max(500, Math.min(this.settings.timeoutMs, deadline - Date.now()));
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
    this.events.onLost(() => reason, this.closedBy === 'user' ? CLOSED_BY_USER : CONNECTION_LOST, true);
    this.setState('closed');
  }
}
