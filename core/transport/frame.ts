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
  private stage: 'prefix' | 'lengths' | 'parts' = 'prefix';

  constructor(
    private readonly onFrame: (parts: Buffer[]) => void,
    private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
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
    this.startPart();
  }

  private startPart(): void {
    // Skip over empty parts; finish the frame when all are read.
    while (this.partIndex < this.lengths.length && this.lengths[this.partIndex] === 0) {
      this.parts.push(Buffer.alloc(0));
      this.partIndex++;
    }
    if (this.partIndex === this.lengths.length) {
      const parts = this.parts;
      this.parts = [];
      this.lengths = [];
      this.current = null;
      this.stage = 'prefix';
      this.onFrame(parts);
      return;
    }
    this.current = null;
    this.currentFill = 0;
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
      this.current = len >= OWN_BUFFER_BYTES ? Buffer.from(new ArrayBuffer(len)) : Buffer.allocUnsafe(len);
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
