/**
 * The test side of a signed connection: an Inbox records every message that arrives (with its
 * raw parts and arrival time) and resolves waits for the first one matching a predicate; a Peer
 * is an Inbox over a real Connection that also sends signed messages. Fake clients and fake
 * engines of the controller tests, the raw client of the fault tests, and the engine tests' fake
 * controller and direct peers all build on these two.
 */
import { createMessage, newSession, type ContentMap, type Header, type Message, type Metadata, type MsgType } from '../../core/protocol/messages.js';
import { Signer } from '../../core/transport/codec.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';

export interface Received {
  msg: Message;
  /** The frame's parts as they came off the wire, when the Inbox keeps them (else empty). */
  parts: Buffer[];
  /** performance.now() when it arrived. */
  at: number;
}

/** Whether `m` answers `req` (any `_reply` whose parent is req). */
export function isReplyTo(m: Message, req: Message): boolean {
  return m.header.msg_type.endsWith('_reply') && (m.parent_header as { msg_id?: string }).msg_id === req.header.msg_id;
}

/** Messages from one connection, in order of arrival, awaitable by predicate. */
export class Inbox {
  readonly messages: Received[] = [];
  /** The same messages without their parts and times. */
  readonly received: Message[] = [];
  private waiters: { pred: (m: Message) => boolean; resolve: (r: Received) => void }[] = [];
  /** Keep each frame's raw parts (off by default: a flood would be held twice). */
  keepParts = false;
  /** Called for each message once recorded, before waiters see it (a fake engine answers from here). */
  onMessage: ((m: Message, parts: Buffer[]) => void) | null = null;

  constructor(readonly name = 'peer') {}

  push(msg: Message, parts: Buffer[] = []): void {
    const r = { msg, parts: this.keepParts ? parts : [], at: performance.now() };
    this.messages.push(r);
    this.received.push(msg);
    this.onMessage?.(msg, parts);
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(msg)) return true;
      w.resolve(r);
      return false;
    });
  }

  /** The first message (already received or future) matching `pred`, with its parts and time. */
  next(pred: (m: Message) => boolean, timeoutMs = 10_000, what = 'a message'): Promise<Received> {
    const have = this.messages.find((r) => pred(r.msg));
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (r: Received) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; got ${this.received.map((m) => m.header.msg_type).join(', ') || 'nothing'}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Like next(), for the message alone. */
  async waitFor(pred: (m: Message) => boolean, timeoutMs = 5000, what = 'a message'): Promise<Message> {
    return (await this.next(pred, timeoutMs, what)).msg;
  }

  count(pred: (m: Message) => boolean): number {
    return this.received.filter(pred).length;
  }

  /** All messages answering `parent` so far (replies and output). */
  answers(parent: Message): Message[] {
    return this.received.filter((m) => (m.parent_header as Header).msg_id === parent.header.msg_id);
  }

  /** The stream messages (output) of `req` so far. */
  streamsOf(req: Message): Received[] {
    return this.messages.filter((r) => r.msg.header.msg_type === 'stream' && (r.msg.parent_header as { msg_id?: string }).msg_id === req.header.msg_id);
  }
}

/** Options of a message a test sends. */
export interface SendOptions {
  metadata?: Metadata;
  parent?: Header;
  buffers?: Uint8Array[];
  msgId?: string;
}

/** A signed connection that records what it receives (an Inbox) and sends typed messages. */
export class Peer extends Inbox {
  closed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(
    readonly conn: Connection,
    name = 'peer',
    readonly session = newSession(),
  ) {
    super(name);
    conn.start({
      onMessage: (m, p) => this.push(m, p),
      onClose: () => {
        this.closed = true;
        for (const r of this.closeWaiters) r();
        this.closeWaiters = [];
      },
    });
  }

  /** Connects to `info` (a controller's or an engine's address) signing with its key. */
  static async connect(info: { ip: string; port: number; key: string }, name?: string): Promise<Peer> {
    return new Peer(new Connection(await connectTcp(info.ip, info.port), new Signer(info.key)), name);
  }

  send<T extends MsgType>(type: T, content: ContentMap[T], opts: SendOptions = {}): Message<T> {
    const msg = createMessage(type, content, { session: this.session, ...opts });
    this.conn.send(msg);
    return msg;
  }

  /** The `<type>_reply` to `req` (and matching pred: e.g. from one engine of several). */
  replyTo(req: Message, pred: (m: Message) => boolean = () => true, timeoutMs = 5000): Promise<Message> {
    const want = req.header.msg_type.replace(/_request$/, '_reply');
    return this.waitFor(
      (m) => (m.parent_header as Header).msg_id === req.header.msg_id && m.header.msg_type === want && pred(m),
      timeoutMs,
      `${want} to ${req.header.msg_id}`,
    );
  }

  /** Sends and waits for the reply. */
  async request<T extends MsgType>(type: T, content: ContentMap[T], opts: SendOptions = {}, timeoutMs = 5000): Promise<Message> {
    return this.replyTo(this.send(type, content, opts), () => true, timeoutMs);
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: connection still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.conn.destroy();
  }
}

/** A client of the controller at `info`: a Peer that has done the connect handshake. */
export async function connectClient(info: { ip: string; port: number; key: string }, subscribe: 'none' | 'registration' | 'all' = 'none', name = 'client'): Promise<Peer> {
  const c = await Peer.connect(info, name);
  const reply = await c.request('connect_request', { subscribe });
  if ((reply.content as { status: string }).status !== 'ok') throw new Error(`connect failed: ${JSON.stringify(reply.content)}`);
  return c;
}
