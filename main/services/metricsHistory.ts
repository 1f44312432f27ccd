/**
 * CPU and memory of the cluster and of each engine over the last 10 minutes, for the Plots
 * view. Once a sample period it reads the numbers the engine table already shows (the
 * engines' own reports, or /proc samples: see engineMonitor), adds one column to fixed-size
 * rings, and pushes that column alone to the renderer; the whole history is sent only when
 * a view asks for it (getMetricsHistory).
 *
 * Memory: one Float64 ring of times, two Float64 rings of totals, and per engine two Float32
 * rings (CPU, memory) of WINDOW_MS / SAMPLE_MS = 600 slots: 600 × 8 bytes = 4.8 KB per engine,
 * about 4.8 MB at 1,000 engines. An engine whose whole window is empty is forgotten.
 */
import type { MetricsHistory, MetricsSample } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import { SAMPLE_MS } from './engineMonitor.js';

export const WINDOW_MS = 10 * 60_000;
export const SLOTS = Math.ceil(WINDOW_MS / SAMPLE_MS);

/** The numbers of one engine at a tick (null: none known). */
export interface EngineNumbers {
  id: number;
  cpu: number | null;
  rss: number | null;
}

/**
 * A fixed number of columns: one time per column, and per series one value per column.
 * Pure bookkeeping (no timers), so it can be tested on its own.
 */
export class MetricsRing {
  private readonly times: Float64Array;
  private readonly cpuTotal: Float64Array;
  private readonly rssTotal: Float64Array;
  private readonly engines = new Map<number, { cpu: Float32Array; rss: Float32Array; last: number }>();
  /** Columns written so far (the next one goes to count % slots). */
  private count = 0;

  constructor(readonly slots: number = SLOTS) {
    this.times = new Float64Array(slots);
    this.cpuTotal = new Float64Array(slots);
    this.rssTotal = new Float64Array(slots);
  }

  /** Adds the column at time `t`; returns it as the renderer gets it. */
  add(t: number, numbers: readonly EngineNumbers[]): MetricsSample {
    const slot = this.count % this.slots;
    let cpu = 0;
    let rss = 0;
    const ids: number[] = [];
    const cpus: (number | null)[] = [];
    const rsss: (number | null)[] = [];
    for (const n of numbers) {
      let e = this.engines.get(n.id);
      if (!e) {
        // A new engine: nothing known before it came.
        e = { cpu: new Float32Array(this.slots).fill(NaN), rss: new Float32Array(this.slots).fill(NaN), last: this.count };
        this.engines.set(n.id, e);
      }
      // Columns skipped since its last value (it was not listed) read as unknown.
      for (let c = Math.max(e.last + 1, this.count - this.slots + 1); c < this.count; c++) {
        e.cpu[c % this.slots] = NaN;
        e.rss[c % this.slots] = NaN;
      }
      e.cpu[slot] = n.cpu ?? NaN;
      e.rss[slot] = n.rss ?? NaN;
      e.last = this.count;
      cpu += n.cpu ?? 0;
      rss += n.rss ?? 0;
      ids.push(n.id);
      cpus.push(n.cpu);
      rsss.push(n.rss);
    }
    this.times[slot] = t;
    this.cpuTotal[slot] = cpu;
    this.rssTotal[slot] = rss;
    this.count++;
    // Engines not heard of for a whole window are forgotten.
    for (const [id, e] of this.engines) if (this.count - 1 - e.last >= this.slots) this.engines.delete(id);
    return { t, totalCpu: cpu, totalRss: rss, ids, cpu: cpus, rss: rsss };
  }

  /** Engines that have a ring. */
  get engineCount(): number {
    return this.engines.size;
  }

  history(intervalMs: number): MetricsHistory {
    const n = Math.min(this.count, this.slots);
    const first = this.count - n;
    const cols = Array.from({ length: n }, (_, i) => (first + i) % this.slots);
    const value = (a: Float32Array | Float64Array, c: number) => (Number.isNaN(a[c]) ? null : a[c]);
    const engines = [...this.engines.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([id, e]) => ({
        id,
        // A column after the engine's last value (it left) is unknown, whatever the slot held.
        cpu: cols.map((c, i) => (first + i > e.last ? null : value(e.cpu, c))),
        rss: cols.map((c, i) => (first + i > e.last ? null : value(e.rss, c))),
      }));
    return {
      intervalMs,
      windowMs: intervalMs * this.slots,
      t: cols.map((c) => this.times[c]),
      totalCpu: cols.map((c) => this.cpuTotal[c]),
      totalRss: cols.map((c) => this.rssTotal[c]),
      engines,
    };
  }

  clear(): void {
    this.count = 0;
    this.engines.clear();
  }
}

/** Takes a column every SAMPLE_MS from `read` (the engines' numbers now) and pushes it. */
export class MetricsHistoryService {
  private readonly ring = new MetricsRing();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly events: EventSink,
    private readonly read: () => EngineNumbers[],
    private readonly intervalMs = SAMPLE_MS,
  ) {}

  /** Starts sampling (a cluster is connected); a new cluster starts a new history. */
  start(): void {
    this.stop();
    this.ring.clear();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  history(): MetricsHistory {
    return this.ring.history(this.intervalMs);
  }

  tick(now = Date.now()): void {
    this.events.emit('onMetricsSample', this.ring.add(now, this.read()));
  }
}
