/**
 * The engine process: serves work requests from the main connection one at a time, in arrival
 * order. abort_request and shutdown_request act at once, even while a request awaits; synchronous
 * user code blocks the main thread, so they are read when it ends (only interrupts go through the
 * heart worker). Registering, the heart and registering again after losing the controller are
 * controllerLink.ts's; while it does that, requests queued but not started are dropped (never run).
 */
import { randomUUID } from 'node:crypto';
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
import { encodeMessageFrame } from '../../core/transport/codec.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../core/transport/frame.js';
import type { Connection } from '../../core/transport/connection.js';
import { pollAfterReply } from '../../core/transport/spin.js';
import { ActivityReport } from './activityReport.js';
import { keepOutput, TaskReport, type DirectOutput } from './taskReport.js';
import { DirectServer } from './directServer.js';
import { EarlyAborts } from './earlyAborts.js';
import { WorkQueue, type Queued } from './workQueue.js';
import { OutputCapture, type Chunk } from './capture.js';
import { ControllerLink, positive, type LinkOptions, type RegistrationOk } from './controllerLink.js';
import { describeError } from './errors.js';
import { beginRequest, endRequest, interruptCurrent, interruptRunning, interruptState } from './interrupt.js';
import { Namespace } from './namespace.js';
import { RequestHandler, type ReplyBody } from './requests.js';
import { formatBytes } from '../../core/util/format.js';

/** The most text one stream message carries. */
const STREAM_PIECE_CHARS = 1024 * 1024;
/** How long requests that finish synchronously may run one after another before the loop turns. */
const BATCH_MS = 1;

export class Engine {
  private readonly uuid = randomUUID();
  private readonly session = newSession();
  private readonly capture = new OutputCapture((chunks, parent, urgent) => this.sendStreams(chunks, parent, urgent));
  private readonly ns = new Namespace();
  private readonly handler = new RequestHandler(this.ns);
  private readonly link: ControllerLink;
  private readonly queue = new WorkQueue();
  /** Where the running (or latest) request came from: its output and reply go back there. */
  private origin: Connection | null = null;
  private direct: DirectServer | null = null;
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
  private readonly tasks = new TaskReport(
    (r) => this.link.send('task_report', r.content, false, r.buffers),
    () => this.running || this.queue.length > 0,
  );
  /** What the running direct request printed, for its task_report (null: nothing yet). */
  private kept: DirectOutput | null = null;
  private running = false;
  private scheduled = false;
  /** The running request, shared with the heart (interrupt_request's msg_ids; beats say what runs): [0] = msg_id length, [255] = type. */
  private readonly currentRequest = new Uint8Array(new SharedArrayBuffer(256));
  private currentMsgId = '';
  /** msg_ids an abort_request or interrupt_request named before they arrived: answered 'aborted' when they come. */
  private readonly earlyAborts = new EarlyAborts();
  private maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;

  constructor(info: ConnectionInfo, opts: LinkOptions = {}) {
    this.link = new ControllerLink(
      info,
      opts,
      { uuid: this.uuid, session: this.session, interruptState, currentRequest: this.currentRequest },
      {
        listen: (conn) => this.listenDirect(conn),
        onRegistered: (reply, resumed) => this.onRegistered(reply, resumed),
        onMessage: (msg) => this.onMessage(msg),
        onLost: () => this.dropControllerWork(),
        onInterrupt: interruptRunning,
        onCancel: (msgIds) => this.cancel(msgIds),
        log: (text) => this.log(text),
        exit: (code, reason) => this.exit(code, reason),
      },
    );
  }

  /** The id the controller gave (-1 until registered). */
  private get id(): number {
    return this.link.id;
  }

  /** Registers (controllerLink.ts); the engine serves once the link reports it registered. */
  start(): Promise<void> {
    return this.link.start();
  }

  /** Registered (`resumed`: again, after losing the controller): take the reply's limits and serve. */
  private onRegistered(reply: RegistrationOk, resumed: boolean): void {
    this.maxMessageBytes = positive(reply.max_message_bytes) || DEFAULT_MAX_MESSAGE_BYTES;
    this.capture.limit = positive(reply.max_output_bytes);
    this.tasks.enabled = reply.report_tasks === true;
    if (!resumed) {
      this.capture.install();
      // User timers and promises must not take the engine down: report them as output of the latest request.
      process.on('uncaughtException', (e) => this.capture.write('stderr', `Uncaught ${formatThrown(e)}\n`));
      process.on('unhandledRejection', (e) => this.capture.write('stderr', `Unhandled promise rejection: ${formatThrown(e)}\n`));
    }
    this.schedule();
  }

  /** The direct work, as engine_activity reports it. */
  private directWork(): ContentMap['engine_activity'] {
    return { direct_running: this.directRunning, direct_queued: this.queue.direct, direct_done: this.directDone };
  }

  /** Opens the listener for clients' direct connections where the controller reached us; without it, clients use the controller. */
  private async listenDirect(conn: Connection): Promise<DirectAddress | undefined> {
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
      const address = await server.listen(conn.socket.localAddress ?? '127.0.0.1');
      this.direct = server;
      return address;
    } catch (e) {
      this.log(`no direct connections: cannot listen (${(e as Error).message})`);
      return undefined;
    }
  }

  /** The link lost the controller and registers again: returns how many queued requests were dropped. */
  private dropControllerWork(): number {
    // Never run: the controller that sent them is gone. Direct ones stay: their clients are there.
    return this.queue.remove((q) => q.origin === null).length;
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
    this.link.send('engine_activity', content, urgent);
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
    if (origin === null || this.link.reconnecting) return { conn: this.link.connection, orphan: false };
    if (origin.isClosed) return { conn: this.link.connection, orphan: true };
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
      if (q.origin !== null) this.tasks.add(req, frame.head, content, size, this.kept);
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
    const errorFrame = encodeMessageFrame(createMessage(type, error as unknown as ContentMap['execute_reply'], { session: this.session, parent: req.header, metadata }), conn.signer);
    conn.sendFrame(errorFrame);
    // No result went out: 0 bytes.
    if (q.origin !== null) this.tasks.add(req, errorFrame.head, error, 0, this.kept);
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
    this.link.flush();
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
