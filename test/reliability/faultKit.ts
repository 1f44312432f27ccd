/** Helpers for the fault tests: process liveness and memory by pid, polling, a raw client. */
import { createMessage, type Message, type MsgType, type ContentMap, type Metadata } from '../../core/protocol/messages.ts';
import { Signer } from '../../core/transport/codec.ts';
import { Connection, connectTcp } from '../../core/transport/connection.ts';
export { isAlive, rssKB } from '../../core/util/processes.ts';

export { eventually, sleep, startTestCluster } from '../integration/fixture.ts';



/** Sends a signal to a pid we started, ignoring "already gone". */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * A client made of the bare transport, so a test can stop reading (socket.pause) to play a
 * slow client, and see every message the controller sends.
 */
export class RawClient {
  readonly received: Message[] = [];
  private waiters: { pred: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  private readonly session = globalThis.crypto.randomUUID();

  private constructor(readonly conn: Connection) {
    conn.start({
      onMessage: (m) => {
        this.received.push(m);
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) {
          if (w.pred(m)) w.resolve(m);
          else this.waiters.push(w);
        }
      },
    });
  }

  static async connect(info: { ip: string; port: number; key: string }): Promise<RawClient> {
    const c = new RawClient(new Connection(await connectTcp(info.ip, info.port), new Signer(info.key)));
    await c.request('connect_request', { subscribe: 'none' });
    return c;
  }

  send<T extends MsgType>(type: T, content: ContentMap[T], metadata: Metadata = {}): Message<T> {
    const msg = createMessage(type, content, { session: this.session, metadata });
    this.conn.send(msg);
    return msg;
  }

  next(pred: (m: Message) => boolean): Promise<Message> {
    const hit = this.received.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  async request<T extends MsgType>(type: T, content: ContentMap[T], metadata: Metadata = {}): Promise<Message> {
    const msg = this.send(type, content, metadata);
    return this.next((m) => (m.parent_header as { msg_id?: string }).msg_id === msg.header.msg_id && m.header.msg_type !== 'stream');
  }

  close(): void {
    this.conn.destroy();
  }
}
