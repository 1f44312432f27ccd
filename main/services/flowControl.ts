/**
 * Terminal output plumbing, as VS Code's terminal does it: output is coalesced into one
 * message every few milliseconds, and a pty that produces faster than the renderer can draw
 * is paused above a high watermark of unacknowledged characters and resumed below a low one.
 * The renderer acknowledges characters once xterm has written them.
 */

export const FLOW_CONTROL = {
  /** Pause the pty when more than this many characters are unacknowledged. */
  highWatermarkChars: 100_000,
  /** Resume it when fewer than this many are. */
  lowWatermarkChars: 5_000,
  /** The renderer acknowledges in batches of this many characters. */
  ackBatchChars: 5_000,
  /** Output is sent at most this long after it arrived. */
  coalesceMs: 5,
} as const;

export interface Pausable {
  pause(): void;
  resume(): void;
}

export class FlowController {
  private unacked = 0;
  private paused = false;

  constructor(
    private readonly target: Pausable,
    private readonly high: number = FLOW_CONTROL.highWatermarkChars,
    private readonly low: number = FLOW_CONTROL.lowWatermarkChars,
  ) {
    if (!(low < high)) throw new RangeError('the low watermark must be below the high one');
  }

  /** `chars` more characters went to the renderer. */
  sent(chars: number): void {
    this.unacked += chars;
    if (!this.paused && this.unacked > this.high) {
      this.paused = true;
      this.target.pause();
    }
  }

  /** The renderer has written `chars` characters. */
  ack(chars: number): void {
    if (!(chars > 0)) return;
    this.unacked = Math.max(0, this.unacked - chars);
    if (this.paused && this.unacked < this.low) {
      this.paused = false;
      this.target.resume();
    }
  }

  /** Forget what is outstanding (a renderer (re)attached, or the pty was replaced). */
  reset(): void {
    this.unacked = 0;
    if (this.paused) {
      this.paused = false;
      this.target.resume();
    }
  }

  get unacknowledged(): number {
    return this.unacked;
  }

  get isPaused(): boolean {
    return this.paused;
  }
}

export interface TimerApi {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: TimerApi = {
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Collects chunks and hands them on as one string `delayMs` after the first of them. */
export class OutputCoalescer {
  private chunks: string[] = [];
  private timer: unknown = null;

  constructor(
    private readonly flushTo: (data: string) => void,
    private readonly delayMs: number = FLOW_CONTROL.coalesceMs,
    private readonly timers: TimerApi = realTimers,
  ) {}

  push(data: string): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    if (this.timer === null) this.timer = this.timers.setTimeout(() => this.flush(), this.delayMs);
  }

  flush(): void {
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.chunks.length === 0) return;
    const data = this.chunks.length === 1 ? this.chunks[0] : this.chunks.join('');
    this.chunks = [];
    this.flushTo(data);
  }

  dispose(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.chunks = [];
  }
}
