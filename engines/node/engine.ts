/**
 * The engine process: registers with the controller, starts the heart, and serves work
 * requests from the main connection one at a time, in arrival order. abort_request and
 * shutdown_request act at once, even while a request awaits; synchronous user code blocks the
 * main thread, so they are read when it ends (only interrupts go through the heart worker).
 *
 * When the controller connection drops and the controller advised `reconnect_ms` (it may be
 * restarted), the engine registers again with the same id for that long, keeping its
 * namespace; requests queued but not started are dropped (never run). Then it exits.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { ConnectionInfo } from '../../core/connection/connectionFile.js';
import {
  createMessage,
  isWorkRequest,
  WORK_REQUESTS,
  type WorkRequestType,
  type CurrentTask,
  type DirectAddress,
  newSession,
  replyTypeOf,
  type ContentMap,
  type Header,
  type Json,
  type Message,
  type Metadata,
} from '../../core/protocol/messages.js';
import { checkContent } from '../../core/protocol/validate.js';
import { encodeMessageFrame, Signer } from '../../core/transport/codec.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../core/transport/frame.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';
import { pollAfterReply } from '../../core/transport/spin.js';
import { ActivityReport } from './activityReport.js';
import { keepOutput, TaskReport, type DirectOutput } from './taskReport.js';
import { DirectServer } from './directServer.js';
import { EarlyAborts } from './earlyAborts.js';
import { WorkQueue, type Queued } from './workQueue.js';
import { OutputCapture, type Chunk } from './capture.js';
import { describeError } from './errors.js';
import { Heart } from './heart.js';
import { beginRequest, endRequest, interruptCurrent, interruptRunning, interruptState } from './interrupt.js';
import { Namespace } from './namespace.js';
import { RequestHandler, type ReplyBody } from './requests.js';
import { formatBytes } from '../../core/util/format.js';

const REGISTRATION_TIMEOUT_MS = 30_000;
/** How long one attempt to register again may wait for the reply. */
const RECONNECT_REPLY_MS = 5_000;
/** Set by a controller in the environment of engines it launches (registration_request.supervised). */
const SUPERVISED_ENV = 'MULTIENGINE_SUPERVISED';
/** The most text one stream message carries. */
const STREAM_PIECE_CHARS = 1024 * 1024;
/** How long requests that finish synchronously may run one after another before the loop turns. */
const BATCH_MS = 1;

export interface EngineOptions {
  /** Id to ask for (`--id N`), e.g. when the controller restarts an engine. */
  requestedId?: number;
  /** `--reconnect-ms`: how long to try to register again after losing the controller; default: the controller's advice. */
  reconnectMs?: number;
  /** `--engine-set`: the engine set that started this engine (registration_request.engine_set). */
  engineSet?: string;
}

