/**
 * A signed message stream over one TCP socket. Frames sent in the same tick are queued and
 * handed to the socket together at the end of the tick: small ones copied into one buffer
 * (one write, one syscall), large buffers passed by reference. That makes both a single
 * request (one syscall per hop) and thousands of small requests (one syscall for all) cheap.
 */
import net from 'node:net';
import type { Message } from '../protocol/messages.js';
import { BadMessage, decodeMessage, encodeMessageFrame, JSON_PARTS, Signer } from './codec.js';
import { DEFAULT_MAX_MESSAGE_BYTES, FrameDecoder, FrameError, frameHead, type FrameSink, type PartPlacement } from './frame.js';

export interface ConnectionHandlers {
  onMessage(msg: Message, parts: Buffer[]): void;
  /**
   * Cut-through: a message with at least STREAM_MIN_BYTES of buffers whose signature and JSON
   * parts are in (and check out). Return a sink (Connection.beginStream on the target) to pass
   * the buffers on as they arrive; the message is then not delivered to onMessage. Return null
   * to have it assembled and delivered as usual.
   */
  onStreamStart?(msg: Message, head: Buffer[], rest: number[]): FrameSink | null;
  /**
   * For a message like onStreamStart's that is not streamed: buffers to assemble its remaining
   * parts in (one per part of `rest`, of that length; undefined: allocate as usual), or null.
   */
  onPlaceParts?(msg: Message, rest: number[]): (Buffer | undefined)[] | null;
  /** A frame was dropped; `fatal` means the stream was closed because of it. */
  onBadMessage?(reason: string, fatal: boolean): void;
  onClose?(hadError: boolean): void;
}

/** Queued chunks smaller than this are copied together into one buffer; larger ones go by reference. */
const COPY_BELOW_BYTES = 64 * 1024;
/** Messages with at least this many bytes of buffers may be streamed through (onStreamStart). */
export const STREAM_MIN_BYTES = 1024 * 1024;
/** While streaming, the source is paused when this much waits to be written to the target. */
const STREAM_HIGH_WATER_BYTES = 8 * 1024 * 1024;

export class Connection {
  private readonly decoder: FrameDecoder;
  /** Frames waiting for the end of the tick: chunks and their total size. */
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private flushQueued = false;
  private readonly flushTick = (): void => this.flush();
  /** Flush once per event-loop turn rather than per tick (flushPerTurn). */
  private perTurn = false;
  /** A frame is being streamed to this connection (beginStream): other frames wait in `out`. */
  private streaming = false;
  private closed = false;
  private handlers: ConnectionHandlers | null = null;
  private backlog: Buffer[][] = [];
  /** Number of messages that passed the signature check; 0 means the peer is unproven. */
  validMessages = 0;

  constructor(
    readonly socket: net.Socket,
    readonly signer: Signer,
    maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
    /** How large parts are allocated (the controller recycles them: RecyclingPartAllocator). */
    allocate?: (len: number) => Buffer,
  ) {
    socket.setNoDelay(true);
    this.decoder = new FrameDecoder((parts) => this.dispatch(parts), maxMessageBytes, allocate);
    const onChunk = (chunk: Buffer): void => {
      if (this.closed) return;
      try {
        this.decoder.push(chunk);
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
        this.handlers?.onBadMessage?.(`bad frame: ${e.message}`, true);
        this.close();
      }
    };
    const direct = directReaders.get(socket);
    if (direct !== undefined) direct.attach(this.decoder, onChunk);
    else socket.on('data', onChunk);
    socket.on('error', () => {
      /* reported through 'close' */
    });
    socket.on('close', (hadError) => {
      this.closed = true;
      this.decoder.abort();
      this.handlers?.onClose?.(hadError);
    });
  }

  /** Attach handlers; frames that arrived before are delivered now. */
  start(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
    const early = handlers.onStreamStart !== undefined || handlers.onPlaceParts !== undefined;
    this.decoder.setStreamer(early ? (head, rest) => this.streamStart(head, rest) : null, 1 + JSON_PARTS, STREAM_MIN_BYTES);
    const backlog = this.backlog;
    this.backlog = [];
    for (const parts of backlog) this.dispatch(parts);
  }

