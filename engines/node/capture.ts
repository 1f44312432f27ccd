/**
 * Captures everything written to process.stdout / process.stderr (console.* included, since
 * console writes through them) and hands it out in batches tagged with the request it
 * belongs to. A write flushes at once when the last flush is older than the interval, so
 * output leaves even while synchronous user code keeps the event loop busy; otherwise a
 * timer flushes within the interval. Before the first request, output goes to the real stream.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Header } from '../../core/protocol/messages.js';

export type StreamName = 'stdout' | 'stderr';
export interface Chunk {
  name: StreamName;
  text: string;
}
/** `urgent`: called from inside a write, possibly with the event loop blocked; send without waiting. */
export type StreamSink = (chunks: Chunk[], parent: Header, urgent: boolean) => void;

type Write = (chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void) => boolean;

export class OutputCapture {
  private parent: Header | null = null;
  private pending: Chunk[] = [];
  private pendingParent: Header | null = null;
  private lastFlush = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly original = new Map<StreamName, Write>();
  /** Characters of output allowed per request (0: no limit); past it a marker, then nothing. */
  limit = 0;
  private count = 0;
  private truncated = false;

  constructor(
    private readonly sink: StreamSink,
    private readonly intervalMs = 50,
  ) {}

  /** Patches the real process streams (the vm context shares this `process`). */
  install(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = process[name];
      const original = stream.write.bind(stream) as Write;
      this.original.set(name, original);
      const decoder = new StringDecoder('utf8');
      stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void): boolean => {
        if (typeof encoding === 'function') {
          cb = encoding;
          encoding = undefined;
        }
        let text: string;
        if (typeof chunk === 'string') text = encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding).toString('utf8') : chunk;
        else text = decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        this.write(name, text);
        if (cb) process.nextTick(cb);
        return true;
      }) as typeof stream.write;
    }
  }

  /** Output from now on belongs to the request with header `h` (until the next one starts). */
  setParent(h: Header): void {
    if (this.pending.length && this.pendingParent !== h) this.flush(false);
    this.parent = h;
    this.count = 0;
    this.truncated = false;
  }

  write(name: StreamName, text: string): void {
    if (text === '') return;
    if (this.parent === null) {
      this.writeOriginal(name, text);
      return;
    }
    if (this.limit > 0) {
      if (this.truncated) return;
      if (this.count + text.length > this.limit) {
        // Past the limit: keep what fits, say so once, drop the rest of this request's output.
        const keep = this.limit - this.count;
        this.count = this.limit;
        this.truncated = true;
        if (keep > 0) this.append(name, text.slice(0, keep));
        this.append('stderr', `\n[output truncated: this request wrote more than ${this.limit} characters; the rest is dropped (the controller's --max-output-bytes)]\n`);
        this.flush(true); // now: the code that floods may run on for long, blocking the loop
        return;
      }
      this.count += text.length;
    }
    this.append(name, text);
  }

  private append(name: StreamName, text: string): void {
    if (this.pendingParent !== this.parent) this.flush(false);
    const last = this.pending[this.pending.length - 1];
    if (last?.name === name) last.text += text;
    else this.pending.push({ name, text });
    this.pendingParent = this.parent;
    const since = performance.now() - this.lastFlush;
    if (since >= this.intervalMs) this.flush(true);
    else this.timer ??= setTimeout(() => this.flush(false), this.intervalMs - since);
  }

  /** Sends everything pending; done before every reply. */
  flush(urgent = false): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0 || this.pendingParent === null) return;
    this.lastFlush = performance.now();
    const chunks = this.pending;
    this.pending = [];
    this.sink(chunks, this.pendingParent, urgent);
  }

  /** Writes to the real stream, bypassing capture: for the engine's own log lines. */
  writeOriginal(name: StreamName, text: string): void {
    const w = this.original.get(name);
    if (w) w(text);
    else process[name].write(text);
  }
}
