/**
 * The engine's listener for direct connections from clients (protocol section 13): a client
 * sends its single-engine work requests here instead of through the controller, which saves
 * two hops per round trip and two kernel crossings per byte of a large value.
 *
 * A connection proves itself with a signed engine_connect_request naming this engine's uuid;
 * strangers (bad signature, malformed, silent for 10 s) are closed. Later messages are checked
 * against replays. Work requests are handed to the engine, which queues them with the main
 * connection's and answers on the connection they came on.
 */
import net from 'node:net';
import { ReplayGuard } from '../../core/transport/replayGuard.js';
import { createMessage, isWorkRequest, type DirectAddress, type Message } from '../../core/protocol/messages.js';
import { checkContent } from '../../core/protocol/validate.js';
import type { Signer } from '../../core/transport/codec.js';
import { adoptAccepted, Connection } from '../../core/transport/connection.js';

/** A connection that has sent nothing valid by then is closed. */
const HANDSHAKE_MS = 10_000;
/** The largest frame before the handshake: an engine_connect_request is tiny, and a stranger must not make us allocate more. */
const HANDSHAKE_MAX_BYTES = 64 * 1024;
/** Replays are remembered per engine over this many msg_ids (fixed memory: 24 bytes each). */
const REPLAY_MEMORY = 1 << 14;

export interface DirectServerOptions {
  uuid: string;
  session: string;
  signer: Signer;
  /** The engine's id once registered (-1 before). */
  id(): number;
  /** The controller's maximum message size, as registration told it. */
  maxMessageBytes(): number;
  /** A work request from a proven client; answer it on `conn`. */
  onRequest(msg: Message, conn: Connection): void;
  /** A proven client's connection closed. */
  onClosed(conn: Connection): void;
  log(text: string): void;
}

export class DirectServer {
  private readonly server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  private readonly replays = new ReplayGuard(REPLAY_MEMORY);
  private readonly peers = new Set<Connection>();

  constructor(private readonly opts: DirectServerOptions) {
    this.server.on('error', (e) => opts.log(`direct listener failed: ${e.message}`));
  }

  /** Listens on `host` (the local address of the main connection), any free port. */
  listen(host: string): Promise<DirectAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port: 0 }, () => {
        this.server.off('error', reject);
        const a = this.server.address() as net.AddressInfo;
        resolve({ ip: a.address, port: a.port });
      });
    });
  }

  /** Hands every peer's queued frames to its socket now (before the process exits). */
  flushAll(): void {
    for (const c of this.peers) if (!c.isClosed) c.flush();
  }

  private accept(raw: net.Socket): void {
    const conn = new Connection(adoptAccepted(raw), this.opts.signer, HANDSHAKE_MAX_BYTES);
    let proven = false;
    const timer = setTimeout(() => conn.destroy(), HANDSHAKE_MS);
    this.peers.add(conn);
    conn.start({
      onMessage: (msg) => {
        if (!this.replays.admit(msg.header.msg_id)) return;
        if (!proven) {
          proven = this.handshake(conn, msg);
          if (proven) {
            clearTimeout(timer);
            conn.setMaxMessageBytes(this.opts.maxMessageBytes());
          }
        } else if (isWorkRequest(msg.header.msg_type)) {
          this.opts.onRequest(msg, conn);
        }
      },
      onBadMessage: (reason, fatal) => {
        if (proven) this.opts.log(`direct connection: dropped a message: ${reason}${fatal ? '; connection closed' : ''}`);
      },
      onClose: () => {
        clearTimeout(timer);
        this.peers.delete(conn);
        if (proven) this.opts.onClosed(conn);
      },
    });
  }

  /** The first message must be engine_connect_request for this engine; anything else closes. */
  private handshake(conn: Connection, msg: Message): boolean {
    const id = this.opts.id();
    if (msg.header.msg_type !== 'engine_connect_request' || id < 0) {
      conn.destroy();
      return false;
    }
    let asked: string | Error;
    try {
      asked = checkContent('engine_connect_request', msg.content).engine_uuid;
    } catch (e) {
      asked = e as Error;
    }
    const ok = asked === this.opts.uuid;
    const content = ok
      ? { status: 'ok' as const, id, uuid: this.opts.uuid }
      : asked instanceof Error
        ? { status: 'error' as const, ename: 'ProtocolError', evalue: `engine_connect_request: ${asked.message}`, traceback: [] }
        : { status: 'error' as const, ename: 'EngineError', evalue: `this is engine ${id} (uuid ${this.opts.uuid}), not ${asked}`, traceback: [] };
    conn.send(createMessage('engine_connect_reply', content, { session: this.opts.session, parent: msg.header, metadata: { engine_id: id } }));
    if (!ok) conn.close();
    return ok;
  }
}