  /** Raises (or lowers) the largest frame accepted from now on, e.g. once the peer proved itself. */
  setMaxMessageBytes(n: number): void {
    this.decoder.maxMessageBytes = n;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A frame is being streamed to this connection (beginStream) and has not ended. */
  get isStreaming(): boolean {
    return this.streaming;
  }

  send(msg: Message): void {
    if (this.closed) return;
    this.sendFrame(encodeMessageFrame(msg, this.signer));
  }

  /** Writes a frame made by encodeMessageFrame (engines check its size before they send it). */
  sendFrame(frame: { head: Buffer; buffers: readonly Uint8Array[] }): void {
    if (this.closed) return;
    this.enqueue(frame.head);
    for (const b of frame.buffers) if (b.byteLength > 0) this.enqueue(b);
    this.scheduleFlush();
  }

  /** Writes already-signed parts unchanged; the controller forwards requests and replies this way. */
  sendParts(parts: readonly Uint8Array[]): void {
    if (this.closed) return;
    this.enqueue(frameHead(parts));
    for (const p of parts) if (p.byteLength > 0) this.enqueue(p);
    this.scheduleFlush();
  }

  private enqueue(chunk: Uint8Array): void {
    this.out.push(chunk);
    this.outBytes += chunk.byteLength;
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    if (this.perTurn) setImmediate(this.flushTick);
    else process.nextTick(this.flushTick);
  }

  /**
   * From now on, frames queued during one turn of the event loop go out together (setImmediate,
   * after every read of the turn) instead of at the end of each tick (one read's handling).
   * The controller does this for clients: 1,000 engines' replies, each read from its own socket,
   * reach the client in a few writes rather than one write each.
   */
  flushPerTurn(): void {
    this.perTurn = true;
  }

  /**
   * Hands everything queued to the socket now (normally done at the end of the tick). Call it
   * when the event loop may not get there: from inside long synchronous user code, before exit.
   */
  flush(): void {
    this.flushQueued = false;
    if (this.streaming) return; // after the stream (beginStream's end)
    const chunks = this.out;
    if (chunks.length === 0) return;
    const total = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.closed) return;
    const socket = this.socket;
    if (chunks.length === 1) {
      socket.write(chunks[0]);
      return;
    }
    if (total < COPY_BELOW_BYTES) {
      socket.write(Buffer.concat(chunks, total));
      return;
    }
    // Runs of small chunks are copied together; large chunks go by reference. One writev.
    socket.cork();
    let run: Uint8Array[] = [];
    let runBytes = 0;
    for (const c of chunks) {
      if (c.byteLength >= COPY_BELOW_BYTES) {
        if (run.length > 0) socket.write(run.length === 1 ? run[0] : Buffer.concat(run, runBytes));
        run = [];
        runBytes = 0;
        socket.write(c);
      } else {
        run.push(c);
        runBytes += c.byteLength;
        if (runBytes >= COPY_BELOW_BYTES) {
          socket.write(run.length === 1 ? run[0] : Buffer.concat(run, runBytes));
          run = [];
          runBytes = 0;
        }
      }
    }
    if (run.length > 0) socket.write(run.length === 1 ? run[0] : Buffer.concat(run, runBytes));
    socket.uncork();
  }

  /**
   * Starts a frame whose buffers come later, as they arrive from `source` (cut-through
   * forwarding): the frame head and `head` parts go out now, then each `data` of the sink.
   * Frames sent meanwhile wait until the sink's `end`. `abort` (the source broke off) closes
   * this connection: a frame cut short cannot be finished honestly.
   */
  beginStream(head: readonly Uint8Array[], rest: readonly number[], source: Connection): FrameSink {
    if (this.streaming) throw new Error('beginStream: a frame is already being streamed to this connection');
    const lengths = head.map((p) => p.byteLength).concat(rest);
    const prefix = Buffer.allocUnsafe(8 + 4 * lengths.length);
    let body = 4 + 4 * lengths.length;
    for (const n of lengths) body += n;
    prefix.writeUInt32BE(body, 0);
    prefix.writeUInt32BE(lengths.length, 4);
    for (let i = 0; i < lengths.length; i++) prefix.writeUInt32BE(lengths[i], 8 + 4 * i);
    this.enqueue(prefix);
    for (const p of head) if (p.byteLength > 0) this.enqueue(p);
    this.flush();
    this.streaming = true;
    let paused = false;
    const resume = (): void => {
      if (!paused) return;
      paused = false;
      this.socket.off('drain', resume);
      this.socket.off('close', resume);
      source.socket.resume();
    };
    const finish = (): void => {
      resume();
      this.streaming = false;
      if (this.out.length > 0) this.scheduleFlush();
    };
    return {
      data: (bytes) => {
        if (this.closed) return;
        this.socket.write(bytes);
        if (!paused && this.socket.writableLength > STREAM_HIGH_WATER_BYTES) {
          paused = true;
          source.socket.pause();
          this.socket.on('drain', resume);
          this.socket.on('close', resume);
        }
      },
      end: finish,
      abort: () => {
        finish();
        this.destroy();
      },
    };
  }

