/**
 * Gives memory back after a burst. V8 collects the old generation only under allocation
 * pressure, so an idle controller would keep a burst's garbage (and its heap) indefinitely.
 * When a busy period is followed by a quiet one, this runs one full collection.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export class IdleCollector {
  private sinceTick = 0;
  private sinceCollect = 0;
  /** Full collections run so far (reported in status_reply.memory). */
  collections = 0;
  private readonly gc: ((opts?: object) => void) | null;

  constructor(
    /** How many messages make a burst worth collecting after. */
    private readonly burst = 5000,
    quietMs = 2000,
  ) {
    v8.setFlagsFromString('--expose-gc');
    this.gc = vm.runInNewContext('typeof gc === "function" ? gc : null') as ((opts?: object) => void) | null;
    setInterval(() => this.tick(), quietMs).unref();
  }

  /** Call once per message handled. */
  count(): void {
    this.sinceTick++;
  }

  private tick(): void {
    // Heartbeats never stop, so "quiet" means a trickle: under 5 % of a burst per period.
    const busy = this.sinceTick >= this.burst / 20;
    this.sinceCollect += this.sinceTick;
    this.sinceTick = 0;
    if (!busy && this.sinceCollect >= this.burst && this.gc) {
      this.sinceCollect = 0;
      this.collections++;
      // 'last-resort' also compacts and shrinks the young generation, so pages go back to the OS.
      this.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    }
  }
}
