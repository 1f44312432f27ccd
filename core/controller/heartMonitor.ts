/**
 * Judges engines by their heartbeats: 'unresponsive' after more than two beat periods of
 * silence, 'dead' after dead-after-ms. One timer for all engines; the per-beat work is
 * just a timestamp (done by the controller).
 */
import type { EngineRecord } from './engineRecord.js';

export interface HeartMonitorOptions {
  heartbeatMs: number;
  deadAfterMs: number;
  engines: () => Iterable<EngineRecord>;
  onUnresponsive(engine: EngineRecord, silentMs: number): void;
  onDead(engine: EngineRecord, silentMs: number): void;
}

export class HeartMonitor {
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  readonly periodMs: number;
  /** Silence beyond this makes an engine unresponsive: two missed beats plus some jitter slack. */
  readonly unresponsiveAfterMs: number;

  constructor(private readonly opts: HeartMonitorOptions) {
    this.periodMs = Math.max(5, Math.min(Math.floor(opts.heartbeatMs / 2), Math.floor(opts.deadAfterMs / 4)));
    this.unresponsiveAfterMs = 2 * opts.heartbeatMs + Math.min(Math.floor(opts.heartbeatMs / 2), 500);
  }

  start(): void {
    if (this.timer) return;
    this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(), this.periodMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Exposed for tests; normally called by the timer. */
  tick(now = Date.now()): void {
    const lag = now - this.lastTick;
    this.lastTick = now;
    // If our own event loop was blocked (e.g. copying a huge message), beats may be sitting
    // unread in socket buffers: let I/O run once before judging anybody.
    if (lag > 3 * this.periodMs + 50) return;
    for (const e of this.opts.engines()) {
      if (e.state === 'dead') continue;
      const silent = now - e.lastBeat;
      if (silent >= this.opts.deadAfterMs) this.opts.onDead(e, silent);
      else if (!e.unresponsive && silent > this.unresponsiveAfterMs) this.opts.onUnresponsive(e, silent);
    }
  }
}
