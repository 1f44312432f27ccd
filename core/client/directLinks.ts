/**
 * A client's direct connections to engines (protocol section 13). Opened lazily, the first
 * time a single-engine request is made for an engine; used once the engine has confirmed it
 * is the engine the controller described (uuid). A failed attempt is not repeated for that
 * engine process; the client keeps going through the controller, which always works.
 */
import type { EngineInfo, Message } from '../protocol/messages.js';
import { createMessage } from '../protocol/messages.js';
import { checkContent, parentIdOf } from '../protocol/validate.js';
import type { Signer } from '../transport/codec.js';
import { Connection, connectTcp } from '../transport/connection.js';

/** How long connecting and the engine's handshake reply may take before the link is given up. */
const LINK_TIMEOUT_MS = 5_000;

interface Link {
  readonly uuid: string;
  conn: Connection | null;
  ready: boolean;
}

export interface DirectLinksOptions {
  signer: Signer;
  session: string;
  maxMessageBytes(): number;
  /** A message from an engine on a ready link: streams and replies of direct requests. */
  onMessage(msg: Message): void;
  /** Where a large reply's buffers go (Connection's onPlaceParts). */
  onPlaceParts(msg: Message, rest: number[]): (Buffer | undefined)[] | null;
  /** A ready link closed: the direct requests waiting on it will get no reply from it. */
  onLinkClosed(engineId: number): void;
}

export class DirectLinks {
  /** By engine id; a link whose attempt failed stays (conn null, not ready) so it is not retried for that uuid. */
  private readonly links = new Map<number, Link>();
  private closed = false;

  constructor(private readonly opts: DirectLinksOptions) {}

  /** The ready connection to this engine, if there is one; otherwise starts opening it and returns undefined. */
  connectionFor(info: EngineInfo | undefined): Connection | undefined {
    if (info === undefined || info.direct === undefined || info.state === 'dead' || this.closed) return undefined;
    const link = this.links.get(info.id);
    if (link !== undefined && link.uuid === info.uuid) return link.ready ? link.conn! : undefined;
    if (link !== undefined) this.drop(info.id, link);
    void this.open(info);
    return undefined;
  }

  /** True while requests sent on this engine's link may still be answered on it. */
  isReady(engineId: number): boolean {
    return this.links.get(engineId)?.ready === true;
  }

  /** Closes the link to an engine that died; a new process under its id gets a new one. */
  forget(engineId: number): void {
    const link = this.links.get(engineId);
    if (link !== undefined) this.drop(engineId, link);
  }

  /** Engines with a ready direct connection, ascending. */
  readyIds(): number[] {
    return [...this.links].filter(([, l]) => l.ready).map(([id]) => id).sort((a, b) => a - b);
  }

  close(): void {
    this.closed = true;
    for (const [id, link] of this.links) this.drop(id, link);
  }

  private async open(info: EngineInfo): Promise<void> {
    const link: Link = { uuid: info.uuid, conn: null, ready: false };
    this.links.set(info.id, link);
    const { ip, port } = info.direct!;
    let conn: Connection;
    try {
      conn = new Connection(await connectTcp(ip, port, LINK_TIMEOUT_MS), this.opts.signer, this.opts.maxMessageBytes());
    } catch {
      return; // stays not ready: this engine process is reached through the controller
    }
    if (this.links.get(info.id) !== link || this.closed) {
      conn.destroy();
      return;
    }
    link.conn = conn;
    const hello = createMessage('engine_connect_request', { engine_uuid: info.uuid }, { session: this.opts.session });
    const timer = setTimeout(() => conn.destroy(), LINK_TIMEOUT_MS);
    conn.start({
      onMessage: (msg) => {
        if (link.ready) {
          this.opts.onMessage(msg);
        } else if (msg.header.msg_type === 'engine_connect_reply' && parentIdOf(msg) === hello.header.msg_id) {
          clearTimeout(timer);
          if (this.confirms(msg, info.uuid)) link.ready = true;
          else conn.close(); // this engine process is reached through the controller
        }
      },
      onPlaceParts: (msg, rest) => (link.ready ? this.opts.onPlaceParts(msg, rest) : null),
      onClose: () => {
        clearTimeout(timer);
        const wasReady = link.ready;
        link.ready = false;
        link.conn = null;
        if (wasReady) this.opts.onLinkClosed(info.id);
      },
    });
    conn.send(hello);
  }

  /** The handshake's reply says this is the engine the controller described; a malformed one does not. */
  private confirms(msg: Message, uuid: string): boolean {
    try {
      const c = checkContent('engine_connect_reply', msg.content);
      return c.status === 'ok' && c.uuid === uuid;
    } catch {
      return false;
    }
  }

  private drop(engineId: number, link: Link): void {
    this.links.delete(engineId);
    const wasReady = link.ready;
    link.ready = false;
    link.conn?.close();
    link.conn = null;
    if (wasReady) this.opts.onLinkClosed(engineId);
  }
}
