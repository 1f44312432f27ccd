/**
 * Length-prefixed framing of multipart messages.
 *
 *   frame := u32be bodyLength, body
 *   body  := u32be partCount, u32be partLength * partCount, part * partCount
 *
 * A large part is assembled straight into its own exact-size buffer as bytes
 * arrive, so a 128 MiB array costs one copy and comes out 8-byte aligned.
 */

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;
export const MAX_PARTS = 65536;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** The bytes that go before the parts: body length, part count and part lengths. */
export function frameHead(parts: readonly Uint8Array[]): Buffer {
  const head = Buffer.allocUnsafe(8 + 4 * parts.length);
  let body = 4 + 4 * parts.length;
  for (const p of parts) body += p.byteLength;
  head.writeUInt32BE(body, 0);
  head.writeUInt32BE(parts.length, 4);
  for (let i = 0; i < parts.length; i++) head.writeUInt32BE(parts[i].byteLength, 8 + 4 * i);
  return head;
}

export function encodeFrame(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat([frameHead(parts), ...parts]);
}

/** Parts at or above this size get their own allocation instead of a slice of a pooled chunk. */
const OWN_BUFFER_BYTES = 64 * 1024;

/** Where the rest of a streamed frame goes (FrameDecoder.setStreamer). */
export interface FrameSink {
  /** The next bytes of the frame's buffer parts, in order (a slice of a received chunk). */
  data(bytes: Buffer): void;
  /** The frame is complete. */
  end(): void;
  /** The stream broke before the frame was complete (the connection closed). */
  abort(): void;
}

/**
 * Where the remaining parts of a frame are to be assembled: the receiver's own buffers (one per
 * part, of exactly that part's length; undefined: allocate as usual), so a large value lands
 * where it is wanted (a gathered block at its offset in the whole array) with no copy.
 */
export interface PartPlacement {
  place: (Buffer | undefined)[];
}

/**
 * Decides, once the first `head` parts of a frame are in (signature and JSON), whether the
 * rest (`rest`: the lengths of the buffer parts) is streamed to a sink instead of assembled,
 * or assembled into given buffers (PartPlacement), or assembled as usual (null).
 */
export type FrameStreamer = (head: Buffer[], rest: number[]) => FrameSink | PartPlacement | null;

