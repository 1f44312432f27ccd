/**
 * A signed message stream over one TCP socket. Writes made in the same tick are
 * corked into one syscall, which is what makes thousands of small requests cheap.
 */
import net from 'node:net';
import type { Message } from '../protocol/messages.js';
import { BadMessage, decodeMessage, encodeMessage, Signer } from './codec.js';
import { DEFAULT_MAX_MESSAGE_BYTES, FrameDecoder, FrameError, frameHead } from './frame.js';

export interface ConnectionHandlers {
  onMessage(msg: Message, parts: Buffer[]): void;
  /** A frame was dropped; `fatal` means the stream was closed because of it. */
  onBadMessage?(reason: string, fatal: boolean): void;
  onClose?(hadError: boolean): void;
}

export class Connection {
  private readonly decoder: FrameDecoder;
  private corked = false;
  private closed = false;
  private handlers: ConnectionHandlers | null = null;
  private backlog: Buffer[][] = [];
  /** Number of messages that passed the signature check; 0 means the peer is unproven. */
  validMessages = 0;

  constructor(
    readonly socket: net.Socket,
    readonly signer: Signer,
    maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  ) {
    socket.setNoDelay(true);
    this.decoder = new FrameDecoder((parts) => this.dispatch(parts), maxMessageBytes);
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.decoder.push(chunk);
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
        this.handlers?.onBadMessage?.(`bad frame: ${e.message}`, true);
        this.close();
      }
    });
    socket.on('error', () => {
      /* reported through 'close' */
    });
    socket.on('close', (hadError) => {
      this.closed = true;
      this.handlers?.onClose?.(hadError);
    });
  }

  /** Attach handlers; frames that arrived before are delivered now. */
  start(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
    const backlog = this.backlog;
    this.backlog = [];
    for (const parts of backlog) this.dispatch(parts);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(msg: Message): void {
    this.sendParts(encodeMessage(msg, this.signer));
  }

  /** Writes already-signed parts unchanged; the controller forwards requests and replies this way. */
  sendParts(parts: readonly Uint8Array[]): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frameHead(parts));
    for (const p of parts) if (p.byteLength > 0) this.socket.write(p);
  }

  /** Bytes queued in user space because the peer reads slower than we write. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  close(): void {
    if (this.closed) return;
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

export function connectTcp(host: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
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