  /** The head of a large frame is in: check it, and ask the handlers whether to stream it or where to put it. */
  private streamStart(head: Buffer[], rest: number[]): FrameSink | PartPlacement | null {
    const handlers = this.handlers;
    if (handlers === null || this.closed) return null;
    let msg: Message;
    try {
      msg = decodeMessage(head, this.signer);
    } catch (e) {
      if (!(e instanceof BadMessage)) throw e;
      return null; // assembled and refused the usual way
    }
    const sink = handlers.onStreamStart?.(msg, head, rest) ?? null;
    if (sink !== null) {
      this.validMessages++;
      return sink;
    }
    const place = handlers.onPlaceParts?.(msg, rest) ?? null;
    return place === null ? null : { place };
  }

  /** Bytes queued in user space because the peer reads slower than we write (or not yet flushed this tick). */
  get writableLength(): number {
    return this.socket.writableLength + this.outBytes;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.socket.end();
    this.socket.destroySoon?.();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private dispatch(parts: Buffer[]): void {
    if (this.handlers === null) {
      this.backlog.push(parts);
      return;
    }
    let msg: Message;
    try {
      msg = decodeMessage(parts, this.signer);
    } catch (e) {
      if (!(e instanceof BadMessage)) throw e;
      // An unproven peer that sends garbage is a stranger: hang up on it.
      const fatal = this.validMessages === 0;
      this.handlers.onBadMessage?.(e.reason === 'signature' ? 'signature mismatch' : e.message, fatal);
      if (fatal) this.close();
      return;
    }
    this.validMessages++;
    this.handlers.onMessage(msg, parts);
  }
}

/**
 * Reads for sockets we open ourselves (connectTcp), through net's `onread`: a large part is
 * received straight into its own buffer (FrameDecoder.directTarget), with no copy; other reads
 * land in one scratch buffer shared by every socket of the process (a read is handled before
 * the next one starts) and are copied out at their size. A fresh 64 KiB buffer per read, kept
 * alive by the slices of its frames, cost a client or a process of simulated engines reading
 * 1,000 sockets 64 MB of garbage per broadcast and most of its time in the GC.
 */
class DirectReader {
  private decoder: FrameDecoder | null = null;
  private onChunk: ((chunk: Buffer) => void) | null = null;
  /** Reads that came before a Connection took the socket. */
  private early: Buffer[] = [];
  private target: Buffer | null = null;

  buffer(): Buffer {
    const t = this.decoder?.directTarget() ?? null;
    this.target = t;
    return t ?? scratch;
  }

  callback(n: number, buf: Buffer): void {
    if (buf === this.target) {
      this.target = null;
      this.decoder!.advanceDirect(n);
      return;
    }
    // Frames keep slices of the chunk (forwarded, queued): it must outlive the scratch buffer's next read.
    const chunk = Buffer.allocUnsafe(n);
    buf.copy(chunk, 0, 0, n);
    if (this.onChunk !== null) this.onChunk(chunk);
    else this.early.push(chunk);
  }

  attach(decoder: FrameDecoder, onChunk: (chunk: Buffer) => void): void {
    this.decoder = decoder;
    this.onChunk = onChunk;
    const early = this.early;
    this.early = [];
    for (const c of early) onChunk(c);
  }
}

const READ_BYTES = 64 * 1024;
/** Where every DirectReader's ordinary reads land (see DirectReader). */
const scratch = Buffer.allocUnsafeSlow(READ_BYTES);
const directReaders = new WeakMap<net.Socket, DirectReader>();

/** net's `onread` option for a socket whose reads `reader` directs (register the socket with withReader). */
function onreadFor(reader: DirectReader): net.OnReadOpts {
  return {
    buffer: () => reader.buffer(),
    callback: (n: number, buf: Uint8Array) => {
      reader.callback(n, buf as Buffer);
      return true;
    },
  };
}

/** A socket made with onreadFor(reader): Connection attaches its decoder to the reader. */
function withReader(socket: net.Socket, reader: DirectReader): net.Socket {
  directReaders.set(socket, reader);
  return socket;
}

export function connectTcp(host: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const reader = new DirectReader();
    const socket = withReader(net.connect({ host, port, onread: onreadFor(reader) }), reader);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`could not connect to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not connect to ${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
  });
}

/**
 * Takes over a socket that a net.Server created with `pauseOnConnect: true` accepted, so its
 * reads go through a DirectReader like connectTcp's (large parts straight into their final
 * buffer): net has no `onread` option for accepted sockets. The TCP handle is moved into a new
 * Socket that has one; the accepted Socket, left without a handle, is destroyed without closing
 * anything. Where node's internals differ, the accepted socket is used as it is.
 */
export function adoptAccepted(socket: net.Socket): net.Socket {
  const inner = socket as unknown as { _handle?: object | null };
  const handle = inner._handle;
  if (handle === null || typeof handle !== 'object') {
    socket.resume();
    return socket;
  }
  inner._handle = null;
  const reader = new DirectReader();
  const adopted = withReader(new net.Socket({ handle, readable: true, writable: true, onread: onreadFor(reader) } as net.SocketConstructorOpts), reader);
  socket.destroy();
  return adopted;
}