/**
 * Incremental decoder. Feed it socket chunks; it calls onFrame for each whole frame.
 * Throws FrameError on a malformed prefix, after which the stream cannot be trusted.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private parts: Buffer[] = [];
  private lengths: number[] = [];
  private partIndex = 0;
  private current: Buffer | null = null;
  private currentFill = 0;
  private bodyLeft = 0;
  private stage: 'prefix' | 'lengths' | 'parts' | 'stream' = 'prefix';
  private streamer: FrameStreamer | null = null;
  private streamHead = 0;
  private streamMin = 0;
  /** This frame may be streamed: it has buffer parts of at least streamMin bytes. */
  private streamable = false;
  private sink: FrameSink | null = null;
  private streamLeft = 0;
  /** PartPlacement of the frame being assembled, for its parts from `streamHead` on. */
  private placed: (Buffer | undefined)[] | null = null;

  constructor(
    private readonly onFrame: (parts: Buffer[]) => void,
    /** Frames larger than this are refused (FrameError); a peer that proved itself may get more. */
    public maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
    /** Makes the buffer of a large part (8-byte aligned); see RecyclingPartAllocator. */
    private readonly allocate: (len: number) => Buffer = allocatePart,
  ) {}

  /**
   * Cut-through: for frames of more than `head` parts whose remaining parts add up to at
   * least `minBytes`, `streamer` is asked once the first `head` parts are in; when it returns
   * a sink, the remaining bytes go to it as they arrive and the frame is not delivered.
   */
  setStreamer(streamer: FrameStreamer | null, head: number, minBytes: number): void {
    this.streamer = streamer;
    this.streamHead = head;
    this.streamMin = minBytes;
  }

  /**
   * Where the next bytes should be read to, when they all belong to a large part being
   * assembled: a view of the rest of its buffer (then call advanceDirect). Else null.
   */
  directTarget(): Buffer | null {
    if (this.stage !== 'parts' || this.current === null || this.lengths[this.partIndex] < OWN_BUFFER_BYTES) return null;
    return this.current.subarray(this.currentFill);
  }

  /** `n` bytes were read straight into directTarget(). */
  advanceDirect(n: number): void {
    this.currentFill += n;
    if (this.currentFill === this.lengths[this.partIndex]) {
      this.parts.push(this.current!);
      this.partIndex++;
      this.startPart();
    }
  }

  /** The stream ended: a frame being streamed will never complete. */
  abort(): void {
    const sink = this.sink;
    this.sink = null;
    sink?.abort();
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.stage === 'stream') {
        const take = Math.min(this.streamLeft, chunk.length - off);
        this.streamLeft -= take;
        const sink = this.sink!;
        sink.data(off === 0 && take === chunk.length ? chunk : chunk.subarray(off, off + take));
        off += take;
        if (this.streamLeft === 0) {
          this.sink = null;
          this.stage = 'prefix';
          sink.end();
        }
        continue;
      }
      if (this.stage === 'prefix' && this.pendingBytes === 0) {
        const end = this.whole(chunk, off);
        if (end > 0) {
          off = end;
          continue;
        }
      }
      if (this.stage === 'parts') {
        off = this.fillPart(chunk, off);
        continue;
      }
      // Header bytes: buffer them until we have what the current stage needs.
      const need = this.stage === 'prefix' ? 8 : 4 * this.lengths.length;
      const take = Math.min(need - this.pendingBytes, chunk.length - off);
      this.pending.push(chunk.subarray(off, off + take));
      this.pendingBytes += take;
      off += take;
      if (this.pendingBytes < need) return;
      const bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      if (this.stage === 'prefix') this.readPrefix(bytes);
      else this.readLengths(bytes);
    }
  }

  /**
   * The common case, a whole frame of small parts inside `chunk` at `off`: its parts are
   * slices of the chunk, with no buffering. Returns the offset after the frame, or 0 to leave
   * the frame (and any error in it) to the general path.
   */
  private whole(chunk: Buffer, off: number): number {
    const available = chunk.length - off;
    if (available < 8) return 0;
    const bodyLength = chunk.readUInt32BE(off);
    if (available - 4 < bodyLength || bodyLength > this.maxMessageBytes) return 0;
    const count = chunk.readUInt32BE(off + 4);
    if (count === 0 || count > MAX_PARTS || bodyLength < 4 + 4 * count) return 0;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const len = chunk.readUInt32BE(off + 8 + 4 * i);
      if (len >= OWN_BUFFER_BYTES) return 0;
      total += len;
    }
    if (total !== bodyLength - 4 - 4 * count) return 0;
    const parts = new Array<Buffer>(count);
    let p = off + 8 + 4 * count;
    for (let i = 0; i < count; i++) {
      const len = chunk.readUInt32BE(off + 8 + 4 * i);
      parts[i] = chunk.subarray(p, p + len);
      p += len;
    }
    this.onFrame(parts);
    return p;
  }

  private readPrefix(b: Buffer): void {
    const bodyLength = b.readUInt32BE(0);
    const count = b.readUInt32BE(4);
    if (bodyLength > this.maxMessageBytes) {
      throw new FrameError(`message of ${bodyLength} bytes exceeds the maximum message size of ${this.maxMessageBytes} bytes`);
    }
    if (count === 0 || count > MAX_PARTS) throw new FrameError(`bad part count ${count}`);
    if (bodyLength < 4 + 4 * count) throw new FrameError(`body length ${bodyLength} too short for ${count} parts`);
    this.bodyLeft = bodyLength - 4 - 4 * count;
    this.lengths = new Array<number>(count);
    this.stage = 'lengths';
  }

  private readLengths(b: Buffer): void {
    let total = 0;
    for (let i = 0; i < this.lengths.length; i++) {
      this.lengths[i] = b.readUInt32BE(4 * i);
      total += this.lengths[i];
    }
    if (total !== this.bodyLeft) throw new FrameError(`part lengths sum to ${total}, body has ${this.bodyLeft}`);
    this.parts = [];
    this.partIndex = 0;
    this.stage = 'parts';
    this.streamable = false;
    this.placed = null;
    if (this.streamer !== null && this.lengths.length > this.streamHead) {
      let rest = 0;
      for (let i = this.streamHead; i < this.lengths.length; i++) rest += this.lengths[i];
      this.streamable = rest >= this.streamMin;
    }
    this.startPart();
  }

  private startPart(): void {
    // Skip over empty parts; finish the frame when all are read.
    while (this.partIndex < this.lengths.length && this.lengths[this.partIndex] === 0 && !(this.streamable && this.partIndex === this.streamHead)) {
      this.parts.push(Buffer.alloc(0));
      this.partIndex++;
    }
    if (this.streamable && this.partIndex === this.streamHead) {
      this.streamable = false;
      const rest = this.lengths.slice(this.streamHead);
      const sink = this.streamer!(this.parts, rest);
      if (sink !== null && 'place' in sink) {
        this.placed = sink.place;
        return this.startPart();
      }
      if (sink !== null) {
        this.sink = sink;
        this.streamLeft = 0;
        for (const n of rest) this.streamLeft += n;
        this.parts = [];
        this.lengths = [];
        this.current = null;
        this.stage = 'stream';
        return;
      }
      return this.startPart();
    }
    if (this.partIndex === this.lengths.length) {
      const parts = this.parts;
      this.parts = [];
      this.lengths = [];
      this.current = null;
      this.placed = null;
      this.stage = 'prefix';
      this.onFrame(parts);
      return;
    }
    this.current = null;
    this.currentFill = 0;
  }

  /** The receiver's buffer for the current part (PartPlacement), when it gave one of the right length. */
  private placedBuffer(len: number): Buffer | undefined {
    const b = this.placed?.[this.partIndex - this.streamHead];
    return b !== undefined && b.length === len ? b : undefined;
  }

  private fillPart(chunk: Buffer, off: number): number {
    const len = this.lengths[this.partIndex];
    const available = chunk.length - off;
    if (this.current === null) {
      if (available >= len && len < OWN_BUFFER_BYTES) {
        // Whole part inside this chunk: a zero-copy slice.
        this.parts.push(chunk.subarray(off, off + len));
        this.partIndex++;
        this.startPart();
        return off + len;
      }
      this.current = len >= OWN_BUFFER_BYTES ? (this.placedBuffer(len) ?? this.allocate(len)) : Buffer.allocUnsafe(len);
      this.currentFill = 0;
    }
    const take = Math.min(len - this.currentFill, available);
    chunk.copy(this.current, this.currentFill, off, off + take);
    this.currentFill += take;
    if (this.currentFill === len) {
      this.parts.push(this.current);
      this.partIndex++;
      this.startPart();
    }
    return off + take;
  }
}

