/**
 * The engine process: registers with the controller, starts the heart, and serves work
 * requests from the main connection one at a time, in arrival order. abort_request and
 * shutdown_request act at once, even while a request runs.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { ConnectionInfo } from '../../core/connection/connectionFile.js';
import {
  createMessage,
  isWorkRequest,
  newSession,
  replyTypeOf,
  type ContentMap,
  type Header,
  type Json,
  type Message,
} from '../../core/protocol/messages.js';
import { Signer } from '../../core/transport/codec.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';
import { OutputCapture, type Chunk } from './capture.js';
import { describeError } from './errors.js';
import { Heart } from './heart.js';
import { Namespace } from './namespace.js';
import { RequestHandler } from './requests.js';

const REGISTRATION_TIMEOUT_MS = 30_000;

export interface EngineOptions {
  /** Id to ask for (`--id N`), e.g. when the controller restarts an engine. */
  requestedId?: number;
}

export class Engine {
  private readonly uuid = randomUUID();
  private readonly session = newSession();
  private readonly capture = new OutputCapture((chunks, parent, urgent) => this.sendStreams(chunks, parent, urgent));
  private readonly ns = new Namespace();
  private readonly handler = new RequestHandler(this.ns);
  private conn!: Connection;
  private id = -1;
  private queue: Message[] = [];
  private running = false;
  private scheduled = false;
  private onRegistration: ((msg: Message<'registration_reply'>) => void) | null = null;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly opts: EngineOptions = {},
  ) {}

  async start(): Promise<void> {
    const { ip, port, key } = this.info;
    const heart = new Heart(
      { ip, port, key, uuid: this.uuid, session: this.session },
      (e) => {
        if (e.event === 'closed') this.exit(1, `heart stopped: ${e.reason}`);
      },
      (e) => this.exit(1, `heart failed: ${e.message}`),
    );
    this.conn = new Connection(await connectTcp(ip, port), new Signer(key));
    const registered = new Promise<Message<'registration_reply'>>((resolve) => (this.onRegistration = resolve));
    this.conn.start({
      onMessage: (msg) => this.onMessage(msg),
      onBadMessage: (reason) => this.log(`dropped a message: ${reason}`),
      onClose: () => this.exit(this.id < 0 ? 1 : 0, 'controller connection closed'),
    });
    const content: ContentMap['registration_request'] = {
      uuid: this.uuid,
      kernel: 'node',
      language_version: process.versions.node,
      host: os.hostname(),
      pid: process.pid,
    };
    if (this.opts.requestedId !== undefined) content.requested_id = this.opts.requestedId;
    this.conn.send(createMessage('registration_request', content, { session: this.session }));

    const timeout = setTimeout(() => this.exit(1, `no registration reply within ${REGISTRATION_TIMEOUT_MS} ms`), REGISTRATION_TIMEOUT_MS);
    const reply = (await registered).content;
    clearTimeout(timeout);
    if (reply.status !== 'ok') {
      this.exit(1, `registration refused: ${reply.status === 'error' ? reply.evalue : reply.status}`);
      return;
    }
    this.id = reply.id;
    heart.start(reply.id, reply.heartbeat_ms > 0 ? reply.heartbeat_ms : this.info.heartbeat_ms);
    this.capture.install();
    // User timers and promises must not take the engine down: report them as output of the latest request.
    process.on('uncaughtException', (e) => this.capture.write('stderr', `Uncaught ${formatThrown(e)}\n`));
    process.on('unhandledRejection', (e) => this.capture.write('stderr', `Unhandled promise rejection: ${formatThrown(e)}\n`));
    this.schedule();
  }

  private onMessage(msg: Message): void {
    const type = msg.header.msg_type;
    if (type === 'registration_reply') {
      this.onRegistration?.(msg as Message<'registration_reply'>);
      this.onRegistration = null;
    } else if (type === 'abort_request') {
      this.abort((msg.content as ContentMap['abort_request']).msg_ids);
    } else if (type === 'shutdown_request') {
      this.exit(0);
    } else if (isWorkRequest(type)) {
      this.queue.push(msg);
      this.schedule();
    } else {
      this.log(`ignoring ${type}`);
    }
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
      void this.runNext();
    });
  }

  private async runNext(): Promise<void> {
    const msg = this.queue.shift();
    if (msg === undefined) return;
    this.running = true;
    try {
      await this.run(msg);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  private async run(msg: Message): Promise<void> {
    const started = new Date().toISOString();
    this.capture.setParent(msg.header);
    let content: { [key: string]: Json | undefined };
    let buffers: Uint8Array[] = [];
    try {
      ({ content, buffers } = await this.handler.handle(msg));
    } catch (e) {
      content = { ...describeError(e) };
    }
    // All output of a request goes out before its reply.
    this.capture.flush();
    this.reply(msg, content, buffers, started);
  }

  /** Queued requests not yet started (those in `msgIds`, or all) are answered 'aborted' at once. */
  private abort(msgIds: string[] | undefined): void {
    const ids = Array.isArray(msgIds) ? new Set(msgIds) : null;
    const dropped = this.queue.filter((m) => ids === null || ids.has(m.header.msg_id));
    if (dropped.length === 0) return;
    this.queue = this.queue.filter((m) => !dropped.includes(m));
    const now = new Date().toISOString();
    for (const m of dropped) this.reply(m, { status: 'aborted' }, [], now);
  }

  private reply(req: Message, content: { [key: string]: Json | undefined }, buffers: Uint8Array[], started: string): void {
    const type = replyTypeOf(req.header.msg_type) as 'execute_reply';
    const metadata = { engine_id: this.id, started, completed: new Date().toISOString() };
    this.conn.send(createMessage(type, content as ContentMap['execute_reply'], { session: this.session, parent: req.header, metadata, buffers }));
  }

  private sendStreams(chunks: Chunk[], parent: Header, urgent: boolean): void {
    for (const { name, text } of chunks) {
      this.conn.send(createMessage('stream', { name, text }, { session: this.session, parent, metadata: { engine_id: this.id } }));
    }
    // The event loop may be blocked by user code, so the usual uncork-on-next-tick would not come.
    if (urgent) this.conn.socket.uncork();
  }

  private log(text: string): void {
    this.capture.writeOriginal('stderr', `node engine${this.id < 0 ? '' : ` ${this.id}`}: ${text}\n`);
  }

  private exit(code: number, reason?: string): never {
    this.capture.flush();
    // Hand pending output to the kernel now; process.exit does not wait for the next tick's uncork.
    if (this.conn && !this.conn.isClosed) this.conn.socket.uncork();
    if (reason) this.log(reason);
    process.exit(code);
  }
}

/** An error as the user would want to read it: its stack without engine and node-internal frames. */
function formatThrown(e: unknown): string {
  const d = describeError(e);
  return d.traceback.length ? d.traceback.join('\n') : `${d.ename}: ${d.evalue}`;
}