export class Engine {
  private readonly uuid = randomUUID();
  private readonly session = newSession();
  private readonly capture = new OutputCapture((chunks, parent, urgent) => this.sendStreams(chunks, parent, urgent));
  private readonly ns = new Namespace();
  private readonly handler = new RequestHandler(this.ns);
  private conn!: Connection;
  private id = -1;
  private readonly queue = new WorkQueue();
  /** Where the running (or latest) request came from: its output and reply go back there. */
  private origin: Connection | null = null;
  private direct: DirectServer | null = null;
  private directAddress: DirectAddress | undefined;
  private directRunning: CurrentTask | null = null;
  /** The request that runs now. */
  private runningNow: Queued | null = null;
  private directDone = 0;
  /** performance.now() when the running request started, and how long the latest one ran. */
  private startedAt = 0;
  private ranMs = 0;
  private readonly activity = new ActivityReport(
    () => this.directWork(),
    (content, urgent) => this.sendActivity(content, urgent),
  );
  private readonly tasks = new TaskReport((r) => this.sendToController('task_report', r.content, false, r.buffers));
  /** What the running direct request printed, for its task_report (null: nothing yet). */
  private kept: DirectOutput | null = null;
  private running = false;
  private scheduled = false;
  private heart!: Heart;
  /** The running request, shared with the heart (interrupt_request's msg_ids; beats say what runs): [0] = msg_id length, [255] = type. */
  private readonly currentRequest = new Uint8Array(new SharedArrayBuffer(256));
  private currentMsgId = '';
  /** msg_ids an abort_request or interrupt_request named before they arrived: answered 'aborted' when they come. */
  private readonly earlyAborts = new EarlyAborts();
  private readonly supervised = process.env[SUPERVISED_ENV] === '1';
  /** Effective reconnect time (0: exit when the controller connection drops). */
  private reconnectMs = 0;
  private maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  private reconnecting = false;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly opts: EngineOptions = {},
  ) {
    // Not inherited by what user code spawns.
    delete process.env[SUPERVISED_ENV];
  }

  async start(): Promise<void> {
    const { ip, port, key } = this.info;
    this.heart = new Heart(
      { ip, port, key, uuid: this.uuid, session: this.session, interruptState, currentRequest: this.currentRequest },
      (e) => {
        if (e.event === 'interrupt') interruptRunning(e.running);
        // interrupt_request with msg_ids: the heart interrupted the running one if named; the rest are aborted
        else if (e.event === 'cancel') this.cancel(e.msgIds);
        else if (e.event === 'closed') this.onHeartClosed(e.reason);
        else if (e.event === 'exited') this.exit(1, `heart stopped: ${e.reason}`);
        else if (e.event === 'ignored') this.log(`ignoring ${e.reason}`);
      },
      (e) => this.exit(1, `heart failed: ${e.message}`),
    );
    const conn = new Connection(await connectTcp(ip, port), new Signer(key));
    await this.listenDirect(conn);
    let reply: ContentMap['registration_reply'];
    try {
      reply = await this.register(conn, false, REGISTRATION_TIMEOUT_MS);
    } catch (e) {
      this.exit(1, (e as Error).message);
    }
    if (reply.status !== 'ok') {
      this.exit(1, `registration refused: ${reply.status === 'error' ? reply.evalue : reply.status}`);
    }
    this.registered(conn, reply);
    this.capture.install();
    // User timers and promises must not take the engine down: report them as output of the latest request.
    process.on('uncaughtException', (e) => this.capture.write('stderr', `Uncaught ${formatThrown(e)}\n`));
    process.on('unhandledRejection', (e) => this.capture.write('stderr', `Unhandled promise rejection: ${formatThrown(e)}\n`));
    this.schedule();
  }

  /** The direct work, as engine_activity reports it. */
  private directWork(): ContentMap['engine_activity'] {
    return { direct_running: this.directRunning, direct_queued: this.queue.direct, direct_done: this.directDone };
  }

  /** Opens the listener for clients' direct connections where the controller reached us; without it, clients use the controller. */
  private async listenDirect(conn: Connection): Promise<void> {
    const server = new DirectServer({
      uuid: this.uuid,
      session: this.session,
      signer: conn.signer,
      id: () => this.id,
      maxMessageBytes: () => this.maxMessageBytes,
      onRequest: (msg, from) => this.onDirectRequest(msg, from),
      onClosed: (from) => this.onDirectClosed(from),
      log: (text) => this.log(text),
    });
    try {
      this.directAddress = await server.listen(conn.socket.localAddress ?? '127.0.0.1');
      this.direct = server;
    } catch (e) {
      this.log(`no direct connections: cannot listen (${(e as Error).message})`);
    }
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
            this.onMessage(msg);
          } else if (!waiting) {
            // Came in the same read as the registration reply, before registered() made this the
            // engine's connection; that happens in the await continuation, which runs first.
            queueMicrotask(() => {
              if (conn === this.conn) this.onMessage(msg);
            });
          }
        },
        onBadMessage: (reason) => this.log(`dropped a message: ${reason}`),
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
        uuid: this.uuid,
        kernel: 'node',
        language_version: process.versions.node,
        host: os.hostname(),
        pid: process.pid,
        executable: process.execPath,
      };
      if (resume) {
        content.requested_id = this.id;
        content.resume = true;
      } else if (this.opts.requestedId !== undefined) {
        content.requested_id = this.opts.requestedId;
      }
      if (this.supervised) content.supervised = true;
      if (this.opts.engineSet !== undefined) content.engine_set = this.opts.engineSet;
      if (this.directAddress) content.direct = this.directAddress;
      conn.send(createMessage('registration_request', content, { session: this.session }));
    });
  }

  /** Registration accepted on `conn`: take its id and settings, and (re)start the heart. */
  private registered(conn: Connection, reply: ContentMap['registration_reply'] & { status: 'ok' }): void {
    this.conn = conn;
    this.id = reply.id;
    const positive = (v: unknown): number => (typeof v === 'number' && v > 0 ? v : 0);
    this.reconnectMs = this.opts.reconnectMs ?? positive(reply.reconnect_ms);
    this.maxMessageBytes = positive(reply.max_message_bytes) || DEFAULT_MAX_MESSAGE_BYTES;
    this.capture.limit = positive(reply.max_output_bytes);
    this.tasks.enabled = reply.report_tasks === true;
    this.heart.start(reply.id, reply.heartbeat_ms > 0 ? reply.heartbeat_ms : this.info.heartbeat_ms);
  }

  /** The heart connection broke: while the main one is up, the controller is there; beat again. */
  private onHeartClosed(reason: string): void {
    if (this.id < 0 || this.reconnecting) return;
    if (this.reconnectMs <= 0) this.exit(1, `heart stopped: ${reason}`);
    this.lost(`heart connection closed (${reason})`);
  }

  /** Lost the controller: register again for reconnectMs (namespace kept), else exit. */
  private lost(why: string): void {
    if (this.reconnecting) return;
    if (this.id < 0) this.exit(1, why);
    if (this.reconnectMs <= 0) this.exit(0, why);
    this.reconnecting = true;
    this.conn.destroy();
    // Never run: the controller that sent them is gone. Direct ones stay: their clients are there.
    const dropped = this.queue.remove((q) => q.origin === null).length;
    this.log(`${why}; registering again as engine ${this.id} for up to ${this.reconnectMs} ms${dropped ? ` (${dropped} queued requests dropped)` : ''}`);
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
        this.log(`registration refused: ${reply.status === 'error' ? reply.evalue : reply.status}`);
        conn.destroy();
        continue;
      }
      this.registered(conn, reply);
      this.reconnecting = false;
      this.log(`registered again as engine ${this.id}; namespace intact`);
      this.schedule();
      return;
    }
    this.exit(0, `the controller did not come back within ${this.reconnectMs} ms`);
  }

  private onMessage(msg: Message): void {
    const type = msg.header.msg_type;
    if (type === 'abort_request') {
      let msgIds: string[] | undefined;
      try {
        msgIds = checkContent(type, msg.content).msg_ids;
      } catch (e) {
        this.log(`ignoring a malformed abort_request: ${(e as Error).message}`);
        return;
      }
      this.abort(msgIds);
    } else if (type === 'shutdown_request') {
      this.exit(0);
    } else if (type === 'interrupt_request') {
      // It belongs on the heart, but the main connection carries it too (protocol section 7),
      // e.g. from a controller that has no heart connection yet. Read here, no code blocks the
      // loop: an awaited task is rejected, or the request ends at its next interruptible stage.
      const ids = (msg.content as { msg_ids?: unknown }).msg_ids;
      if (Array.isArray(ids)) this.cancel(ids.filter((x): x is string => typeof x === 'string'));
      else interruptCurrent();
    } else if (isWorkRequest(type)) {
      this.enqueue({ msg, origin: null, received: Date.now() });
    } else {
      this.log(`ignoring ${type}`);
    }
  }

  /** A work request from a client's direct connection (handshake done). */
  private onDirectRequest(msg: Message, origin: Connection): void {
    const targets = msg.metadata.targets;
    if (!Array.isArray(targets) || targets.length !== 1 || targets[0] !== this.id) {
      const error = { status: 'error', ename: 'ProtocolError', evalue: `a direct connection serves engine ${this.id} only: metadata.targets must be [${this.id}], got ${JSON.stringify(targets)}`, traceback: [] };
      this.reply({ msg, origin, received: Date.now() }, error, [], new Date().toISOString());
      return;
    }
    this.enqueue({ msg, origin, received: Date.now() });
    // Reported when it starts; only a request that really waits changes the queue.
    if (this.running) this.activity.changed();
  }

  /**
   * A client's direct connection closed: what it sent still runs, and the controller is told
   * now, so its result store holds these requests (result_request) before their answers come.
   */
  private onDirectClosed(origin: Connection): void {
    const orphaned = this.queue.list().filter((q) => q.origin === origin).map((q) => q.msg.header);
    if (this.runningNow?.origin === origin) orphaned.unshift(this.runningNow.msg.header);
    if (orphaned.length > 0) this.sendActivity({ ...this.directWork(), orphaned }, false);
  }

  /** engine_activity to the controller; `urgent` when user code may block the event loop right after. */
  private sendActivity(content: ContentMap['engine_activity'], urgent: boolean): void {
    this.sendToController('engine_activity', content, urgent);
  }

  /** A report on the main connection (false: none now); `urgent`: flushed at once. */
  private sendToController<T extends 'engine_activity' | 'task_report'>(type: T, content: ContentMap[T], urgent: boolean, buffers?: Uint8Array[]): boolean {
    if (this.reconnecting || !this.conn) return false;
    this.conn.send(createMessage(type, content, { session: this.session, metadata: { engine_id: this.id }, buffers }));
    // The request that starts now may block the event loop, so the usual flush at the end of the tick would wait.
    if (urgent) this.conn.flush();
    return true;
  }

  private enqueue(q: Queued): void {
    if (this.earlyAborts.take(q.msg.header.msg_id)) {
      this.reply(q, { status: 'aborted' }, [], new Date().toISOString());
      return;
    }
    this.queue.push(q);
    this.schedule();
  }

  /**
   * Starts the next queued request on a later turn of the event loop, never inside the read
   * that queued it: an abort_request that arrived in the same read (or while the previous
   * request kept the loop busy) is then seen before the request it aborts starts.
   */
  private schedule(): void {
    if (this.running || this.scheduled || this.id < 0 || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Requests that finish synchronously run back to back for up to BATCH_MS, so their replies
      // leave in one write (one wake-up of the client instead of one per reply). Aborts that
      // arrive meanwhile are seen after the batch, as after any request that runs that long.
      const t0 = performance.now();
      do this.runNext();
      while (!this.running && this.queue.length > 0 && this.id >= 0 && performance.now() - t0 < BATCH_MS);
      this.schedule();
    });
  }

  private runNext(): void {
    const q = this.queue.shift();
    if (q === undefined) return;
    this.running = true;
    const finish = (): void => {
      this.running = false;
      this.schedule();
    };
    let waiting: Promise<void> | undefined;
    try {
      waiting = this.run(q);
    } finally {
      if (waiting === undefined) finish();
    }
    waiting?.then(finish, (e: unknown) => {
      finish();
      throw e;
    });
  }

  /**
   * Runs one request and replies. Synchronous when the request is (a plain function or
   * statement): no trips through the microtask queue on the way. A Promise while it waits.
   */
  private run(q: Queued): Promise<void> | undefined {
    const { msg } = q;
    const started = new Date().toISOString();
    this.startedAt = performance.now();
    // Before the heart can read this msg_id, so an interrupt for it finds this request's epoch.
    beginRequest();
    this.setCurrent(msg.header.msg_id, msg.header.msg_type);
    this.capture.setParent(msg.header);
    this.origin = q.origin;
    this.runningNow = q;
    this.kept = null;
    if (q.origin !== null) {
      this.directRunning = { msg_id: msg.header.msg_id, msg_type: msg.header.msg_type, started };
      this.activity.changed(true);
    }
    let body: ReplyBody | Promise<ReplyBody>;
    try {
      body = this.handler.handle(msg);
    } catch (e) {
      this.finishRequest(q, { ...describeError(e) }, [], started);
      return undefined;
    }
    if (body instanceof Promise) {
      return body.then(
        (b) => this.finishRequest(q, b.content, b.buffers, started),
        (e: unknown) => this.finishRequest(q, { ...describeError(e) }, [], started),
      );
    }
    this.finishRequest(q, body.content, body.buffers, started);
    return undefined;
  }

  private finishRequest(q: Queued, content: { [key: string]: Json | undefined }, buffers: Uint8Array[], started: string): void {
    // All output of a request goes out before its reply.
    this.capture.flush();
    endRequest();
    this.setCurrent('');
    this.runningNow = null;
    if (q.origin !== null) this.directRunning = null;
    this.ranMs = performance.now() - this.startedAt;
    this.reply(q, content, buffers, started);
  }

  /**
   * Where output and the reply for a request from `origin` go: back on its direct connection,
   * or, when that has closed (its client left), to the controller's result store ('orphan').
   */
  private destination(origin: Connection | null): { conn: Connection; orphan: boolean } {
    if (origin === null || this.reconnecting) return { conn: this.conn, orphan: false };
    if (origin.isClosed) return { conn: this.conn, orphan: true };
    return { conn: origin, orphan: false };
  }

  /** Tells the heart which request runs (for interrupt_request's msg_ids). */
  private setCurrent(msgId: string, msgType = ''): void {
    this.currentMsgId = msgId;
    const b = this.currentRequest;
    b[255] = WORK_REQUESTS.indexOf(msgType as WorkRequestType) + 1;
    if (msgId.length > 254) {
      b[0] = 255;
      return;
    }
    b[0] = 0;
    for (let i = 0; i < msgId.length; i++) b[i + 1] = msgId.charCodeAt(i);
    b[0] = msgId.length;
  }

  /**
   * interrupt_request with msg_ids: those queued are aborted. The heart interrupts the running
   * one when named, but may have read the msg_id before this request set it: interrupt it here too.
   */
  private cancel(msgIds: string[]): void {
    this.abort(msgIds);
    if (this.currentMsgId !== '' && msgIds.includes(this.currentMsgId)) interruptCurrent();
  }

  /**
   * Queued requests not yet started (those in `msgIds`, or all) are answered 'aborted' at once.
   * Named ones that are neither queued nor running may not have arrived yet (a direct request
   * can lose the race to its abort): they are remembered and answered 'aborted' on arrival.
   */
  private abort(msgIds: readonly string[] | undefined): void {
    const ids = msgIds === undefined ? null : new Set(msgIds); // absent: every queued request
    const dropped = this.queue.remove((q) => ids === null || ids.has(q.msg.header.msg_id));
    if (ids !== null) {
      ids.delete(this.currentMsgId);
      for (const q of dropped) ids.delete(q.msg.header.msg_id);
      for (const id of ids) this.earlyAborts.add(id);
    }
    if (dropped.length === 0) return;
    const now = new Date().toISOString();
    for (const q of dropped) this.reply(q, { status: 'aborted' }, [], now);
  }

  private reply(q: Queued, content: { [key: string]: Json | undefined }, buffers: Uint8Array[], started: string): void {
    const req = q.msg;
    const type = replyTypeOf(req.header.msg_type) as 'execute_reply';
    const { conn, orphan } = this.destination(q.origin);
    const metadata: Metadata = { engine_id: this.id, received: new Date(q.received).toISOString(), started, completed: new Date().toISOString() };
    if (orphan) metadata.orphan = true;
    if (q.origin !== null) {
      this.directDone++;
      this.activity.finished(this.ranMs);
    }
    const msg = createMessage(type, content as ContentMap['execute_reply'], { session: this.session, parent: req.header, metadata, buffers });
    // A reply over the maximum message size would make the controller drop this connection: send an error instead.
    let size: number;
    let frame: ReturnType<typeof encodeMessageFrame> | undefined;
    try {
      frame = encodeMessageFrame(msg, conn.signer);
      size = frame.head.readUInt32BE(0) + 4;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      size = Infinity; // more than a frame can say (4 GiB)
    }
    if (frame !== undefined && size <= this.maxMessageBytes) {
      conn.sendFrame(frame);
      if (q.origin !== null) this.reportDirect(q, content, metadata, size);
      // The client polls for this reply and will send again soon (protocol section 13): so do we.
      if (q.origin !== null && req.metadata.poll === true && this.queue.length === 0) pollAfterReply();
      return;
    }
    let have = 0;
    for (const b of buffers) have += b.byteLength;
    const what = Number.isFinite(size) ? formatBytes(size) : `more than 4 GiB (${formatBytes(have)} of binary data)`;
    this.log(`the ${type} to ${req.header.msg_id} is ${what}, over the maximum message size; sending an error instead`);
    const error = {
      status: 'error',
      ename: 'MessageTooLargeError',
      evalue: `the reply is ${what}, more than the maximum message size of ${formatBytes(this.maxMessageBytes)}; return or pull it in smaller pieces`,
      traceback: [],
    };
    conn.send(createMessage(type, error as unknown as ContentMap['execute_reply'], { session: this.session, parent: req.header, metadata }));
    if (q.origin !== null) this.reportDirect(q, error, metadata, 0);
  }

  /** A direct request's reply went out: the controller hears of it in the next task_report. */
  private reportDirect(q: Queued, outcome: { [key: string]: Json | undefined }, md: Metadata, bytes: number): void {
    this.tasks.add(q.msg, md.received as string, md.started as string, md.completed as string, outcome, bytes, this.kept);
  }

  private sendStreams(chunks: Chunk[], parent: Header, urgent: boolean): void {
    // Output goes in pieces of at most 1 Mi characters: the controller holds a message whole while
    // it forwards it, and a piece must stay under the maximum message size even as escaped JSON.
    const most = Math.max(1024, Math.min(STREAM_PIECE_CHARS, Math.floor((this.maxMessageBytes - 4096) / 6)));
    const { conn, orphan } = this.destination(this.origin);
    const metadata: Metadata = orphan ? { engine_id: this.id, orphan: true } : { engine_id: this.id };
    if (this.tasks.enabled && this.runningNow?.origin != null && parent.msg_id === this.runningNow.msg.header.msg_id) this.kept = keepOutput(this.kept, chunks);
    for (const { name, text } of chunks) {
      for (let i = 0; i < text.length; i += most) {
        const piece = text.length <= most ? text : text.slice(i, i + most);
        conn.send(createMessage('stream', { name, text: piece }, { session: this.session, parent, metadata }));
      }
    }
    // The event loop may be blocked by user code, so the usual flush at the end of the tick would not come.
    if (urgent) conn.flush();
  }

  private log(text: string): void {
    this.capture.writeOriginal('stderr', `node engine${this.id < 0 ? '' : ` ${this.id}`}: ${text}\n`);
  }

  private exit(code: number, reason?: string): never {
    this.capture.flush();
    this.tasks.flush();
    // Hand pending output to the kernel now; process.exit does not wait for the end of the tick.
    if (this.conn && !this.conn.isClosed) this.conn.flush();
    this.direct?.flushAll();
    if (reason) this.log(reason);
    process.exit(code);
  }
}


/** An error as the user would want to read it: its stack without engine and node-internal frames. */
function formatThrown(e: unknown): string {
  const d = describeError(e);
  return d.traceback.length ? d.traceback.join('\n') : `${d.ename}: ${d.evalue}`;
}