/**
 * A large part's own buffer: its own ArrayBuffer (so 8-byte aligned), not zero-filled, since
 * every byte of it is received before the frame is delivered (calloc's memset was 5 % of the
 * controller's time for 16 MiB pushes).
 */
export function allocatePart(len: number): Buffer {
  return Buffer.allocUnsafeSlow(len);
}

/**
 * Parts at least this big are recycled by RecyclingPartAllocator. Below it glibc's malloc
 * already reuses freed memory (its mmap threshold adapts up to 32 MiB): there, holding a
 * buffer until the garbage collector returns it would only keep malloc from reusing it.
 */
const RECYCLE_MIN_BYTES = 32 * 1024 * 1024;
/** At most this much memory waits in the recycler. */
const RECYCLE_MAX_BYTES = 512 * 1024 * 1024;
/** Buffers not taken again within this time are let go (the memory returns to the system). */
const RECYCLE_IDLE_MS = 10_000;

/**
 * Large-part buffers for a process that only passes them on (the controller): a fresh 128 MiB
 * buffer costs ~32,000 page faults, about 75 ms here (more than copying it), so the memory of
 * a part is used again for a later part once the first is garbage. A buffer is returned when
 * the Buffer handed out is collected (FinalizationRegistry), which is only safe where no other
 * view of its memory is ever made: never use this where parts reach user code.
 */
export class RecyclingPartAllocator {
  private free: ArrayBuffer[] = [];
  private freeBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly registry = new FinalizationRegistry<ArrayBuffer>((ab) => this.put(ab));

  readonly allocate = (len: number): Buffer => {
    let ab: ArrayBuffer | undefined;
    if (len >= RECYCLE_MIN_BYTES) {
      // The smallest free buffer that fits and wastes at most half of itself.
      let best = -1;
      for (let i = 0; i < this.free.length; i++) {
        const n = this.free[i].byteLength;
        if (n >= len && n <= 2 * len && (best < 0 || n < this.free[best].byteLength)) best = i;
      }
      if (best >= 0) {
        ab = this.free[best];
        this.free.splice(best, 1);
        this.freeBytes -= ab.byteLength;
      }
    }
    if (ab === undefined) {
      if (len < RECYCLE_MIN_BYTES) return allocatePart(len);
      ab = allocatePart(len).buffer as ArrayBuffer;
    }
    const view = Buffer.from(ab, 0, len);
    this.registry.register(view, ab);
    return view;
  };

  private put(ab: ArrayBuffer): void {
    if (this.freeBytes + ab.byteLength > RECYCLE_MAX_BYTES) return;
    this.free.push(ab);
    this.freeBytes += ab.byteLength;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.free = [];
      this.freeBytes = 0;
    }, RECYCLE_IDLE_MS);
    this.timer.unref();
  }
}
